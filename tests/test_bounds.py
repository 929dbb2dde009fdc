"""Numbers and texts at the edge of what the stores hold, found by the spec audit:
huge quantities, amounts and durations are invalid input (exit 5) with nothing
written, never an internal error or a float in an integer column; patterns do not
take a trailing newline; a config path that is a directory is exit 5. Both stores."""

from __future__ import annotations

import json

import pytest
from helpers import ok
from test_subscriptions import NOW, PLAN, acme, at, fails, new_client  # noqa: F401

from resellctl.domain import validate

HUGE = "99999999999999999999"  # past 2**64
INT64 = str(2**63 - 1)


def pool(at) -> dict:  # noqa: ANN001, F811
    return ok(at(NOW, "license", "show", "acme"))


def events(at) -> int:  # noqa: ANN001, F811
    return len(ok(at(NOW, "audit", "list", "--limit", "100000")))


@pytest.mark.parametrize("quantity", [HUGE, INT64, str(validate.MAX_COUNT + 1)])
def test_licence_quantities_past_the_integer_range_are_invalid(acme, at, quantity):  # noqa: F811
    before, audited = pool(at), events(at)
    for args in (("license", "grant", "acme", quantity),
                 ("license", "revoke", "acme", quantity),
                 ("license", "purchase", "acme", quantity),
                 ("reseller", "create", "--slug", "big", "--name", "Big",
                  "--owner", "ana@acme.example", "--licenses", quantity)):
        fails(at(NOW, *args), 5, "at most 2,147,483,647")
    assert pool(at) == before and events(at) == audited


def test_a_pool_cannot_grow_past_the_integer_range(acme, at):  # noqa: F811
    count = pool(at)["license_count"]
    room = validate.MAX_COUNT - count
    fails(at(NOW, "license", "grant", "acme", str(room + 1)), 5, "more than the 2,147,483,647")
    fails(at(NOW, "license", "purchase", "acme", str(room + 1)), 5, "2,147,483,647")
    after = ok(at(NOW, "license", "grant", "acme", str(room)))
    assert after["license_count"] == validate.MAX_COUNT
    assert isinstance(pool(at)["license_count"], int)
    fails(at(NOW, "license", "grant", "acme", "1"), 5)
    assert pool(at)["license_count"] == validate.MAX_COUNT


def test_subscription_quantities_and_prices_past_the_largest_amount(acme, at):  # noqa: F811
    audited = events(at)
    for quantity in (HUGE, INT64):
        fails(at(NOW, "subscription", "create", acme, "--plan", PLAN, "--quantity", quantity),
              5, "at most 2,147,483,647")
        fails(at(NOW, "subscription", "quote", "--plan", PLAN, "--quantity", quantity), 5)
    # a custom unit of $20,000,000.00 fits an amount; twice it is past the largest one
    fails(at(NOW, "subscription", "create", acme, "--plan", "enterprise", "--quantity", "2",
             "--unit-price", "20000000"), 5, "largest period price")
    fails(at(NOW, "subscription", "create", acme, "--plan", "enterprise", "--quantity", "1",
             "--unit-price", "21474836.48"), 5, "at most 21,474,836.47")
    assert events(at) == audited
    sub = ok(at(NOW, "subscription", "create", acme, "--plan", PLAN, "--quantity", "5"))
    fails(at(NOW, "subscription", "edit", sub["id"], "--quantity", INT64), 5)
    fails(at(NOW, "subscription", "edit", sub["id"], "--quantity", str(validate.MAX_COUNT),
             "--interval", "yearly"), 5, "largest period price")
    assert ok(at(NOW, "subscription", "show", sub["id"]))["quantity"] == 5


def test_a_balance_cannot_overflow(acme, at, run):  # noqa: F811
    from sqlalchemy import update

    from resellctl.domain import ledger
    from resellctl.store import tables
    from resellctl.store.engine import Store

    store = Store(run.url)
    with store.write() as conn:  # a balance just under the cap, as if topped up for years
        conn.execute(update(tables.reseller).where(tables.reseller.c.slug == "acme")
                     .values(balance_cents=ledger.MAX_BALANCE - 100))
    store.dispose()
    for amount in ("999999999999.99", "21474836.48"):
        fails(at(NOW, "reseller", "balance", "top-up", "acme", amount), 5, "at most")
        fails(at(NOW, "reseller", "balance", "adjust", "acme", f"-{amount}", "--reason", "x"),
              5, "at most")
    fails(at(NOW, "reseller", "balance", "top-up", "acme", "1.01"), 5, "would exceed")
    show = ok(at(NOW, "reseller", "balance", "show", "acme"))
    assert show["balance_cents"] == ledger.MAX_BALANCE - 100
    assert isinstance(show["balance_cents"], int)
    ok(at(NOW, "reseller", "balance", "top-up", "acme", "1"))
    assert ok(at(NOW, "reseller", "balance", "show", "acme"))["balance_cents"] == \
        validate.MAX_CENTS


@pytest.mark.parametrize("duration", ["999999w", "999999d", "36526d", "5218w"])
def test_durations_longer_than_a_century_are_invalid(acme, at, duration):  # noqa: F811
    ok(at(NOW, "reseller", "create", "--slug", "beta", "--name", "Beta",
          "--owner", "ana@acme.example", "--licenses", "5"))
    other = new_client(at, "Dune Ltd", reseller="beta")
    error = fails(at(NOW, "approval", "create", other, "-r", "acme", "--expires-in", duration),
                  5, "longer than 100 years")
    assert error["code"] == "invalid_duration"
    fails(at(NOW, "subscription", "list", "--renewing-within", duration), 5)
    fails(at(NOW, "settings", "set", "approval_ttl", duration), 5)


def test_a_century_is_still_a_duration(acme, at):  # noqa: F811
    ok(at(NOW, "settings", "set", "approval_ttl", "36525d"))
    ok(at(NOW, "subscription", "list", "--renewing-within", "5217w"))


@pytest.mark.parametrize(("args", "code"), [
    (("reseller", "create", "--slug", "acme\n", "--name", "A", "--owner", "ana@acme.example"),
     "invalid_slug"),
    (("reseller", "branding", "set", "acme", "--primary-color", "#abcdef\n"), "invalid_colour"),
])
def test_a_trailing_newline_does_not_pass_a_pattern(acme, at, args, code):  # noqa: F811
    assert fails(at(NOW, *args), 5)["code"] == code
    assert [r["slug"] for r in ok(at(NOW, "reseller", "list"))] == ["acme"]


def test_patterns_refuse_a_trailing_newline():
    for check, value in ((validate.slug, "acme\n"), (validate.colour, "#ABCDEF\n")):
        with pytest.raises(validate.Invalid):
            check(value, "x") if check is validate.colour else check(value)
    assert not validate.api_token("rsl_" + "a" * 43 + "\n")


def test_a_config_path_that_is_a_directory_is_invalid_input(bare_run, tmp_path):
    result = bare_run("whoami", "-o", "json", env={"RESELLCTL_CONFIG": str(tmp_path)})
    assert result.exit_code == 5, result.stderr
    error = json.loads(result.stderr)["error"]
    assert "cannot read config file" in error["message"] and str(tmp_path) in error["message"]


def test_config_values_must_be_strings(bare_run, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('current_context = "a"\n[contexts.a]\nactor = ["x@y.example"]\n')
    result = bare_run("whoami", "-o", "json", env={"RESELLCTL_CONFIG": str(config)})
    assert result.exit_code == 5, result.stderr
    assert "tables of strings" in json.loads(result.stderr)["error"]["message"]
