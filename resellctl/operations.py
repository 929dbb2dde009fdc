"""The one table of operations: every store command as plain data (HTTP.md).

A row names a domain service, the HTTP method and path of its `/v1` route, and where
each of the service's arguments comes from in a request: the path, the query string,
the JSON body (under the CLI's JSON keys), the rest of the body as one dict, or a
header. `serve` builds its routes from this table (resellctl/server/app.py); a remote
profile will call them from the same rows. No FastAPI and no httpx here: importing
this module costs nothing.

A new command is a domain service, a row here, and a Typer command that calls it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KINDS = ("str", "int", "bool", "date", "list", "dict")


@dataclass(frozen=True)
class Param:
    name: str  # the service's keyword argument
    where: str  # path | query | body | fields (the rest of the body) | header
    kind: str = "str"  # one of KINDS
    required: bool = False
    wire: str | None = None  # its name in the request, when not `name`
    default: Any = None
    keys: tuple[tuple[str, str, Any], ...] = ()  # `fields`: (body key, kind, default)

    @property
    def key(self) -> str:
        return self.wire or self.name


@dataclass(frozen=True)
class Operation:
    name: str  # the CLI command, dotted: `client.create`
    method: str
    path: str
    service: str  # `module:function` in resellctl.domain
    params: tuple[Param, ...] = ()
    fixed: dict = field(default_factory=dict)  # constant arguments (activate: active=True)
    paging: str | None = None  # a list: `offset` (the service pages), `slice` (we do)
    columns: tuple[str, ...] | None = None  # the csv columns of `-o csv`, when fixed
    status: int = 200
    summary: str = ""
    body_kind: str = "json"  # json | text (the body is one text argument) | records (import)
    export: str | None = None  # a list's csv export `module:function(ctx, out, **filters)`
    # Body keys accepted as well, the result's keys where the CLI option is named
    # otherwise: {alias: (the body key it stands for, negated)} (`is_active` = not
    # `inactive`). The request may give either key, not two that disagree.
    aliases: dict = field(default_factory=dict)


def path(name: str, wire: str | None = None) -> Param:
    return Param(name, "path", required=True, wire=wire)


def query(name: str, kind: str = "str", *, wire: str | None = None, default: Any = None,
          required: bool = False) -> Param:
    return Param(name, "query", kind, required=required, wire=wire, default=default)


def body(name: str, kind: str = "str", *, wire: str | None = None, required: bool = False,
         default: Any = None) -> Param:
    return Param(name, "body", kind, required=required, wire=wire, default=default)


def fields(name: str, *keys: tuple[str, str, Any]) -> Param:
    return Param(name, "fields", "dict", keys=keys)


def idempotency() -> Param:
    return Param("idempotency_key", "header", wire="Idempotency-Key")


def _op(name: str, method: str, route: str, service: str, *params: Param,
        **options: Any) -> Operation:
    return Operation(name, method, route, service, tuple(params), **options)


CLIENT_EDITS = tuple((key, kind, None) for key, kind in (
    ("name", "str"), ("owner_name", "str"), ("owner_email", "str"), ("owner_phone", "str"),
    ("location", "str"), ("stage", "str"), ("plan", "str"), ("seats", "int"),
    ("support_type", "str"), ("support_access", "bool")))
CLIENT_FIELDS = (*((key, kind, {"stage": "lead", "seats": 0, "support_access": False}.get(key))
                   for key, kind, _ in CLIENT_EDITS), ("external_id", "str", None))
SEATS_ALIAS = {"seats_allocated": ("seats", False)}  # the client JSON's key
BRANDING_FIELDS = tuple((key, "str", None) for key in (
    "logo_url", "favicon_url", "login_background_url", "primary_color", "secondary_color",
    "domain"))

MONTHLY_COLUMNS = ("month", "reseller", "clients_total", "clients_new", "clients_churned",
                   "trials_started", "seats_allocated", "seats_used", "license_count",
                   "license_used", "licenses_purchased", "mrr_cents", "charges_cents",
                   "top_ups_cents", "mrr_new_cents", "mrr_expansion_cents",
                   "mrr_contraction_cents", "mrr_churn_cents")
RESELLER_COLUMNS = ("slug", "name", "owner_email", "is_active", "partner_supported",
                    "license_count", "license_used", "license_available", "balance_cents",
                    "currency", "client_count", "created_at")

OPERATIONS: tuple[Operation, ...] = (
    _op("whoami", "GET", "/v1/whoami", "users:whoami", summary="The acting user"),
    _op("settings.show", "GET", "/v1/settings", "settings:show"),
    _op("settings.set", "PUT", "/v1/settings/{key}", "settings:set_value",
        path("key"), body("value", required=True)),
    _op("user.create", "POST", "/v1/users", "users:create_user",
        body("email", required=True), body("name"), body("super_admin", "bool",
                                                        wire="is_super_admin", default=False),
        status=201),
    _op("user.list", "GET", "/v1/users", "users:list_users", paging="slice",
        columns=("email", "name", "is_super_admin", "created_at")),
    _op("user.show", "GET", "/v1/users/{email}", "users:show_user", path("email")),
    _op("token.create", "POST", "/v1/tokens", "api_tokens:create",
        body("name"), body("expires_in"), body("user"), status=201),
    _op("token.list", "GET", "/v1/tokens", "api_tokens:list_tokens", query("user"),
        paging="slice", columns=("id", "name", "user", "created_at", "last_used_at",
                                 "expires_at", "revoked_at", "status")),
    _op("token.revoke", "POST", "/v1/tokens/{id}/revoke", "api_tokens:revoke",
        path("token_id", wire="id")),
    # resellers
    _op("reseller.create", "POST", "/v1/resellers", "resellers:create",
        body("slug", required=True), body("name", required=True),
        body("owner", required=True, wire="owner_email"), body("licenses", "int", default=0),
        body("inactive", "bool", default=False), body("partner_supported", "bool",
                                                      default=False), status=201,
        aliases={"license_count": ("licenses", False), "is_active": ("inactive", True)}),
    _op("reseller.list", "GET", "/v1/resellers", "resellers:list_resellers",
        query("active", "bool"), paging="slice", columns=RESELLER_COLUMNS),
    _op("reseller.show", "GET", "/v1/resellers/{slug}", "resellers:show", path("slug")),
    _op("reseller.edit", "PATCH", "/v1/resellers/{slug}", "resellers:edit", path("slug"),
        body("name"), body("owner", wire="owner_email"), body("partner_supported", "bool")),
    _op("reseller.activate", "POST", "/v1/resellers/{slug}/activate", "resellers:set_active",
        path("slug"), fixed={"active": True}),
    _op("reseller.deactivate", "POST", "/v1/resellers/{slug}/deactivate",
        "resellers:set_active", path("slug"), fixed={"active": False}),
    _op("reseller.member.add", "POST", "/v1/resellers/{slug}/members", "resellers:member_add",
        path("slug"), body("email", required=True), body("role", required=True), status=201),
    _op("reseller.member.remove", "DELETE", "/v1/resellers/{slug}/members/{email}",
        "resellers:member_remove", path("slug"), path("email")),
    _op("reseller.member.list", "GET", "/v1/resellers/{slug}/members", "resellers:members",
        path("slug"), paging="slice",
        columns=("email", "name", "role", "is_owner", "added_at")),
    _op("reseller.branding.show", "GET", "/v1/resellers/{slug}/branding",
        "resellers:branding_show", path("slug")),
    _op("reseller.branding.set", "PATCH", "/v1/resellers/{slug}/branding",
        "resellers:branding_set", path("slug"), fields("values", *BRANDING_FIELDS)),
    _op("reseller.branding.clear", "POST", "/v1/resellers/{slug}/branding/clear",
        "resellers:branding_clear", path("slug"), body("keys", "list", default=[])),
    _op("reseller.balance.show", "GET", "/v1/resellers/{slug}/balance",
        "resellers:balance_show", path("slug")),
    _op("reseller.balance.top-up", "POST", "/v1/resellers/{slug}/balance/top-ups",
        "resellers:top_up", path("slug"), body("amount_cents", "int", required=True),
        body("reference"), idempotency()),
    _op("reseller.balance.adjust", "POST", "/v1/resellers/{slug}/balance/adjustments",
        "resellers:adjust", path("slug"), body("amount_cents", "int", required=True),
        body("reason", required=True), idempotency()),
    _op("reseller.balance.history", "GET", "/v1/resellers/{slug}/balance/history",
        "resellers:balance_history", path("slug"), query("since", "date"),
        query("limit", "int", default=50), paging="slice",
        columns=("id", "created_at", "kind", "amount_cents", "balance_after_cents",
                 "reference", "subscription_id", "actor")),
    # licences
    _op("license.show", "GET", "/v1/resellers/{slug}/licenses", "licenses:show",
        path("slug")),
    _op("license.quote", "GET", "/v1/licenses/quote", "licenses:quote",
        query("quantity", "int", required=True)),
    _op("license.grant", "POST", "/v1/resellers/{slug}/licenses/grants", "licenses:grant",
        path("slug"), body("quantity", "int", required=True), body("reason")),
    _op("license.revoke", "POST", "/v1/resellers/{slug}/licenses/revocations",
        "licenses:revoke", path("slug"), body("quantity", "int", required=True),
        body("reason")),
    _op("license.purchase", "POST", "/v1/resellers/{slug}/licenses/purchases",
        "licenses:purchase", path("slug"), body("quantity", "int", required=True),
        idempotency()),
    _op("license.reconcile", "POST", "/v1/licenses/reconcile", "licenses:reconcile",
        body("slug", wire="reseller"), body("apply", "bool", default=False)),
    # clients
    _op("client.create", "POST", "/v1/clients", "clients:create", body("reseller"),
        query("if_not_exists", "bool", default=False),
        fields("fields", *CLIENT_FIELDS), status=201, aliases=SEATS_ALIAS),
    _op("client.import", "POST", "/v1/clients/import", "importer:import_clients",
        query("reseller"), query("dry_run", "bool", default=False),
        query("on_existing", default="error"),
        query("continue_on_error", "bool", default=False),
        query("source", default="the request body"),
        query("failed_rows", "bool", default=False), body_kind="records"),
    _op("client.list", "GET", "/v1/clients", "clients:iter_clients",
        query("reseller"), query("stages", "list", wire="stage"), query("status"),
        query("search"), query("include_deleted", "bool", default=False),
        query("sort", default="name"), paging="offset", export="clients:export_csv"),
    _op("client.count", "GET", "/v1/clients/count", "clients:count_clients",
        query("reseller"), query("stages", "list", wire="stage"), query("status"),
        query("search"), query("include_deleted", "bool", default=False),
        summary="How many clients `client list` would list (no paging)"),
    _op("client.show", "GET", "/v1/clients/{uid}", "clients:show", path("uid")),
    _op("client.edit", "PATCH", "/v1/clients/{uid}", "clients:edit", path("uid"),
        query("force", "bool", default=False), fields("fields", *CLIENT_EDITS),
        aliases=SEATS_ALIAS),
    _op("client.usage", "POST", "/v1/clients/{uid}/usage", "clients:usage", path("uid"),
        body("seats_used", "int", required=True)),
    _op("client.deactivate", "POST", "/v1/clients/{uid}/deactivate", "clients:set_status",
        path("uid"), fixed={"active": False}),
    _op("client.reactivate", "POST", "/v1/clients/{uid}/reactivate", "clients:set_status",
        path("uid"), fixed={"active": True}),
    _op("client.delete", "DELETE", "/v1/clients/{uid}", "clients:delete", path("uid")),
    # subscriptions and the catalog
    _op("subscription.plans.list", "GET", "/v1/plans", "catalog:list_plans", paging="slice",
        columns=("code", "name", "custom", "intervals", "prices")),
    _op("subscription.plans.show", "GET", "/v1/plans/{code}", "catalog:show_plan",
        path("code")),
    _op("subscription.plans.load", "POST", "/v1/plans/load", "catalog:load",
        query("source", default="request body"), body("text", "str"), body_kind="text"),
    _op("subscription.quote", "GET", "/v1/subscriptions/quote", "subscriptions:quote",
        query("plan_code", wire="plan", required=True),
        query("quantity", "int", required=True), query("interval")),
    _op("subscription.create", "POST", "/v1/subscriptions", "subscriptions:create",
        body("uid", wire="client", required=True), body("plan_code", wire="plan",
                                                        required=True),
        body("quantity", "int", required=True), body("interval"),
        body("unit_cents", "int"), body("support_type"),
        body("auto_renew", "bool", default=True), status=201),
    _op("subscription.activate", "POST", "/v1/subscriptions/{id}/activate",
        "subscriptions:activate", path("sub_id", wire="id"), idempotency()),
    _op("subscription.renew", "POST", "/v1/subscriptions/{id}/renew", "subscriptions:renew",
        path("sub_id", wire="id"), idempotency()),
    _op("subscription.pause", "POST", "/v1/subscriptions/{id}/pause", "subscriptions:pause",
        path("sub_id", wire="id")),
    _op("subscription.resume", "POST", "/v1/subscriptions/{id}/resume",
        "subscriptions:resume", path("sub_id", wire="id")),
    _op("subscription.cancel", "POST", "/v1/subscriptions/{id}/cancel",
        "subscriptions:cancel", path("sub_id", wire="id")),
    _op("subscription.edit", "PATCH", "/v1/subscriptions/{id}", "subscriptions:edit",
        path("sub_id", wire="id"), body("quantity", "int"), body("interval"),
        body("auto_renew", "bool")),
    _op("subscription.list", "GET", "/v1/subscriptions", "subscriptions:iter_subscriptions",
        query("client"), query("reseller"), query("status"),
        query("renewing_within"), paging="offset", export="subscriptions:export_csv"),
    _op("subscription.show", "GET", "/v1/subscriptions/{id}", "subscriptions:show",
        path("sub_id", wire="id")),
    _op("subscription.sweep", "POST", "/v1/subscriptions/sweep", "subscriptions:sweep"),
    # approvals and support
    _op("approval.create", "POST", "/v1/approvals", "approvals:create",
        body("uid", wire="client", required=True), body("reseller"), body("expires_in"),
        status=201),
    _op("approval.list", "GET", "/v1/approvals", "approvals:list_approvals",
        query("status"), paging="slice",
        columns=("id", "client", "client_name", "reseller", "status", "expires_at",
                 "created_by", "created_at", "decided_at", "decided_by")),
    _op("approval.show", "GET", "/v1/approvals/{id}", "approvals:show",
        path("approval_id", wire="id")),
    _op("approval.revoke", "POST", "/v1/approvals/{id}/revoke", "approvals:revoke",
        path("approval_id", wire="id")),
    _op("approval.accept", "POST", "/v1/approvals/accept", "approvals:decide",
        body("link", wire="token", required=True), body("admin_email", required=True),
        fixed={"accept": True}),
    _op("approval.reject", "POST", "/v1/approvals/reject", "approvals:decide",
        body("link", wire="token", required=True), body("admin_email", required=True),
        fixed={"accept": False}),
    _op("support.open", "POST", "/v1/support-sessions", "support:open_session",
        body("uid", wire="client", required=True), body("reason", required=True),
        body("ttl"), status=201),
    _op("support.list", "GET", "/v1/support-sessions", "support:list_sessions",
        query("client"), query("active", "bool", default=False), paging="slice",
        columns=("id", "client", "client_name", "reseller", "opened_by", "reason", "status",
                 "expires_at", "redeemed_at", "ended_at", "created_at")),
    _op("support.end", "POST", "/v1/support-sessions/{id}/end", "support:end",
        path("session_id", wire="id")),
    _op("support.redeem", "POST", "/v1/support-sessions/redeem", "support:redeem",
        body("link", wire="token", required=True)),
    # reports and audit
    _op("report.dashboard", "GET", "/v1/reports/dashboard", "figures:dashboard",
        query("reseller")),
    _op("report.seats", "GET", "/v1/reports/seats", "reports:seats", query("reseller"),
        query("over_only", "bool", default=False)),
    _op("report.recurring", "GET", "/v1/reports/recurring", "reports:recurring",
        query("reseller"), query("upcoming", default="30d")),
    _op("report.snapshot", "POST", "/v1/reports/snapshot", "reports:snapshot",
        body("day", "date", wire="date")),
    _op("report.activity", "GET", "/v1/reports/activity", "figures:activity",
        query("reseller"), query("range_", wire="range", default="30d"),
        query("metric", default="used_seats"), paging="slice", columns=("date", "value")),
    _op("report.monthly", "GET", "/v1/reports/monthly", "reports:monthly",
        query("month", required=True), query("reseller"), paging="slice",
        columns=MONTHLY_COLUMNS),
    _op("audit.list", "GET", "/v1/audit", "audit:list_events", query("since", "date"),
        query("actor_email", wire="actor"), query("action"), query("reseller"),
        query("entity"), query("limit", "int", default=100), paging="slice",
        columns=("id", "at", "actor", "action", "reseller", "entity_type", "entity_id",
                 "changes")),
)

BY_NAME = {op.name: op for op in OPERATIONS}


def columns(name: str) -> list[str] | None:
    """The csv columns of a list operation (what `-o csv` prints, in order)."""
    fixed = BY_NAME[name].columns
    return list(fixed) if fixed else None


def service(op: Operation, name: str | None = None) -> Any:
    """The domain function behind an operation (imported on first use), or another of
    its functions by `module:function` name (its csv export)."""
    import importlib

    module, _, function = (name or op.service).partition(":")
    return getattr(importlib.import_module(f"resellctl.domain.{module}"), function)
