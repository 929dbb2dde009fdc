"""`reseller ...`: create/list/show/edit/(de)activate, members, branding, and scoping.

Every test runs on SQLite and PostgreSQL (the `run` fixture is parametrised).
"""

from __future__ import annotations

import json
import re

import pytest
from helpers import ok

ADMIN = "admin@vendor.example"
ANA = "ana@acme.example"
BO = "bo@acme.example"
VIC = "vic@acme.example"
ZED = "zed@beta.example"
NOW = "2026-03-01T10:00:00Z"
FIELDS = ["slug", "name", "owner_email", "is_active", "partner_supported", "license_count",
          "license_used", "license_available", "balance_cents", "currency", "client_count",
          "created_at"]
INSTANT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


# ---------------------------------------------------------------- helpers



def fails(result, code: int, *fragments: str) -> str:
    """A failure: the exit code, nothing on stdout, `Error: ...` on stderr."""
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.startswith("Error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr
    return result.stderr


def users(run, *emails: str) -> None:
    for email in emails:
        ok(run("user", "create", email, "-o", "json"))


def audit(run, prefix: str = "reseller.") -> list[dict]:
    """Audit events with this action prefix, oldest first."""
    return list(reversed(ok(run("audit", "list", "--action", prefix, "-o", "json"))))


def actions(run, prefix: str = "reseller.") -> list[str]:
    return [event["action"] for event in audit(run, prefix)]


@pytest.fixture
def acme(run):
    """Reseller `acme` owned by ana; bo and vic exist as plain users."""
    users(run, ANA, BO, VIC)
    ok(run("reseller", "create", "--slug", "acme", "--name", "Acme IT", "--owner", ANA,
           "-o", "json"))
    return run


# ---------------------------------------------------------------- create / show / list

def test_create_prints_every_spec_field(run) -> None:
    users(run, ANA)
    created = ok(run("reseller", "create", "--slug", "acme", "--name", "  Acme IT ",
                     "--owner", "ANA@Acme.Example", "--licenses", "5", "--partner-supported",
                     "-o", "json", env={"RESELLCTL_NOW": NOW}))
    assert list(created) == FIELDS
    assert created == {"slug": "acme", "name": "Acme IT", "owner_email": ANA,
                       "is_active": True, "partner_supported": True, "license_count": 5,
                       "license_used": 0, "license_available": 5, "balance_cents": 0,
                       "currency": "USD", "client_count": 0, "created_at": NOW}
    assert ok(run("reseller", "show", "acme", "-o", "json")) == created
    assert ok(run("reseller", "list", "-o", "json")) == [created]
    # the owner is an admin member
    assert ok(run("reseller", "member", "list", "acme", "-o", "json")) == [
        {"email": ANA, "name": None, "role": "admin", "is_owner": True, "added_at": NOW}]
    [event] = audit(run)
    assert event["action"] == "reseller.create"
    assert event["actor"] == ADMIN
    assert event["reseller"] == "acme"
    assert event["entity_type"] == "reseller" and event["entity_id"] == "acme"
    assert event["changes"]["after"]["license_count"] == 5
    assert event["changes"]["after"]["owner_email"] == ANA


def test_created_at_is_an_iso_utc_instant_without_a_fixed_clock(run) -> None:
    users(run, ANA)
    created = ok(run("reseller", "create", "--slug", "acme", "--name", "Acme", "--owner", ANA,
                     "-o", "json"))
    assert INSTANT.match(created["created_at"]), created["created_at"]
    assert created["license_count"] == 0 and created["is_active"] is True
    assert created["partner_supported"] is False


def test_list_filters_active_and_inactive(run) -> None:
    users(run, ANA)
    ok(run("reseller", "create", "--slug", "zeta", "--name", "Zeta", "--owner", ANA, "-o", "json"))
    ok(run("reseller", "create", "--slug", "alpha", "--name", "Alpha", "--owner", ANA,
           "--inactive", "-o", "json"))
    assert [r["slug"] for r in ok(run("reseller", "list", "-o", "json"))] == ["alpha", "zeta"]
    assert [r["slug"] for r in ok(run("reseller", "list", "--active", "-o", "json"))] == ["zeta"]
    inactive = ok(run("reseller", "list", "--inactive", "-o", "json"))
    assert [(r["slug"], r["is_active"]) for r in inactive] == [("alpha", False)]


def test_list_and_show_render_csv_and_table(acme) -> None:
    csv_out = acme("reseller", "list", "-o", "csv")
    assert csv_out.exit_code == 0 and csv_out.stderr == ""
    header, row = csv_out.stdout.splitlines()
    assert header.split(",") == FIELDS
    assert row.startswith("acme,Acme IT,ana@acme.example,true,false,0,0,0,0,USD,0,")
    table = acme("reseller", "show", "acme")
    assert table.exit_code == 0 and table.stderr == ""
    assert "Acme IT" in table.stdout and "Owner e-mail     ana@acme.example" in table.stdout
    assert "Balance          $0.00" in table.stdout and "_cents" not in table.stdout
    listed = acme("reseller", "list").stdout.splitlines()
    assert listed[0].split() == ["Slug", "Name", "Active", "Licences", "Balance", "Clients"]
    assert listed[2].split() == ["acme", "Acme", "IT", "yes", "0/0", "$0.00", "0"]


def test_owner_must_be_an_existing_user(run) -> None:
    err = fails(run("reseller", "create", "--slug", "acme", "--name", "Acme",
                    "--owner", "nobody@acme.example"), 3,
                "nobody@acme.example", "is not a user")
    assert "Hint: " in err and "resellctl user create nobody@acme.example" in err
    assert ok(run("reseller", "list", "-o", "json")) == []
    assert actions(run) == []


def test_owner_missing_reports_json_error_on_stderr(run) -> None:
    result = run("reseller", "create", "--slug", "acme", "--name", "Acme",
                 "--owner", "nobody@acme.example", "-o", "json")
    assert result.exit_code == 3
    assert result.stdout == ""
    error = json.loads(result.stderr)["error"]
    assert error["exit_code"] == 3
    assert error["code"] == "user_not_found"
    assert "resellctl user create" in error["hint"]


def test_invalid_slugs_are_refused(run) -> None:
    users(run, ANA)
    for slug in ["Acme", "-a", "a-", "a" * 64, "a_b", "", "a b", "ac.me", "acmé"]:
        fails(run("reseller", "create", f"--slug={slug}", "--name", "X", "--owner", ANA), 5,
              f"slug `{slug}` is invalid")
    assert ok(run("reseller", "list", "-o", "json")) == []
    assert actions(run) == []


def test_edge_slugs_are_accepted_and_unique(run) -> None:
    users(run, ANA)
    for slug in ["a", "0", "a-b", "a" * 63, "9lives-2"]:
        assert ok(run("reseller", "create", "--slug", slug, "--name", "X", "--owner", ANA,
                      "-o", "json"))["slug"] == slug
    fails(run("reseller", "create", "--slug", "a-b", "--name", "Other", "--owner", ANA), 4,
          "`a-b` already exists")
    assert len(ok(run("reseller", "list", "-o", "json"))) == 5
    assert actions(run) == ["reseller.create"] * 5


def test_create_refuses_bad_name_and_negative_licences(run) -> None:
    users(run, ANA)
    fails(run("reseller", "create", "--slug", "acme", "--name", "   ", "--owner", ANA), 5,
          "name")
    fails(run("reseller", "create", "--slug", "acme", "--name", "A", "--owner", ANA,
              "--licenses=-1"), 5, "--licenses")
    assert ok(run("reseller", "list", "-o", "json")) == []


def test_show_unknown_reseller_is_not_found(run) -> None:
    err = fails(run("reseller", "show", "nope"), 3, "reseller `nope` not found")
    assert "Hint: run `resellctl reseller list`" in err


# ---------------------------------------------------------------- edit / activate

def test_edit_name_owner_and_partner_support(acme) -> None:
    edited = ok(acme("reseller", "edit", "acme", "--name", "Acme Partners",
                     "--partner-supported", "-o", "json"))
    assert edited["name"] == "Acme Partners" and edited["partner_supported"] is True
    assert edited["owner_email"] == ANA
    moved = ok(acme("reseller", "edit", "acme", "--owner", BO, "--no-partner-supported",
                    "-o", "json"))
    assert moved["owner_email"] == BO and moved["partner_supported"] is False
    assert list(moved) == FIELDS
    members = {m["email"]: (m["role"], m["is_owner"])
               for m in ok(acme("reseller", "member", "list", "acme", "-o", "json"))}
    assert members == {ANA: ("admin", False), BO: ("admin", True)}
    assert ok(acme("reseller", "show", "acme", "-o", "json")) == moved
    events = audit(acme)
    assert [e["action"] for e in events] == ["reseller.create", "reseller.edit", "reseller.edit"]
    assert events[1]["changes"]["before"] == {"name": "Acme IT", "partner_supported": False}
    assert events[1]["changes"]["after"] == {"name": "Acme Partners", "partner_supported": True}
    assert events[2]["changes"]["before"]["owner_email"] == ANA
    assert events[2]["changes"]["after"]["owner_email"] == BO


def test_edit_to_unknown_owner_changes_nothing(acme) -> None:
    before = ok(acme("reseller", "show", "acme", "-o", "json"))
    fails(acme("reseller", "edit", "acme", "--name", "New", "--owner", "ghost@acme.example"),
          3, "ghost@acme.example")
    assert ok(acme("reseller", "show", "acme", "-o", "json")) == before
    assert actions(acme) == ["reseller.create"]


def test_deactivate_and_activate_are_audited_once(acme) -> None:
    assert ok(acme("reseller", "deactivate", "acme", "-o", "json"))["is_active"] is False
    assert ok(acme("reseller", "deactivate", "acme", "-o", "json"))["is_active"] is False
    assert ok(acme("reseller", "show", "acme", "-o", "json"))["is_active"] is False
    assert ok(acme("reseller", "activate", "acme", "-o", "json"))["is_active"] is True
    events = audit(acme)
    assert [e["action"] for e in events] == ["reseller.create", "reseller.deactivate",
                                             "reseller.activate"]
    assert events[1]["changes"] == {"before": {"is_active": True}, "after": {"is_active": False}}
    fails(acme("reseller", "activate", "ghost"), 3, "`ghost` not found")


# ---------------------------------------------------------------- members

def test_members_add_list_remove(acme) -> None:
    added = ok(acme("reseller", "member", "add", "acme", BO, "--role", "support", "-o", "json"))
    assert added["email"] == BO and added["role"] == "support" and added["is_owner"] is False
    ok(acme("reseller", "member", "add", "acme", VIC.upper(), "--role", "viewer", "-o", "json"))
    listed = ok(acme("reseller", "member", "list", "acme", "-o", "json"))
    assert [(m["email"], m["role"], m["is_owner"]) for m in listed] == [
        (ANA, "admin", True), (BO, "support", False), (VIC, "viewer", False)]
    removed = ok(acme("reseller", "member", "remove", "acme", BO, "-o", "json"))
    assert removed == {"reseller": "acme", "email": BO, "role": "support", "removed": True}
    listed = ok(acme("reseller", "member", "list", "acme", "-o", "json"))
    assert [m["email"] for m in listed] == [ANA, VIC]
    events = audit(acme)
    assert [e["action"] for e in events] == ["reseller.create", "reseller.member_add",
                                             "reseller.member_add", "reseller.member_remove"]
    assert events[1]["changes"]["after"] == {"email": BO, "role": "support"}
    assert events[3]["changes"]["before"] == {"email": BO, "role": "support"}


def test_member_admin_role(acme) -> None:
    ok(acme("reseller", "member", "add", "acme", BO, "--role", "admin", "-o", "json"))
    # a reseller admin (not super admin) may manage members of its own reseller
    ok(acme("reseller", "member", "add", "acme", VIC, "--role", "viewer", "-o", "json",
            actor=BO))
    assert [m["role"] for m in ok(acme("reseller", "member", "list", "acme", "-o", "json"))] == [
        "admin", "admin", "viewer"]


def test_owner_cannot_be_removed(acme) -> None:
    err = fails(acme("reseller", "member", "remove", "acme", ANA), 4, "owns `acme`")
    assert "Hint: " in err
    assert [m["email"] for m in ok(acme("reseller", "member", "list", "acme", "-o", "json"))] == [
        ANA]
    assert actions(acme) == ["reseller.create"]


def test_member_errors(acme) -> None:
    fails(acme("reseller", "member", "add", "acme", BO, "--role", "owner"), 5,
          "role `owner`")
    fails(acme("reseller", "member", "add", "acme", "ghost@acme.example", "--role", "viewer"),
          3, "ghost@acme.example")
    ok(acme("reseller", "member", "add", "acme", BO, "--role", "viewer", "-o", "json"))
    fails(acme("reseller", "member", "add", "acme", BO, "--role", "admin"), 4,
          "already a member")
    fails(acme("reseller", "member", "remove", "acme", VIC), 3, "not a member")
    fails(acme("reseller", "member", "list", "ghost"), 3, "`ghost` not found")
    missing_role = acme("reseller", "member", "add", "acme", VIC)
    assert missing_role.exit_code == 2 and missing_role.stdout == ""
    roles = {m["email"]: m["role"]
             for m in ok(acme("reseller", "member", "list", "acme", "-o", "json"))}
    assert roles == {ANA: "admin", BO: "viewer"}
    assert actions(acme) == ["reseller.create", "reseller.member_add"]


# ---------------------------------------------------------------- branding

EMPTY_BRANDING = {"logo_url": None, "favicon_url": None, "login_background_url": None,
                  "primary_color": None, "secondary_color": None, "domain": None}


def test_branding_set_show_clear(acme) -> None:
    assert ok(acme("reseller", "branding", "show", "acme", "-o", "json")) == {
        "reseller": "acme", **EMPTY_BRANDING}
    full = ok(acme("reseller", "branding", "set", "acme",
                   "--logo-url", "https://cdn.acme.example/logo.svg",
                   "--favicon-url", "https://cdn.acme.example/favicon.ico",
                   "--login-background-url", "https://cdn.acme.example/bg.jpg",
                   "--primary-color", "#0A84FF", "--secondary-color", "#FFFFFF",
                   "--domain", "portal.acme.example", "-o", "json"))
    expected = {"reseller": "acme", "logo_url": "https://cdn.acme.example/logo.svg",
                "favicon_url": "https://cdn.acme.example/favicon.ico",
                "login_background_url": "https://cdn.acme.example/bg.jpg",
                "primary_color": "#0A84FF", "secondary_color": "#FFFFFF",
                "domain": "portal.acme.example"}
    assert full == expected
    assert ok(acme("reseller", "branding", "show", "acme", "-o", "json")) == expected
    # setting one key keeps the others
    partial = ok(acme("reseller", "branding", "set", "acme", "--secondary-color", "#000000",
                      "-o", "json"))
    assert partial == {**expected, "secondary_color": "#000000"}
    cleared = ok(acme("reseller", "branding", "clear", "acme", "logo_url", "domain",
                      "-o", "json"))
    assert cleared == {**expected, "secondary_color": "#000000", "logo_url": None,
                       "domain": None}
    assert ok(acme("reseller", "branding", "clear", "acme", "-o", "json")) == {
        "reseller": "acme", **EMPTY_BRANDING}
    events = audit(acme)
    assert [e["action"] for e in events] == [
        "reseller.create", "reseller.branding_set", "reseller.branding_set",
        "reseller.branding_clear", "reseller.branding_clear"]
    assert events[2]["changes"] == {"before": {"secondary_color": "#FFFFFF"},
                                    "after": {"secondary_color": "#000000"}}


BAD_BRANDING = [
    ("--logo-url", "http://cdn.acme.example/logo.svg", "https"),
    ("--favicon-url", "ftp://cdn.acme.example/f.ico", "https"),
    ("--login-background-url", "https://", "https"),
    ("--logo-url", "cdn.acme.example/logo.svg", "https"),
    ("--primary-color", "#12345", "colour"),
    ("--primary-color", "red", "colour"),
    ("--secondary-color", "#GGGGGG", "colour"),
    ("--secondary-color", "0A84FF", "colour"),
    ("--domain", "not a host", "host name"),
    ("--domain", "-bad.example", "host name"),
    ("--domain", "localhost", "host name"),
    ("--domain", "https://acme.example", "host name"),
]


def test_branding_values_are_validated(acme) -> None:
    for option, value, fragment in BAD_BRANDING:
        fails(acme("reseller", "branding", "set", "acme", option, value), 5, fragment, value)
    # one bad value among good ones refuses the whole change
    fails(acme("reseller", "branding", "set", "acme", "--primary-color", "#000000",
               "--logo-url", "http://x.example/l.png"), 5, "https")
    assert ok(acme("reseller", "branding", "show", "acme", "-o", "json")) == {
        "reseller": "acme", **EMPTY_BRANDING}
    assert actions(acme) == ["reseller.create"]


def test_branding_domain_is_unique_across_resellers(acme) -> None:
    ok(acme("reseller", "create", "--slug", "beta", "--name", "Beta", "--owner", BO,
            "-o", "json"))
    ok(acme("reseller", "branding", "set", "acme", "--domain", "portal.example.com",
            "-o", "json"))
    # setting its own domain again is fine
    ok(acme("reseller", "branding", "set", "acme", "--domain", "portal.example.com",
            "-o", "json"))
    fails(acme("reseller", "branding", "set", "beta", "--domain", "portal.example.com"), 4,
          "portal.example.com")
    fails(acme("reseller", "branding", "set", "beta", "--domain", "PORTAL.Example.com"), 4,
          "portal.example.com")
    assert ok(acme("reseller", "branding", "show", "beta", "-o", "json"))["domain"] is None
    # once acme lets it go, beta may take it
    ok(acme("reseller", "branding", "clear", "acme", "domain", "-o", "json"))
    assert ok(acme("reseller", "branding", "set", "beta", "--domain", "portal.example.com",
                   "-o", "json"))["domain"] == "portal.example.com"


def test_branding_from_file(acme, tmp_path) -> None:
    good = tmp_path / "brand.json"
    good.write_text(json.dumps({"primary_color": "#112233", "logo_url": "https://x.example/l.png",
                                "domain": "brand.acme.example"}))
    result = ok(acme("reseller", "branding", "set", "acme", "--from-file", str(good),
                     "--primary-color", "#445566", "-o", "json"))
    assert result["primary_color"] == "#445566"  # options override the file
    assert result["logo_url"] == "https://x.example/l.png"
    assert result["domain"] == "brand.acme.example"

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"primary_color": "#000000", "logoUrl": "https://x.example/l",
                               "favicon": "https://x.example/f"}))
    fails(acme("reseller", "branding", "set", "acme", "--from-file", str(bad)), 5,
          "favicon", "logoUrl")
    not_json = tmp_path / "broken.json"
    not_json.write_text("{primary_color: ")
    fails(acme("reseller", "branding", "set", "acme", "--from-file", str(not_json)), 5, "JSON")
    a_list = tmp_path / "list.json"
    a_list.write_text("[]")
    fails(acme("reseller", "branding", "set", "acme", "--from-file", str(a_list)), 5)
    bad_value = tmp_path / "value.json"
    bad_value.write_text(json.dumps({"logo_url": "http://insecure.example/l.png"}))
    fails(acme("reseller", "branding", "set", "acme", "--from-file", str(bad_value)), 5,
          "https")
    # the refused files changed nothing
    assert ok(acme("reseller", "branding", "show", "acme", "-o", "json")) == result
    assert actions(acme) == ["reseller.create", "reseller.branding_set"]


