"""`client create/list/show/edit/usage/deactivate/reactivate/delete` (CLI.md, RULES.md).

Every test runs on SQLite and PostgreSQL (the `run` fixture is parametrised).
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from helpers import ok

ADMIN = "admin@vendor.example"
ANA = "ana@acme.example"  # owner (admin) of acme
VIC = "vic@acme.example"  # viewer of acme
SUE = "sue@acme.example"  # support member of acme
ZED = "zed@beta.example"  # owner of beta
NOW = "2026-01-01T00:00:00Z"
FIELDS = ["uid", "reseller", "name", "location", "owner_name", "owner_email", "owner_phone",
          "stage", "status", "billing_status", "plan", "seats_allocated", "seats_used",
          "support_type", "support_access", "trial_ends_at", "external_id", "created_at",
          "updated_at"]
# RULES.md, Clients: the allowed stage moves, written out here rather than imported.
MOVES = {
    "lead": ("demo", "trial", "active", "churned"),
    "demo": ("lead", "trial", "active", "churned"),
    "trial": ("active", "at_risk", "churned"),
    "active": ("at_risk", "churned"),
    "at_risk": ("active", "churned"),
    "churned": ("lead", "trial"),
}


# ---------------------------------------------------------------- helpers



def fails(result, code: int, *fragments: str) -> str:  # noqa: ANN001
    """A failure: the exit code, nothing on stdout, and on stderr `Error: ...` or, with
    `-o json`, the error object. Returns the message."""
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    if result.stderr.startswith("{"):
        error = json.loads(result.stderr)["error"]
        assert error["exit_code"] == code and error["code"], error
        message = error["message"]
    else:
        assert result.stderr.startswith("Error: "), result.stderr
        message = result.stderr.splitlines()[0][len("Error: "):]
    for fragment in fragments:
        assert fragment in message, message
    return message


def create(run, *args: str, reseller: str | None = "acme", name: str = "Bakery",  # noqa: ANN001, ANN201
           email: str = "li@bakery.example", actor: str = "default",
           env: dict | None = None):
    where = ["--reseller", reseller] if reseller else []
    return run("client", "create", *where, "--name", name, "--owner-name", "Li Wei",
               "--owner-email", email, *args, "-o", "json", actor=actor, env=env)


def edit(run, uid: str, *args: str, actor: str = "default", env: dict | None = None):  # noqa: ANN001, ANN201
    return run("client", "edit", uid, *args, "-o", "json", actor=actor, env=env)


def show(run, uid: str) -> dict:  # noqa: ANN001
    return ok(run("client", "show", uid, "-o", "json"))


def names(run, *args: str, actor: str = "default") -> list[str]:  # noqa: ANN001
    return [c["name"] for c in ok(run("client", "list", *args, "-o", "json", actor=actor))]


def pool(run, slug: str = "acme") -> tuple[int, int, int]:  # noqa: ANN001
    data = ok(run("license", "show", slug, "-o", "json"))
    return data["license_count"], data["license_used"], data["license_available"]


def events(run, prefix: str = "client.") -> list[dict]:  # noqa: ANN001
    """Audit events with this action prefix, oldest first."""
    return list(reversed(ok(run("audit", "list", "--action", prefix, "-o", "json"))))


def users(run, *emails: str) -> None:  # noqa: ANN001
    for email in emails:
        ok(run("user", "create", email, "-o", "json"))


def reseller(run, slug: str, owner: str, licenses: int, *flags: str) -> None:  # noqa: ANN001
    ok(run("reseller", "create", "--slug", slug, "--name", slug.title(), "--owner", owner,
           "--licenses", str(licenses), *flags, "-o", "json"))


@pytest.fixture
def acme(run):  # noqa: ANN001, ANN201
    """Partner-supported reseller `acme` (ana, 5 licences)."""
    users(run, ANA)
    reseller(run, "acme", ANA, 5, "--partner-supported")
    return run


@pytest.fixture
def two(acme):  # noqa: ANN001, ANN201
    """acme as above, and `beta` (zed, 5 licences, not partner-supported)."""
    users(acme, ZED)
    reseller(acme, "beta", ZED, 5)
    return acme


# ---------------------------------------------------------------- create / show

def test_create_prints_every_spec_field_and_takes_a_licence(acme) -> None:  # noqa: ANN001
    created = ok(create(acme, "--location", "Lisbon, PT", "--owner-phone", "+351 21 000 0000",
                        "--stage", "demo", "--plan", "business-location", "--seats", "12",
                        "--external-id", "CRM-7", name="  Bakery Ltd ",
                        email="Li@Bakery.Example", env={"RESELLCTL_NOW": NOW}))
    assert list(created)[:len(FIELDS)] == FIELDS
    uid = created["uid"]
    assert uid.startswith("cl_") and len(uid) > 8
    assert {k: created[k] for k in FIELDS} == {
        "uid": uid, "reseller": "acme", "name": "Bakery Ltd", "location": "Lisbon, PT",
        "owner_name": "Li Wei", "owner_email": "li@bakery.example",
        "owner_phone": "+351 21 000 0000", "stage": "demo", "status": "active",
        "billing_status": "none", "plan": "business-location", "seats_allocated": 12,
        "seats_used": 0, "support_type": "partner", "support_access": False,
        "trial_ends_at": None, "external_id": "CRM-7", "created_at": NOW, "updated_at": NOW}
    shown = show(acme, uid)
    assert {k: shown[k] for k in FIELDS} == {k: created[k] for k in FIELDS}
    assert [{k: c[k] for k in FIELDS} for c in ok(acme("client", "list", "-o", "json"))] == [
        {k: created[k] for k in FIELDS}]
    assert pool(acme) == (5, 1, 4)
    assert ok(acme("reseller", "show", "acme", "-o", "json"))["client_count"] == 1
    [event] = events(acme)
    assert (event["action"], event["actor"], event["reseller"]) == ("client.create", ADMIN,
                                                                     "acme")
    assert (event["entity_type"], event["entity_id"]) == ("client", uid)
    assert event["at"] == NOW
    assert event["changes"]["after"]["name"] == "Bakery Ltd"
    assert event["changes"]["after"]["external_id"] == "CRM-7"


def test_show_of_an_unknown_client_is_not_found(acme) -> None:  # noqa: ANN001
    fails(acme("client", "show", "cl_doesnotexist"), 3, "cl_doesnotexist")
    fails(edit(acme, "cl_doesnotexist", "--name", "X"), 3)


def test_errors_go_to_stderr_as_text_or_a_json_object(run) -> None:  # noqa: ANN001
    users(run, ANA)
    reseller(run, "acme", ANA, 0)
    result = create(run)
    assert result.exit_code == 7 and result.stdout == ""
    error = json.loads(result.stderr)["error"]
    assert error["exit_code"] == 7
    assert error["code"] == "no_free_license"
    assert "licence" in error["message"] and error["hint"]
    text = run("client", "create", "--reseller", "acme", "--name", "Bakery", "--owner-name",
               "Li", "--owner-email", "li@bakery.example")
    assert text.exit_code == 7 and text.stdout == ""
    lines = text.stderr.splitlines()
    assert lines[0].startswith("Error: ") and "licence" in lines[0]
    assert lines[-1].startswith("Hint: ")
    assert ok(run("reseller", "show", "acme", "-o", "json"))["client_count"] == 0


# ---------------------------------------------------------------- licences

def test_licence_accounting_through_every_path(run) -> None:  # noqa: ANN001
    users(run, ANA)
    reseller(run, "acme", ANA, 2)
    first = ok(create(run, name="First"))["uid"]
    second = ok(create(run, name="Second"))["uid"]
    assert pool(run) == (2, 2, 0)

    # no free licence: exit 7, nothing written
    fails(create(run, name="Third"), 7, "licence")
    assert names(run, "--include-deleted") == ["First", "Second"]
    assert pool(run) == (2, 2, 0)
    assert [e["action"] for e in events(run)] == ["client.create", "client.create"]

    assert ok(run("client", "deactivate", first, "-o", "json"))["status"] == "deactivated"
    assert pool(run) == (2, 1, 1)
    fails(run("client", "deactivate", first, "-o", "json"), 4, "already")
    assert pool(run) == (2, 1, 1)
    third = ok(create(run, name="Third"))["uid"]
    assert pool(run) == (2, 2, 0)

    # reactivating takes a licence: none free -> 7, still deactivated
    fails(run("client", "reactivate", first, "-o", "json"), 7)
    assert show(run, first)["status"] == "deactivated"
    assert pool(run) == (2, 2, 0)

    ok(run("client", "delete", second, "-y", "-o", "json"))
    assert pool(run) == (2, 1, 1)
    assert ok(run("client", "reactivate", first, "-o", "json"))["status"] == "active"
    assert pool(run) == (2, 2, 0)
    fails(run("client", "reactivate", first, "-o", "json"), 4, "already")

    # deleting a deactivated client gives nothing back twice
    ok(run("client", "deactivate", third, "-o", "json"))
    assert pool(run) == (2, 1, 1)
    ok(run("client", "delete", third, "-y", "-o", "json"))
    assert pool(run) == (2, 1, 1)
    assert ok(run("license", "reconcile", "-o", "json"))["resellers"] == []
    assert [e["action"] for e in events(run)] == [
        "client.create", "client.create", "client.deactivate", "client.create",
        "client.delete", "client.reactivate", "client.deactivate", "client.delete"]


def test_an_inactive_reseller_creates_and_reactivates_no_client(acme) -> None:  # noqa: ANN001
    uid = ok(create(acme))["uid"]
    ok(acme("reseller", "deactivate", "acme", "-o", "json"))
    fails(create(acme, name="Other"), 4, "inactive")
    assert names(acme, "--include-deleted") == ["Bakery"]
    # its existing clients keep working: they can be edited and deactivated
    assert ok(edit(acme, uid, "--seats", "3"))["seats_allocated"] == 3
    ok(acme("client", "deactivate", uid, "-o", "json"))
    assert pool(acme) == (5, 0, 5)
    fails(acme("client", "reactivate", uid, "-o", "json"), 4, "inactive")
    assert show(acme, uid)["status"] == "deactivated"
    assert pool(acme) == (5, 0, 5)


def test_direct_clients_are_for_super_admins_only(acme) -> None:  # noqa: ANN001
    direct = ok(create(acme, reseller=None, name="Direct Co"))
    assert direct["reseller"] is None and direct["support_type"] == "vendor"
    assert pool(acme) == (5, 0, 5)
    fails(create(acme, reseller=None, name="Sneaky", actor=ANA), 6)
    assert ok(create(acme, name="Via Acme", actor=ANA))["reseller"] == "acme"
    # the reseller admin does not see the direct client
    fails(acme("client", "show", direct["uid"], "-o", "json", actor=ANA), 3)
    assert names(acme, actor=ANA) == ["Via Acme"]
    assert names(acme) == ["Direct Co", "Via Acme"]
    [event] = [e for e in events(acme) if e["entity_id"] == direct["uid"]]
    assert event["action"] == "client.create" and event["reseller"] is None


# ---------------------------------------------------------------- stages

def test_new_clients_start_as_lead_demo_or_trial(acme) -> None:  # noqa: ANN001
    assert ok(create(acme, name="Default"))["stage"] == "lead"
    for stage in ("lead", "demo", "trial"):
        assert ok(create(acme, "--stage", stage, name=f"Start {stage}"))["stage"] == stage
    for stage in ("active", "at_risk", "churned", "prospect"):
        fails(create(acme, "--stage", stage, name=f"Start {stage}"), 5, stage)
    assert len(names(acme, "--include-deleted")) == 4
    assert pool(acme) == (5, 4, 1)


def test_every_allowed_stage_move_works(acme) -> None:  # noqa: ANN001
    uid = ok(create(acme))["uid"]
    todo = {(src, dst) for src, targets in MOVES.items() for dst in targets}
    assert len(todo) == 17
    stage = "lead"
    while todo:
        targets = sorted(dst for src, dst in todo if src == stage)
        if not targets:  # dead end: jump (forced) to a stage with moves left to try
            stage = sorted(src for src, _ in todo)[0]
            assert ok(edit(acme, uid, "--stage", stage, "--force"))["stage"] == stage
            continue
        moved = ok(edit(acme, uid, "--stage", targets[0]))
        assert moved["stage"] == targets[0], (stage, targets[0])
        todo.discard((stage, targets[0]))
        stage = targets[0]
    assert show(acme, uid)["stage"] == stage


@pytest.mark.parametrize("start", ["trial", "churned"])
def test_a_disallowed_move_exits_4_naming_the_allowed_moves(acme, start: str) -> None:  # noqa: ANN001
    uid = ok(create(acme, "--stage", "lead"))["uid"]
    ok(edit(acme, uid, "--stage", start))
    forbidden = [s for s in MOVES if s not in MOVES[start] and s != start]
    for target in forbidden:
        message = fails(edit(acme, uid, "--stage", target), 4)
        for allowed in MOVES[start]:
            assert allowed in message, message
    assert show(acme, uid)["stage"] == start
    fails(edit(acme, uid, "--stage", "prospect"), 5, "prospect")
    assert [e["action"] for e in events(acme)] == ["client.create", "client.edit"]


def test_force_is_for_super_admins(acme) -> None:  # noqa: ANN001
    uid = ok(create(acme, "--stage", "trial"))["uid"]
    fails(edit(acme, uid, "--stage", "lead", "--force", actor=ANA), 6)
    fails(edit(acme, uid, "--stage", "lead", actor=ANA), 4, "active, at_risk, churned")
    assert show(acme, uid)["stage"] == "trial"
    assert ok(edit(acme, uid, "--stage", "lead", "--force"))["stage"] == "lead"
    last = events(acme)[-1]
    assert last["action"] == "client.edit" and last["changes"]["forced"] is True
    assert last["changes"]["before"]["stage"] == "trial"
    assert last["changes"]["after"]["stage"] == "lead"


def test_entering_trial_sets_the_trial_end_unless_one_is_in_the_future(acme) -> None:  # noqa: ANN001
    at = {"RESELLCTL_NOW": NOW}
    trial = ok(create(acme, "--stage", "trial", env=at))
    assert trial["trial_ends_at"] == "2026-01-22T00:00:00Z"
    assert trial["billing_status"] == "trialing"
    assert ok(create(acme, name="Lead", env=at))["trial_ends_at"] is None

    ok(acme("settings", "set", "trial_days", "30", "-o", "json"))
    later = ok(create(acme, "--stage", "trial", name="Later", env=at))
    assert later["trial_ends_at"] == "2026-01-31T00:00:00Z"

    lead = ok(create(acme, name="Lead two", env=at))["uid"]
    moved = ok(edit(acme, lead, "--stage", "trial", env={"RESELLCTL_NOW": "2026-02-10T12:00:00Z"}))
    assert moved["trial_ends_at"] == "2026-03-12T12:00:00Z"

    # back into trial while the old trial end is still ahead: it is kept
    uid = trial["uid"]
    ok(edit(acme, uid, "--stage", "churned", env={"RESELLCTL_NOW": "2026-01-10T00:00:00Z"}))
    again = ok(edit(acme, uid, "--stage", "trial", env={"RESELLCTL_NOW": "2026-01-15T00:00:00Z"}))
    assert again["trial_ends_at"] == "2026-01-22T00:00:00Z"
    # once it has passed, a new trial starts from now with the current trial_days
    ok(edit(acme, uid, "--stage", "churned", env={"RESELLCTL_NOW": "2026-02-01T00:00:00Z"}))
    renewed = ok(edit(acme, uid, "--stage", "trial",
                      env={"RESELLCTL_NOW": "2026-02-01T00:00:00Z"}))
    assert renewed["trial_ends_at"] == "2026-03-03T00:00:00Z"
    assert renewed["billing_status"] == "trialing"
    expired = ok(acme("client", "show", uid, "-o", "json",
                      env={"RESELLCTL_NOW": "2026-04-01T00:00:00Z"}))
    assert expired["billing_status"] == "none"


# ---------------------------------------------------------------- seats and support

def test_usage_may_exceed_the_allocation_and_is_flagged(acme) -> None:  # noqa: ANN001
    uid = ok(create(acme, "--seats", "5"))["uid"]
    over = ok(acme("client", "usage", uid, "--seats-used", "7", "-o", "json"))
    assert (over["seats_used"], over["seats_allocated"], over["over_allocation"]) == (7, 5, True)
    within = ok(acme("client", "usage", uid, "--seats-used", "5", "-o", "json"))
    assert (within["seats_used"], within["over_allocation"]) == (5, False)
    fails(acme("client", "usage", uid, "--seats-used", "-1", "-o", "json"), 5)
    assert show(acme, uid)["seats_used"] == 5
    assert ok(edit(acme, uid, "--seats", "0"))["seats_allocated"] == 0
    fails(edit(acme, uid, "--seats", "-2"), 5)
    usage = [e for e in events(acme) if e["action"] == "client.usage"]
    assert [(e["changes"]["before"], e["changes"]["after"]) for e in usage] == [
        ({"seats_used": 0}, {"seats_used": 7}), ({"seats_used": 7}, {"seats_used": 5})]
    assert all(e["entity_id"] == uid and e["reseller"] == "acme" for e in usage)


def test_support_type_and_access_follow_the_reseller(two) -> None:  # noqa: ANN001
    # acme is partner-supported: partner by default, access allowed
    partner = ok(create(two, "--support-access"))
    assert (partner["support_type"], partner["support_access"]) == ("partner", True)
    vendor = ok(create(two, "--support-type", "vendor", name="Vendor Co"))
    assert (vendor["support_type"], vendor["support_access"]) == ("vendor", False)
    fails(create(two, "--support-type", "vendor", "--support-access", name="No"), 5)
    fails(create(two, "--support-type", "helpdesk", name="No"), 5)
    # beta is not: vendor by default, partner refused, access refused
    plain = ok(create(two, reseller="beta"))
    assert (plain["support_type"], plain["support_access"]) == ("vendor", False)
    fails(create(two, "--support-type", "partner", reseller="beta", name="No"), 5, "partner")
    fails(create(two, "--support-access", reseller="beta", name="No"), 5)
    assert pool(two, "beta") == (5, 1, 4)
    # a direct client is vendor-supported and cannot be partner-supported
    assert ok(create(two, reseller=None, name="Direct"))["support_type"] == "vendor"
    fails(create(two, "--support-type", "partner", reseller=None, name="No"), 5)
    # edits obey the same rules
    fails(edit(two, plain["uid"], "--support-access"), 5)
    fails(edit(two, plain["uid"], "--support-type", "partner"), 5)
    fails(edit(two, vendor["uid"], "--support-access"), 5)
    turned = ok(edit(two, vendor["uid"], "--support-type", "partner", "--support-access"))
    assert (turned["support_type"], turned["support_access"]) == ("partner", True)
    back = ok(edit(two, partner["uid"], "--support-type", "vendor"))
    assert (back["support_type"], back["support_access"]) == ("vendor", False)
    assert names(two, "--include-deleted") == ["Bakery", "Bakery", "Direct", "Vendor Co"]


# ---------------------------------------------------------------- external ids

def test_external_id_is_unique_per_reseller(two) -> None:  # noqa: ANN001
    first = ok(create(two, "--external-id", "CRM-1"))
    assert first["created"] is True
    fails(create(two, "--external-id", "CRM-1", name="Again"), 4, "CRM-1")
    assert pool(two) == (5, 1, 4)
    same = ok(create(two, "--external-id", "CRM-1", "--if-not-exists", name="Again"))
    assert same["uid"] == first["uid"] and same["name"] == "Bakery"
    assert pool(two) == (5, 1, 4)
    # the same external id under another reseller is another client
    other = ok(create(two, "--external-id", "CRM-1", reseller="beta"))
    assert other["uid"] != first["uid"] and other["reseller"] == "beta"
    # --if-not-exists needs no free licence for an existing client
    ok(two("license", "revoke", "acme", "4", "-o", "json"))
    assert pool(two) == (1, 1, 0)
    again = ok(create(two, "--external-id", "CRM-1", "--if-not-exists"))
    assert again["uid"] == first["uid"]
    fails(create(two, "--external-id", "CRM-2", "--if-not-exists"), 7)
    assert [e["entity_id"] for e in events(two)] == [first["uid"], other["uid"]]
    assert names(two, "--search", "CRM-1") == ["Bakery", "Bakery"]


# ---------------------------------------------------------------- delete

def test_delete_is_soft_and_needs_yes_without_a_terminal(acme) -> None:  # noqa: ANN001
    keep = ok(create(acme, name="Keep"))["uid"]
    uid = ok(create(acme, name="Gone"))["uid"]
    refused = acme("client", "delete", uid, "-o", "json")
    assert refused.exit_code == 2 and refused.stdout == ""
    assert "--yes" in refused.stderr
    assert names(acme) == ["Gone", "Keep"] and pool(acme) == (5, 2, 3)

    deleted = ok(acme("client", "delete", uid, "--yes", "-o", "json"))
    assert deleted["uid"] == uid and deleted["deleted_at"] is not None
    assert pool(acme) == (5, 1, 4)
    assert names(acme) == ["Keep"]
    listed = ok(acme("client", "list", "--include-deleted", "-o", "json"))
    assert [(c["name"], c["deleted_at"] is not None) for c in listed] == [
        ("Gone", True), ("Keep", False)]
    assert show(acme, uid)["uid"] == uid  # the row and its history stay
    fails(edit(acme, uid, "--name", "Back"), 4, "deleted")
    fails(acme("client", "delete", uid, "-y", "-o", "json"), 4)
    fails(acme("client", "usage", uid, "--seats-used", "1", "-o", "json"), 4)
    fails(acme("client", "reactivate", uid, "-o", "json"), 4)
    assert pool(acme) == (5, 1, 4)
    assert show(acme, uid)["name"] == "Gone"
    assert show(acme, keep)["deleted_at"] is None
    [event] = [e for e in events(acme) if e["action"] == "client.delete"]
    assert event["entity_id"] == uid and event["changes"]["before"] == {"deleted_at": None}


# ---------------------------------------------------------------- validation

def test_invalid_input_exits_5_and_writes_nothing(acme) -> None:  # noqa: ANN001
    long_name = "x" * 201
    cases = [
        ({"email": "not-an-email"}, []),
        ({"email": "li@"}, []),
        ({"email": "li wei@bakery.example"}, []),
        ({}, ["--owner-phone", "12-34-5"]),          # 5 digits
        ({}, ["--owner-phone", "+" + "1" * 21]),     # 21 digits
        ({}, ["--owner-phone", "phone me"]),
        ({"name": ""}, []),
        ({"name": "   "}, []),
        ({"name": long_name}, []),
        ({}, ["--location", "y" * 201]),
        ({}, ["--plan", "no-such-plan"]),
        ({}, ["--seats", "-1"]),
    ]
    for kwargs, args in cases:
        fails(create(acme, *args, **kwargs), 5)
    result = acme("client", "create", "--reseller", "acme", "--name", "X", "--owner-name", " ",
                  "--owner-email", "a@b.example", "-o", "json")
    fails(result, 5, "owner_name")
    assert names(acme, "--include-deleted") == []
    assert pool(acme) == (5, 0, 5)
    assert events(acme) == []

    # the limits themselves are fine
    edge = ok(create(acme, "--owner-phone", "12-34-56", name="y" * 200))
    assert len(edge["name"]) == 200 and edge["owner_phone"] == "12-34-56"
    wide = ok(create(acme, "--owner-phone", "+" + "9" * 20, name="Wide"))
    assert wide["owner_phone"] == "+" + "9" * 20

    # edits validate the same way and change nothing
    uid = wide["uid"]
    before = show(acme, uid)
    for args in (["--owner-email", "nope"], ["--owner-phone", "123"], ["--name", "  "],
                 ["--name", long_name], ["--plan", "no-such-plan"], ["--seats", "-1"]):
        fails(edit(acme, uid, *args), 5)
    assert show(acme, uid) == before
    cleared = ok(edit(acme, uid, "--owner-phone", "", "--plan", "enterprise"))
    assert (cleared["owner_phone"], cleared["plan"]) == (None, "enterprise")


# ---------------------------------------------------------------- list

@pytest.fixture
def portfolio(two):  # noqa: ANN001, ANN201
    """Four acme clients with distinct stages, creation times, seats and e-mails; Delta
    deactivated; one beta client that acme's filters must not show."""
    spec = [("Alpha Bakery", "lead", "ops@alpha.example", "2026-01-03T00:00:00Z", 5),
            ("Bravo Cafe", "demo", "kim@bravo.example", "2026-01-01T00:00:00Z", 0),
            ("Charlie Dental", "trial", "raj@charlie.example", "2026-01-04T00:00:00Z", 9),
            ("Delta Eats", "demo", "dee@delta.example", "2026-01-02T00:00:00Z", 2)]
    uids = {}
    for number, (name, stage, email, at, used) in enumerate(spec, start=1):
        uid = ok(create(two, "--stage", stage, "--external-id", f"CRM-{number}", name=name,
                        email=email, env={"RESELLCTL_NOW": at}))["uid"]
        if used:
            ok(two("client", "usage", uid, "--seats-used", str(used), "-o", "json"))
        uids[name] = uid
    ok(two("client", "deactivate", uids["Delta Eats"], "-o", "json"))
    ok(create(two, reseller="beta", name="Beta Only", email="bo@beta.example"))
    return two, uids


