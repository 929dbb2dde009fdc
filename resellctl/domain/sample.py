"""`init --sample-data`: a demo channel with seven months of history, written the way it
would have happened.

The whole history is decided up front by one seeded `random.Random` (the same store
content every time, apart from ids, uids and tokens) and then replayed in time order:
every step runs under `clock.frozen(its instant)` through the domain services the CLI
calls, as the actor who would have done it (the vendor's super admin, a reseller's
owner, a client's admin), so every rule, licence count, ledger entry and audit event is
the real thing. The services all share one transaction (`_OneTransaction`): the sample
commits at once, or on any error not at all. Cron's part is replayed too: the daily
`subscription sweep` and a monthly `report snapshot`; only the daily snapshots between
those real ones are written directly (one executemany), interpolated between them.
"""

from __future__ import annotations

import itertools
import math
import random
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import case, func, insert, inspect, select
from sqlalchemy.engine import Connection

from resellctl.domain import (
    approvals,
    catalog,
    clients,
    clock,
    durations,
    importer,
    licenses,
    reports,
    resellers,
    settings,
    subscriptions,
    support,
    users,
)
from resellctl.domain.context import Ctx
from resellctl.domain.errors import Conflict, Invalid
from resellctl.store import tables
from resellctl.store.engine import Store

SEED = 20250106
# Days ago of the real (monthly) snapshots: with today's, they span the 183 days of
# `report activity --range 6m`; the days between are interpolated.
ANCHORS = (182, 152, 122, 91, 61, 30)
WIND_DOWN = 80  # days ago Old Mill Systems handed its clients over and closed
CUSHION = 100_000  # a top-up leaves this much over what is due ($1,000.00)
ROUND_TO = 50_000  # top-ups are round amounts ($500.00)

PEOPLE = {  # key: (e-mail, name); every address is under the reserved .example
    "maria": ("maria.gomez@northwind-it.example", "Maria Gomez"),
    "tom": ("tom.becker@northwind-it.example", "Tom Becker"),
    "liam": ("liam.chen@northwind-it.example", "Liam Chen"),
    "priya": ("priya.nair@nair-advisory.example", "Priya Nair"),
    "james": ("james.okafor@bluepeak.example", "James Okafor"),
    "sofia": ("sofia.rossi@bluepeak.example", "Sofia Rossi"),
    "emma": ("emma.larsen@harbor-digital.example", "Emma Larsen"),
    "noah": ("noah.kim@harbor-digital.example", "Noah Kim"),
    "lucas": ("lucas.martin@cedarcloud.example", "Lucas Martin"),
    "ava": ("ava.johnson@cedarcloud.example", "Ava Johnson"),
    "chloe": ("chloe.dubois@lumen-networks.example", "Chloe Dubois"),
    "george": ("george.hill@oldmill.example", "George Hill"),
}


@dataclass(frozen=True)
class Partner:
    """One sample reseller: who runs it, how old and big it is, where its clients are."""

    slug: str
    name: str
    prefix: str  # of its clients' CRM ids (external ids): NW-0001
    partner: bool
    founded: int  # days ago
    size: int  # clients it imports over its life
    pool: int  # licences granted at creation
    owner: str
    members: tuple[tuple[str, str], ...]
    cities: tuple[str, ...]
    branding: tuple[tuple[str, str], ...] = ()
    winds_down: bool = False

    @property
    def owner_email(self) -> str:
        return PEOPLE[self.owner][0]

    def member(self, role: str) -> str:
        """The e-mail of its first member with `role` (else the owner's)."""
        return next((PEOPLE[key][0] for key, r in self.members if r == role), self.owner_email)


PARTNERS = (
    Partner("northwind-it", "Northwind IT Services", "NW", True, 226, 70, 40, "maria",
            (("tom", "admin"), ("liam", "support"), ("priya", "viewer")),
            ("Seattle, WA", "Portland, OR", "Tacoma, WA", "Bellevue, WA", "Spokane, WA",
             "Eugene, OR", "Boise, ID"),
            (("primary_color", "#0B5FFF"), ("secondary_color", "#0A2540"),
             ("logo_url", "https://cdn.northwind-it.example/logo.svg"),
             ("domain", "portal.northwind-it.example"))),
    Partner("bluepeak", "BluePeak Solutions", "BP", True, 214, 54, 30, "james",
            (("sofia", "support"), ("priya", "viewer")),
            ("Denver, CO", "Boulder, CO", "Fort Collins, CO", "Colorado Springs, CO",
             "Cheyenne, WY", "Salt Lake City, UT"),
            (("primary_color", "#1B998B"), ("secondary_color", "#2D3047"))),
    Partner("harbor-digital", "Harbor Digital", "HD", False, 203, 45, 25, "emma",
            (("noah", "viewer"),),
            ("Boston, MA", "Cambridge, MA", "Providence, RI", "Worcester, MA",
             "Portland, ME", "Hartford, CT")),
    Partner("cedar-cloud", "Cedar Cloud Partners", "CC", False, 197, 38, 20, "lucas",
            (("ava", "support"),),
            ("Chicago, IL", "Evanston, IL", "Milwaukee, WI", "Madison, WI", "Naperville, IL")),
    Partner("lumen-networks", "Lumen Networks", "LN", True, 189, 30, 10, "chloe", (),
            ("Austin, TX", "Dallas, TX", "San Antonio, TX", "Houston, TX", "Round Rock, TX")),
    Partner("old-mill-systems", "Old Mill Systems", "OM", False, 236, 12, 20, "george", (),
            ("Minneapolis, MN", "St. Paul, MN", "Duluth, MN"), winds_down=True),
)
DIRECT_CITIES = ("New York, NY", "San Francisco, CA", "Atlanta, GA", "Miami, FL")
DIRECT_FATES = ("active", "lead", "lead", "demo", "active", "lead", "lead", "active")
DIRECT_COHORTS = (201, 96)  # days ago the vendor imported its direct clients