def test_branding_clear_refuses_unknown_keys(acme) -> None:
    ok(acme("reseller", "branding", "set", "acme", "--primary-color", "#0A84FF", "-o", "json"))
    fails(acme("reseller", "branding", "clear", "acme", "primary_color", "colour"), 5,
          "colour")
    assert ok(acme("reseller", "branding", "show", "acme", "-o", "json"))[
        "primary_color"] == "#0A84FF"


def test_branding_set_with_nothing_is_refused(acme) -> None:
    fails(acme("reseller", "branding", "set", "acme"), 5)
    assert actions(acme) == ["reseller.create"]


# ---------------------------------------------------------------- scoping and permissions

@pytest.fixture
def two_resellers(acme):
    """acme (ana owner, bo support, vic viewer) and beta (zed owner)."""
    users(acme, ZED)
    ok(acme("reseller", "create", "--slug", "beta", "--name", "Beta", "--owner", ZED,
            "--licenses", "3", "-o", "json"))
    ok(acme("reseller", "member", "add", "acme", BO, "--role", "support", "-o", "json"))
    ok(acme("reseller", "member", "add", "acme", VIC, "--role", "viewer", "-o", "json"))
    return acme


def test_members_see_only_their_resellers(two_resellers) -> None:
    run = two_resellers
    assert [r["slug"] for r in ok(run("reseller", "list", "-o", "json"))] == ["acme", "beta"]
    for who in (ANA, BO, VIC):
        assert [r["slug"] for r in ok(run("reseller", "list", "-o", "json", actor=who))] == [
            "acme"]
        assert ok(run("reseller", "show", "acme", "-o", "json", actor=who))["slug"] == "acme"
    assert [r["slug"] for r in ok(run("reseller", "list", "-o", "json", actor=ZED))] == ["beta"]
    # a user who belongs nowhere sees nothing
    users(run, "loner@example.com")
    assert ok(run("reseller", "list", "-o", "json", actor="loner@example.com")) == []


