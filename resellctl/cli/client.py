"""`client ...`: the portfolio of client companies, and bulk import."""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from resellctl.cli.errors import say
from resellctl.cli.options import (
    Output,
    ResellerOpt,
    Yes,
    confirm,
    limit_option,
    offset_option,
)
from resellctl.cli.output import Col, Format, Whole, console, emit, is_terminal
from resellctl.cli.state import state

app = typer.Typer(help="Manage client companies (tenants) and import them in bulk.",
                  no_args_is_help=True)
Uid = Annotated[str, typer.Argument(metavar="CLIENT", help="Client uid.")]
PAGE = 50


def _clients():  # noqa: ANN202
    from resellctl.domain import clients

    return clients


@app.command()
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="Company name.")],
    owner_name: Annotated[str, typer.Option(help="Name of the client's admin.")],
    owner_email: Annotated[str, typer.Option(help="E-mail of the client's admin.")],
    reseller: ResellerOpt = None,
    owner_phone: Annotated[str | None, typer.Option(help="Phone, 6-20 digits.")] = None,
    location: Annotated[str | None, typer.Option(help="City, country...")] = None,
    stage: Annotated[str, typer.Option(help="lead, demo or trial.")] = "lead",
    plan: Annotated[str | None, typer.Option(help="Commercial plan code.")] = None,
    seats: Annotated[int, typer.Option(help="Seats allocated.")] = 0,
    support_type: Annotated[str | None, typer.Option(
        help="vendor or partner (default: partner under a partner-supported reseller).")
    ] = None,
    support_access: Annotated[bool, typer.Option(
        "--support-access/--no-support-access", help="Allow support sessions (partner only).")
    ] = False,
    external_id: Annotated[str | None, typer.Option(help="Your id, unique per reseller.")
                           ] = None,
    if_not_exists: Annotated[bool, typer.Option(
        "--if-not-exists", help="With --external-id: print the existing client, exit 0.")
    ] = False,
    output: Output = Format.table,
) -> None:
    """Create a client under a reseller (takes one licence), or a direct one (super admin).

    \b
    Example: resellctl client create -r acme --name Bakery --owner-name Li --owner-email li@b.co
    """
    fields = {"name": name, "owner_name": owner_name, "owner_email": owner_email,
              "owner_phone": owner_phone, "location": location, "stage": stage, "plan": plan,
              "seats": seats, "support_type": support_type, "support_access": support_access,
              "external_id": external_id}
    current = state(ctx)
    emit(current.call("client.create", reseller=current.reseller(reseller), fields=fields,
                      if_not_exists=if_not_exists), output,
         headers={"created": "Created now"})  # beside `created_at`, also "Created"


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(metavar="FILE",
                                        help="CSV, .ndjson/.jsonl, or - for stdin.")],
    reseller: ResellerOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check everything, write nothing.")
                       ] = False,
    on_existing: Annotated[str, typer.Option(
        help="Rows whose external_id exists: error, skip or update.")] = "error",
    continue_on_error: Annotated[bool, typer.Option(
        "--continue-on-error", help="Write the valid rows; exit 9 if any failed.")] = False,
    errors_out: Annotated[Path | None, typer.Option(
        dir_okay=False,
        help="Write the failed rows, with an error column, to this CSV file.")] = None,
    output: Output = Format.table,
) -> None:
    """Import clients from CSV or JSON lines: all rows validated, all or nothing by default.

    \b
    Example: resellctl client import clients.csv -r acme --on-existing skip --errors-out bad.csv
    """
    from resellctl.domain.errors import Partial, UsageError

    current = state(ctx)
    if errors_out is not None and _same_file(errors_out, file):
        raise UsageError("--errors-out must not be the file being imported (it would be "
                         "replaced by its failed rows)", code="errors_out_is_input",
                         hint="write the failed rows to another file")
    if current.remote:
        _import_remote(current, file, {
            "reseller": current.reseller(reseller), "dry_run": dry_run,
            "on_existing": on_existing, "continue_on_error": continue_on_error,
            "source": file}, errors_out, output)
        return
    from resellctl.domain import importer

    options = importer.Options(source=file, dry_run=dry_run, on_existing=on_existing,
                               continue_on_error=continue_on_error)
    source = _records(file)
    with source as records, _progress(source.handle or source.stdin) as progress:
        try:
            result = importer.import_clients(
                current.ctx(), records, current.reseller(reseller), options, progress,
                on_failures=(lambda rows: _write_errors(errors_out, rows, continue_on_error,
                                                        quiet=output == Format.json))
                if errors_out else None)
        except Partial as partial:
            _emit_summary(partial.result, output)
            raise
    _emit_summary(result, output)


