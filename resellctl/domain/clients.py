"""Clients (tenants): the portfolio, stages, seats, trials and support access.

Every licence movement goes through licenses.take / licenses.give_back.
`clean_new` is the one normaliser for new clients, used by `client create`
and by the importer's row loop alike.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, TextIO

from sqlalchemy import (
    String,
    and_,
    bindparam,
    case,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from resellctl.domain import audit, clock, csvfile, licenses, settings, validate
from resellctl.domain.access import (
    RESELLER,
    Actor,
    load_actor,
    require_role,
    require_super_admin,
    reseller_row,
    visible_reseller_ids,
)
from resellctl.domain.context import Ctx
from resellctl.domain.csvfile import FORMULA_START
from resellctl.domain.errors import Conflict, Denied, FieldInvalid, Invalid, NotFound, UsageError
from resellctl.store import tables
from resellctl.store.engine import UNICODE_LOWER
from resellctl.store.sql import iso_instant, true_false

CLIENT = tables.client
SUB = tables.subscription
PLAN = tables.plan

STAGES = ("lead", "demo", "trial", "active", "at_risk", "churned")
START_STAGES = ("lead", "demo", "trial")
MOVES = {
    "lead": ("demo", "trial", "active", "churned"),
    "demo": ("lead", "trial", "active", "churned"),
    "trial": ("active", "at_risk", "churned"),
    "active": ("at_risk", "churned"),
    "at_risk": ("active", "churned"),
    "churned": ("lead", "trial"),
}
SUPPORT_TYPES = ("vendor", "partner")
TRUE = {"true", "yes", "y", "1", "on"}
FALSE = {"false", "no", "n", "0", "off", ""}
SORTABLE = ("name", "uid", "stage", "status", "created_at", "updated_at", "seats_allocated",
            "seats_used", "trial_ends_at", "external_id", "owner_email")
COLUMNS = ("uid", "reseller", "name", "location", "owner_name", "owner_email", "owner_phone",
           "stage", "status", "billing_status", "plan", "seats_allocated", "seats_used",
           "support_type", "support_access", "trial_ends_at", "external_id", "created_at",
           "updated_at")
OUTPUT = (*COLUMNS, "deleted_at", "import_id")
# Free text, made spreadsheet-safe in CSV; the other text columns cannot start with a
# formula character (uids, reseller slugs, stage/status/billing/support vocabularies).
TEXT_OUTPUT = ("name", "location", "owner_name", "owner_email", "owner_phone", "plan",
               "external_id")


class Policy:
    """What a new client of one reseller (or a direct client) may be.

    The catalog's plan codes and the trial length are read from `conn` when first
    asked for, unless given: a single `client create` without a plan or a trial stage
    skips both queries (docs/performance.md, Serve)."""

    def __init__(self, reseller_id: int | None, partner_supported: bool, now: datetime, *,
                 conn: Connection | None = None, plans: frozenset[str] | None = None,
                 trial_ends_at: datetime | None = None) -> None:
        self.reseller_id, self.partner_supported, self.now = reseller_id, partner_supported, now
        self._conn, self._plans, self._trial_ends_at = conn, plans, trial_ends_at

    @property
    def plans(self) -> frozenset[str]:
        if self._plans is None:
            self._plans = frozenset(self._conn.execute(_PLAN_CODES).scalars())
        return self._plans

    @property
    def trial_ends_at(self) -> datetime:
        if self._trial_ends_at is None:
            days = int(settings.get(self._conn, "trial_days"))
            self._trial_ends_at = self.now + timedelta(days=days)
        return self._trial_ends_at


_PLAN_CODES = select(PLAN.c.code)


def policy(conn: Connection, reseller: Any | None, *, lazy: bool = False) -> Policy:
    """The rules for new clients under `reseller` (None: direct clients). Unless `lazy`,
    everything is read now (an import checks rows where the connection is not at hand)."""
    rules = Policy(reseller_id=reseller.id if reseller is not None else None,
                   partner_supported=bool(reseller is not None and reseller.partner_supported),
                   now=clock.now(), conn=conn)
    if not lazy:
        _ = rules.plans, rules.trial_ends_at
    return rules


_EPOCH_MS = 1_577_836_800_000  # 2020-01-01: 40 bits of milliseconds last until 2054
_last = [0, 0]  # last millisecond, last 40-bit tail


def new_uid() -> str:
    """Time-ordered, unique id: 40 bits of ms + 40 bits random, monotonic per process.

    Ordered ids append to the uid index instead of scattering over it, which keeps
    bulk imports fast; the random tail keeps processes from colliding.
    """
    now_ms = time.time_ns() // 1_000_000 - _EPOCH_MS
    if now_ms <= _last[0]:
        now_ms, tail = _last[0], _last[1] + 1
    else:
        tail = secrets.randbits(39)
    _last[0], _last[1] = now_ms, tail
    return f"cl_{now_ms:010x}{tail:010x}"


def new_uids(count: int) -> list[str]:
    """`count` new_uid()s at once, in order (the bulk path of imports)."""
    if count <= 0:
        return []
    first = new_uid()
    now_ms, tail = _last
    _last[1] = tail + count - 1
    prefix = f"cl_{now_ms:010x}"
    return [first, *[f"{prefix}{t:010x}" for t in range(tail + 1, tail + count)]]


def _text(fields: dict, key: str, limit: int = validate.MAX_NAME) -> str | None:
    value = fields.get(key)
    if value is None:
        return None
    text = (value if value.__class__ is str else str(value)).strip()
    if len(text) > limit:
        raise FieldInvalid(key, f"{key} is longer than {limit} characters")
    _no_nul(key, text)
    return text or None


def _no_nul(key: str, text: str) -> None:
    """A NUL character is refused everywhere (PostgreSQL cannot store it in text)."""
    if "\x00" in text:
        raise FieldInvalid(key, f"{key} contains a NUL character")


def _required(fields: dict, key: str) -> str:
    text = _text(fields, key)
    if not text:
        raise FieldInvalid(key, f"{key} is required")
    return text


MAX_SEATS = validate.MAX_COUNT  # the store's integer range


def _seats(value: Any, key: str = "seats") -> int:
    if value is None or (isinstance(value, str) and not value.strip()):
        return 0  # an empty cell
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise FieldInvalid(key, f"{key} `{value}` must be a whole number ≥ 0")
    if isinstance(value, str):
        text = value.strip()
        if not (text.isdigit() and text.isascii()):
            raise FieldInvalid(key, f"{key} `{value}` must be a whole number ≥ 0")
        value = int(text)
    if value < 0:
        raise FieldInvalid(key, f"{key} must be 0 or more")
    if value > MAX_SEATS:
        raise FieldInvalid(key, f"{key} must be at most {MAX_SEATS:,}")
    return value


def _flag(value: Any, key: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return None if text == "" else False
    raise FieldInvalid(key, f"{key} `{value}` must be true or false")


def _email(value: Any, key: str) -> str:
    _no_nul(key, "" if value is None else str(value))
    try:
        return validate.email("" if value is None else str(value), key)
    except Invalid as exc:
        raise FieldInvalid(key, exc.message) from None


def _phone(value: Any) -> str | None:
    _no_nul("owner_phone", "" if value is None else str(value))
    try:
        return validate.phone(None if value is None else str(value))
    except Invalid as exc:
        raise FieldInvalid("owner_phone", exc.message) from None


def _support(fields: dict, partner_supported: bool) -> tuple[str, bool]:
    kind = _text(fields, "support_type") or ("partner" if partner_supported else "vendor")
    if kind not in SUPPORT_TYPES:
        raise FieldInvalid("support_type", f"support_type `{kind}` must be vendor or partner")
    if kind == "partner" and not partner_supported:
        raise FieldInvalid("support_type", "support_type partner needs a partner-supported "
                                           "reseller")
    access = bool(_flag(fields.get("support_access"), "support_access"))
    if access and kind != "partner":
        raise FieldInvalid("support_access", "support access can be on only for clients "
                                             "with support_type partner")
    return kind, access


def _start_stage(fields: dict, rules: Policy) -> str:
    stage = _text(fields, "stage") or "lead"
    if stage not in START_STAGES:
        raise FieldInvalid("stage", f"a new client starts as lead, demo or trial, not `{stage}`")
    return stage


def _catalog_plan(fields: dict, rules: Policy) -> str | None:
    plan = _text(fields, "plan", 64)
    if plan and plan not in rules.plans:
        raise FieldInvalid("plan", f"plan `{plan}` is not in the catalog")
    return plan


# One check per column of a new client, in the order errors are reported.
NEW_FIELDS: tuple[tuple[str, Any], ...] = (
    ("name", lambda f, r: _required(f, "name")),
    ("owner_name", lambda f, r: _required(f, "owner_name")),
    ("owner_email", lambda f, r: _email(f.get("owner_email"), "owner_email")),
    ("owner_phone", lambda f, r: _phone(f.get("owner_phone"))),
    ("location", lambda f, r: _text(f, "location")),
    ("stage", _start_stage),
    ("plan", _catalog_plan),
    ("seats_allocated", lambda f, r: _seats(f.get("seats"))),
    ("support", lambda f, r: _support(f, r.partner_supported)),
    ("external_id", lambda f, r: _text(f, "external_id")),
)


def clean_new(fields: dict, rules: Policy) -> dict:
    """Validate and normalise a new client's fields; raises FieldInvalid naming the field."""
    values = {key: check(fields, rules) for key, check in NEW_FIELDS}
    values["support_type"], values["support_access"] = values.pop("support")
    values["trial_ends_at"] = rules.trial_ends_at if values["stage"] == "trial" else None
    return values


