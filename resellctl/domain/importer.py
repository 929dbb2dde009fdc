"""`client import`: validate every row, then write set-based, in one transaction.

One pass over the file: rows are validated and, while no row has failed,
written in chunks (COPY on PostgreSQL, executemany on SQLite) inside a single
transaction. Any failure in all-or-nothing mode rolls the whole transaction
back, so a failing or killed import leaves the store as it was.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import itertools
import json
import os
import pickle
import queue
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection

from resellctl.domain import audit, clients, licenses, processes
from resellctl.domain.access import load_actor
from resellctl.domain.context import Ctx
from resellctl.domain.csvfile import unguarded, unguarded_column
from resellctl.domain.errors import Conflict, FieldInvalid, Insufficient, Invalid, Partial
from resellctl.store import tables

CLIENT = clients.CLIENT
IMPORT = tables.client_import
COLUMNS = ("name", "owner_name", "owner_email", "owner_phone", "location", "stage", "plan",
           "seats", "support_type", "support_access", "external_id")
REQUIRED = ("name", "owner_name", "owner_email")
CHUNK = 5000  # rows per set-based write
BLOCK = 2000  # rows read and checked column by column at once
INSERT_COLUMNS = ("uid", "reseller_id", "name", "location", "owner_name", "owner_email",
                  "owner_phone", "stage", "status", "plan", "seats_allocated", "seats_used",
                  "support_type", "support_access", "trial_ends_at", "external_id",
                  "import_id", "created_at", "updated_at")
ON_EXISTING = ("error", "skip", "update")
ERROR_COLUMN = "error"  # written by --errors-out; ignored on import so fixed rows go back in
# The columns of `client list -o csv` (and -o ndjson) read under another name, or used
# only to find a row's client (uid: a row without an external_id is matched by it).
ALIASES = {"seats_allocated": "seats"}
UID = "uid"
# The export's other columns: what an import cannot write (status, timestamps...), read
# and ignored, so that an exported file imports as it is.
IGNORED = frozenset({ERROR_COLUMN, *(c for c in clients.OUTPUT
                                     if c not in COLUMNS and c not in ALIASES and c != UID)})
KNOWN = frozenset({*COLUMNS, *ALIASES, UID, *IGNORED})
# The free-text columns, which the export guards against formulas (its other columns
# cannot start with a formula character): the import drops that quote in them.
GUARDED = frozenset(clients.TEXT_OUTPUT)
DELIMITERS = (",", ";", "\t")  # a comma first: it wins a tie
_SEPARATORS = re.compile(r"[\s\-]+")


# ---------------------------------------------------------------- reading files

def column_name(cell: str) -> str:
    """A header cell as a column name, written as people write it: any case, spaces or
    hyphens for underscores (`Owner Name`, `owner-email`), an export's name for a column."""
    name = _SEPARATORS.sub("_", cell.lstrip("\ufeff").strip().lower())
    return ALIASES.get(name, name)


def _header(cells: list[str]) -> list[str]:
    names = [column_name(c) for c in cells]
    unknown = [(cell.lstrip("\ufeff").strip(), name) for cell, name in zip(cells, names,
                                                                           strict=True)
               if name not in KNOWN]
    missing = [n for n in REQUIRED if n not in names]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if unknown or missing or repeated:
        problems = []
        if unknown:
            problems.append("unknown columns " + ", ".join(f"`{cell}`" for cell, _ in unknown))
        if missing:
            problems.append("missing required columns " + ", ".join(missing))
        if repeated:
            problems.append("repeated columns " + ", ".join(repeated))
        raise Invalid("the file's header has " + "; ".join(problems), code="invalid_header",
                      hint=_header_hint(unknown, names))
    return names


def _header_hint(unknown: list[tuple[str, str]], names: list[str]) -> str:
    """The columns, after the known column closest to each unknown one, if any is close."""
    import difflib

    columns = "columns: " + ", ".join(COLUMNS) + " (the first three required)"
    free = [c for c in COLUMNS if c not in names]  # a column given already is no guess
    guesses = [(cell, close[0]) for cell, name in unknown
               if (close := difflib.get_close_matches(name, free, n=1))]
    if not guesses:
        return columns
    if len(unknown) == 1:
        return f"did you mean {guesses[0][1]}? The {columns}"
    return ("did you mean " + ", ".join(f"{guess} for `{cell}`" for cell, guess in guesses)
            + f"? The {columns}")


def read_csv(stream: Iterable[str]) -> Iterator[CsvBlock]:
    """Blocks of records with spreadsheet numbering: the header is row 1. The cells are
    separated by commas, semicolons or tabs, whichever the header line is written with."""
    lines = iter(stream)
    head = []  # the lines up to the header's first one (blank lines count as rows)
    for line in lines:
        head.append(line)
        if line.strip(_BLANK):
            break
    delimiter = _delimiter(head[-1]) if head else ","
    reader = csv.reader(itertools.chain(head, lines), delimiter=delimiter)
    try:
        yield from _csv_blocks(reader)
    except csv.Error as exc:  # e.g. a cell over the csv module's 128 KiB field limit
        raise Invalid(f"line {reader.line_num} of the file is not readable CSV: {exc}",
                      code="invalid_csv", hint="check the quoting around that line") from exc