def _import_remote(current, file: str, arguments: dict, errors_out: Path | None,  # noqa: ANN001
                   output: Format) -> None:
    """The file (or stdin) streamed as the request body as it is read; the progress bar
    follows the bytes sent. The server imports it as it arrives."""
    from resellctl.domain.errors import Invalid, Partial

    if file == "-":
        handle = getattr(sys.stdin, "buffer", None)
        if handle is None:
            raise Invalid("there is no standard input to read (it is closed)",
                          code="no_stdin", hint="pass the file's path instead of -")
        first = handle.read1(1 << 16) if hasattr(handle, "read1") else handle.read(1 << 16)
        json_lines = first.lstrip().startswith(b"{")
    else:
        try:
            handle = open(file, "rb")  # noqa: SIM115 - closed below
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise Invalid(f"cannot read {file}: {exc.strerror}", code="file_not_found") from exc
        first = b""
        json_lines = Path(file).suffix.lower() in (".ndjson", ".jsonl")
    kind = "application/x-ndjson" if json_lines else "text/csv"
    try:
        with _progress(handle) as progress:
            def chunks() -> Iterator[bytes]:
                if first:
                    yield first
                while block := handle.read(1 << 16):
                    if progress is not None:
                        progress(0, _offset(handle))
                    yield block

            try:
                result = current.api().upload(
                    "client.import", arguments, chunks(), kind,
                    on_failures=(lambda rows: _write_errors(
                        errors_out, rows, arguments["continue_on_error"],
                        quiet=output == Format.json)) if errors_out else None)
            except Partial as partial:
                _emit_summary(partial.result, output)
                raise
    finally:
        if file != "-":
            handle.close()
    _emit_summary(result, output)


def _offset(handle) -> int | None:  # noqa: ANN001
    try:
        return handle.tell()
    except (OSError, ValueError):
        return None


def _same_file(one: Path, other: str) -> bool:
    try:
        return other != "-" and os.path.samefile(one.expanduser(), other)
    except OSError:  # either does not exist (yet)
        return False