def test_list_filters_sorts_and_pages(portfolio) -> None:  # noqa: ANN001
    run, uids = portfolio
    acme = ("--reseller", "acme")
    assert names(run, *acme) == ["Alpha Bakery", "Bravo Cafe", "Charlie Dental", "Delta Eats"]
    assert names(run) == ["Alpha Bakery", "Beta Only", "Bravo Cafe", "Charlie Dental",
                          "Delta Eats"]
    assert names(run, *acme, "--sort", "-name") == ["Delta Eats", "Charlie Dental",
                                                    "Bravo Cafe", "Alpha Bakery"]
    assert names(run, *acme, "--sort", "-created_at") == ["Charlie Dental", "Alpha Bakery",
                                                          "Delta Eats", "Bravo Cafe"]
    assert names(run, *acme, "--sort", "created_at") == ["Bravo Cafe", "Delta Eats",
                                                         "Alpha Bakery", "Charlie Dental"]
    assert names(run, *acme, "--sort", "seats_used") == ["Bravo Cafe", "Delta Eats",
                                                         "Alpha Bakery", "Charlie Dental"]
    assert names(run, *acme, "--sort", "-seats_used") == ["Charlie Dental", "Alpha Bakery",
                                                          "Delta Eats", "Bravo Cafe"]
    fails(run("client", "list", "--sort", "password", "-o", "json"), 5, "password")
    fails(run("client", "list", "--sort", "-nope", "-o", "json"), 5)

    assert names(run, *acme, "--stage", "demo") == ["Bravo Cafe", "Delta Eats"]
    assert names(run, *acme, "--stage", "demo", "--stage", "trial") == [
        "Bravo Cafe", "Charlie Dental", "Delta Eats"]
    assert names(run, *acme, "--stage", "churned") == []
    fails(run("client", "list", "--stage", "prospect", "-o", "json"), 5, "prospect")
    assert names(run, *acme, "--status", "deactivated") == ["Delta Eats"]
    assert names(run, *acme, "--status", "active") == ["Alpha Bakery", "Bravo Cafe",
                                                       "Charlie Dental"]
    fails(run("client", "list", "--status", "paused", "-o", "json"), 5)

    assert names(run, "--search", "bakery") == ["Alpha Bakery"]
    assert names(run, "--search", "KIM@BRAVO") == ["Bravo Cafe"]
    assert names(run, "--search", uids["Charlie Dental"]) == ["Charlie Dental"]
    assert names(run, "--search", "CRM-4") == ["Delta Eats"]
    assert names(run, "--search", "nothing-like-this") == []
    assert names(run, "--search", "%") == []  # LIKE wildcards are matched literally
    assert names(run, "--search", "_") == []
    assert names(run, *acme, "--search", "a", "--stage", "demo", "--status", "active") == [
        "Bravo Cafe"]

    assert names(run, *acme, "--limit", "2") == ["Alpha Bakery", "Bravo Cafe"]
    assert names(run, *acme, "--limit", "2", "--offset", "1") == ["Bravo Cafe",
                                                                  "Charlie Dental"]
    assert names(run, *acme, "--offset", "3") == ["Delta Eats"]
    assert names(run, *acme, "--offset", "10") == []
    assert names(run, "--reseller", "beta") == ["Beta Only"]


