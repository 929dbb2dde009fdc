"""`init` and `whoami`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from resellctl.cli.options import Output
from resellctl.cli.output import Format, emit
from resellctl.cli.state import state


def init(
    ctx: typer.Context,
    admin_email: Annotated[str, typer.Option(help="E-mail of the first super admin.")],
    output: Output = Format.table,
    admin_name: Annotated[str | None, typer.Option(help="Name of the first super admin.")] = None,
    sample_data: Annotated[bool, typer.Option(
        "--sample-data", help="Fill the store with a demo channel (resellers, clients, "
        "subscriptions, six months of snapshots) and show its dashboard; only into a store "
        "without resellers or clients.")] = False,
) -> None:
    """Create or upgrade the store, its first super admin and default catalog; save the profile.

    \b
    Example: resellctl init --admin-email ops@vendor.example
    Example: resellctl init --admin-email you@example.com --sample-data
    """
    from resellctl import config
    from resellctl.domain import sample, setup
    from resellctl.store.engine import Store

    current = state(ctx)
    url = _database_url(current, config)
    store = Store(url, check_schema=False)
    name, url = _context_to_write(current.profile, url, admin_email, config)
    try:
        if sample_data:
            sample.refuse_if_in_use(store)  # before init writes anything
        result = setup.init(store, admin_email, admin_name)
        if sample_data:
            result["sample"] = sample.generate(store, result["admin_email"])
    finally:
        store.dispose()
    result.update(_save_profile(name, url, result["admin_email"], config))
    if output != Format.table:
        emit(result, output)
        return
    _say_done(result, config.load().current == name)
    _note_if_shared(url)
    if sample_data:
        _show_dashboard(current, result["admin_email"])


def _show_dashboard(current, admin: str) -> None:  # noqa: ANN001
    """The sample channel's dashboard, as its admin sees it in the store just filled."""
    from resellctl.cli.report import render_dashboard

    sys.stdout.write("\n")
    current.actor = admin
    current.refresh()
    render_dashboard(current, None)


def _database_url(current, config) -> str:  # noqa: ANN001
    """`--profile NEW` names the profile init will write, so it need not exist yet."""
    if current.profile and current.profile not in config.load().profiles:
        return current.db if current.db is not None else config.default_database_url()
    return current.local_url("init")


def _context_to_write(profile: str | None, url: str, email: str,
                      config) -> tuple[str, str]:  # noqa: ANN001
    """The context init saves into, and the URL to save (the context's own spelling when it
    names the same store). A context that names another store is never repointed."""
    from resellctl.domain.errors import Conflict
    from resellctl.store.engine import redact

    settings = config.load()
    name = profile or settings.current or config.DEFAULT_PROFILE
    saved = settings.profiles.get(name, {}).get("db")
    if not saved or _same_store(saved, url):
        return name, saved or url
    shown = redact(url)
    raise Conflict(f"context `{name}` already uses another store: {redact(saved)}",
                   code="context_uses_another_store",
                   hint=f"give the new store a context of its own: `resellctl --profile NAME "
                        f"--db {shown} init --admin-email {email}`, or `resellctl context "
                        f"create NAME --db {shown}`")


def _same_store(saved: str, url: str) -> bool:
    from resellctl.store.engine import sqlite_path

    if saved == url:
        return True
    paths = [sqlite_path(saved), sqlite_path(url)]
    return None not in paths and len({p.expanduser().resolve() for p in paths}) == 1


def _save_profile(name: str, url: str, actor: str, config) -> dict:  # noqa: ANN001
    settings = config.load()
    entry = settings.profiles.setdefault(name, {})
    entry.update({"db": url, "actor": actor})
    settings.current = settings.current or name
    path = config.save(settings)
    return {"profile": name, "config_path": str(path)}


def _say_done(result: dict, is_current: bool) -> None:
    """init's report in words, ending with the next command to run."""
    import shlex

    from resellctl.domain import catalog

    url, before, after = result["database_url"], result["revision_before"], result["revision"]
    if before is None:
        lines = [f"Created the store at {url} (schema revision {after})."]
    elif before != after:
        lines = [f"Upgraded the store at {url} from schema revision {before} to {after}."]
    else:
        lines = [f"The store at {url} is up to date (schema revision {after})."]
    email = result["admin_email"]
    lines.append(f"Created super admin {email}." if result["created_admin"]
                 else f"{email} is already a user of this store.")
    if result["loaded_default_catalog"]:
        plans = len(catalog.parse(catalog.default_text())["plans"])
        lines.append(f"Loaded the default price catalog ({plans} plans).")
    if "sample" in result:
        lines.append(_sample_line(result["sample"]))
    name = result["profile"]
    lines.append(f"Saved context {name} in {result['config_path']}.")
    command = ["resellctl"] if is_current else ["resellctl", "--profile", name]
    if "sample" in result:
        command += ["client", "list", "--reseller", "northwind-it"]
    elif result["created_admin"]:
        command += ["reseller", "create", "--slug", "acme", "--name", "Acme", "--owner", email]
    else:
        command += ["whoami"]
    lines.append(f"Next: {shlex.join(command)}")
    typer.echo("\n".join(lines))


def _sample_line(counts: dict) -> str:
    return (f"Added a sample channel: {counts['resellers']} resellers, {counts['clients']} "
            f"clients, {counts['subscriptions']} subscriptions.")


def _note_if_shared(url: str) -> None:
    """Decision: a store file someone else made readable keeps its mode (a team may share
    it through a group), but init says so."""
    import stat

    from resellctl.cli import errors
    from resellctl.store.engine import sqlite_path

    path = sqlite_path(url)
    mode = stat.S_IMODE(path.stat().st_mode) if path is not None and path.exists() else 0
    if mode & 0o077:
        errors.say(f"Note: other users can open the store file (mode {mode:04o}): "
                   f"`chmod 600 {path}` makes it private.\n")


def whoami(ctx: typer.Context, output: Output = Format.table) -> None:
    """Show the acting user, whether it is a super admin, and its resellers with roles.

    \b
    Example: resellctl --as ana@partner.example whoami
    """

    emit(state(ctx).call("whoami"), output)


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command()(whoami)
