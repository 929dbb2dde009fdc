"""`user`, `settings` and `audit`: the first domain services, on both backends."""

from __future__ import annotations

import pytest

ADMIN = "admin@vendor.example"
DEFAULTS = {"trial_days": 21, "approval_base_url": "http://127.0.0.1:8600/approve",
            "support_base_url": "http://127.0.0.1:8600/support", "approval_ttl": "7d",
            "support_session_max_ttl": "8h", "currency": "USD"}


def ok(result):  # noqa: ANN001, ANN201
    assert result.exit_code == 0, result.stderr
    return result


def sql(url: str, statement: str):  # noqa: ANN201
    from sqlalchemy import text

    from resellctl.store.engine import make_engine

    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement))
            return result.all() if result.returns_rows else result.rowcount
    finally:
        engine.dispose()


# --- users ------------------------------------------------------------------------------


def test_user_create_lower_cases_the_email_and_is_audited(run, store_url):
    env = {"RESELLCTL_NOW": "2030-01-02T05:04:05+02:00"}
    result = ok(run("user", "create", "  Ana.Silva@Partner.EXAMPLE ", "--name", " Ana Silva ",
                    "-o", "json", env=env))
    assert result.json == {"email": "ana.silva@partner.example", "name": "Ana Silva",
                           "is_super_admin": False, "created_at": "2030-01-02T03:04:05Z"}
    assert sql(store_url, "SELECT email FROM user_account WHERE email LIKE 'ana%'") == [
        ("ana.silva@partner.example",)]
    shown = ok(run("user", "show", "ANA.SILVA@partner.example", "-o", "json"))
    assert shown.json == {**result.json, "resellers": []}
    events = ok(run("audit", "list", "--limit", "1", "-o", "json")).json
    assert events == [{"id": events[0]["id"], "at": "2030-01-02T03:04:05Z", "actor": ADMIN,
                       "action": "user.create", "reseller": None, "entity_type": "user",
                       "entity_id": "ana.silva@partner.example",
                       "changes": {"before": {}, "after": {
                           "email": "ana.silva@partner.example", "name": "Ana Silva",
                           "is_super_admin": False}}}]

    boss = ok(run("user", "create", "boss@vendor.example", "--super-admin", "-o", "json"))
    assert boss.json["is_super_admin"] is True
    ok(run("user", "create", "x@partner.example", actor="boss@vendor.example"))


def test_user_create_refuses_duplicates_and_invalid_values(run):
    ok(run("user", "create", "zed@partner.example"))
    ok(run("user", "create", "bob@partner.example"))
    for email in ("bob@partner.example", "BOB@Partner.Example"):
        result = run("user", "create", email)
        assert result.exit_code == 4
        assert result.stdout == ""
    assert run("user", "create", "not-an-email").exit_code == 5
    assert run("user", "create", "amy@partner.example", "--name", "x" * 201).exit_code == 5
    emails = [u["email"] for u in ok(run("user", "list", "-o", "json")).json]
    assert emails == [ADMIN, "bob@partner.example", "zed@partner.example"]  # sorted
    assert len(ok(run("audit", "list", "--action", "user.", "-o", "json")).json) == 3


@pytest.mark.parametrize("email", ["", "ana", "ana@", "@partner.example", "ana@partner",
                                   "ana smith@partner.example", "a,b@partner.example",
                                   "ana@-partner.example"])
def test_email_validation_rejects(email):
    from resellctl.domain import validate
    from resellctl.domain.errors import Invalid

    with pytest.raises(Invalid):
        validate.email(email)


def test_non_super_admin_sees_only_themselves(run):
    for email in ("ana@partner.example", "bob@partner.example"):
        ok(run("user", "create", email))
    ana = "ana@partner.example"
    listed = ok(run("user", "list", "-o", "json", actor=ana)).json
    assert [u["email"] for u in listed] == [ana]
    assert ok(run("user", "show", ana, "-o", "json", actor=ana)).json["email"] == ana
    for other in ("bob@partner.example", ADMIN):
        result = run("user", "show", other, actor=ana)
        assert result.exit_code == 3  # not found, never "forbidden"
        assert "not found" in result.stderr
    who = ok(run("whoami", "-o", "json", actor="ANA@partner.example")).json
    assert who == {"email": ana, "name": None, "is_super_admin": False,
                   "created_at": who["created_at"], "resellers": []}
    assert ok(run("audit", "list", "-o", "json", actor=ana)).json == []


# --- settings ---------------------------------------------------------------------------


