"""`init` and `whoami`."""

from __future__ import annotations

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
) -> None:
    """Create or upgrade the store, its first super admin and default catalog; save the profile.

    \b
    Example: resellctl init --admin-email ops@vendor.example
    """
    from resellctl import config
    from resellctl.domain import setup
    from resellctl.store.engine import Store

    current = state(ctx)
    url = _database_url(current, config)
    store = Store(url, check_schema=False)
    try:
        result = setup.init(store, admin_email, admin_name)
    finally:
        store.dispose()
    result.update(_save_profile(current.profile, url, result["admin_email"], config))
    emit(result, output)


def _database_url(current, config) -> str:  # noqa: ANN001
    """`--profile NEW` names the profile init will write, so it need not exist yet."""
    if current.profile and current.profile not in config.load().profiles:
        return current.db or config.default_database_url()
    return current.resolved.database_url


def _save_profile(profile: str | None, url: str, actor: str, config) -> dict:  # noqa: ANN001
    settings = config.load()
    name = profile or settings.current or config.DEFAULT_PROFILE
    entry = settings.profiles.setdefault(name, {})
    entry.update({"db": url, "actor": actor})
    settings.current = settings.current or name
    path = config.save(settings)
    return {"profile": name, "config_path": str(path)}


def whoami(ctx: typer.Context, output: Output = Format.table) -> None:
    """Show the acting user, whether it is a super admin, and its resellers with roles.

    \b
    Example: resellctl --as ana@partner.example whoami
    """
    from resellctl.domain import users

    result = users.whoami(state(ctx).ctx())
    if output != "table":
        emit(result, output)
        return
    emit({k: v for k, v in result.items() if k != "resellers"}, output)
    emit(result["resellers"], output, columns=["slug", "name", "role", "is_active"],
         title="Resellers")


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command()(whoami)