class _records:  # noqa: N801 - a context manager used like a function
    """The blocks of FILE, or of stdin for `-`: read alike, as strict UTF-8 (a BOM
    dropped) with every line end kept for the CSV reader."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.handle = None
        self.stdin = None

    def __enter__(self):  # noqa: ANN204
        from resellctl.domain import importer
        from resellctl.domain.errors import Invalid

        if self.name == "-":
            self.stdin = _stdin_text()
            leading = []  # up to the first line holding something: JSON lines start with {
            try:
                for line in iter(self.stdin.readline, ""):
                    leading.append(line)
                    if line.strip():
                        break
            except UnicodeDecodeError as exc:
                raise _not_utf8("standard input", exc) from exc
            json_lines = bool(leading) and leading[-1].lstrip().startswith("{")
            reader = importer.read_ndjson if json_lines else importer.read_csv
            lines = itertools.chain(leading, self.stdin)
            return _decoded(reader(lines), "standard input", _seekable(self.stdin))
        path = Path(self.name)
        try:
            self.handle = path.open(encoding="utf-8-sig", newline="")
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise Invalid(f"cannot read {path}: {exc.strerror}", code="file_not_found") from exc
        reader = (importer.read_ndjson if path.suffix.lower() in (".ndjson", ".jsonl")
                  else importer.read_csv)
        return _decoded(reader(self.handle), path, _seekable(self.handle))

    def __exit__(self, *exc: object) -> None:
        if self.handle is not None:
            self.handle.close()
        if self.stdin is not None and self.stdin is not sys.stdin:
            self.stdin.detach()  # our wrapper goes; sys.stdin's buffer stays open


def _stdin_text():  # noqa: ANN202
    """stdin's bytes as a file is read: strict UTF-8 (sys.stdin would turn bad bytes into
    surrogates), a BOM dropped, line ends untouched (CR-only files included)."""
    import io

    from resellctl.domain.errors import Invalid

    if sys.stdin is None:  # started with stdin closed (`<&-`)
        raise Invalid("there is no standard input to read (it is closed)",
                      code="no_stdin", hint="pass the file's path instead of -")
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is None:  # a text-only stream (embedding): read it as it is
        return sys.stdin
    return io.TextIOWrapper(buffer, encoding="utf-8-sig", errors="strict", newline="")


def _seekable(handle) -> int | None:  # noqa: ANN001
    """The file descriptor of a regular file (whose offset tells how much was read)."""
    import stat

    try:
        fd = handle.fileno()
        return fd if stat.S_ISREG(os.fstat(fd).st_mode) else None
    except (AttributeError, OSError, ValueError):
        return None


def _decoded(records, source: object, fd: int | None):  # noqa: ANN001, ANN202
    """The blocks, each with the file offset reached when it was read (in the process
    that reads it: a forked reader shares the offset), and decoding errors as exit 5."""
    try:
        for block in records:
            if fd is not None:
                block.offset = os.lseek(fd, 0, os.SEEK_CUR)
            yield block
    except UnicodeDecodeError as exc:
        raise _not_utf8(source, exc) from exc


def _not_utf8(source: object, exc: UnicodeDecodeError):  # noqa: ANN202
    from resellctl.domain.errors import Invalid

    return Invalid(f"{source} is not UTF-8 text ({exc.reason} at byte {exc.start})",
                   code="invalid_encoding", hint="save the file as UTF-8 CSV")


class _progress:  # noqa: N801
    """A Rich progress bar on stderr when it is a terminal; otherwise nothing.

    For a regular file the bar is the share of its bytes in the blocks done (each
    block carries the file offset reached when it was read); for stdin it pulses."""

    def __init__(self, handle) -> None:  # noqa: ANN001 - the file being read, or None
        self.handle, self.bar = handle, None

    def __enter__(self):  # noqa: ANN204
        if not is_terminal(sys.stderr):
            return None
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        fd = _seekable(self.handle)
        # No refresh thread (auto_refresh=False): the import may fork a reader process,
        # and forking a process that runs threads is unsafe. Redrawn as blocks are done.
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                            TaskProgressColumn(), TextColumn("{task.fields[rows]:,} rows"),
                            TimeElapsedColumn(), console=console(), transient=True,
                            auto_refresh=False, redirect_stdout=False,
                            redirect_stderr=False)  # stdout: the summary, untouched
        self.bar.start()
        total = os.fstat(fd).st_size if fd is not None else None
        self.task = self.bar.add_task("importing", total=total, rows=0)
        self.drawn = 0.0
        return self._show

    def _show(self, done: int, offset: int | None) -> None:
        import time

        now = time.monotonic()
        due = now - self.drawn >= 0.1  # at most ten redraws a second
        self.bar.update(self.task, completed=offset, rows=done, refresh=due)
        if due:
            self.drawn = now

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _write_errors(path: Path, failures: list[dict], continue_on_error: bool, *,
                  quiet: bool = False) -> None:
    """The failed rows, or only the header when none failed (never a stale file). A line
    on stderr says where they went, unless `quiet` (-o json: stderr is the JSON error).

    A regular file (or a symlink's target) is replaced atomically, keeping its mode; a
    device, FIFO or socket (/dev/stderr, a pipe) is written into, never replaced."""
    from resellctl.domain import importer
    from resellctl.domain.errors import Invalid
    from resellctl.files import replace_file

    path = path.expanduser()
    try:
        if path.exists() and not path.is_file():
            with path.open("w", encoding="utf-8", newline="") as handle:
                importer.failed_rows_csv(failures, handle)
        else:
            replace_file(path.resolve(),
                         lambda handle: importer.failed_rows_csv(failures, handle))
    except OSError as exc:  # the import rolls back: the report it asked for is missing
        raise Invalid(f"cannot write --errors-out {path}: {exc.strerror or exc}; nothing "
                      "was imported", code="errors_out_unwritable") from exc
    if not failures or quiet:
        return
    say(f"{len(failures)} failed row(s) written to {path}" + (
        ", ready to fix and import again\n" if continue_on_error else
        "; nothing was imported: fix them in the original file and import it again\n"))


def _emit_summary(result: dict, output: Format) -> None:
    if output == Format.table:
        emit({k: v for k, v in result.items() if k != "errors"}, output)
    else:
        emit(result, output)


@app.command("list")
def list_(
    ctx: typer.Context,
    reseller: ResellerOpt = None,
    stage: Annotated[list[str] | None, typer.Option(help="Only this stage (repeatable).")
                     ] = None,
    status: Annotated[str | None, typer.Option(help="active or deactivated.")] = None,
    search: Annotated[str | None, typer.Option(
        help="Text in the name or owner e-mail, or an exact uid / external id.")] = None,
    include_deleted: Annotated[bool, typer.Option("--include-deleted",
                                                  help="Show deleted clients too.")] = False,
    sort: Annotated[str, typer.Option(help="Field to sort by; prefix - for descending.")
                    ] = "name",
    limit: Annotated[int | None, limit_option("At most N clients.")] = None,
    offset: Annotated[int, offset_option()] = 0,
    output: Output = Format.table,
) -> None:
    """List the portfolio: stage, billing, seats used/allocated, support, trial end.

    \b
    Example: resellctl client list -r acme --stage trial --stage demo --sort -created_at
    """
    current = state(ctx)
    filters = {"reseller": current.reseller(reseller), "stages": stage or [],
               "status": status, "search": search, "include_deleted": include_deleted}
    # On a terminal a table is one page (PAGE rows, or --limit's) and a line on stderr
    # says how many more there are; off a terminal, or in another format, nothing is added.
    paged = output == Format.table and is_terminal()
    window = {"sort": sort, "limit": PAGE if paged and limit is None else limit,
              "offset": offset}
    if output == Format.csv and not current.remote:  # formatted by the database
        _clients().export_csv(current.ctx(), sys.stdout, **filters, **window)
        return
    if output in (Format.csv, Format.ndjson):  # the server's bytes, streamed through
        current.copy("client.list", output, None, **filters, **window)
        return
    rows = _checked(iter(current.call("client.list", **filters, **window)))
    if output != Format.table:
        emit(rows, output)
        return
    shown = list(rows)
    emit(shown, output, table=portfolio(across=filters["reseller"] is None))
    if paged and len(shown) == window["limit"]:  # a shorter page is the last one
        total = current.call("client.count", **filters)
        if total > offset + len(shown):
            say(f"… {total - offset - len(shown)} more of {total}: use --offset "
                f"{offset + len(shown)}, --limit N, or -o csv\n")


def _checked(rows: Iterator) -> Iterator:
    """Run the query (and its checks) before anything is printed: a refused list must
    leave stdout empty, not a half-written `[`."""
    first = next(rows, None)
    return iter(()) if first is None else itertools.chain((first,), rows)


def portfolio(*, across: bool) -> list[Col]:
    """The portfolio table (CLI.md `client list`): a Reseller column when the list
    spans resellers (no --reseller and no context reseller). On a terminal too narrow
    for all of it, Support goes first, then Billing (both stay in `client show`)."""
    return [Col("client", "Client\nUID", get=lambda r: [r["name"], Whole(r["uid"])]),
            *([Col("reseller", kind="ident")] if across else []),
            Col("stage", "Stage\nTrial ends", "ident", _stage),
            Col("billing", "Billing", get=lambda r: r["billing_status"]
                + (f" · {r['plan']}" if r["plan"] else ""), optional=True),
            Col("seats", "Seats\nused/total", "ident", _seats),
            Col("support_access", "Support", "onoff", optional=True)]


def _stage(row: dict) -> list[str]:
    return [row["stage"], *(["deactivated"] if row["status"] != "active" else []),
            *(["deleted"] if row.get("deleted_at") else []),
            *([row["trial_ends_at"][:10]] if row["trial_ends_at"] and row["stage"] == "trial"
              else [])]


def _seats(row: dict) -> str:
    over = row["seats_used"] > row["seats_allocated"]
    return f"{row['seats_used']}/{row['seats_allocated']}" + (" ⚠" if over else "")


@app.command()
def show(ctx: typer.Context, uid: Uid, output: Output = Format.table) -> None:
    """Show one client.

    \b
    Example: resellctl client show cl_1a2b3c4d5e6f -o json
    """
    emit(state(ctx).call("client.show", uid=uid), output)


@app.command()
def edit(
    ctx: typer.Context,
    uid: Uid,
    name: Annotated[str | None, typer.Option(help="Company name.")] = None,
    owner_name: Annotated[str | None, typer.Option(help="Admin's name.")] = None,
    owner_email: Annotated[str | None, typer.Option(help="Admin's e-mail.")] = None,
    owner_phone: Annotated[str | None, typer.Option(help="Phone ('' clears it).")] = None,
    location: Annotated[str | None, typer.Option(help="Location ('' clears it).")] = None,
    stage: Annotated[str | None, typer.Option(help="New stage (allowed moves only).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Any stage move (super admin).")
                     ] = False,
    plan: Annotated[str | None, typer.Option(help="Plan code ('' clears it).")] = None,
    seats: Annotated[int | None, typer.Option(help="Seats allocated.")] = None,
    support_type: Annotated[str | None, typer.Option(help="vendor or partner.")] = None,
    support_access: Annotated[bool | None, typer.Option(
        "--support-access/--no-support-access", help="Allow support sessions.")] = None,
    output: Output = Format.table,
) -> None:
    """Change a client's details, stage, plan, seats or support settings.

    \b
    Example: resellctl client edit cl_1a2b3c4d5e6f --stage active --seats 25
    """
    fields = {"name": name, "owner_name": owner_name, "owner_email": owner_email,
              "owner_phone": owner_phone, "location": location, "stage": stage, "plan": plan,
              "seats": seats, "support_type": support_type, "support_access": support_access}
    emit(state(ctx).call("client.edit", uid=uid, fields=fields, force=force), output)


@app.command()
def usage(
    ctx: typer.Context,
    uid: Uid,
    seats_used: Annotated[int, typer.Option(help="Seats in use now.")],
    output: Output = Format.table,
) -> None:
    """Record the seats a client uses (may exceed its allocation; reports flag it).

    \b
    Example: resellctl client usage cl_1a2b3c4d5e6f --seats-used 27
    """
    emit(state(ctx).call("client.usage", uid=uid, seats_used=seats_used), output)


@app.command()
def deactivate(ctx: typer.Context, uid: Uid, output: Output = Format.table) -> None:
    """Deactivate a client; its licence returns to the pool.

    \b
    Example: resellctl client deactivate cl_1a2b3c4d5e6f
    """
    emit(state(ctx).call("client.deactivate", uid=uid), output)


@app.command()
def reactivate(ctx: typer.Context, uid: Uid, output: Output = Format.table) -> None:
    """Reactivate a client; it takes a licence again.

    \b
    Example: resellctl client reactivate cl_1a2b3c4d5e6f
    """
    emit(state(ctx).call("client.reactivate", uid=uid), output)


@app.command()
def delete(ctx: typer.Context, uid: Uid, yes: Yes = False,
           output: Output = Format.table) -> None:
    """Delete a client (soft: history stays; hidden from lists unless --include-deleted).

    \b
    Example: resellctl client delete cl_1a2b3c4d5e6f --yes
    """
    confirm(f"Delete client {uid}?", yes)
    emit(state(ctx).call("client.delete", uid=uid), output)