_BLANK = " \t\r\n,;\""  # a line of only these holds no header cell, whatever the delimiter


def _delimiter(line: str) -> str:
    """Of the delimiters, the one that splits the header line into the most known columns
    (then into the most cells: the file's own columns, even when they are all unknown)."""
    def score(delimiter: str) -> tuple[int, int]:
        cells = next(csv.reader([line], delimiter=delimiter), [])
        return sum(column_name(c) in KNOWN for c in cells), len(cells)

    return max(DELIMITERS, key=score)  # max keeps the first of equals: the comma


def _csv_blocks(reader: Iterator[list[str]]) -> Iterator[CsvBlock]:
    header = None
    number = 0  # records read so far, blank ones included: the spreadsheet's row number
    for cells in reader:
        number += 1
        if cells and any(c.strip() for c in cells):
            header = _header(cells)
            break
    if header is None:
        raise Invalid("the file is empty", code="empty_file")
    while rows := list(itertools.islice(reader, BLOCK)):
        yield CsvBlock(header, number + 1, len(rows), rows=rows)
        number += len(rows)


def _misfit(cells: list[str], width: int, by_name: dict) -> Unreadable:
    """A CSV row with too few cells (the missing ones are empty), or too many (usually a
    comma in an unquoted cell: the message quotes the row as read, since the cells no
    longer fall under their columns)."""
    message = f"expected {width} cells, found {len(cells)}"
    if any("\n" in cell or "\r" in cell for cell in cells):
        message += " (a cell runs over several lines: is a closing quote missing?)"
    if len(cells) > width:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="").writerow(cells)
        message += "; the row as read: " + _excerpt(buffer.getvalue(), 500)
    return Unreadable(message, by_name)


class CsvBlock:
    """Consecutive CSV records (blank ones included); the first is row `start`.

    Its rows are parsed from its text when first needed, if not given. `offset`, when
    the reader sets it, is how many bytes of the file had been read at the block's end
    (for a progress bar)."""

    def __init__(self, header: list[str], start: int, count: int, *,
                 rows: list[list[str]] | None = None, text: str = "",
                 offset: int | None = None) -> None:
        self.header, self.start, self.count = header, start, count
        self._rows, self.text, self.offset = rows, text, offset
        self.ignored = [name for name in header if name in IGNORED]

    def __len__(self) -> int:
        return self.count

    @property
    def rows(self) -> list[list[str]]:
        if self._rows is None:
            self._rows = list(csv.reader(io.StringIO(self.text, newline="")))
        return self._rows

    def shipped(self) -> CsvBlock:
        """The block as one string of CSV instead of parsed rows, to send to another
        process (which parses it again only if it needs the rows): csv.writer quotes
        every cell holding a delimiter, quote, CR or LF, so the rows read back the same."""
        buffer = io.StringIO()
        csv.writer(buffer).writerows(self.rows)
        return CsvBlock(self.header, self.start, self.count, text=buffer.getvalue(),
                        offset=self.offset)

    def records(self) -> Iterator[tuple[int, dict | Unreadable]]:
        """(row number, cells by column) one by one; Unreadable for a malformed row."""
        width = len(self.header)
        for number, cells in enumerate(self.rows, start=self.start):
            if not cells or (not cells[0].strip() and not any(c.strip() for c in cells)):
                continue  # a blank line (the first cell is checked first: the fast path)
            if len(cells) != width:
                yield number, _misfit(cells, width, self.cells(cells))
                continue
            yield number, self.cells(cells)

    def cells(self, row: list[str]) -> dict:
        """The cells by column as the file has them (as many as the row has, for a
        malformed one)."""
        by_name = dict(zip(self.header, row, strict=False))
        for name in self.ignored:
            by_name.pop(name, None)
        return by_name

    def meaning(self, cells: dict) -> dict:
        """The cells without the quote an export adds to a formula-like text cell."""
        unquoted = {name: unguarded(cell) for name, cell in cells.items()
                    if cell[:1] == "'" and name in GUARDED}
        return {**cells, **unquoted} if unquoted else cells

    def columns(self) -> dict[str, Sequence[str]] | None:
        """The block column by column, if every record has the header's width (without
        the quote an export adds to a formula-like text cell)."""
        if set(map(len, self.rows)) != {len(self.header)}:
            return None
        return {name: unguarded_column(cells) if name in GUARDED else cells
                for name, cells in zip(self.header, zip(*self.rows, strict=True), strict=True)
                if name not in IGNORED}


@dataclass(frozen=True)
class Unreadable:
    """A record that cannot be a client row: why, and the cells that could be read (so
    that --errors-out keeps them, ready to fix)."""

    message: str
    cells: dict | None = None


