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
    described = {"name": name, "current": name == current, "db": _redacted(entry.get("db")),
                 "actor": entry.get("actor"), "reseller": entry.get("reseller")}
    if entry.get("url"):  # a remote profile: its URL, never its token
        described.update(url=entry["url"], token=_token_shown(entry.get("token")))
    return described


def _redacted(url: str | None) -> str | None:
    if not url:
        return None
    from resellctl.store.engine import redact

    return redact(url)


def _token_shown(token: str | None) -> str | None:
    """`rsl_…` and its last 4 characters: enough to tell two tokens apart."""
    return f"rsl_…{token[-4:]}" if token else None


@app.command("list")
def list_(output: Output = Format.table) -> None:
    """List the contexts; the current one is marked.

    \b
    Example: resellctl context list
    """
    from resellctl import config

    settings = config.load()
    emit([_describe(n, e, settings.current) for n, e in sorted(settings.profiles.items())],
         output, columns=["name", "current", "db", "actor", "reseller", "url", "token"],
         table=["name", "current", Col("db", "Store", "text",
                                       get=lambda r: r.get("db") or r.get("url")),
                "actor", "reseller"])


@app.command()
def show(ctx: typer.Context, output: Output = Format.table) -> None:
    """Show what this invocation resolves to (passwords redacted).

    \b
    Example: resellctl --profile staging context show
    """
    from resellctl import config

    resolved = state(ctx).resolved
    shown = {"profile": resolved.profile, "db": _redacted(resolved.database_url),
             "actor": resolved.actor, "reseller": resolved.reseller,
             "config_path": str(config.config_path())}
    if resolved.remote:
        shown.update(url=resolved.url, token=_token_shown(resolved.token))
    emit(shown, output)


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
    url: Annotated[str | None, typer.Option(
        "--url", help="A `resellctl serve` API (a remote profile).")] = None,
    token: Annotated[str | None, typer.Option(
        "--token", help="API token for --url (from `resellctl token create`).")] = None,
    insecure_http: Annotated[bool, typer.Option(
        "--insecure-http", help="Allow plain http to a host that is not this machine.")
    ] = False,
    output: Output = Format.table,
) -> None:
    """Create a context; the first one becomes current.

    \b
    Example: resellctl context create acme --db postgresql://ops@db/resell --as ana@acme.example
    Example: resellctl context create acme-api --url https://resell.example.com --token rsl_...
    """
    from resellctl import config
    from resellctl.domain import validate
    from resellctl.domain.errors import Conflict

    remote = _remote_entry(db, actor, url, token, insecure_http)
    if db is not None:
        from resellctl.store.engine import backend

        backend(db)  # a URL no store can have is refused now, not at the context's first use
    settings = config.load()
    if name in settings.profiles:
        raise Conflict(f"context `{name}` already exists",
                       hint=f"run `resellctl context delete {name}` first")
    entry = {"db": db, "actor": validate.email(actor, "--as") if actor else None,
             "reseller": validate.slug(reseller) if reseller else None, **remote}
    settings.profiles[name] = {k: v for k, v in entry.items() if v}
    settings.current = settings.current or name
    config.save(settings)
    emit(_describe(name, settings.profiles[name], settings.current), output)


def _remote_entry(db: str | None, actor: str | None, url: str | None, token: str | None,
                  insecure_http: bool) -> dict:
    """`url` and `token` of a remote profile, checked: https, or http to this machine
    (or anywhere with --insecure-http); a token of the `rsl_` shape."""
    from resellctl.domain import validate
    from resellctl.domain.errors import Invalid, UsageError

    if url is None:
        if token is not None or insecure_http:
            raise UsageError("--token and --insecure-http go with --url", code="usage",
                             hint="resellctl context create NAME --url URL --token TOKEN")
        return {}
    if db is not None or actor is not None:
        raise UsageError(f"--url cannot go with {'--db' if db is not None else '--as'}: a "
                         "remote profile calls the API, and its token is the identity",
                         code="usage", hint="give either --db (and --as) or --url and --token")
    if not token:
        raise UsageError("--url needs --token", code="usage",
                         hint="create one on the server with `resellctl token create`")
    if not validate.api_token(token):
        raise Invalid("--token is not an API token (rsl_ and 43 characters)",
                      code="invalid_token", hint="copy the whole token `token create` printed")
    checked = validate.https_url(url, "--url", loopback_http=True, any_http=insecure_http)
    return {"url": checked.rstrip("/"), "token": token}


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