@pytest.mark.parametrize("key, value, stored", [
    ("trial_days", "30", 30),
    ("trial_days", " 7 ", 7),
    ("trial_days", "365", 365),
    ("approval_base_url", "https://partners.acme.example/approve/", "https://partners.acme.example/approve"),
    ("support_base_url", "https://app.acme.example/support", "https://app.acme.example/support"),
    ("support_base_url", "http://localhost:8600/support/", "http://localhost:8600/support"),
    ("approval_base_url", "http://[::1]:8600/approve", "http://[::1]:8600/approve"),
    ("approval_ttl", "3d", "3d"),
    ("approval_ttl", "48h", "2d"),
    ("support_session_max_ttl", "90m", "90m"),
    ("support_session_max_ttl", "2h", "2h"),
    ("currency", "eur", "EUR"),
])
def test_settings_set_valid_values(key, value, stored):
    from resellctl.domain import settings

    assert settings.SETTINGS[key][1](value) == str(stored)


@pytest.mark.parametrize("key, value", [
    ("trial_days", "0"), ("trial_days", "366"), ("trial_days", "-1"), ("trial_days", "1.5"),
    ("trial_days", "abc"), ("trial_days", "²"), ("trial_days", ""),
    ("approval_base_url", "http://partners.example.com"), ("approval_base_url", "partners"),
    ("support_base_url", "ftp://x.example"), ("support_base_url", "https://"),
    ("support_base_url", "http://10.0.0.1/support"), ("approval_base_url", "http://[::1"),
    ("approval_ttl", "7"), ("approval_ttl", "0d"), ("approval_ttl", "1y"),
    ("support_session_max_ttl", "-1h"), ("support_session_max_ttl", "eight hours"),
    ("currency", "US"), ("currency", "USDX"), ("currency", "U5D"), ("currency", "ÜSD"),
])
def test_settings_set_invalid_values(key, value):
    from resellctl.domain import settings
    from resellctl.domain.errors import Invalid

    with pytest.raises(Invalid):
        settings.SETTINGS[key][1](value)


def test_settings_show_defaults_and_set(run):
    assert ok(run("settings", "show", "-o", "json")).json == DEFAULTS
    result = ok(run("settings", "set", "trial_days", "30", "-o", "json",
                    env={"RESELLCTL_NOW": "2030-05-06T07:08:09Z"}))
    assert result.json == {**DEFAULTS, "trial_days": 30}
    ok(run("settings", "set", "approval_ttl", "48h"))
    ok(run("settings", "set", "currency", "eur"))
    ok(run("settings", "set", "support_base_url", "https://help.acme.example/s/"))
    assert ok(run("settings", "show", "-o", "json")).json == {
        **DEFAULTS, "trial_days": 30, "approval_ttl": "2d", "currency": "EUR",
        "support_base_url": "https://help.acme.example/s"}
    ok(run("settings", "set", "trial_days", "14"))  # a second set updates in place
    assert ok(run("settings", "show", "-o", "json")).json["trial_days"] == 14

    events = ok(run("audit", "list", "--action", "settings.set", "-o", "json")).json
    assert [(ev["entity_id"], ev["changes"]) for ev in events] == [
        ("trial_days", {"before": {"trial_days": "30"}, "after": {"trial_days": "14"}}),
        ("support_base_url", {"before": {"support_base_url": DEFAULTS["support_base_url"]},
                              "after": {"support_base_url": "https://help.acme.example/s"}}),
        ("currency", {"before": {"currency": "USD"}, "after": {"currency": "EUR"}}),
        ("approval_ttl", {"before": {"approval_ttl": "7d"}, "after": {"approval_ttl": "2d"}}),
        ("trial_days", {"before": {"trial_days": "21"}, "after": {"trial_days": "30"}}),
    ]
    assert events[-1]["at"] == "2030-05-06T07:08:09Z"
    assert {(ev["actor"], ev["entity_type"], ev["reseller"]) for ev in events} == {
        (ADMIN, "setting", None)}


def test_settings_set_refuses_bad_values_unknown_keys_and_non_super_admins(run):
    for args in (["trial_days", "0"], ["approval_base_url", "http://x.example"],
                 ["approval_ttl", "soon"], ["support_session_max_ttl", "0h"],
                 ["currency", "dollars"], ["no_such_key", "1"]):
        result = run("settings", "set", *args)
        assert result.exit_code == 5, args
        assert result.stderr.startswith("Error: ")
    unknown = run("settings", "set", "no_such_key", "1")
    assert "trial_days" in unknown.stderr  # the hint lists the keys

    ok(run("user", "create", "ana@partner.example"))
    ana = "ana@partner.example"
    assert ok(run("settings", "show", "-o", "json", actor=ana)).json == DEFAULTS
    assert run("settings", "set", "trial_days", "30", actor=ana).exit_code == 6

    assert ok(run("settings", "show", "-o", "json")).json == DEFAULTS
    assert ok(run("audit", "list", "--action", "settings.", "-o", "json")).json == []


# --- audit ------------------------------------------------------------------------------