_EMAIL_MATCH = validate.EMAIL.match
_NO_DIGITS = str.maketrans("", "", "0123456789")


def _stripped(value: str | None) -> str:
    return "" if value is None else value.strip()


def fast_clean(fields: dict, rules: Policy) -> dict | None:
    """clean_new for the common case of an all-text, valid row, in one flat function.

    Returns None whenever the row is not plainly valid (or not all text); the caller
    then runs clean_new, which decides and names the errors. A property test checks
    that every row this accepts gives exactly what clean_new gives.
    """
    get = fields.get
    try:  # a value that is not text (no .strip) sends the row to clean_new
        name, owner_name = get("name").strip(), get("owner_name").strip()
        email = get("owner_email").strip().lower()
        phone, location = _stripped(get("owner_phone")), _stripped(get("location"))
        stage, plan = _stripped(get("stage")) or "lead", _stripped(get("plan"))
        seats, external = _stripped(get("seats")), _stripped(get("external_id"))
        kind = _stripped(get("support_type")) \
            or ("partner" if rules.partner_supported else "vendor")
        access = _stripped(get("support_access")).lower()
    except AttributeError:
        return None
    if not name or not owner_name or len(name) > 200 or len(owner_name) > 200 \
            or len(email) > 320 or not _EMAIL_MATCH(email):
        return None
    if phone:
        digits = len(phone) - len(phone.translate(_NO_DIGITS))
        if not 6 <= digits <= 20 or len(phone) > 64:
            return None
    if (len(location) > 200 or stage not in START_STAGES or len(external) > 200
            or (plan and plan not in rules.plans)
            or (seats and (not seats.isdigit() or len(seats) > 9)) or not seats.isascii()
            or kind not in SUPPORT_TYPES
            or (kind == "partner" and not rules.partner_supported)
            or (access not in TRUE and access not in FALSE)):
        return None
    on = access in TRUE
    if (on and kind != "partner") or "\x00" in "".join(
            (name, owner_name, email, phone, location, plan, external)):
        return None
    return {"name": name, "owner_name": owner_name, "owner_email": email,
            "owner_phone": phone or None, "location": location or None, "stage": stage,
            "plan": plan or None, "seats_allocated": int(seats) if seats else 0,
            "external_id": external or None, "support_type": kind, "support_access": on,
            "trial_ends_at": rules.trial_ends_at if stage == "trial" else None}