def test_list_outputs_stream_every_row(acme, tmp_path) -> None:  # noqa: ANN001
    ok(acme("license", "grant", "acme", "200", "-o", "json"))
    source = tmp_path / "many.csv"
    source.write_text("name,owner_name,owner_email\n"
                      + "".join(f"Client {i:03d},Owner {i},o{i}@c{i}.example\n"
                                for i in range(120)), encoding="utf-8")
    summary = ok(acme("client", "import", str(source), "--reseller", "acme", "-o", "json"))
    assert summary["created"] == 120
    expected = [f"Client {i:03d}" for i in range(120)]

    as_csv = acme("client", "list", "-o", "csv")
    assert as_csv.exit_code == 0 and as_csv.stderr == ""
    rows = list(csv.reader(io.StringIO(as_csv.stdout)))
    assert rows[0][:len(FIELDS)] == FIELDS
    assert [row[FIELDS.index("name")] for row in rows[1:]] == expected

    as_ndjson = acme("client", "list", "-o", "ndjson")
    assert as_ndjson.exit_code == 0 and as_ndjson.stderr == ""
    lines = as_ndjson.stdout.splitlines()
    assert [json.loads(line)["name"] for line in lines] == expected
    assert all(list(json.loads(line))[:len(FIELDS)] == FIELDS for line in lines)

    assert names(acme) == expected
    table = acme("client", "list")
    assert table.exit_code == 0 and table.stderr == ""
    assert sum(f"Client {i:03d}" in table.stdout for i in range(120)) == 120


