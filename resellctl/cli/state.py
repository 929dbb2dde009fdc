"""Per-invocation state: global options, and the one seam to a store and actor."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from resellctl.config import Resolved
    from resellctl.domain.context import Ctx
    from resellctl.remote.client import Remote

LOCAL_ONLY = ("init", "db", "serve")


@dataclass
class State:
    db: str | None = None
    profile: str | None = None
    actor: str | None = None
    debug: bool = False
    output: str = "table"
    _resolved: Resolved | None = field(default=None, repr=False)
    _ctx: Ctx | None = field(default=None, repr=False)
    _remote: Remote | None = field(default=None, repr=False)

    @property
    def resolved(self) -> Resolved:
        if self._resolved is None:
            from resellctl import config

            self._resolved = config.resolve(db=self.db, actor=self.actor, profile=self.profile)
        return self._resolved

    # ------------------------------------------------------------ the seam

    @property
    def remote(self) -> bool:
        return self.resolved.remote

    def call(self, name: str, /, **arguments: Any) -> Any:
        """Run operation `name` (resellctl.operations) locally or through the profile's
        API: the same plain result either way. A list comes back as an iterable of rows."""
        from resellctl import operations

        if self.remote:
            return self.api().call(name, arguments)
        op = operations.BY_NAME[name]
        return operations.service(op)(self.ctx(), **op.fixed, **arguments)

    def copy(self, name: str, fmt: str, columns: Iterable[str] | None = None, /,
             **arguments: Any) -> None:
        """A list written to stdout as `-o csv|ndjson` prints it: locally rendered by
        cli/output, remotely the server's bytes (rendered by the same code) streamed."""
        import sys

        if self.remote:
            self.api().copy(name, arguments, fmt, sys.stdout)
            return
        from resellctl.cli.output import emit

        emit(self.call(name, **arguments), fmt, columns=list(columns) if columns else None)

    def api(self) -> Remote:
        """The remote profile's API client (built once)."""
        if self._remote is None:
            from resellctl.cli import output
            from resellctl.domain.errors import UsageError
            from resellctl.remote.client import Remote

            if self.actor:
                raise UsageError("--as and RESELLCTL_ACTOR do not apply to a remote "
                                 "profile: the token is the identity", code="actor_remote",
                                 hint="drop --as, or use a context with a token of that user")
            resolved = self.resolved
            self._remote = Remote(resolved.url, resolved.token)
            output.use_currency(lambda: self.api().call("settings.show", {})["currency"])
        return self._remote

    def local_url(self, command: str) -> str:
        """The store URL of a command that needs the store itself (init, db, serve): in a
        remote profile it is refused (exit 2)."""
        from resellctl.domain.errors import UsageError

        resolved = self.resolved
        if resolved.remote:
            raise UsageError(f"`{command}` works on a store, and this profile is remote "
                             f"({resolved.url})", code="remote_profile",
                             hint="run it where the store is, or pass --db URL")
        return resolved.database_url

    def ctx(self) -> Ctx:
        """The store and actor this invocation runs against (built once)."""
        if self.remote:
            from resellctl.domain.errors import UsageError

            raise UsageError("this command is not available in a remote profile yet",
                             code="remote_unsupported",
                             hint="run it against the store with --db URL")
        if self._ctx is None:
            from resellctl.cli import output
            from resellctl.domain.context import Ctx
            from resellctl.store.engine import Store

            store = Store(self.resolved.database_url)
            self._ctx = Ctx(store=store, actor=self.resolved.actor)
            output.use_currency(lambda: _currency(store))
        return self._ctx

    def close(self) -> None:
        """Release the store's connections (CliRunner runs many invocations per process)."""
        if self._remote is not None:
            from resellctl.cli import output

            output.use_currency(None)
            self._remote.close()
        if self._ctx is not None:
            from resellctl.cli import output

            output.use_currency(None)
            self._ctx.store.dispose()

    def refresh(self) -> None:
        """Resolve the store and actor again (init has just saved the profile)."""
        self.close()
        self._resolved = self._ctx = self._remote = None

    def reseller(self, given: str | None) -> str | None:
        """`--reseller`, else the context's default reseller."""
        return given or self.resolved.reseller


def _currency(store: Any) -> str:
    """The store's currency, read when a table first shows an amount (never for JSON)."""
    from resellctl.domain import settings

    return settings.currency(store)


def state(ctx: typer.Context) -> State:
    root = ctx.find_root()
    if not isinstance(root.obj, State):
        root.obj = State()
    return root.obj