class RecordBlock:
    """Records already parsed one by one (JSON lines): no column-wise fast path."""

    def __init__(self, items: list[tuple[int, dict | Unreadable]]) -> None:
        self.items, self.offset = items, None

    def __len__(self) -> int:
        return len(self.items)

    def records(self) -> Iterator[tuple[int, dict | Unreadable]]:
        return iter(self.items)

    def cells(self, row: dict) -> dict:
        return row

    def meaning(self, cells: dict) -> dict:
        return cells  # JSON values are what they say: no formula guard to undo

    def columns(self) -> None:
        return None


Block = CsvBlock | RecordBlock


def read_ndjson(stream: TextIO) -> Iterator[RecordBlock]:
    """Blocks of (line number, object) from JSON lines."""
    records = _ndjson_records(stream)
    while items := list(itertools.islice(records, BLOCK)):
        yield RecordBlock(items)


def _ndjson_records(stream: TextIO) -> Iterator[tuple[int, dict | Unreadable]]:
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, Unreadable(f"not valid JSON ({exc.msg} at column {exc.colno}): "
                                     + _excerpt(line))
            continue
        if not isinstance(data, dict):
            yield number, Unreadable("each line must be a JSON object: " + _excerpt(line))
            continue
        cells = {ALIASES.get(k, k): _json_cell(v) for k, v in data.items() if k not in IGNORED}
        if len(cells) < len(data.keys() - IGNORED):  # seats and seats_allocated
            yield number, Unreadable("seats and seats_allocated are the same field: give "
                                     "one of them", cells)
            continue
        unknown = [k for k in cells if k not in COLUMNS and k != UID]
        nested = [k for k, v in cells.items() if isinstance(v, list | dict)]
        if unknown or nested:
            problems = (["unknown fields " + ", ".join(unknown)] if unknown else []) + (
                [", ".join(nested) + ": a cell is a string, a number, true/false or null, "
                 "not a JSON array or object"] if nested else [])
            yield number, Unreadable("; ".join(problems), {
                k: v for k, v in cells.items() if k not in unknown and k not in nested})
            continue
        yield number, cells


def _json_cell(value: Any) -> Any:
    """A JSON value as a cell: whole floats (3.0) as ints, other floats as their text."""
    if isinstance(value, float):
        return int(value) if value.is_integer() else repr(value)
    return value


def _excerpt(line: str, size: int = 200) -> str:
    line = line.strip()
    return line if len(line) <= size else line[:size] + "…"


# ---------------------------------------------------------------- the import

@dataclass
class Options:
    source: str = "-"
    dry_run: bool = False
    on_existing: str = "error"
    continue_on_error: bool = False


@dataclass
class Run:
    """The running tally of one import."""

    created: int = 0
    updated: int = 0
    skipped: int = 0
    failures: list[dict] = field(default_factory=list)
    new_rows: int = 0  # valid rows for new clients, written or not
    short_of_licences: bool = False
    inactive_reseller: bool = False  # it can create no client: new rows were refused
    seen: dict[str, int] = field(default_factory=dict)
    seen_uids: dict[str, int] = field(default_factory=dict)

    def fail(self, row: int, column: str | None, message: str, raw: dict | None) -> None:
        self.fail_all(row, [(column, message)], raw)

    def fail_all(self, row: int, errors: list[tuple[str | None, str]], raw: dict | None) -> None:
        """One failed row, with every problem found in it."""
        self.failures.append({"row": row, "cells": raw or {},
                              "errors": [{"column": c, "message": m} for c, m in errors]})


def import_clients(ctx: Ctx, blocks: Iterable[Block], reseller: str | None,
                   options: Options, progress: Callable[[int, int | None], None] | None = None,
                   on_failures: Callable[[list[dict]], None] | None = None) -> dict:
    """Import client rows; `on_failures` gets the failed rows (cells + reason) if any."""
    if options.on_existing not in ON_EXISTING:
        raise Invalid(f"--on-existing must be one of {', '.join(ON_EXISTING)}",
                      code="invalid_option")
    transaction = ctx.store.read if options.dry_run else ctx.store.write
    with transaction() as conn:
        actor = load_actor(conn, ctx.actor)
        parent = clients.target_reseller(conn, actor, reseller, "import",
                                         for_update=not options.dry_run)
        job = _Job(conn, actor, parent, options)
        try:
            job.run(blocks, progress)
            result = job.finish()
        except BaseException as exc:
            job.writer.close(exc)
            raise
        if on_failures is not None:  # even none: an --errors-out file never goes stale
            on_failures(job.tally.failures)
        _refuse_unless_whole(result, job.tally, options, parent)  # raising rolls back
    if job.tally.failures:
        raise Partial(_partial_message(result, options), code="partial_import",
                      result=result, details=_details(job.tally.failures))
    return result


def _partial_message(result: dict, options: Options) -> str:
    counts = f"{result['created']} created, {result['updated']} updated, " \
             f"{result['skipped']} skipped"
    if options.dry_run:
        return f"{result['failed']} row(s) failed; the others would give {counts} " \
               "(dry run: nothing was written)"
    return f"{result['failed']} row(s) failed; the others were imported: {counts}"