FIRST = ("Olivia", "Ethan", "Amelia", "Mateo", "Harper", "Daniel", "Zoe", "Samuel", "Leah",
         "Omar", "Grace", "Victor", "Nora", "Isaac", "Maya", "Felix", "Ruby", "Hugo", "Iris",
         "Jonas", "Clara", "Arjun", "Elena", "Marcus", "Hana", "Diego", "Tessa", "Kofi")
LAST = ("Alvarez", "Brennan", "Castillo", "Dawson", "Eriksen", "Fischer", "Garcia", "Hughes",
        "Ibarra", "Jensen", "Kowalski", "Lindqvist", "Moreau", "Novak", "Okafor", "Patel",
        "Quinn", "Russo", "Sato", "Thompson", "Ueda", "Varga", "Walsh", "Young", "Zimmer")
PLACE = ("Harbor", "Maple", "Summit", "Riverside", "Oakwood", "Granite", "Brightside",
         "Northside", "Copper", "Willow", "Blue Fern", "Lakeside", "Pinecrest", "Silverline",
         "Union", "Beacon", "Evergreen", "Sunrise", "Redwood", "Meadow", "Ironwood",
         "Kingsway", "Orchard", "Foxglove", "Highland", "Coastal", "Parkview", "Westgate",
         "Stonebridge", "Cobalt")
TRADE = ("Dental", "Physio", "Bakery", "Veterinary Clinic", "Law Group", "Accounting",
         "Fitness", "Pharmacy", "Auto Repair", "Architects", "Logistics", "Realty",
         "Optometry", "Family Practice", "Salon", "Brewing Co.", "Cafe", "Hardware",
         "Insurance", "Print Shop", "Landscaping", "Pediatrics", "Chiropractic",
         "Engineering", "Florist", "Books", "Yoga Studio", "Plumbing", "Electric", "Travel")
SUPPORT_REASONS = ("Calendar sync stopped after the password change",
                   "Set up single sign-on for the new office",
                   "Invoices show the old company address",
                   "Two users locked out after the upgrade",
                   "Import of last year's records failed",
                   "Configure the second location's opening hours",
                   "Reports missing for March",
                   "Help the new office manager with permissions")

# Fates: how a client's story ends by today, each possible from a cohort age (days) on;
# the trial fates depend on the trial's length instead (_Sample.fits).
FATE_AGES = {"lead": 1, "demo": 2, "active": 4, "at_risk": 60, "at_risk_paused": 60,
             "at_risk_expiring": 60, "churned": 75, "churned_expired": 115, "returned": 150,
             "lost": 8, "deleted": 2, "trial": 1, "pending": 3, "stale_trial": 1}
MINIMUM = {"trial": 12, "deleted": 4, "pending": 3, "stale_trial": 3, "at_risk_paused": 3,
           "churned_expired": 3}
IN_TRIAL = {"trial": 46, "lead": 16, "demo": 10, "active": 12, "pending": 10, "deleted": 4}
RECENT = {"active": 48, "lead": 12, "demo": 12, "lost": 8, "stale_trial": 8, "deleted": 2}
SETTLED = {"active": 56, "at_risk": 6, "at_risk_paused": 5, "at_risk_expiring": 3,
           "churned": 7, "churned_expired": 4, "returned": 1, "lost": 6, "lead": 5,
           "demo": 4, "deleted": 2}
PROSPECTS = ("lead", "demo", "lost", "deleted")
INTERVAL_WEIGHTS = {"monthly": 55, "quarterly": 15, "biannual": 10, "yearly": 20}
CUSTOM_DISCOUNT = {"monthly": 0, "quarterly": 3, "biannual": 5, "yearly": 10}  # percent
SESSIONS = ((40, "redeemed"), (33, "expired"), (25, "ended"), (18, "redeemed"),
            (14, "expired"), (10, "unused"), (6, "redeemed"), (3, "ended"),
            (0, "active"), (0, "active"))

CLIENT = tables.client
SUB = tables.subscription
RESELLER = tables.reseller
LEDGER = tables.ledger_entry
PURCHASE = tables.license_purchase
SNAPSHOT = tables.usage_snapshot
SMOOTH = ("total_clients", "active_clients", "trial_clients", "seats_allocated", "seats_used",
          "license_used", "active_subscriptions", "mrr_cents")


# ---------------------------------------------------------------- entry points


def refuse_if_in_use(store: Store) -> None:
    """Refuse (exit 4) a store that holds resellers or clients: sample data goes only into
    a store with no portfolio yet. Reads only, so a refusal writes nothing."""
    with store.read() as conn:
        _refuse(conn)


def _refuse(conn: Connection) -> None:
    if not inspect(conn).has_table("reseller"):
        return
    count = conn.execute(select(func.count()).select_from(RESELLER)).scalar_one()
    count += conn.execute(select(func.count()).select_from(CLIENT)).scalar_one()
    if count:
        raise Conflict("the store already holds resellers or clients; sample data goes only "
                       "into a store without them", code="store_not_empty",
                       hint="try it in a store of its own: `resellctl --profile demo --db "
                            "sqlite:///demo.db init --admin-email EMAIL --sample-data`")


def generate(store: Store, admin_email: str) -> dict:
    """Write the demo channel through the domain services, as `admin_email` (a super admin)
    and the people it creates; one transaction. Returns what was written, counted."""
    with store.write() as conn:
        _refuse(conn)
        sample = _Sample(_OneTransaction(store, conn), conn, admin_email)
        sample.plan()
        sample.run()
        sample.fill_snapshots()
        return summary(conn)