# ---------------------------------------------------------------- scoping

def test_another_resellers_client_reads_as_not_found(two) -> None:  # noqa: ANN001
    theirs = ok(create(two, reseller="beta", name="Beta Co"))["uid"]
    mine = ok(create(two, name="Acme Co", actor=ANA))["uid"]
    for args in (["client", "show", theirs], ["client", "edit", theirs, "--name", "X"],
                 ["client", "delete", theirs, "-y"], ["client", "deactivate", theirs],
                 ["client", "usage", theirs, "--seats-used", "1"]):
        fails(two(*args, "-o", "json", actor=ANA), 3, theirs)
    fails(two("client", "list", "--reseller", "beta", "-o", "json", actor=ANA), 3)
    fails(create(two, reseller="beta", actor=ANA, name="Intruder"), 3)
    assert names(two, actor=ANA) == ["Acme Co"]
    assert names(two, "--search", theirs, actor=ANA) == []
    assert names(two, actor=ZED) == ["Beta Co"]
    assert show(two, theirs)["name"] == "Beta Co"  # untouched
    assert pool(two, "beta") == (5, 1, 4)
    assert show(two, mine)["reseller"] == "acme"
    assert [e["entity_id"] for e in
            ok(two("audit", "list", "--action", "client.", "-o", "json", actor=ANA))] == [mine]