def _refuse_unless_whole(result: dict, tally: Run, options: Options, parent: Any) -> None:
    """All-or-nothing mode: any failed row, new row under an inactive reseller or missing
    licence refuses the whole import."""
    if options.continue_on_error:
        return
    if tally.failures:
        raise Invalid(f"{len(tally.failures)} row(s) failed validation; nothing was written",
                      code="invalid_rows", details=_details(tally.failures),
                      hint="fix those rows in the file and import the whole file again, or "
                           "pass --continue-on-error to import the valid rows")
    if tally.inactive_reseller:
        raise Conflict(f"reseller `{parent.slug}` is inactive: it can create no client, and "
                       f"{tally.new_rows} row(s) are new clients; nothing was written",
                       code="reseller_inactive",
                       hint=f"reactivate it (`resellctl reseller activate {parent.slug}`), or "
                            "import only rows of its existing clients (--on-existing skip "
                            "or update)")
    if tally.short_of_licences:
        raise Insufficient(result["license_message"], code="no_free_license",
                           hint="buy licences with `resellctl license purchase`, or pass "
                                "--continue-on-error to import what fits")


def _details(failures: list[dict]) -> list[dict]:
    return [{"row": f["row"], **error} for f in failures for error in f["errors"]]


# ---------------------------------------------------------------- checking blocks

def _cleaned(block: Block, rules: clients.Policy) -> dict | None:
    columns = block.columns()
    if not columns or any(columns.get(UID, ())):  # rows that may name their client by uid
        return None
    return clients.clean_columns(columns, len(block), rules)


def prepared(blocks: Iterable[Block], rules: clients.Policy, *, pipeline: bool = True
             ) -> Iterator[tuple[Block, dict | None]]:
    """(block, its columns cleaned, or None when it must go row by row).

    With `pipeline`, a CSV file of more than one block is read and checked in a
    child process while this one writes (two cores at work); the first block is read
    here, so that a bad header or an empty file fails before anything is started."""
    blocks = iter(blocks)
    first = next(blocks, None)
    if first is None:
        return
    yield first, _cleaned(first, rules)
    if pipeline and isinstance(first, CsvBlock) and len(first) == BLOCK:
        yield from _from_child(blocks, rules)
    else:
        yield from _here(blocks, rules)


def _here(blocks: Iterable[Block], rules: clients.Policy
          ) -> Iterator[tuple[Block, dict | None]]:
    return ((block, _cleaned(block, rules)) for block in blocks)


def _from_child(blocks: Iterator[Block], rules: clients.Policy
                ) -> Iterator[tuple[Block, dict | None]]:
    forked = processes.fork_with_pipe(child_writes=True)
    if forked is None:  # no process to spare: read here instead
        yield from _here(blocks, rules)
        return
    pid, end = forked
    if pid == 0:  # the child: read and check, send, and leave without any clean-up
        os._exit(_child(blocks, rules, end))  # of the parent's state (its store above all)
    pipe = _Drained(end)
    try:
        source = io.BufferedReader(pipe, PIPE_BUFFER)
        while (message := _receive(source))[0] == "block":
            yield message[1], message[2]
        if message[0] == "error":
            raise _unpickled_error(message[1], message[2])
    finally:
        processes.reap(pid)
        pipe.close()


PIPE_BUFFER = processes.PIPE_BUFFER
PIPE_AHEAD = 16  # chunks of up to PIPE_BUFFER bytes the child may run ahead