READS = [("reseller", "show"), ("reseller", "balance", "show"),
         ("reseller", "balance", "history"), ("reseller", "member", "list"),
         ("reseller", "branding", "show"), ("license", "show")]
SUPER_ADMIN_ONLY = [
    ("reseller", "create", "--slug", "gamma", "--name", "Gamma", "--owner", ANA),
    ("reseller", "edit", "acme", "--name", "Hijacked"),
    ("reseller", "edit", "acme", "--partner-supported"),
    ("reseller", "deactivate", "acme"),
    ("reseller", "activate", "acme"),
    ("license", "grant", "acme", "10"),
    ("license", "revoke", "acme", "1"),
    ("license", "reconcile", "--apply"),
    ("reseller", "balance", "top-up", "acme", "100"),
    ("reseller", "balance", "adjust", "acme", "100", "--reason", "gift"),
]


def test_another_resellers_objects_read_as_not_found(two_resellers) -> None:
    run = two_resellers
    for command in READS:
        hidden = fails(run(*command, "beta", actor=ANA), 3, "reseller `beta` not found")
        missing = fails(run(*command, "ghost", actor=ANA), 3, "reseller `ghost` not found")
        # the same words whether it exists or not: its existence does not leak
        assert hidden.replace("beta", "X") == missing.replace("ghost", "X"), command
        assert run(*command, "beta", "-o", "json", actor=ZED).exit_code == 0, command
        assert run(*command, "acme", "-o", "json", actor=VIC).exit_code == 0, command