def test_viewers_and_support_members_read_but_do_not_write(acme) -> None:  # noqa: ANN001
    users(acme, VIC, SUE)
    ok(acme("reseller", "member", "add", "acme", VIC, "--role", "viewer", "-o", "json"))
    ok(acme("reseller", "member", "add", "acme", SUE, "--role", "support", "-o", "json"))
    uid = ok(create(acme))["uid"]
    for who in (VIC, SUE):
        assert names(acme, actor=who) == ["Bakery"]
        assert ok(acme("client", "show", uid, "-o", "json", actor=who))["uid"] == uid
        fails(create(acme, actor=who, name="Nope"), 6)
        fails(edit(acme, uid, "--name", "Nope", actor=who), 6)
        fails(acme("client", "usage", uid, "--seats-used", "3", "-o", "json", actor=who), 6)
        fails(acme("client", "deactivate", uid, "-o", "json", actor=who), 6)
        fails(acme("client", "delete", uid, "-y", "-o", "json", actor=who), 6)
    fails(acme("client", "list", "-o", "json", actor="nobody@nowhere.example"), 6)
    assert show(acme, uid)["name"] == "Bakery" and show(acme, uid)["status"] == "active"
    assert pool(acme) == (5, 1, 4)
    assert [e["action"] for e in events(acme)] == ["client.create"]