class _Drained(io.RawIOBase):
    """The read end of the child's pipe, drained by a thread into a bounded queue.

    A pipe holds 64 KiB: without the thread the child would wait whenever this
    process is busy writing to the store, and the two would take turns instead of
    working at the same time."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self.chunks: queue.Queue[bytes] = queue.Queue(PIPE_AHEAD)
        self.pending, self.offset, self.ended = b"", 0, False
        self.thread = threading.Thread(target=self._pump, args=(fd,), daemon=True)
        self.thread.start()

    def _pump(self, fd: int) -> None:
        try:
            with open(fd, "rb", buffering=0) as pipe:
                while chunk := pipe.read(PIPE_BUFFER):
                    self.chunks.put(chunk)
        finally:
            self.chunks.put(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.offset == len(self.pending) and not self.ended:
            self.pending, self.offset = self.chunks.get(), 0
            self.ended = not self.pending
        size = min(len(buffer), len(self.pending) - self.offset)
        buffer[:size] = memoryview(self.pending)[self.offset:self.offset + size]
        self.offset += size
        return size

    def close(self) -> None:
        """Let the thread finish (the child has ended or been stopped)."""
        while self.thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self.chunks.get(timeout=0.05)
        super().close()


def _receive(source: Any) -> tuple:
    try:
        return pickle.load(source)
    except EOFError:
        raise RuntimeError("the process reading the file stopped unexpectedly") from None


def _child(blocks: Iterator[Block], rules: clients.Policy, write_end: int) -> int:
    """Send ("block", block, values)..., then ("end",) or ("error", pickled, text)."""
    try:
        with open(write_end, "wb", buffering=PIPE_BUFFER) as sink:
            try:
                for block in blocks:
                    pickle.dump(("block", block.shipped(), _cleaned(block, rules)), sink,
                                pickle.HIGHEST_PROTOCOL)
                pickle.dump(("end",), sink)
            except Exception as exc:  # noqa: BLE001 - handed to the parent, which raises it
                pickle.dump(("error", _pickled(exc), str(exc)), sink)
                return 1
    except BaseException:  # noqa: BLE001 - the parent went away, or Ctrl-C: just leave
        return 1
    return 0


def _pickled(exc: BaseException) -> bytes | None:
    try:
        data = pickle.dumps(exc)
        pickle.loads(data)
    except Exception:  # noqa: BLE001 - not every exception survives pickling
        return None
    return data


def _unpickled_error(data: bytes | None, text: str) -> BaseException:
    """The child's error as it was raised there, or (if it could not travel) an internal
    error with its message."""
    return pickle.loads(data) if data is not None else RuntimeError(text)


class _Job:
    def __init__(self, conn: Connection, actor: Any, parent: Any, options: Options) -> None:
        self.conn, self.actor, self.parent, self.options = conn, actor, parent, options
        self.rules = clients.policy(conn, parent)
        # A file name as text, whatever its bytes (a name that is not UTF-8 is kept with
        # U+FFFD in place of the bytes it cannot show).
        self.source = os.fsencode(options.source).decode("utf-8", "replace")
        # An inactive reseller creates no client; its existing ones can still be updated.
        self.inactive = parent is not None and not parent.is_active
        self.tally = Run()
        self.free = (parent.license_count - parent.license_used) if parent is not None else None
        self.free_at_start = self.free
        if parent is None and not options.dry_run:  # a reseller's are unique-constrained
            clients.lock_clients_of(conn, None)
        self.existing = self._existing()
        self.pending = _no_rows()  # new clients to write, column by column
        # Where each pending row came from: (row number, block, index in the block), or
        # (row number, None, cells) for a row checked on its own.
        self.sources: list[tuple] = []
        self.updates: list[dict] = []
        self.import_id = None if options.dry_run else self._start()
        self.writer = _row_writer(conn, self.rules, self.import_id)
        self.taken = 0  # licences to take, once, at the end

    def _existing(self) -> dict[str, Any]:
        return {row.external_id: row
                for row in self._clients(CLIENT.c.external_id.is_not(None))}

    def _clients(self, *where: Any) -> Any:
        """The reseller's clients (or the direct ones), as far as a row's match needs them."""
        owner = (CLIENT.c.reseller_id.is_(None) if self.parent is None
                 else CLIENT.c.reseller_id == self.parent.id)
        return self.conn.execute(
            select(CLIENT.c.id, CLIENT.c.uid, CLIENT.c.external_id, CLIENT.c.stage,
                   CLIENT.c.trial_ends_at, CLIENT.c.deleted_at, CLIENT.c.support_type,
                   CLIENT.c.support_access).where(owner, *where))

    @functools.cached_property
    def by_uid(self) -> dict[str, Any]:
        """Every client of the reseller by uid: read once, when a row first names one."""
        return {row.uid: row for row in self._clients()}

    @property
    def checking(self) -> bool:
        """Whether rows are still checked against the store: to write them, or to count them
        in a dry run (not in all-or-nothing mode after a failure: it will roll back)."""
        return self.writing or self.options.dry_run

    def _start(self) -> int:
        return self.conn.execute(insert(IMPORT).values(
            reseller_id=self.rules.reseller_id, source=self.source[:500],
            actor_email=self.actor.email, created_at=self.rules.now)).inserted_primary_key[0]

    @property
    def writing(self) -> bool:
        """In all-or-nothing mode, writing stops at the first failure (it will roll back)."""
        if self.options.dry_run:
            return False
        tally = self.tally
        return self.options.continue_on_error or not (
            tally.failures or tally.short_of_licences or tally.inactive_reseller)

    def run(self, blocks: Iterable[Block],
            progress: Callable[[int, int | None], None] | None) -> None:
        """Check and write every block; `progress` gets the rows done and the block's
        file offset."""
        done = 0
        # On PostgreSQL the server already indexes rows in parallel with this process
        # (one streaming COPY), and is the slower side: no reader process there.
        pipeline = self.conn.dialect.name == "sqlite"
        for block, values in prepared(blocks, self.rules, pipeline=pipeline):
            if not self._whole_block(block, values):
                self._one_by_one(block)
            if len(self.sources) >= CHUNK or len(self.updates) >= CHUNK:
                self._flush()
            done += len(block)
            if progress:
                progress(done, block.offset)
        self._flush()
        self.tally.failures.sort(key=lambda failure: failure["row"])

    def _whole_block(self, block: Block, values: dict | None) -> bool:
        """The fast path: a block of plainly valid new rows (`values`: its columns, cleaned)."""
        if not values:
            return False
        given = [e for e in values["external_id"] if e is not None]
        if (len(set(given)) != len(given) or not self.tally.seen.keys().isdisjoint(given)
                or not self.existing.keys().isdisjoint(given)):
            return False  # repeats and existing clients: row by row
        numbers = range(block.start, block.start + len(block))
        self.tally.seen.update(zip(values["external_id"], numbers, strict=True))
        self.tally.seen.pop(None, None)
        for key, column in self.pending.items():
            column.extend(values[key])
        self.sources.extend(zip(numbers, itertools.repeat(block), range(len(block))))
        return True

    def _one_by_one(self, block: Block) -> None:
        for number, raw in block.records():
            if isinstance(raw, Unreadable):
                self.tally.fail(number, None, raw.message, raw.cells)
            else:
                self._row(number, raw, block.meaning(raw))

    def _row(self, number: int, raw: dict, cells: dict) -> None:
        """One row: `raw` as the file has it (kept for --errors-out), `cells` as it means."""
        try:
            values = self._clean(cells)
        except FieldInvalid as first:
            self.tally.fail_all(number, self._all_errors(cells, first), raw)
            return
        try:
            match = self._match(number, cells, values["external_id"])
            if match is not None:
                self._existing_row(number, cells, values, match)
                return
            for key, column in self.pending.items():
                column.append(values[key])
            self.sources.append((number, None, raw))
        except FieldInvalid as exc:
            self.tally.fail(number, exc.column, exc.message, raw)

    def _all_errors(self, raw: dict, first: FieldInvalid) -> list[tuple[str | None, str]]:
        errors = clients.new_field_errors(raw, self.rules)
        if self._is_existing(raw):
            errors = [e for e in errors if e.column != "stage"]
        return [(e.column, e.message) for e in errors] or [(first.column, first.message)]

    def _is_existing(self, raw: dict) -> bool:
        external = _text(raw.get("external_id"))
        if external:
            return external in self.existing
        uid = _text(raw.get(UID))
        return bool(uid) and uid in self.by_uid

    def _match(self, number: int, raw: dict, external: str | None) -> Any | None:
        """The existing client a row stands for: by its external_id; a row without one,
        by its uid, if it has one (a row of `client list -o csv`)."""
        if external:
            self._check_duplicate(number, external)
            return self.existing.get(external)
        uid = _text(raw.get(UID))
        if not uid:
            return None
        first = self.tally.seen_uids.setdefault(uid, number)
        if first != number:
            raise FieldInvalid(UID, f"uid `{uid}` repeats row {first}")
        match = self.by_uid.get(uid)
        if match is None:
            whose = (f"of reseller `{self.parent.slug}`" if self.parent is not None
                     else "without a reseller")
            raise FieldInvalid(UID, f"there is no client `{uid}` {whose} (a row without an "
                                    "external_id is matched by its uid): empty the uid cell "
                                    "to create a new client")
        return match

    def _clean(self, raw: dict) -> dict:
        values = clients.fast_clean(raw, self.rules)
        if values is not None:
            return values
        try:
            return clients.clean_new(raw, self.rules)
        except FieldInvalid as exc:
            if exc.column != "stage" or not self._is_existing(raw):
                raise
        # A row for an existing client: its stage is a move from the client's stage
        # (checked in _update_values), not a new client's starting stage.
        return clients.clean_new({**raw, "stage": None}, self.rules)

    def _check_duplicate(self, number: int, external: str) -> None:
        first = self.tally.seen.setdefault(external, number)
        if first != number:
            raise FieldInvalid("external_id", f"external_id `{external}` repeats row {first}")

    def _existing_row(self, number: int, raw: dict, values: dict, match: Any) -> None:
        mode = self.options.on_existing
        if mode == "skip":
            self.tally.skipped += 1
            return
        by_uid = not values["external_id"]
        if match.deleted_at is not None:
            if by_uid:
                raise FieldInvalid(UID, f"client {match.uid} is deleted: remove its row, or "
                                        "pass --on-existing skip")
            raise FieldInvalid("external_id", f"external_id `{match.external_id}` belongs to "
                                              f"deleted client {match.uid} (a deleted client "
                                              "keeps its external id): give the row another "
                                              "one, or pass --on-existing skip")
        if mode == "error":
            if by_uid:
                raise FieldInvalid(UID, f"client {match.uid} exists; use --on-existing skip "
                                        "or update")
            raise FieldInvalid("external_id", f"a client with external_id `{match.external_id}`"
                                              f" exists ({match.uid}); use --on-existing "
                                              "skip or update")
        changes = self._update_values(raw, values, match)
        if self.checking:
            self.updates.append(changes)
        else:
            self.tally.updated += 1  # all-or-nothing after a failure: only count

    def _update_values(self, raw: dict, values: dict, match: Any) -> dict:
        """Cells given in the row replace the client's values; empty cells keep them."""
        given = {k for k, v in raw.items() if v not in (None, "")}
        changed = {k: values[k] for k in ("name", "owner_name", "owner_email")}
        for cell, column in (("owner_phone", "owner_phone"), ("location", "location"),
                             ("plan", "plan"), ("seats", "seats_allocated")):
            if cell in given:
                changed[column] = values[column]
        if "support_type" in given or "support_access" in given:
            changed.update(clients.merge_support(
                match, values["support_type"] if "support_type" in given else None,
                values["support_access"] if "support_access" in given else None,
                self.rules.partner_supported))
        if "stage" in given:
            try:
                changed.update(clients.stage_values(
                    match, raw["stage"].strip() if isinstance(raw["stage"], str)
                    else raw["stage"], force=False, actor=self.actor, now=self.rules.now,
                    trial_days=(self.rules.trial_ends_at - self.rules.now).days))
            except Conflict as exc:
                raise FieldInvalid("stage", exc.message) from None
        changed["_id"] = match.id
        return changed

    def _claim(self, wanted: int) -> int:
        """How many of `wanted` new rows get a licence (all of them for direct clients,
        none under an inactive reseller).

        The reseller's row is locked for the whole import, so its free licences cannot
        change under it: they are counted here and taken once, at the end."""
        self.tally.new_rows += wanted
        if self.parent is None:
            return wanted
        if self.inactive:
            return 0
        granted = min(wanted, self.free)
        self.free -= granted
        self.taken += granted
        return granted

    def _flush(self) -> None:
        """Write the pending rows (in a dry run, or after a failure, only count them)."""
        pending, sources, updates = self.pending, self.sources, self.updates
        self.pending, self.sources, self.updates = _no_rows(), [], []
        if updates:
            self.writer.close()  # PostgreSQL: the COPY ends before any other statement
            self._updates(updates)
        count = len(sources)
        if not count:
            return
        if not self.checking:  # all-or-nothing after a failure: only count
            self.tally.created += count
            self.tally.new_rows += count
            return
        granted = self._claim(count)
        if granted < count:
            self._short(sources[granted:])
            pending = {key: column[:granted] for key, column in pending.items()}
        if self.writing and granted:
            self.writer.write(pending, granted)
        self.tally.created += granted if self.options.continue_on_error else count

    def _short(self, sources: list[tuple]) -> None:
        if self.inactive:
            self.tally.inactive_reseller = True
            reason = f"reseller `{self.parent.slug}` is inactive: it can create no client"
        else:
            self.tally.short_of_licences = True
            reason = "no free licence"
        if self.options.continue_on_error:
            for number, block, raw in sources:
                self.tally.fail(number, None, reason,
                                raw if block is None else block.cells(block.rows[raw]))

    def _updates(self, updates: list[dict]) -> None:
        """Compare matched rows with their clients: only what differs is written (with an
        audit event per client, naming this import); a row that changes nothing counts
        as skipped."""
        keys = sorted({key for values in updates for key in values} - {"_id"})
        query = (select(CLIENT.c.id, CLIENT.c.uid, *(CLIENT.c[key] for key in keys))
                 .where(CLIENT.c.id.in_([values["_id"] for values in updates])))
        if self.writing:  # PostgreSQL: no concurrent edit between this read and the write
            query = query.with_for_update()
        before = {row.id: row for row in self.conn.execute(query)}
        changed, events = [], []
        for values in updates:
            old = before[values["_id"]]
            diff = {k: v for k, v in values.items() if k != "_id" and getattr(old, k) != v}
            if not diff:
                self.tally.skipped += 1
                continue
            self.tally.updated += 1
            changed.append({**diff, "_id": old.id})
            events.append((old.uid, {k: getattr(old, k) for k in diff}, diff))
        if self.writing and changed:
            self._write_updates(changed)
            audit.record_many(self.conn, self.actor, "client.import", "client", events,
                              reseller_id=self.rules.reseller_id,
                              extra={"import_id": self.import_id})

    def _write_updates(self, updates: list[dict]) -> None:
        groups: dict[tuple[str, ...], list[dict]] = {}
        for values in updates:
            groups.setdefault(tuple(sorted(values)), []).append(values)
        for keys, rows in groups.items():
            columns = {k: bindparam(k) for k in keys if k != "_id"}
            statement = (update(CLIENT).where(CLIENT.c.id == bindparam("_id"))
                         .values(**columns, updated_at=self.rules.now))
            self.conn.execute(statement, rows)

    def finish(self) -> dict:
        tally = self.tally
        result = {"created": tally.created, "updated": tally.updated, "skipped": tally.skipped,
                  "failed": len(tally.failures), "dry_run": self.options.dry_run,
                  "import_id": self.import_id,
                  "reseller": self.parent.slug if self.parent is not None else None,
                  "errors": _details(tally.failures)}
        if tally.short_of_licences:
            result["license_message"] = (
                f"{tally.new_rows} new client(s) need as many licences; reseller "
                f"`{self.parent.slug}` has {self.free_at_start} free")
        self.writer.close()
        if self.taken and not self.options.dry_run:
            licenses.take(self.conn, self.parent.id, self.taken)
        if self.import_id is not None and self.writing:
            counts = {k: result[k] for k in ("created", "updated", "skipped", "failed")}
            self.conn.execute(update(IMPORT).where(IMPORT.c.id == self.import_id)
                              .values(**counts))
            audit.record(self.conn, self.actor, "client.import", "import", self.import_id,
                         reseller_id=self.rules.reseller_id,
                         extra={"source": self.source, **counts})
        return result