def summary(conn: Connection) -> dict:
    """The sample's size: rows per kind of record."""
    counted = {"resellers": RESELLER, "users": tables.user_account, "clients": CLIENT,
               "subscriptions": SUB, "ledger_entries": LEDGER, "license_purchases": PURCHASE,
               "approvals": tables.approval, "support_sessions": tables.support_session,
               "snapshots": SNAPSHOT, "audit_events": tables.audit_event}
    result = {name: conn.execute(select(func.count()).select_from(table)).scalar_one()
              for name, table in counted.items()}
    result["snapshot_days"] = conn.execute(
        select(func.count(func.distinct(SNAPSHOT.c.day)))).scalar_one()
    return result


class _OneTransaction:
    """A store whose transactions are all the one already open on `conn`: services run
    exactly as for the CLI, and their work commits together with the rest (or not at all).
    """

    def __init__(self, store: Store, conn: Connection) -> None:
        self._store, self._conn = store, conn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        yield self._conn

    read = write


# ---------------------------------------------------------------- the plan


@dataclass
class Terms:
    """A subscription to create: plan, interval, quantity, a custom unit price."""

    plan: str
    interval: str
    quantity: int
    unit_cents: int | None
    delay: int  # minutes from creation to activation
    pending: bool = False


@dataclass
class Client:
    key: str  # its external id: the reseller's CRM id
    partner: Partner | None  # None: a direct client of the vendor
    age: int  # days since its import
    fields: dict
    fate: str = "lead"
    uid: str = ""
    sub: str = ""  # its subscription's id, once created
    stage: str = "lead"
    active: bool = True
    link: str = ""  # a pending approval's URL

    @property
    def seats(self) -> int:
        return int(self.fields["seats"])