# Column by column (C-level map/set work instead of a Python loop per row).
_PHONE_DIGITS = re.compile(r"[^0-9]*(?:[0-9][^0-9]*){6,20}").fullmatch  # 6 to 20 ASCII digits
CLEAN_COLUMNS = ("name", "owner_name", "owner_email", "owner_phone", "location", "stage",
                 "plan", "seats_allocated", "support_type", "support_access", "external_id")


def clean_columns(cells: dict[str, list[str]], size: int, rules: Policy) -> dict | None:
    """fast_clean for a block of CSV rows given column by column: all rows or none.

    `cells` maps column names to equally long lists of text (absent columns are
    empty cells). Returns the cleaned columns (CLEAN_COLUMNS; the trial end follows
    from the stage) when every row is plainly valid, else None, and the caller takes
    the rows one by one. A property test checks it agrees with fast_clean row by row.
    """
    empty = [""] * size

    def column(key: str) -> list[str]:
        return list(map(str.strip, cells.get(key, empty)))

    name, owner_name, phone = column("name"), column("owner_name"), column("owner_phone")
    email = list(map(str.lower, column("owner_email")))
    location, external = column("location"), column("external_id")
    if not (all(name) and all(owner_name) and _longest(name) <= 200
            and _longest(owner_name) <= 200 and _longest(email) <= 320
            and all(map(_EMAIL_MATCH, email)) and _longest(phone) <= 64
            and all(map(_PHONE_DIGITS, filter(None, phone)))
            and _longest(location) <= 200 and _longest(external) <= 200
            and not any("\x00" in "".join(c)
                        for c in (name, owner_name, email, phone, location, external))):
        return None
    codes = _coded_columns(column, rules)
    if codes is None:
        return None
    return {"name": name, "owner_name": owner_name, "owner_email": email,
            "owner_phone": [p or None for p in phone],
            "location": [p or None for p in location],
            "external_id": [p or None for p in external], **codes}


def _longest(values: list[str]) -> int:
    return max(map(len, values), default=0)


