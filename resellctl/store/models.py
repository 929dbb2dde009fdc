"""The tables. One currency per store; money is integer cents; instants are aware UTC.

Shaped for the whole spec (subscriptions, approvals, support sessions, snapshots)
so that later features add behaviour, not table rewrites.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from resellctl.store.types import UTCDateTime


def Instant(**kw) -> datetime:  # noqa: N802 - reads like a type in the fields below
    """An aware-UTC instant column."""
    return Field(sa_type=UTCDateTime, **kw)

ROLES = ("admin", "support", "viewer")


class User(SQLModel, table=True):
    __tablename__ = "user_account"
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True)
    name: str | None = Field(default=None, max_length=200)
    is_super_admin: bool = False
    created_at: datetime = Instant()


class Reseller(SQLModel, table=True):
    __tablename__ = "reseller"
    __table_args__ = (
        CheckConstraint("license_count >= 0", name="ck_reseller_license_count"),
        CheckConstraint("license_used >= 0 AND license_used <= license_count",
                        name="ck_reseller_license_used"),
        CheckConstraint("balance_cents >= 0", name="ck_reseller_balance"),
    )
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=63, unique=True)
    name: str = Field(max_length=200)
    owner_id: int = Field(foreign_key="user_account.id")
    is_active: bool = True
    partner_supported: bool = False
    license_count: int = 0
    license_used: int = 0
    balance_cents: int = 0
    branding: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    domain: str | None = Field(default=None, max_length=253, unique=True)
    created_at: datetime = Instant()
    updated_at: datetime = Instant()


class Membership(SQLModel, table=True):
    __tablename__ = "membership"
    __table_args__ = (CheckConstraint("role IN ('admin','support','viewer')", name="ck_role"),)
    user_id: int = Field(foreign_key="user_account.id", primary_key=True)
    reseller_id: int = Field(foreign_key="reseller.id", primary_key=True, index=True)
    role: str = Field(max_length=16)
    created_at: datetime = Instant()


class ClientImport(SQLModel, table=True):
    """One `client import` run, so every imported client traces back to its file."""

    __tablename__ = "client_import"
    id: int | None = Field(default=None, primary_key=True)
    reseller_id: int | None = Field(default=None, foreign_key="reseller.id")
    source: str = Field(max_length=500)
    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    actor_email: str = Field(max_length=320)
    created_at: datetime = Instant()


class Client(SQLModel, table=True):
    __tablename__ = "client"
    __table_args__ = (
        UniqueConstraint("reseller_id", "external_id", name="uq_client_external_id"),
        CheckConstraint("seats_allocated >= 0 AND seats_used >= 0", name="ck_client_seats"),
        CheckConstraint("status IN ('active','deactivated')", name="ck_client_status"),
    )
    id: int | None = Field(default=None, primary_key=True)
    uid: str = Field(max_length=32, unique=True)
    reseller_id: int | None = Field(default=None, foreign_key="reseller.id")
    name: str = Field(max_length=200)
    location: str | None = Field(default=None, max_length=200)
    owner_name: str = Field(max_length=200)
    owner_email: str = Field(max_length=320)
    owner_phone: str | None = Field(default=None, max_length=64)
    stage: str = Field(max_length=16)
    status: str = Field(default="active", max_length=16)
    plan: str | None = Field(default=None, max_length=64)
    seats_allocated: int = 0
    seats_used: int = 0
    support_type: str = Field(default="vendor", max_length=16)
    support_access: bool = False
    trial_ends_at: datetime | None = Instant(default=None)
    external_id: str | None = Field(default=None, max_length=200)
    import_id: int | None = Field(default=None, foreign_key="client_import.id")
    deleted_at: datetime | None = Instant(default=None)
    created_at: datetime = Instant()
    updated_at: datetime = Instant()


class LicenseTier(SQLModel, table=True):
    __tablename__ = "license_tier"
    min_quantity: int = Field(primary_key=True)
    unit_cents: int


class Plan(SQLModel, table=True):
    __tablename__ = "plan"
    code: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    custom: bool = False
    # {"monthly": [{"min": 1, "unit_cents": 1500}, ...], ...}
    prices: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Instant()


class Subscription(SQLModel, table=True):
    __tablename__ = "subscription"
    # no index holds current_period_end, so that a renewal is an in-place (HOT) update
    # on PostgreSQL (migration 0007, which also leaves half of each page free for them)
    __table_args__ = (CheckConstraint("quantity > 0", name="ck_subscription_quantity"),)
    id: str = Field(primary_key=True, max_length=32)
    client_id: int = Field(foreign_key="client.id", index=True)
    reseller_id: int | None = Field(default=None, foreign_key="reseller.id", index=True)
    plan_code: str = Field(max_length=64)
    plan_name: str = Field(max_length=200)
    quantity: int
    interval: str = Field(max_length=16)
    unit_cents: int
    status: str = Field(max_length=16, index=True)
    auto_renew: bool = True
    start_date: date | None = None
    current_period_end: date | None = None
    next_quantity: int | None = None
    next_interval: str | None = Field(default=None, max_length=16)
    next_unit_cents: int | None = None  # the price of a change that waits for the renewal
    activated_at: datetime | None = Instant(default=None)
    created_at: datetime = Instant()
    updated_at: datetime = Instant()


class SubscriptionPeriod(SQLModel, table=True):
    """One paid period of a subscription (activation or renewal): the history the
    monthly report's MRR movements are computed from. A cancellation ends its period."""

    __tablename__ = "subscription_period"
    __table_args__ = (Index("ix_period_reseller_dates", "reseller_id", "start_date",
                            "end_date"),)
    id: int | None = Field(default=None, primary_key=True)
    subscription_id: str = Field(foreign_key="subscription.id", max_length=32, index=True)
    reseller_id: int | None = Field(default=None, foreign_key="reseller.id")
    start_date: date
    end_date: date
    period_cents: int
    months: int
    created_at: datetime = Instant()