# ---------------------------------------------------------------- audit

def test_every_change_is_audited(acme) -> None:  # noqa: ANN001
    uid = ok(create(acme, actor=ANA))["uid"]
    ok(edit(acme, uid, "--name", "Bakery Two", "--location", "Porto", actor=ANA))
    ok(acme("client", "usage", uid, "--seats-used", "4", "-o", "json", actor=ANA))
    ok(acme("client", "deactivate", uid, "-o", "json", actor=ANA))
    ok(acme("client", "reactivate", uid, "-o", "json", actor=ANA))
    ok(acme("client", "delete", uid, "-y", "-o", "json", actor=ANA))
    trail = events(acme)
    assert [e["action"] for e in trail] == ["client.create", "client.edit", "client.usage",
                                           "client.deactivate", "client.reactivate",
                                           "client.delete"]
    assert {(e["actor"], e["reseller"], e["entity_type"], e["entity_id"]) for e in trail} == {
        (ANA, "acme", "client", uid)}
    changes = trail[1]["changes"]
    assert changes["before"] == {"name": "Bakery", "location": None}
    assert changes["after"] == {"name": "Bakery Two", "location": "Porto"}
    assert trail[3]["changes"] == {"before": {"status": "active"},
                                   "after": {"status": "deactivated"}}
    assert trail[4]["changes"] == {"before": {"status": "deactivated"},
                                   "after": {"status": "active"}}


