"""Per-invocation state: global options, and the one seam to a store and actor."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from resellctl.config import Resolved
    from resellctl.domain.context import Ctx


@dataclass
class State:
    db: str | None = None
    profile: str | None = None
    actor: str | None = None
    debug: bool = False
    output: str = "table"
    _resolved: Resolved | None = field(default=None, repr=False)
    _ctx: Ctx | None = field(default=None, repr=False)

    @property
    def resolved(self) -> Resolved:
        if self._resolved is None:
            from resellctl import config

            self._resolved = config.resolve(db=self.db, actor=self.actor, profile=self.profile)
        return self._resolved

    def ctx(self) -> Ctx:
        """The store and actor this invocation runs against (built once)."""
        if self._ctx is None:
            from resellctl.cli import output
            from resellctl.domain import settings
            from resellctl.domain.context import Ctx
            from resellctl.store.engine import Store

            store = Store(self.resolved.database_url)
            self._ctx = Ctx(store=store, actor=self.resolved.actor)
            output.use_currency(lambda: settings.currency(store))
        return self._ctx

    def close(self) -> None:
        """Release the store's connections (CliRunner runs many invocations per process)."""
        if self._ctx is not None:
            from resellctl.cli import output

            output.use_currency(None)
            self._ctx.store.dispose()

    def refresh(self) -> None:
        """Resolve the store and actor again (init has just saved the profile)."""
        self.close()
        self._resolved = self._ctx = None

    def reseller(self, given: str | None) -> str | None:
        """`--reseller`, else the context's default reseller."""
        return given or self.resolved.reseller


def state(ctx: typer.Context) -> State:
    root = ctx.find_root()
    if not isinstance(root.obj, State):
        root.obj = State()
    return root.obj
