"""The seam between front ends and services: a store and an acting user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from resellctl.store.engine import Store


@dataclass
class Ctx:
    store: Store
    actor: str | None  # the acting user's e-mail, as given
