"""Edits that change nothing write nothing; usage errors of `client create/edit`; the
wording of refusals. Every test runs on both stores."""

from __future__ import annotations

import pytest
from helpers import ok
from test_clients import ANA, acme, create, edit, events, fails, show  # noqa: F401

LATER = "2027-03-01T12:00:00Z"


@pytest.fixture
def bakery(acme) -> tuple:  # noqa: ANN001, F811
    """acme with one client (a lead with 3 seats and a phone); returns (run, uid)."""
    uid = ok(create(acme, "--seats", "3", "--owner-phone", "+351 210 000 000"))["uid"]
    return acme, uid


def test_an_edit_that_changes_nothing_writes_nothing(bakery) -> None:  # noqa: ANN001
    run, uid = bakery
    before = show(run, uid)
    same = [("--name", "Bakery"), ("--owner-name", " Li Wei "), ("--seats", "3"),
            ("--stage", "lead"), ("--owner-phone", "+351 210 000 000"),
            ("--support-type", "partner")]
    for option, value in same:
        assert ok(edit(run, uid, option, value, env={"RESELLCTL_NOW": LATER})) == before
    assert ok(run("client", "usage", uid, "--seats-used", "0", "-o", "json",
                  env={"RESELLCTL_NOW": LATER}))["seats_used"] == 0
    assert show(run, uid) == before  # updated_at did not move
    assert [e["action"] for e in events(run)] == ["client.create"]
    # one real change among same values: only it is written and audited
    changed = ok(edit(run, uid, "--name", "Bakery", "--seats", "4",
                      env={"RESELLCTL_NOW": LATER}))
    assert (changed["seats_allocated"], changed["updated_at"]) == (4, LATER)
    assert events(run)[-1]["changes"] == {"before": {"seats_allocated": 3},
                                          "after": {"seats_allocated": 4}}


def test_an_edit_without_any_field_is_a_usage_error(bakery) -> None:  # noqa: ANN001
    run, uid = bakery
    fails(edit(run, uid), 2, "nothing to change")
    fails(edit(run, uid, "--force"), 2, "nothing to change")
    assert [e["action"] for e in events(run)] == ["client.create"]


def test_if_not_exists_needs_an_external_id(acme) -> None:  # noqa: ANN001, F811
    fails(create(acme, "--if-not-exists"), 2, "--external-id")
    assert ok(acme("client", "list", "-o", "json")) == []
    first = ok(create(acme, "--external-id", "CRM-1", "--if-not-exists"))
    again = ok(create(acme, "--external-id", "CRM-1", "--if-not-exists"))
    assert (first["created"], again["created"], again["uid"]) == (True, False, first["uid"])


def test_refusals_read_well(bakery) -> None:  # noqa: ANN001
    run, uid = bakery
    message = fails(create(run, reseller=None, name="Direct", actor=ANA), 6)
    assert message == "only a super admin can create direct clients (pass --reseller)"
    ok(edit(run, uid, "--stage", "active"))
    assert fails(edit(run, uid, "--stage", "lead"), 4).startswith(
        "an active client cannot move to lead; allowed: ")
    ok(edit(run, uid, "--stage", "churned"))
    assert fails(edit(run, uid, "--stage", "active"), 4).startswith(
        "a churned client cannot move to active")