def _no_rows() -> dict[str, list]:
    return {key: [] for key in clients.CLEAN_COLUMNS}


class _Executemany:
    """SQLite: one executemany per chunk; what every row shares is written in the SQL."""

    GIVEN = ("uid", "name", "location", "owner_name", "owner_email", "owner_phone", "stage",
             "plan", "seats_allocated", "support_type", "support_access", "external_id")

    def __init__(self, conn: Connection, rules: clients.Policy, import_id: int | None) -> None:
        self.conn = conn
        processor = CLIENT.c.created_at.type._cached_bind_processor(conn.dialect)
        stamp, trial = processor(rules.now), processor(rules.trial_ends_at)
        shared = {"reseller_id": _literal(rules.reseller_id), "status": "'active'",
                  "seats_used": "0", "import_id": _literal(import_id),
                  "created_at": _literal(stamp), "updated_at": _literal(stamp),
                  "trial_ends_at": f"CASE WHEN ?{self.GIVEN.index('stage') + 1} = 'trial' "
                                   f"THEN {_literal(trial)} END"}
        params = [f"?{n}" for n in range(1, len(self.GIVEN) + 1)]
        self.sql = (f"INSERT INTO client ({', '.join((*self.GIVEN, *shared))}) "
                    f"VALUES ({', '.join((*params, *shared.values()))})")

    def write(self, columns: dict[str, list], count: int) -> None:
        c = columns
        self.conn.exec_driver_sql(self.sql, list(zip(
            clients.new_uids(count), c["name"], c["location"], c["owner_name"],
            c["owner_email"], c["owner_phone"], c["stage"], c["plan"], c["seats_allocated"],
            c["support_type"], c["support_access"], c["external_id"], strict=True)))

    def close(self, error: BaseException | None = None) -> None:
        pass