def test_super_admin_only_commands_refuse_a_reseller_admin(two_resellers) -> None:
    run = two_resellers
    before = ok(run("reseller", "list", "-o", "json"))
    audit_before = ok(run("audit", "list", "-o", "json"))
    for args in SUPER_ADMIN_ONLY:
        fails(run(*args, actor=ANA), 6, "super admin")
    assert ok(run("reseller", "list", "-o", "json")) == before
    assert ok(run("audit", "list", "-o", "json")) == audit_before


def test_roles_below_admin_cannot_change_members_or_branding(two_resellers) -> None:
    run = two_resellers
    users(run, "new@acme.example")
    for who in (BO, VIC):
        fails(run("reseller", "member", "add", "acme", "new@acme.example", "--role", "viewer",
                  actor=who), 6, "admin")
        fails(run("reseller", "member", "remove", "acme", VIC, actor=who), 6, "admin")
        fails(run("reseller", "branding", "set", "acme", "--primary-color", "#000000",
                  actor=who), 6, "admin")
        fails(run("reseller", "branding", "clear", "acme", actor=who), 6, "admin")
        # but reading is fine
        assert len(ok(run("reseller", "member", "list", "acme", "-o", "json", actor=who))) == 3
        ok(run("reseller", "branding", "show", "acme", "-o", "json", actor=who))
    # another reseller's owner cannot touch acme's members: acme reads as not found
    fails(run("reseller", "member", "add", "acme", "new@acme.example", "--role", "viewer",
              actor=ZED), 3, "`acme` not found")
    # ana (owner, admin) can
    ok(run("reseller", "member", "add", "acme", "new@acme.example", "--role", "viewer",
           "-o", "json", actor=ANA))
    assert actions(run, "reseller.member") == ["reseller.member_add"] * 3