def _coded_columns(column: Any, rules: Policy) -> dict | None:
    """The columns with few distinct values, checked and converted once per value."""
    stage, plan, seats = column("stage"), column("plan"), column("seats")
    kind, access = column("support_type"), column("support_access")
    default_kind = "partner" if rules.partner_supported else "vendor"
    kinds = {k: k or default_kind for k in set(kind)}
    flags = {a: a.lower() in TRUE for a in set(access)}
    if not (set(stage) <= _START_OR_EMPTY and set(plan) - {""} <= rules.plans
            and all(s == "" or (s.isdigit() and s.isascii() and len(s) <= 9) for s in set(seats))
            and set(kinds.values()) <= set(SUPPORT_TYPES)
            and (rules.partner_supported or "partner" not in kinds.values())
            and all(a.lower() in TRUE or a.lower() in FALSE for a in flags)):
        return None
    support_type = list(map(kinds.__getitem__, kind))
    support_access = list(map(flags.__getitem__, access))
    if True in flags.values() and any(
            on and k != "partner" for on, k in zip(support_access, support_type, strict=True)):
        return None
    numbers = {s: int(s) if s else 0 for s in set(seats)}
    return {"stage": [s or "lead" for s in stage], "plan": [p or None for p in plan],
            "seats_allocated": list(map(numbers.__getitem__, seats)),
            "support_type": support_type, "support_access": support_access}


_START_OR_EMPTY = frozenset((*START_STAGES, ""))


def new_field_errors(fields: dict, rules: Policy) -> list[FieldInvalid]:
    """Every invalid field of a new client (the slow path, once a row has failed)."""
    errors = []
    for _, check in NEW_FIELDS:
        try:
            check(fields, rules)
        except FieldInvalid as exc:
            errors.append(exc)
    return errors


# ---------------------------------------------------------------- reading

def _billing_rank():  # noqa: ANN202
    rank = case((SUB.c.status == "active", 3), (SUB.c.status == "paused", 2),
                (SUB.c.status == "expired", 1), else_=0)
    return (select(SUB.c.client_id, func.max(rank).label("rank"))
            .group_by(SUB.c.client_id).subquery())


def _select(conn: Connection, now: datetime, *, cells: bool = False):  # noqa: ANN202
    """The client columns in output order (instants formatted by the database).

    cells=True gives CSV cells: text made spreadsheet-safe and booleans as true/false,
    all in SQL, so that an export needs no Python work per row."""
    rank = _billing_rank()
    billing = case((rank.c.rank == 3, "active"),
                   (and_(CLIENT.c.stage == "trial", CLIENT.c.trial_ends_at > now), "trialing"),
                   (rank.c.rank == 2, "paused"), (rank.c.rank == 1, "expired"), else_="none")
    dialect = conn.dialect.name
    columns = {key: CLIENT.c[key] for key in OUTPUT if key in CLIENT.c}
    columns["reseller"] = RESELLER.c.slug
    columns["billing_status"] = billing
    for key in ("trial_ends_at", "created_at", "updated_at", "deleted_at"):
        columns[key] = iso_instant(CLIENT.c[key], dialect)
    if cells:
        for key in TEXT_OUTPUT:
            columns[key] = _guarded(columns[key])
        columns["support_access"] = true_false(CLIENT.c.support_access)
    return (select(*[columns[key].label(key) for key in OUTPUT])
            .select_from(CLIENT.outerjoin(RESELLER, RESELLER.c.id == CLIENT.c.reseller_id)
                         .outerjoin(rank, rank.c.client_id == CLIENT.c.id)))


def _guarded(column: Any) -> Any:
    """A text column made safe for a spreadsheet, reversibly: a value starting with a
    formula character gets a quote, and so does one that starts with it after leading
    quotes (`'=x` → `''=x`), so that the import, which drops one such quote
    (csvfile.unguarded), reads every value back exactly. The first character is computed
    once (CASE value WHEN ...): the export costs what a plain guard costs."""
    quote = literal_column("''''", String)
    quoted = quote + column
    after_quotes = case((func.substr(func.ltrim(column, quote), 1, 1).in_(FORMULA_START),
                         quoted), else_=column)
    return case({**dict.fromkeys(FORMULA_START, quoted), "'": after_quotes},
                value=func.substr(column, 1, 1), else_=column)


def client_dict(row: Any) -> dict:
    return dict(zip(OUTPUT, row, strict=True))


_READ: dict[str, Any] = {}  # per dialect: building the query costs more than running it


def _read(conn: Connection, client_id: int) -> dict:
    query = _READ.get(conn.dialect.name)
    if query is None:
        now = bindparam("now", type_=CLIENT.c.trial_ends_at.type)
        query = _READ[conn.dialect.name] = _select(conn, now).where(
            CLIENT.c.id == bindparam("client_id"))
    return client_dict(conn.execute(query, {"now": clock.now(), "client_id": client_id}).one())