def _literal(value: str | int | None) -> str:
    """An SQL literal of a value this module made (an id or a formatted instant)."""
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("'", "''") + "'"


def _row_writer(conn: Connection, rules: clients.Policy,
                import_id: int | None) -> _Copy | _Executemany:
    """A set-based writer of new clients given column by column: COPY or executemany."""
    writer = _Copy if conn.dialect.name == "postgresql" else _Executemany
    return writer(conn, rules, import_id)


# Binary COPY: the server reads numbers and instants without parsing text (measured
# about 15% less server time than text COPY); the types follow INSERT_COLUMNS.
COPY_TYPES = ("varchar", "int4", "varchar", "varchar", "varchar", "varchar", "varchar",
              "varchar", "varchar", "varchar", "int4", "int4", "varchar", "bool",
              "timestamptz", "varchar", "int4", "timestamptz", "timestamptz")


class _Copy:
    """One binary COPY for the whole import on PostgreSQL, so that the server checks and
    indexes rows while this process reads the next ones. Any other statement needs it
    closed first."""

    def __init__(self, conn: Connection, rules: clients.Policy, import_id: int | None) -> None:
        self.conn, self.reseller_id, self.import_id = conn, rules.reseller_id, import_id
        self.stack: contextlib.ExitStack | None = None
        self.write_row: Callable[[tuple], None] | None = None
        self.stamp, self.trial = rules.now, rules.trial_ends_at

    def write(self, columns: dict[str, list], count: int) -> None:
        if self.stack is None:
            stack = contextlib.ExitStack()
            cursor = stack.enter_context(self.conn.connection.dbapi_connection.cursor())
            copy = stack.enter_context(cursor.copy(
                f"COPY client ({', '.join(INSERT_COLUMNS)}) FROM STDIN (FORMAT BINARY)"))
            copy.set_types(COPY_TYPES)
            self.stack, self.write_row = stack, copy.write_row
        same, c = itertools.repeat, columns
        for row in zip(clients.new_uids(count), same(self.reseller_id), c["name"],
                       c["location"], c["owner_name"], c["owner_email"], c["owner_phone"],
                       c["stage"], same("active"), c["plan"], c["seats_allocated"], same(0),
                       c["support_type"], c["support_access"],
                       map({"trial": self.trial}.get, c["stage"]), c["external_id"],
                       same(self.import_id), same(self.stamp), same(self.stamp),
                       strict=False):  # repeat() never ends; the rest have `count` items
            self.write_row(row)

    def close(self, error: BaseException | None = None) -> None:
        """End the COPY: normally, or (given the error) aborting it."""
        stack, self.stack = self.stack, None
        if stack is not None:
            stack.__exit__(type(error) if error else None, error,
                           error.__traceback__ if error else None)


def failed_rows_csv(failures: list[dict], out: TextIO) -> None:
    """The failed rows, their cells as read, with an `error` column, ready to fix and
    import again (and a uid column when a row has a uid: it may match it to its client)."""
    columns = ([UID] if any(_cell(f["cells"].get(UID)) for f in failures) else []) + [
        *COLUMNS]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*columns, "error"])
    for failure in failures:
        cells = failure["cells"]
        reason = "; ".join((f"{e['column']}: " if e["column"] else "") + e["message"]
                           for e in failure["errors"])
        writer.writerow([_cell(cells.get(c)) for c in columns]
                        + [f"row {failure['row']}: {reason}"])


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()