class LedgerEntry(SQLModel, table=True):
    """One signed money movement. Append-only: nothing updates or deletes a row."""

    __tablename__ = "ledger_entry"
    __table_args__ = (
        CheckConstraint("balance_after_cents >= 0", name="ck_ledger_balance_after"),
        Index("ix_ledger_reseller_id", "reseller_id", "id"),
        Index("ix_ledger_created_at", "created_at"),  # a month's entries (report monthly)
    )
    id: int | None = Field(default=None, primary_key=True)
    reseller_id: int = Field(foreign_key="reseller.id")
    kind: str = Field(max_length=24)
    amount_cents: int
    balance_after_cents: int
    reference: str | None = Field(default=None, max_length=500)
    subscription_id: str | None = Field(default=None, max_length=32)
    actor_email: str = Field(max_length=320)
    created_at: datetime = Instant()


class LicensePurchase(SQLModel, table=True):
    __tablename__ = "license_purchase"
    id: int | None = Field(default=None, primary_key=True)
    reseller_id: int = Field(foreign_key="reseller.id", index=True)
    quantity: int
    unit_cents: int
    total_cents: int
    ledger_entry_id: int = Field(foreign_key="ledger_entry.id")
    created_at: datetime = Instant()


class IdempotencyKey(SQLModel, table=True):
    __tablename__ = "idempotency_key"
    key: str = Field(primary_key=True, max_length=200)
    request_hash: str = Field(max_length=64)
    response: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Instant()


class Approval(SQLModel, table=True):
    __tablename__ = "approval"
    id: str = Field(primary_key=True, max_length=32)
    client_id: int = Field(foreign_key="client.id", index=True)
    reseller_id: int = Field(foreign_key="reseller.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    status: str = Field(max_length=16)
    expires_at: datetime = Instant()
    created_by: str = Field(max_length=320)
    decided_at: datetime | None = Instant(default=None)
    decided_by: str | None = Field(default=None, max_length=320)
    created_at: datetime = Instant()


class SupportSession(SQLModel, table=True):
    __tablename__ = "support_session"
    id: str = Field(primary_key=True, max_length=32)
    client_id: int = Field(foreign_key="client.id", index=True)
    reseller_id: int | None = Field(default=None, foreign_key="reseller.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    opened_by: str = Field(max_length=320)
    reason: str = Field(max_length=500)
    expires_at: datetime = Instant()
    redeemed_at: datetime | None = Instant(default=None)
    ended_at: datetime | None = Instant(default=None)
    created_at: datetime = Instant()


class ApiToken(SQLModel, table=True):
    """An API token of `serve` (HTTP.md): only its SHA-256 is kept."""
    __tablename__ = "api_token"
    id: str = Field(primary_key=True, max_length=32)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    name: str | None = Field(default=None, max_length=200)
    token_hash: str = Field(max_length=64, unique=True)
    created_by: str = Field(max_length=320)
    created_at: datetime = Instant()
    expires_at: datetime | None = Instant(default=None)
    last_used_at: datetime | None = Instant(default=None)
    revoked_at: datetime | None = Instant(default=None)


class UsageSnapshot(SQLModel, table=True):
    __tablename__ = "usage_snapshot"
    __table_args__ = (UniqueConstraint("reseller_id", "day", name="uq_snapshot_day"),
                      # covers the activity chart: a channel's metrics summed per day
                      Index("ix_snapshot_day", "day", "reseller_id", "seats_used",
                            "active_clients", "mrr_cents"))
    id: int | None = Field(default=None, primary_key=True)
    reseller_id: int = Field(foreign_key="reseller.id")
    day: date
    total_clients: int = 0
    active_clients: int = 0
    trial_clients: int = 0
    seats_allocated: int = 0
    seats_used: int = 0
    license_count: int = 0
    license_used: int = 0
    active_subscriptions: int = 0
    mrr_cents: int = 0
    balance_cents: int = 0
    recorded_at: datetime = Instant()


class AuditEvent(SQLModel, table=True):
    """Who did what, when, to which entity. Append-only."""

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_at", "at"),
        Index("ix_audit_reseller", "reseller_id", "at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Instant()
    actor_email: str = Field(max_length=320)
    action: str = Field(max_length=64, index=True)
    reseller_id: int | None = Field(default=None)
    entity_type: str = Field(max_length=32)
    entity_id: str = Field(max_length=64)
    changes: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Setting(SQLModel, table=True):
    __tablename__ = "setting"
    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=2000)
    updated_at: datetime = Instant()