_BY_UID = select(CLIENT).where(CLIENT.c.uid == bindparam("uid"))  # built once, like _READ
_BY_UID_LOCKED = _BY_UID.with_for_update()


def client_row(conn: Connection, actor: Actor, uid: str, *, for_update: bool = False) -> Any:
    """A client the actor can see, else NotFound (another reseller's client included).

    for_update locks the row on PostgreSQL (SQLite writers are already serialised by
    BEGIN IMMEDIATE), so two concurrent status changes cannot both move a licence.
    """
    locked = for_update and conn.dialect.name == "postgresql"
    row = conn.execute(_BY_UID_LOCKED if locked else _BY_UID, {"uid": uid}).first()
    visible = row is not None and (actor.is_super_admin or row.reseller_id in actor.roles)
    if not visible:
        raise NotFound(f"client `{uid}` not found", code="client_not_found",
                       hint="run `resellctl client list --search TEXT`")
    return row


def show(ctx: Ctx, uid: str) -> dict:
    with ctx.store.read() as conn:
        return _read(conn, client_row(conn, load_actor(conn, ctx.actor), uid).id)


def _filtered(actor: Actor, conn: Connection, *, reseller: str | None, stages: list[str],
              status: str | None, search: str | None, include_deleted: bool,
              cells: bool = False):  # noqa: ANN202
    query = _select(conn, clock.now(), cells=cells)
    visible = visible_reseller_ids(actor)
    if visible is not None:
        query = query.where(CLIENT.c.reseller_id.in_(visible))
    if reseller:
        query = query.where(CLIENT.c.reseller_id == reseller_row(conn, actor, reseller).id)
    bad = [s for s in stages if s not in STAGES]
    if bad:
        raise Invalid(f"unknown stage `{bad[0]}`; stages: " + ", ".join(STAGES),
                      code="invalid_stage")
    if stages:
        query = query.where(CLIENT.c.stage.in_(stages))
    if status:
        if status not in ("active", "deactivated"):
            raise Invalid(f"status `{status}` must be active or deactivated",
                          code="invalid_status")
        query = query.where(CLIENT.c.status == status)
    if not include_deleted:
        query = query.where(CLIENT.c.deleted_at.is_(None))
    if search:
        term = search.strip().lower()
        # Unicode case folding on both stores (SQLite's own lower() folds A-Z only)
        lower = getattr(func, UNICODE_LOWER) if conn.dialect.name == "sqlite" else func.lower
        query = query.where(or_(lower(CLIENT.c.name).contains(term, autoescape=True),
                                lower(CLIENT.c.owner_email).contains(term, autoescape=True),
                                CLIENT.c.uid == search.strip(),
                                CLIENT.c.external_id == search.strip()))
    return query


class _bytewise(FunctionElement):  # lower case: used like func.lower(...)
    """Text compared by its UTF-8 bytes (code point order), whatever the server's locale:
    PostgreSQL's "C" collation, which SQLite's default (BINARY) already is. Under "C",
    PostgreSQL's lower() folds A-Z only, as SQLite's built-in lower() does."""

    type = String()
    inherit_cache = True


