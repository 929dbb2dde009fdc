"""`context ...`: named profiles (store URL, actor, default reseller) in the config file."""

from __future__ import annotations

from typing import Annotated

import typer

from resellctl.cli.options import Output
from resellctl.cli.output import Col, Format, emit
from resellctl.cli.state import state

app = typer.Typer(help="Manage named contexts (profiles) in the config file.",
                  no_args_is_help=True)


def _describe(name: str, entry: dict, current: str | None) -> dict:
    from resellctl.store.engine import redact

    return {"name": name, "current": name == current,
            "db": redact(entry["db"]) if entry.get("db") else None,
            "actor": entry.get("actor"), "reseller": entry.get("reseller")}


@app.command("list")
def list_(output: Output = Format.table) -> None:
    """List the contexts; the current one is marked.

    \b
    Example: resellctl context list
    """
    from resellctl import config

    settings = config.load()
    emit([_describe(n, e, settings.current) for n, e in sorted(settings.profiles.items())],
         output, columns=["name", "current", "db", "actor", "reseller"],
         table=["name", "current", Col("db", "Store", "text"), "actor", "reseller"])


@app.command()
def show(ctx: typer.Context, output: Output = Format.table) -> None:
    """Show what this invocation resolves to (passwords redacted).

    \b
    Example: resellctl --profile staging context show
    """
    from resellctl import config
    from resellctl.store.engine import redact

    resolved = state(ctx).resolved
    emit({"profile": resolved.profile, "db": redact(resolved.database_url),
          "actor": resolved.actor, "reseller": resolved.reseller,
          "config_path": str(config.config_path())}, output)


@app.command()
def use(name: str, output: Output = Format.table) -> None:
    """Make NAME the current context.

    \b
    Example: resellctl context use staging
    """
    from resellctl import config

    settings = config.load()
    config_entry = settings.profile(name)
    settings.current = name
    config.save(settings)
    emit(_describe(name, config_entry, name), output)


@app.command()
def create(
    name: str,
    db: Annotated[str | None, typer.Option("--db", help="Store URL.")] = None,
    actor: Annotated[str | None, typer.Option("--as", help="Acting user's e-mail.")] = None,
    reseller: Annotated[str | None, typer.Option(help="Default reseller slug.")] = None,
    output: Output = Format.table,
) -> None:
    """Create a context; the first one becomes current.

    \b
    Example: resellctl context create acme --db postgresql://ops@db/resell --as ana@acme.example
    """
    from resellctl import config
    from resellctl.domain import validate
    from resellctl.domain.errors import Conflict
    from resellctl.store.engine import backend

    if db is not None:
        backend(db)  # a URL no store can have is refused now, not at the context's first use
    settings = config.load()
    if name in settings.profiles:
        raise Conflict(f"context `{name}` already exists",
                       hint=f"run `resellctl context delete {name}` first")
    entry = {"db": db, "actor": validate.email(actor, "--as") if actor else None,
             "reseller": validate.slug(reseller) if reseller else None}
    settings.profiles[name] = {k: v for k, v in entry.items() if v}
    settings.current = settings.current or name
    config.save(settings)
    emit(_describe(name, settings.profiles[name], settings.current), output)


@app.command()
def delete(name: str, output: Output = Format.table) -> None:
    """Delete a context.

    \b
    Example: resellctl context delete staging
    """
    from resellctl import config

    settings = config.load()
    entry = settings.profile(name)
    del settings.profiles[name]
    if settings.current == name:
        settings.current = None
    config.save(settings)
    emit({**_describe(name, entry, None), "deleted": True}, output)