def test_unknown_actor_is_denied(two_resellers) -> None:
    fails(two_resellers("reseller", "list", actor="ghost@nowhere.example"), 6,
          "ghost@nowhere.example")
    fails(two_resellers("reseller", "show", "acme", actor="ghost@nowhere.example"), 6)


def test_every_change_writes_its_audit_event(acme) -> None:
    run = acme
    ok(run("reseller", "edit", "acme", "--name", "Acme 2", "-o", "json"))
    ok(run("reseller", "deactivate", "acme", "-o", "json"))
    ok(run("reseller", "activate", "acme", "-o", "json"))
    ok(run("reseller", "member", "add", "acme", BO, "--role", "viewer", "-o", "json"))
    ok(run("reseller", "member", "remove", "acme", BO, "-o", "json"))
    ok(run("reseller", "branding", "set", "acme", "--primary-color", "#010203", "-o", "json"))
    ok(run("reseller", "branding", "clear", "acme", "-o", "json"))
    # reads write nothing
    for read in (("reseller", "show", "acme"), ("reseller", "list"),
                 ("reseller", "member", "list", "acme"),
                 ("reseller", "branding", "show", "acme")):
        ok(run(*read, "-o", "json"))
    events = audit(run)
    assert [e["action"] for e in events] == [
        "reseller.create", "reseller.edit", "reseller.deactivate", "reseller.activate",
        "reseller.member_add", "reseller.member_remove", "reseller.branding_set",
        "reseller.branding_clear"]
    assert {e["actor"] for e in events} == {ADMIN}
    assert {e["reseller"] for e in events} == {"acme"}
    assert all(INSTANT.match(e["at"]) for e in events)