@compiles(_bytewise)
def _bytewise_as_is(element: _bytewise, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(_bytewise, "postgresql")
def _bytewise_c(element: _bytewise, compiler: Any, **kw: Any) -> str:
    return f'{compiler.process(element.clauses, **kw)} COLLATE "C"'


def _order(sort: str) -> Any:
    """ORDER BY for --sort, the same on SQLite and PostgreSQL (docs/rules.md, Clients):
    text case-insensitively (A-Z folded), then exactly, byte order; empty values last
    in both directions; the id last, ascending."""
    field = sort.lstrip("-")
    if field not in SORTABLE:
        raise Invalid(f"cannot sort by `{sort}`; fields: " + ", ".join(SORTABLE)
                      + " (prefix - for descending)", code="invalid_sort")
    column = CLIENT.c[field]
    keys = ([func.lower(_bytewise(column)), _bytewise(column)]
            if isinstance(column.type, String) else [column])
    keys = [key.desc() if sort.startswith("-") else key.asc() for key in keys]
    if column.nullable:  # SQLite puts NULL first ascending, PostgreSQL last
        keys[0] = keys[0].nulls_last()
    return (*keys, CLIENT.c.id.asc())


def _portfolio(conn: Connection, ctx: Ctx, filters: dict, cells: bool = False):  # noqa: ANN202
    """The portfolio query: filters, sort and window (no OFFSET 0 / LIMIT -1: SQLite then
    sorts through a temporary file)."""
    actor = load_actor(conn, ctx.actor)
    sort, limit, offset = (filters.pop(k, d) for k, d in (("sort", "name"), ("limit", None),
                                                          ("offset", 0)))
    chosen = {"reseller": None, "status": None, "search": None, "include_deleted": False,
              **filters, "stages": filters.get("stages") or []}
    query = _filtered(actor, conn, **chosen, cells=cells).order_by(*_order(sort))
    if offset:
        query = query.offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return query


def iter_client_rows(ctx: Ctx, **filters: Any) -> Iterator[tuple]:
    """Stream the portfolio as tuples in OUTPUT order.

    Filters: reseller, stages, status, search, include_deleted, sort, limit, offset.
    The transaction stays open while the rows are consumed.
    """
    with ctx.store.read(stream=True) as conn:
        query = _portfolio(conn, ctx, dict(filters))
        for row in conn.execution_options(yield_per=2000).execute(query):
            yield tuple(row)


def iter_clients(ctx: Ctx, **filters: Any) -> Iterator[dict]:
    """Stream the portfolio as dicts shaped like CLI.md's client JSON."""
    return map(client_dict, iter_client_rows(ctx, **filters))


def export_csv(ctx: Ctx, out: TextIO, **filters: Any) -> None:
    """The portfolio as spreadsheet-safe CSV with a header, the rows formatted by the
    database (csvfile.write_query)."""
    with ctx.store.read() as conn:
        csvfile.write_query(conn, _portfolio(conn, ctx, dict(filters), cells=True), out)


def count_clients(ctx: Ctx, *, reseller: str | None = None, stages: list[str] | None = None,
                  status: str | None = None, search: str | None = None,
                  include_deleted: bool = False) -> int:
    with ctx.store.read() as conn:
        actor = load_actor(conn, ctx.actor)
        query = _filtered(actor, conn, reseller=reseller, stages=stages or [], status=status,
                          search=search, include_deleted=include_deleted)
        return conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()


# ---------------------------------------------------------------- writing

def target_reseller(conn: Connection, actor: Actor, slug: str | None, verb: str, *,
                    for_update: bool = False) -> Any | None:
    """The reseller new clients go under (admin role needed), or None for direct clients;
    `verb` names the command ("create", "import") in refusals."""
    if slug is None:
        require_super_admin(actor, f"{verb} direct clients (pass --reseller)")
        return None
    row = reseller_row(conn, actor, slug, for_update=for_update)
    require_role(actor, row.id, "admin", f"{verb} clients")
    return row


DIRECT_CLIENTS_LOCK = 0x72636C5F657874  # advisory lock key: the direct clients


def lock_clients_of(conn: Connection, reseller_id: int | None) -> None:
    """Serialise the writers of one reseller's clients (or of the direct clients).

    Every command that changes existing clients, or checks external ids before adding
    one, takes this lock first and only then locks client rows: an import (which holds
    it for its whole transaction and reads the clients it matches once) never sees them
    change under it, and no two writers take the locks in opposite orders (deadlock).
    SQLite writers are already serialised (BEGIN IMMEDIATE). On PostgreSQL the reseller's
    row is locked; direct clients have no such row (and their NULL reseller escapes the
    unique constraint), so an advisory transaction lock stands in for it.
    """
    if conn.dialect.name != "postgresql":
        return
    if reseller_id is None:
        conn.execute(select(func.pg_advisory_xact_lock(DIRECT_CLIENTS_LOCK)))
    else:
        conn.execute(select(RESELLER.c.id).where(RESELLER.c.id == reseller_id)
                     .with_for_update())


def find_external(conn: Connection, reseller_id: int | None, external_id: str) -> Any | None:
    owner = (CLIENT.c.reseller_id.is_(None) if reseller_id is None
             else CLIENT.c.reseller_id == reseller_id)
    return conn.execute(select(CLIENT).where(owner, CLIENT.c.external_id == external_id)).first()


def create(ctx: Ctx, reseller: str | None, fields: dict, *,
           if_not_exists: bool = False) -> dict:
    """Create a client, taking one licence from its reseller's pool."""
    with ctx.store.write() as conn:
        actor = load_actor(conn, ctx.actor)
        parent = target_reseller(conn, actor, reseller, "create")
        rules = policy(conn, parent, lazy=True)
        values = clean_new(fields, rules)
        if if_not_exists and not values["external_id"]:
            raise UsageError("--if-not-exists needs an --external-id to look the client up by",
                             code="if_not_exists_without_external_id")
        if values["external_id"]:
            lock_clients_of(conn, rules.reseller_id)
            existing = find_external(conn, rules.reseller_id, values["external_id"])
            if existing is not None:
                if if_not_exists:
                    return {**_read(conn, existing.id), "created": False}
                raise Conflict(f"a client with external id `{values['external_id']}` "
                               f"already exists ({existing.uid})", code="client_exists",
                               hint="pass --if-not-exists to get the existing client")
        client_id = conn.execute(_INSERT, {
            "uid": new_uid(), "reseller_id": rules.reseller_id, "status": "active",
            "seats_used": 0, "created_at": rules.now, "updated_at": rules.now,
            **values}).inserted_primary_key[0]
        result = _read(conn, client_id)
        audit.record(conn, actor, "client.create", "client", result["uid"],
                     reseller_id=rules.reseller_id, after=_auditable(result))
        if parent is not None:
            # The licence last: taking it locks the reseller's row on PostgreSQL until the
            # commit, so every other creation under the reseller waits as briefly as can
            # be (no pool is oversold: a refusal rolls the client and its event back).
            licenses.take(conn, parent.id)
        return {**result, "created": True}


# Built once: the values come as parameters (building `.values(...)` and its cache key
# on every call cost about a tenth of a create's CPU; docs/performance.md, Serve).
_INSERT = insert(CLIENT)


def _auditable(data: dict) -> dict:
    return {k: v for k, v in data.items() if k not in ("billing_status", "created_at",
                                                       "updated_at", "deleted_at")}


def _writable(conn: Connection, actor: Actor, uid: str, what: str) -> Any:
    """The client, locked for a change: its reseller's clients first (lock_clients_of),
    then its own row, the order every writer of clients follows."""
    lock_clients_of(conn, client_row(conn, actor, uid).reseller_id)
    row = client_row(conn, actor, uid, for_update=True)
    if row.reseller_id is None:
        require_super_admin(actor, what)
    else:
        require_role(actor, row.reseller_id, "admin", what)
    if row.deleted_at is not None:
        raise Conflict(f"client `{uid}` is deleted", code="client_deleted")
    return row


writable = _writable  # the same checks and lock order for the subscriptions of a client


def stage_values(row: Any, stage: str, *, force: bool, actor: Actor, now: datetime,
                 trial_days: int) -> dict:
    """The column changes for a stage move, after checking the allowed moves."""
    if stage not in STAGES:
        raise FieldInvalid("stage", f"unknown stage `{stage}`; stages: " + ", ".join(STAGES))
    if stage == row.stage:
        return {}
    if stage not in MOVES[row.stage]:
        if not force:
            raise Conflict(f"{_article(row.stage)} {row.stage} client cannot move to {stage}; "
                           "allowed: "
                           + ", ".join(MOVES[row.stage]), code="stage_move_refused",
                           hint="a super admin may pass --force")
        if not actor.is_super_admin:
            raise Denied("only a super admin can --force a stage move", code="super_admin_only")
    values: dict[str, Any] = {"stage": stage}
    if stage == "trial" and not (row.trial_ends_at and row.trial_ends_at > now):
        values["trial_ends_at"] = now + timedelta(days=trial_days)
    return values


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def edit_values(conn: Connection, actor: Actor, row: Any, fields: dict, force: bool) -> dict:
    """Validate an edit of an existing client; returns the columns whose value changes."""
    values: dict[str, Any] = {}
    for key in ("name", "owner_name"):
        if fields.get(key) is not None:
            values[key] = _required(fields, key)
    if fields.get("owner_email") is not None:
        values["owner_email"] = _email(fields["owner_email"], "owner_email")
    if fields.get("owner_phone") is not None:
        values["owner_phone"] = _phone(fields["owner_phone"])
    if fields.get("location") is not None:
        values["location"] = _text(fields, "location")
    if fields.get("plan") is not None:
        values["plan"] = _plan(conn, fields["plan"])
    if fields.get("seats") is not None:
        values["seats_allocated"] = _seats(fields["seats"])
    if fields.get("stage"):
        now = clock.now()
        values.update(stage_values(row, fields["stage"], force=force, actor=actor, now=now,
                                   trial_days=int(settings.get(conn, "trial_days"))))
    if fields.get("support_type") is not None or fields.get("support_access") is not None:
        values.update(_support_edit(conn, row, fields))
    return {key: value for key, value in values.items() if getattr(row, key) != value}


def _plan(conn: Connection, code: str) -> str | None:
    code = code.strip()
    if not code:
        return None
    if not conn.execute(select(PLAN.c.code).where(PLAN.c.code == code)).first():
        raise FieldInvalid("plan", f"plan `{code}` is not in the catalog")
    return code


def _support_edit(conn: Connection, row: Any, fields: dict) -> dict:
    partner_ok = bool(row.reseller_id is not None and conn.execute(
        select(RESELLER.c.partner_supported).where(RESELLER.c.id == row.reseller_id)).scalar())
    return merge_support(row, fields.get("support_type"), fields.get("support_access"),
                         partner_ok)


def change_support(conn: Connection, actor: Actor, row: Any, support_type: str) -> None:
    """Set a client's support type as `client edit --support-type` does (subscriptions)."""
    values = _support_edit(conn, row, {"support_type": support_type})
    changed = {k: v for k, v in values.items() if getattr(row, k) != v}
    if not changed:
        return
    conn.execute(update(CLIENT).where(CLIENT.c.id == row.id)
                 .values(**changed, updated_at=clock.now()))
    audit.record(conn, actor, "client.edit", "client", row.uid, reseller_id=row.reseller_id,
                 before={k: getattr(row, k) for k in changed}, after=changed)


def merge_support(row: Any, kind: str | None, access: bool | None, partner_ok: bool) -> dict:
    """A client's support settings after a change (edit or import update).

    A value given replaces the client's; access not given stays on only while the
    type is partner. The result is checked like a new client's.
    """
    kind = kind or row.support_type
    if access is None:
        access = bool(row.support_access) and kind == "partner"
    kind, access = _support({"support_type": kind, "support_access": access}, partner_ok)
    return {"support_type": kind, "support_access": access}


def edit(ctx: Ctx, uid: str, fields: dict, *, force: bool = False) -> dict:
    """Change what the fields give; values equal to the client's change nothing (no write,
    no audit event). No field at all is a usage error."""
    if all(value is None for value in fields.values()):
        raise UsageError("nothing to change: give at least one field to edit",
                         code="nothing_to_change", hint="see `resellctl client edit --help`")
    with ctx.store.write() as conn:
        actor = load_actor(conn, ctx.actor)
        row = _writable(conn, actor, uid, "edit clients")
        values = edit_values(conn, actor, row, fields, force)
        before = _read(conn, row.id)
        if not values:
            return before
        conn.execute(update(CLIENT).where(CLIENT.c.id == row.id)
                     .values(**values, updated_at=clock.now()))
        after = _read(conn, row.id)
        audit.record(conn, actor, "client.edit", "client", uid, reseller_id=row.reseller_id,
                     before=_auditable(before), after=_auditable(after),
                     extra={"forced": True} if force else None)
        return after


def usage(ctx: Ctx, uid: str, seats_used: int) -> dict:
    """Record the seats a client uses (may exceed the allocation; reports flag it)."""
    seats = _seats(seats_used, "--seats-used")
    with ctx.store.write() as conn:
        actor = load_actor(conn, ctx.actor)
        row = _writable(conn, actor, uid, "record usage")
        if seats == row.seats_used:  # nothing changes: no write, no audit event
            return {**_read(conn, row.id), "over_allocation": seats > row.seats_allocated}
        conn.execute(update(CLIENT).where(CLIENT.c.id == row.id)
                     .values(seats_used=seats, updated_at=clock.now()))
        audit.record(conn, actor, "client.usage", "client", uid, reseller_id=row.reseller_id,
                     before={"seats_used": row.seats_used}, after={"seats_used": seats})
        return {**_read(conn, row.id), "over_allocation": seats > row.seats_allocated}


def set_status(ctx: Ctx, uid: str, active: bool) -> dict:
    """Deactivate (licence back) or reactivate (licence taken again)."""
    verb = "reactivate" if active else "deactivate"
    with ctx.store.write() as conn:
        actor = load_actor(conn, ctx.actor)
        row = _writable(conn, actor, uid, f"{verb} clients")
        wanted = "active" if active else "deactivated"
        if row.status == wanted:
            raise Conflict(f"client `{uid}` is already {wanted}", code="client_state")
        if row.reseller_id is not None:
            if active:
                licenses.take(conn, row.reseller_id)
            else:
                licenses.give_back(conn, row.reseller_id)
        conn.execute(update(CLIENT).where(CLIENT.c.id == row.id)
                     .values(status=wanted, updated_at=clock.now()))
        audit.record(conn, actor, f"client.{verb}", "client", uid, reseller_id=row.reseller_id,
                     before={"status": row.status}, after={"status": wanted})
        return _read(conn, row.id)


def delete(ctx: Ctx, uid: str) -> dict:
    """Soft delete: the row and its history stay; an active client's licence comes back."""
    with ctx.store.write() as conn:
        actor = load_actor(conn, ctx.actor)
        row = _writable(conn, actor, uid, "delete clients")
        if row.reseller_id is not None and row.status == "active":
            licenses.give_back(conn, row.reseller_id)
        now = clock.now()
        conn.execute(update(CLIENT).where(CLIENT.c.id == row.id)
                     .values(deleted_at=now, updated_at=now))
        audit.record(conn, actor, "client.delete", "client", uid, reseller_id=row.reseller_id,
                     before={"deleted_at": None}, after={"deleted_at": now})
        return _read(conn, row.id)