# ---------------------------------------------------------------- round trip

HOSTILE = [
    'O\'Brien "The Baker" & Sons',
    "'; DROP TABLE client; --",
    "Café ☕ 🍰 Ünïcødé",
    "\u200fمخبز\u200f Bakery",
    '=HYPERLINK("x")',
]


def test_hostile_text_round_trips(acme) -> None:  # noqa: ANN001
    for number, name in enumerate(HOSTILE):
        created = ok(create(acme, "--location", name, "--external-id", f"{name}-{number}",
                            name=name))
        assert created["name"] == name
    listed = ok(acme("client", "list", "--sort", "created_at", "-o", "json"))
    assert [c["name"] for c in listed] == HOSTILE
    assert [c["location"] for c in listed] == HOSTILE
    assert [c["external_id"] for c in listed] == [f"{n}-{i}" for i, n in enumerate(HOSTILE)]
    for client in listed:
        assert show(acme, client["uid"])["name"] == client["name"]
    assert names(acme, "--search", "'; DROP TABLE client; --") == [HOSTILE[1]]

    as_csv = acme("client", "list", "--sort", "created_at", "-o", "csv")
    assert as_csv.exit_code == 0 and as_csv.stderr == ""
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [r["name"] for r in rows] == [*HOSTILE[:4], "'=HYPERLINK(\"x\")"]
    assert rows[4]["external_id"] == "'=HYPERLINK(\"x\")-4"
    as_ndjson = acme("client", "list", "--sort", "created_at", "-o", "ndjson")
    assert [json.loads(line)["name"] for line in as_ndjson.stdout.splitlines()] == HOSTILE
    assert pool(acme) == (5, 5, 0)