@dataclass
class _Sample:
    store: _OneTransaction
    conn: Connection
    admin: str
    rng: random.Random = field(default_factory=lambda: random.Random(SEED))
    events: list = field(default_factory=list)
    clients: list[Client] = field(default_factory=list)
    ctxs: dict[str, Ctx] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)  # clients a scenario already took
    combos_left: list[tuple[str, str]] = field(default_factory=list)
    asked: dict[str, tuple[Partner, str]] = field(default_factory=dict)  # approvals by client

    def __post_init__(self) -> None:
        self.now = clock.now()
        self.today = self.now.date()
        values = settings.read_all(self.conn)
        self.trial_days = int(values["trial_days"])
        self.max_ttl = durations.parse(values["support_session_max_ttl"])
        self.plans = catalog.list_plans(self.ctx(self.admin))
        if not self.plans:
            raise Invalid("the catalog has no plans to subscribe the sample clients to",
                          code="no_plans", hint="load one with `resellctl subscription plans "
                                                "load FILE.toml`")
        self.combos_left = [(p["code"], i) for p in self.plans for i in _offered(p)]
        self.people = {user["email"] for user in users.list_users(self.ctx(self.admin))}
        self.names = iter(self.rng.sample([f"{a} {b}" for a in PLACE for b in TRADE],
                                          len(PLACE) * len(TRADE)))

    # ---- clocks and actors

    def ctx(self, email: str) -> Ctx:
        if email not in self.ctxs:
            self.ctxs[email] = Ctx(self.store, email)
        return self.ctxs[email]

    def actor(self, client: Client) -> Ctx:
        """Who looks after a client: its reseller's owner, or the vendor's admin."""
        return self.ctx(client.partner.owner_email if client.partner else self.admin)

    def moment(self, days_ago: int, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(self.today - timedelta(days=days_ago), time(hour, minute),
                                tzinfo=UTC)

    def office(self, days_ago: int) -> datetime:
        """A moment in office hours (09:00-17:59) that day."""
        return self.moment(days_ago, self.rng.randint(9, 17), self.rng.randint(0, 59))

    def at(self, when: datetime, step: Callable, *args: Any) -> None:
        self.events.append((when, len(self.events), step, args))

    def on(self, days_ago: int, step: Callable, *args: Any) -> None:
        self.at(self.office(days_ago), step, *args)

    # ---- the whole story

    def plan(self) -> None:
        for partner in PARTNERS:
            self.plan_partner(partner)
        self.plan_direct()
        self.plan_fates()
        self.plan_wind_down(_partner("old-mill-systems"), _partner("northwind-it"))
        self.plan_approvals()
        self.plan_sessions()
        self.plan_cron()

    def run(self) -> None:
        for when, _, step, args in sorted(self.events, key=lambda e: e[:2]):
            with clock.frozen(when):
                step(*args)

    def plan_partner(self, partner: Partner) -> None:
        self.at(self.moment(partner.founded, 9, 30), self.found, partner)
        # an import every three weeks, every week in the last month (the trials people see)
        ages = list(range(partner.founded - 5, WIND_DOWN + 44 if partner.winds_down else 29,
                          -21))
        weeks = [] if partner.winds_down else [self.rng.randint(low, low + 5)
                                               for low in (22, 15, 8, 1)]
        # new clients a day, growing; the first import brings the book it had (a third)
        intake = [(1 + (partner.founded - age) / 100) * days
                  for days, cohort in ((21, ages[1:]), (7, weeks)) for age in cohort]
        ages += weeks
        picks = self.rng.choices(range(len(ages)), weights=[sum(intake) / 2, *intake],
                                 k=partner.size)
        numbers = itertools.count(1)
        for index, age in enumerate(ages):
            cohort = [self.new_client(partner, age, next(numbers))
                      for _ in range(picks.count(index))]
            if cohort:
                self.at(self.moment(age, 8, self.rng.randint(0, 59)), self.import_cohort,
                        partner, cohort)
        for month_day in self.month_days(partner.founded - 1, 25):
            self.at(self.moment(month_day, 10), self.monthly_top_up, partner)

    def plan_direct(self) -> None:
        numbers = itertools.count(1)
        for age, fates in zip(DIRECT_COHORTS, (DIRECT_FATES[:5], DIRECT_FATES[5:]),
                              strict=True):
            cohort = [self.new_client(None, age, next(numbers), fate) for fate in fates]
            self.at(self.moment(age, 8, 15), self.import_cohort, None, cohort)

    def month_days(self, first: int, day_of_month: int) -> list[int]:
        """Days ago of every `day_of_month` from `first` days ago until yesterday."""
        return [n for n in range(first, 0, -1)
                if (self.today - timedelta(days=n)).day == day_of_month]

    def new_client(self, partner: Partner | None, age: int, number: int,
                   fate: str | None = None) -> Client:
        rng = self.rng
        first, last = rng.choice(FIRST), rng.choice(LAST)
        name = next(self.names)
        seats = _seats(rng)
        fields = {"name": name, "owner_name": f"{first} {last}",
                  "owner_email": f"{first}.{last}@{_dns(name)}.example".lower(),
                  "owner_phone": f"+1 {rng.randint(201, 989)} 555 01{rng.randint(0, 99):02d}",
                  "location": rng.choice(partner.cities if partner else DIRECT_CITIES),
                  "seats": str(seats), "plan": self.commercial_plan(seats),
                  "external_id": f"{partner.prefix if partner else 'VD'}-{number:04d}"}
        if partner and partner.partner:
            fields["support_access"] = "true" if rng.random() < 0.45 else "false"
        client = Client(fields["external_id"], partner, age, fields, fate or "")
        self.clients.append(client)
        return client

    def commercial_plan(self, seats: int) -> str:
        """A custom contract for the big clients (and some mid-sized), else a catalog plan;
        a client converting on monthly terms needs a plan that offers them."""
        custom = [p["code"] for p in self.plans if p["custom"]]
        priced = [p["code"] for p in self.plans if not p["custom"]]
        priced = [c for c in priced if "monthly" in self.plan_named(c)["intervals"]] \
            or priced or custom
        if custom and (seats >= 60 or (seats >= 25 and self.rng.random() < 0.3)):
            return custom[0]
        return self.rng.choice(priced)

    def plan_named(self, code: str) -> dict:
        return next(p for p in self.plans if p["code"] == code)

    # ---- fates

    def plan_fates(self) -> None:
        for client in self.clients:
            if not client.fate:
                client.fate = self.pick_fate(client)
        self.cover_every_fate()
        for client in self.clients:
            client.fields["stage"] = client.stage = self.start_stage(client)
            if client.fate in PROSPECTS:  # no seats yet: a prospect's size is a guess
                client.fields["seats"] = "0"
            getattr(self, "fate_" + client.fate)(client)

    def pick_fate(self, client: Client) -> str:
        if client.partner and client.partner.winds_down:
            return self.rng.choices(("active", "lead", "lost"), weights=(70, 15, 15))[0]
        age = client.age
        group = IN_TRIAL if age <= self.trial_days - 2 else RECENT if age < 60 else SETTLED
        fitting = {fate: w for fate, w in group.items() if self.fits(fate, age)}
        return self.rng.choices(list(fitting), weights=list(fitting.values()))[0]

    def fits(self, fate: str, age: int) -> bool:
        """Whether a client imported `age` days ago can have lived this fate by now. A trial
        keeps two days from its end either way, so that the time of day never matters."""
        if fate in ("trial", "pending"):
            return FATE_AGES[fate] <= age <= self.trial_days - 2
        if fate == "stale_trial":
            return self.trial_days + 2 <= age <= 90
        return age >= FATE_AGES[fate]

    def cover_every_fate(self) -> None:
        """Make up the fates the dice gave too few clients (MINIMUM, else one) from the
        active clients that fit them, in the order they were planned."""
        for fate in FATE_AGES:
            short = MINIMUM.get(fate, 1) - sum(c.fate == fate for c in self.clients)
            spare = [c for c in self.clients if c.fate == "active" and c.partner
                     and not c.partner.winds_down and self.fits(fate, c.age)]
            for client in spare[:max(short, 0)]:
                client.fate = fate

    def start_stage(self, client: Client) -> str:
        fate, coin = client.fate, self.rng.random()
        if fate in ("trial", "pending", "stale_trial"):
            return "trial"
        if fate in ("lead", "deleted"):
            return "lead"
        if fate in ("demo", "lost"):
            return "demo" if coin < 0.5 else "lead"
        return "trial" if coin < 0.65 else "demo"

    def later(self, client: Client, day: int) -> int | None:
        """Days ago of the client's `day`th day (None: not yet, it would be today or later)."""
        return client.age - day if client.age - day >= 1 else None

    def usage_on(self, client: Client, day: int, kind: str = "normal") -> None:
        when = self.later(client, day)
        if when is not None:
            self.on(when, self.usage, client, _used(self.rng, client.seats, kind))

    def convert(self, client: Client, monthly: bool = False) -> int:
        """Plan the subscription that converts it; returns the day it is activated."""
        longest = client.age - 1
        if client.stage == "trial":
            day = self.rng.randint(3, max(3, min(self.trial_days - 2, 20, longest)))
        else:
            day = self.rng.randint(2, max(2, min(20, longest)))
        self.on(client.age - day, self.subscribe, client, self.terms(client, monthly))
        return day

    def terms(self, client: Client, monthly: bool = False) -> Terms:
        """Its commercial plan, at an interval it offers; the first old enough clients
        take every plan and interval of the catalog in turn (the sample shows them all)."""
        rng = self.rng
        if not monthly and self.combos_left and client.age >= 100 and client.partner:
            client.fields["plan"], interval = self.combos_left.pop(0)
        else:
            offered = _offered(self.plan_named(client.fields["plan"]))
            offered = [i for i in offered if i == "monthly" or not monthly] or offered
            interval = rng.choices(offered, weights=[INTERVAL_WEIGHTS[i] for i in offered])[0]
        plan = self.plan_named(client.fields["plan"])
        unit = _custom_unit(rng, interval) if plan["custom"] else None
        return Terms(plan["code"], interval, client.seats, unit, rng.randint(5, 50))

    def fate_lead(self, client: Client) -> None:
        pass

    def fate_demo(self, client: Client) -> None:
        if client.stage == "lead":
            self.on(client.age - self.rng.randint(1, min(14, client.age - 1)), self.move,
                    client, "demo")

    def fate_trial(self, client: Client) -> None:
        if client.age >= 2 and self.rng.random() < 0.6:  # the others have not started yet
            self.usage_on(client, self.rng.randint(1, client.age - 1), "trial")

    def fate_stale_trial(self, client: Client) -> None:
        if self.rng.random() < 0.6:
            self.usage_on(client, self.rng.randint(1, 5), "trial")

    def fate_pending(self, client: Client) -> None:
        self.usage_on(client, 1, "trial")
        terms = self.terms(client)
        terms.pending = True
        self.on(client.age - self.rng.randint(2, client.age - 1), self.subscribe, client, terms)

    def subscribed(self, client: Client, monthly: bool = False) -> int:
        """Converts it (a subscription activated) and plans its first usage report;
        returns the day it converts."""
        day = self.convert(client, monthly)
        self.usage_on(client, day + self.rng.randint(3, 10))
        return day

    def lapse(self, client: Client, room: int) -> int:
        """Subscribes it monthly; at least `room` days before today it gives notice (at
        risk, auto-renew off), so it lapses at its period's end. Returns that day."""
        day = self.subscribed(client, monthly=True)
        notice = self.rng.randint(day + 30, client.age - room)
        self.on(client.age - notice, self.at_risk, client,
                _used(self.rng, client.seats, "low"), self.stop_renewing)
        return notice

    def fate_active(self, client: Client) -> None:
        day = self.subscribed(client)
        room = client.age - 1 - (day + 30)
        if room > 10 and self.rng.random() < 0.12 and not _closing(client):
            self.on(client.age - day - 30 - self.rng.randint(0, room), self.expand, client,
                    client.seats + max(1, round(client.seats * self.rng.uniform(0.2, 0.5))))

    def fate_at_risk(self, client: Client, then: Callable | None = None) -> None:
        day = self.subscribed(client)
        risk = self.rng.randint(day + 25, client.age - 1)
        self.on(client.age - risk, self.at_risk, client,
                _used(self.rng, client.seats, "low"), then)

    def fate_at_risk_paused(self, client: Client) -> None:
        self.fate_at_risk(client, self.pause)

    def fate_at_risk_expiring(self, client: Client) -> None:
        self.fate_at_risk(client, self.stop_renewing)

    def fate_churned(self, client: Client) -> None:
        day = self.subscribed(client)
        end = self.rng.randint(day + 30, client.age - 3)
        self.on(client.age - end, self.cancel, client)
        if self.rng.random() < 0.75:
            self.on(client.age - end - 2, self.deactivate, client)

    def fate_churned_expired(self, client: Client) -> None:
        """Lapses, then churns (deactivated) once its last period has ended."""
        notice = self.lapse(client, 60)
        self.on(client.age - notice - 58, self.churn, client)

    def fate_returned(self, client: Client) -> None:
        """Lapses, then comes back: renewed from that day."""
        notice = self.lapse(client, 75)
        self.on(client.age - notice - 58 - self.rng.randint(0, 14), self.come_back, client)

    def fate_lost(self, client: Client) -> None:
        day = self.rng.randint(5, min(40, client.age - 1))
        self.on(client.age - day, self.move, client, "churned")
        gone = self.later(client, day + self.rng.randint(1, 7))
        if gone is not None and self.rng.random() < 0.5:
            self.on(gone, self.deactivate, client)

    def fate_deleted(self, client: Client) -> None:
        self.on(client.age - self.rng.randint(1, min(10, client.age - 1)), self.delete, client)

    # ---- scenarios across clients

    def pick(self, test: Callable[[Client], bool]) -> Client:
        """The first client (in a shuffled order) that passes `test` and is not taken."""
        order = sorted(self.clients, key=lambda c: c.key)
        self.rng.shuffle(order)
        client = next(c for c in order if c.key not in self.used and test(c))
        self.used.add(client.key)
        return client

    def of(self, slug: str | None, fates: tuple[str, ...], older: int) -> Callable:
        return lambda c: ((c.partner.slug if c.partner else None) == slug
                          and c.fate in fates and c.age > older)

    def plan_wind_down(self, closing: Partner, heir: Partner) -> None:
        """The owner of Old Mill retires: Northwind takes over up to four of its biggest
        active clients (approved by their admins), the others close, then the reseller."""
        kept = sorted((c for c in self.clients if c.partner is closing and c.fate == "active"),
                      key=lambda c: (-c.seats, c.key))[:4]
        for client in kept:
            self.used.add(client.key)
            self.at(self.moment(WIND_DOWN, 10), self.ask, client, heir, "14d")
            self.on(WIND_DOWN - 1, self.decide, client, True)
        self.at(self.moment(WIND_DOWN - 3, 11), self.close_out, closing)
        self.at(self.moment(WIND_DOWN - 5, 10), self.close, closing)

    def plan_approvals(self) -> None:
        """One approval in each state: approved, rejected, revoked, expired, pending."""
        direct = self.of(None, ("lead", "demo"), 45)
        stories = (  # (which client, who asks, days ago, then)
            (direct, "bluepeak", 40, "accept"),
            (self.of("cedar-cloud", ("active",), 25), "lumen-networks", 20, "reject"),
            (direct, "harbor-digital", 12, "revoke"),
            (direct, "cedar-cloud", 30, "nothing"),  # it expires unanswered
            (direct, "lumen-networks", 2, "nothing"),  # pending
            (self.of("harbor-digital", ("active",), 3), "northwind-it", 1, "nothing"))
        for test, slug, day, then in stories:
            client, asker = self.pick(test), _partner(slug)
            self.at(self.moment(day, 10, 5), self.ask, client, asker, "7d")
            if then == "revoke":
                self.at(self.moment(day, 14, 20), self.revoke, client, asker)
            elif then != "nothing":
                self.on(day - 1, self.decide, client, then == "accept")

    def plan_sessions(self) -> None:
        """Support sessions in each state: redeemed, ended, expired, active."""
        for number, (day, outcome) in enumerate(SESSIONS):
            client = self.pick(lambda c, day=day: (c.partner is not None and c.partner.partner
                                                   and c.fate == "active" and c.age > day + 30
                                                   and c.fields.get("support_access") == "true"))
            reason = SUPPORT_REASONS[number % len(SUPPORT_REASONS)]
            when = (self.now - timedelta(minutes=40 - 30 * (number % 2)) if day == 0
                    else self.office(day))
            self.at(when, self.open_session, client, reason, outcome)

    def plan_cron(self) -> None:
        """The daily sweep (02:00), a monthly snapshot (23:55) and today's, at the end."""
        for day in range(max(p.founded for p in PARTNERS), 0, -1):
            self.at(self.moment(day, 2), self.sweep)
        for day in ANCHORS:
            self.at(self.moment(day, 23, 55), self.snapshot)
        for slug, amount, day, reason in (
                ("northwind-it", 15_000, 64, "Service credit: three-hour outage"),
                ("harbor-digital", -4_000, 37, "Bank charge on a returned transfer")):
            self.at(self.moment(day, 16, 10), self.adjust, _partner(slug), amount, reason)
        last = max(self.now - timedelta(minutes=1), self.moment(0, 0))
        self.at(max(self.now - timedelta(minutes=50), self.moment(0, 0)), self.sweep)
        self.at(last, self.snapshot)

    # ---------------------------------------------------------------- the steps

    def found(self, partner: Partner) -> None:
        admin = self.ctx(self.admin)
        for key in (partner.owner, *(key for key, _ in partner.members)):
            self.person(key)
        resellers.create(admin, partner.slug, partner.name, partner.owner_email,
                         licenses=partner.pool, partner_supported=partner.partner)
        owner = self.ctx(partner.owner_email)
        for key, role in partner.members:
            resellers.member_add(owner, partner.slug, PEOPLE[key][0], role)
        if partner.branding:
            resellers.branding_set(owner, partner.slug, dict(partner.branding))
        resellers.top_up(admin, partner.slug, _rounded(partner.size * 6_000),
                         reference=f"Opening deposit {partner.prefix}-{clock.today():%Y%m}")

    def person(self, key: str) -> None:
        email, name = PEOPLE[key]
        if email not in self.people:
            users.create_user(self.ctx(self.admin), email, name=name)
            self.people.add(email)

    def import_cohort(self, partner: Partner | None, cohort: list[Client]) -> None:
        slug = partner.slug if partner else None
        if partner:
            self.ensure_licences(partner, len(cohort))
        ctx = self.ctx(partner.owner_email if partner else self.admin)
        rows = [(number, client.fields) for number, client in enumerate(cohort, start=2)]
        source = f"crm-export-{clock.today()}.csv"
        done = importer.import_clients(ctx, [importer.RecordBlock(rows)], slug,
                                       importer.Options(source=source))
        uids = dict(self.conn.execute(select(CLIENT.c.external_id, CLIENT.c.uid)
                                      .where(CLIENT.c.import_id == done["import_id"])).all())
        for client in cohort:
            client.uid = uids[client.key]

    def pool(self, partner: Partner) -> Any:
        """Its licence pool and balance, read (licences.show and balance show, without
        their checks of who may look: the sample's writes check that)."""
        return self.conn.execute(
            select(RESELLER.c.license_count - RESELLER.c.license_used,
                   RESELLER.c.balance_cents).where(RESELLER.c.slug == partner.slug)).one()

    def ensure_licences(self, partner: Partner, needed: int) -> None:
        """Buy a round lot of licences when the pool has too few free."""
        owner = self.ctx(partner.owner_email)
        free = self.pool(partner)[0]
        if free >= needed:
            return
        lot = next((n for n in (10, 25, 50, 100) if n >= needed - free + 3),
                   math.ceil((needed - free) / 50) * 50)
        self.ensure_funds(partner, licenses.quote(owner, lot)["total_cents"])
        licenses.purchase(owner, partner.slug, lot)

    def ensure_funds(self, partner: Partner, amount: int, reference: str = "Card payment"
                     ) -> None:
        balance = self.pool(partner)[1]
        if balance < amount:
            resellers.top_up(self.ctx(self.admin), partner.slug,
                             _rounded(amount - balance + CUSHION), reference=reference)

    def monthly_top_up(self, partner: Partner) -> None:
        """The reseller's monthly transfer: what renews in the month to come (each renews
        once by then), what it spent on new activations last month, and a cushion."""
        if partner.winds_down and clock.today() >= self.today - timedelta(days=WIND_DOWN):
            return
        due = self.renewals_due(subscriptions.add_months(clock.today(), 1))
        spent = self.conn.execute(
            select(func.coalesce(func.sum(LEDGER.c.amount_cents), 0))
            .join(RESELLER, RESELLER.c.id == LEDGER.c.reseller_id)
            .where(RESELLER.c.slug == partner.slug, LEDGER.c.kind == "activation",
                   LEDGER.c.created_at > clock.now() - timedelta(days=30))).scalar_one()
        wanted = due.get(partner.slug, (0, 0))[0] * 11 // 10 - spent + CUSHION
        self.ensure_funds(partner, wanted,
                          reference=f"Wire transfer {partner.prefix}-{clock.today():%Y%m}")

    def renewals_due(self, until: date, every: bool = False) -> dict:
        """{reseller slug: (the renewals due by `until`, one period each; its balance)};
        `every`: also what expires then, and direct clients' (slug None)."""
        price = (func.coalesce(SUB.c.next_quantity, SUB.c.quantity)
                 * func.coalesce(SUB.c.next_unit_cents, SUB.c.unit_cents))
        query = (select(RESELLER.c.slug, func.sum(case((SUB.c.auto_renew, price), else_=0)),
                        RESELLER.c.balance_cents)
                 .select_from(SUB.outerjoin(RESELLER, RESELLER.c.id == SUB.c.reseller_id))
                 .where(SUB.c.status == "active", SUB.c.current_period_end <= until)
                 .group_by(RESELLER.c.slug, RESELLER.c.balance_cents))
        if not every:
            query = query.where(SUB.c.auto_renew.is_(True), SUB.c.reseller_id.is_not(None))
        return {slug: (int(due), balance) for slug, due, balance in self.conn.execute(query)}

    def sweep(self) -> None:
        """Cron's sweep, when anything is due; a reseller short of a renewal tops up first
        (the rare day the monthly transfer fell short)."""
        due = self.renewals_due(clock.today(), every=True)
        if not due:
            return
        for slug, (amount, balance) in due.items():
            if slug is not None and balance < amount:
                self.ensure_funds(_partner(slug), amount, reference="Automatic top-up")
        subscriptions.sweep(self.ctx(self.admin))

    def snapshot(self) -> None:
        reports.snapshot(self.ctx(self.admin), clock.today())

    def adjust(self, partner: Partner, amount: int, reason: str) -> None:
        resellers.adjust(self.ctx(self.admin), partner.slug, amount, reason)

    def close(self, partner: Partner) -> None:
        """Pay back what is left on the balance, then deactivate the reseller."""
        admin = self.ctx(self.admin)
        left = resellers.balance_show(admin, partner.slug)["balance_cents"]
        if left:
            resellers.adjust(admin, partner.slug, -left, "Balance paid back on closing")
        resellers.set_active(admin, partner.slug, False)

    def subscribe(self, client: Client, terms: Terms) -> None:
        ctx = self.actor(client)
        created = subscriptions.create(ctx, client.uid, terms.plan, terms.quantity,
                                       interval=terms.interval, unit_cents=terms.unit_cents)
        client.sub = created["id"]
        if terms.pending:
            return
        if client.partner:
            self.ensure_funds(client.partner, created["period_cents"])
        with clock.frozen(clock.now() + timedelta(minutes=terms.delay)):
            subscriptions.activate(ctx, client.sub)
        client.stage = "active"

    def usage(self, client: Client, seats_used: int) -> None:
        clients.usage(self.actor(client), client.uid, seats_used)

    def move(self, client: Client, stage: str) -> None:
        clients.edit(self.actor(client), client.uid, {"stage": stage})
        client.stage = stage

    def at_risk(self, client: Client, seats_used: int, then: Callable | None) -> None:
        self.move(client, "at_risk")
        self.usage(client, seats_used)
        if then is not None:
            then(client)

    def pause(self, client: Client) -> None:
        subscriptions.pause(self.actor(client), client.sub)

    def stop_renewing(self, client: Client) -> None:
        subscriptions.edit(self.actor(client), client.sub, auto_renew=False)

    def expand(self, client: Client, seats: int) -> None:
        """More seats: allocated now, billed from the next renewal."""
        clients.edit(self.actor(client), client.uid, {"seats": seats})
        subscriptions.edit(self.actor(client), client.sub, quantity=seats)

    def cancel(self, client: Client) -> None:
        subscriptions.cancel(self.actor(client), client.sub)
        self.move(client, "churned")

    def churn(self, client: Client) -> None:
        self.move(client, "churned")
        self.deactivate(client)

    def come_back(self, client: Client) -> None:
        ctx = self.actor(client)
        if client.partner:
            price = subscriptions.show(ctx, client.sub)["next_period_cents"]
            self.ensure_funds(client.partner, price)
        subscriptions.renew(ctx, client.sub)
        subscriptions.edit(ctx, client.sub, auto_renew=True)
        self.move(client, "active")

    def deactivate(self, client: Client) -> None:
        clients.set_status(self.actor(client), client.uid, False)
        client.active = False

    def delete(self, client: Client) -> None:
        clients.delete(self.actor(client), client.uid)
        client.active = False

    def close_out(self, partner: Partner) -> None:
        """Cancel what the closing reseller's remaining clients still run, then close them."""
        for client in (c for c in self.clients if c.partner is partner and c.active):
            ctx = self.actor(client)
            if client.sub and subscriptions.show(ctx, client.sub)["status"] in (
                    "pending", "active", "paused"):
                subscriptions.cancel(ctx, client.sub)
            if client.stage != "churned":
                self.move(client, "churned")
            self.deactivate(client)

    def ask(self, client: Client, asker: Partner, expires_in: str) -> None:
        created = approvals.create(self.ctx(asker.owner_email), client.uid, asker.slug,
                                   expires_in)
        client.link = created["url"]
        self.asked[client.key] = (asker, created["id"])

    def decide(self, client: Client, accept: bool) -> None:
        asker = self.asked[client.key][0]
        if accept:
            self.ensure_licences(asker, 1)
        approvals.decide(self.ctx(self.admin), client.link, client.fields["owner_email"], accept)
        if accept:
            client.partner = asker

    def revoke(self, client: Client, asker: Partner) -> None:
        approvals.revoke(self.ctx(asker.owner_email), self.asked[client.key][1])

    def open_session(self, client: Client, reason: str, outcome: str) -> None:
        ttl = "30m" if outcome != "active" else durations.render(
            min(timedelta(hours=4), self.max_ttl))
        opener = self.ctx(client.partner.member("support"))
        opened = support.open_session(opener, client.uid, reason, ttl)
        if outcome in ("redeemed", "ended"):
            with clock.frozen(clock.now() + timedelta(minutes=3)):
                support.redeem(opener, opened["url"])
        if outcome in ("ended", "unused"):
            with clock.frozen(clock.now() + timedelta(minutes=25)):
                support.end(opener, opened["id"])

    # ---------------------------------------------------------------- snapshots

    def fill_snapshots(self) -> None:
        """The days between the real snapshots, interpolated (one executemany): counts
        grow on weekdays and stay flat at weekends, used seats with a little noise; the
        licence pool and the balance are what they were that evening."""
        real: dict[int, list] = {}
        for row in self.conn.execute(select(SNAPSHOT).order_by(SNAPSHOT.c.day)):
            real.setdefault(row.reseller_id, []).append(row)
        balances = self.evenings(LEDGER.c.balance_after_cents, LEDGER, last=True)
        bought = self.evenings(PURCHASE.c.quantity, PURCHASE, last=False)
        rows = [row for rid, points in sorted(real.items())
                for first, last in itertools.pairwise(points)
                for row in self.between(first, last, balances.get(rid, {}),
                                        bought.get(rid, {}))]
        if rows:
            self.conn.execute(insert(SNAPSHOT), rows)

    def evenings(self, column: Any, table: Any, *, last: bool) -> dict[int, dict[date, int]]:
        """Per reseller and day: the value of its last row that day (`last`), or their sum."""
        found: dict[int, dict[date, int]] = {}
        for rid, at, value in self.conn.execute(
                select(table.c.reseller_id, table.c.created_at, column).order_by(table.c.id)):
            days = found.setdefault(rid, {})
            days[at.date()] = value if last else days.get(at.date(), 0) + value
        return found

    def between(self, first: Any, last: Any, balances: dict[date, int],
                bought: dict[date, int]) -> list[dict]:
        days = [first.day + timedelta(days=n) for n in range(1, (last.day - first.day).days)]
        steps = list(itertools.accumulate(
            self.rng.uniform(0.6, 1.4) if d.weekday() < 5 else 0.05 for d in [*days, last.day]))
        balance = _carried(balances, first.day)
        rows, used = [], first.seats_used
        for day, step in zip(days, steps[:-1], strict=True):
            row = {key: round(getattr(first, key) + (getattr(last, key) - getattr(first, key))
                              * step / steps[-1]) for key in SMOOTH}
            if day.weekday() < 5:
                used = round(row["seats_used"] * self.rng.uniform(0.97, 1.03))
            balance = balances.get(day, balance)
            count = last.license_count - sum(q for d, q in bought.items() if day < d <= last.day)
            row.update(seats_used=used, license_count=count,
                       license_used=min(row["license_used"], count), balance_cents=balance,
                       reseller_id=first.reseller_id, day=day,
                       recorded_at=datetime.combine(day, time(23, 55), tzinfo=UTC))
            rows.append(row)
        return rows


# ---------------------------------------------------------------- small helpers


def _partner(slug: str) -> Partner:
    return next(p for p in PARTNERS if p.slug == slug)


def _offered(plan: dict) -> list[str]:
    """The intervals a plan offers: those it prices; a custom plan offers them all."""
    return list(catalog.INTERVALS) if plan["custom"] else plan["intervals"]


def _dns(name: str) -> str:
    """`Brewing Co.` -> `brewing-co`."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _seats(rng: random.Random) -> int:
    low, high = rng.choices(((2, 9), (10, 25), (26, 60), (61, 120)),
                            weights=(50, 35, 12, 3))[0]
    return rng.randint(low, high)


def _used(rng: random.Random, seats: int, kind: str) -> int:
    """Seats in use: most clients use most of theirs, about one in eight more than it has;
    a client in trial tries some, one at risk has stopped using most."""
    if kind == "trial":
        return round(seats * rng.uniform(0.2, 0.7))
    if kind == "low":
        return round(seats * rng.uniform(0.1, 0.4))
    if rng.random() < 0.12:
        return seats + max(1, round(seats * rng.uniform(0.05, 0.3)))
    return round(seats * rng.uniform(0.55, 0.98))


def _custom_unit(rng: random.Random, interval: str) -> int:
    """A negotiated price per seat and period: $10.50-$13.50 a month, less for longer."""
    monthly = rng.randrange(1050, 1351, 50)
    months = catalog.INTERVALS[interval]
    return round(monthly * months * (100 - CUSTOM_DISCOUNT[interval]) / 100 / 50) * 50


def _carried(values: dict[date, int], day: date) -> int:
    """The value of the last day up to `day` that has one (0 before the first)."""
    known = sorted(d for d in values if d <= day)
    return values[known[-1]] if known else 0


def _rounded(cents: int) -> int:
    """Up to a round amount ($500.00 steps), at least one step."""
    return max(ROUND_TO, math.ceil(cents / ROUND_TO) * ROUND_TO)




def _closing(client: Client) -> bool:
    """Whether its reseller winds down (its story must end before that)."""
    return client.partner is not None and client.partner.winds_down