@pytest.fixture
def history(run):  # noqa: ANN201
    """Four events at known instants by two actors, newest last."""
    ok(run("user", "create", "ana@partner.example", "--super-admin",
           env={"RESELLCTL_NOW": "2030-01-01T23:59:59Z"}))
    ok(run("user", "create", "bob@partner.example",
           env={"RESELLCTL_NOW": "2030-01-02T00:00:00Z"}))
    ok(run("settings", "set", "trial_days", "30", actor="ana@partner.example",
           env={"RESELLCTL_NOW": "2030-01-03T12:00:00Z"}))
    ok(run("settings", "set", "currency", "EUR",
           env={"RESELLCTL_NOW": "2030-01-04T08:00:00Z"}))
    return run


def audit(run, *args: str) -> list[tuple[str, str, str]]:  # noqa: ANN001
    events = ok(run("audit", "list", "-o", "json", *args)).json
    return [(ev["at"], ev["action"], ev["entity_id"]) for ev in events]


NEWEST_FIRST = [
    ("2030-01-04T08:00:00Z", "settings.set", "currency"),
    ("2030-01-03T12:00:00Z", "settings.set", "trial_days"),
    ("2030-01-02T00:00:00Z", "user.create", "bob@partner.example"),
    ("2030-01-01T23:59:59Z", "user.create", "ana@partner.example"),
]


def test_audit_list_is_newest_first_and_filters(history):
    run = history
    since_init = audit(run, "--since", "2030-01-01")
    assert since_init == NEWEST_FIRST
    assert audit(run, "--since", "2030-01-02") == NEWEST_FIRST[:3]
    assert audit(run, "--since", "2030-01-05") == []
    assert audit(run, "--actor", "ANA@partner.example") == [NEWEST_FIRST[1]]
    assert audit(run, "--actor", ADMIN, "--since", "2030-01-01") == [
        NEWEST_FIRST[0], NEWEST_FIRST[2], NEWEST_FIRST[3]]
    assert audit(run, "--action", "settings.") == NEWEST_FIRST[:2]
    assert audit(run, "--action", "user.create", "--since", "2030-01-01") == NEWEST_FIRST[2:]
    assert audit(run, "--action", "user_") == []  # a prefix, not a LIKE pattern
    assert audit(run, "--action", "%") == []
    assert audit(run, "--entity", "bob@partner.example") == [NEWEST_FIRST[2]]
    assert audit(run, "--entity", "bob") == []
    assert audit(run, "--limit", "2") == NEWEST_FIRST[:2]
    assert audit(run, "--limit", "1", "--action", "user.") == [NEWEST_FIRST[2]]
    # Without --since the init events (user.create, catalog.load) come last.
    everything = ok(run("audit", "list", "-o", "json")).json
    assert [(ev["action"], ev["actor"]) for ev in everything[4:]] == [
        ("catalog.load", ADMIN), ("user.create", ADMIN)]
    assert [ev["id"] for ev in everything] == sorted((ev["id"] for ev in everything),
                                                     reverse=True)
    table = ok(run("audit", "list", "--limit", "1")).stdout
    assert "settings.set" in table and "currency" in table
    header = ok(run("audit", "list", "--limit", "1", "-o", "csv")).stdout.splitlines()[0]
    assert header == "id,at,actor,action,reseller,entity_type,entity_id,changes"
    assert ok(run("audit", "list", "-o", "json", actor="bob@partner.example")).json == []


@pytest.mark.parametrize("now, at", [
    ("2030-01-02T03:04:05Z", "2030-01-02T03:04:05Z"),
    ("2030-01-02T05:04:05+02:00", "2030-01-02T03:04:05Z"),
    ("2030-01-02T03:04:05.987654Z", "2030-01-02T03:04:05Z"),
    ("2030-01-02T03:04:05", "2030-01-02T03:04:05Z"),
])
def test_resellctl_now_sets_event_times(now, at):
    from resellctl.domain import clock

    assert clock.iso(clock.parse_instant(now)) == at


def test_audit_rows_are_append_only_in_the_database(run, store_url):
    from sqlalchemy.exc import DatabaseError

    before = sql(store_url, "SELECT id, action, actor_email FROM audit_event ORDER BY id")
    assert before
    for statement in ("UPDATE audit_event SET action = 'forged'",
                      "UPDATE audit_event SET actor_email = 'x@y.example' WHERE id = "
                      f"{before[0][0]}",
                      "DELETE FROM audit_event",
                      f"DELETE FROM audit_event WHERE id = {before[-1][0]}"):
        with pytest.raises(DatabaseError, match="append-only"):
            sql(store_url, statement)
    assert sql(store_url, "SELECT id, action, actor_email FROM audit_event ORDER BY id") == \
        before
    # Appending still works.
    ok(run("user", "create", "ana@partner.example"))
    assert len(sql(store_url, "SELECT id FROM audit_event")) == len(before) + 1
