"""Usage errors that teach: a global option after the command gets the command line
rebuilt with it in front; a negative count is the rule it breaks (exit 5), not
`No such option: -5`."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from helpers import ok
from test_entrypoint import clean_env, entry_point

ADMIN = "admin@vendor.example"
URL = "sqlite:////srv/store.db"

# (command line, the option Click names, the command line the hint suggests)
MISPLACED = {
    "--as": (["whoami", "--as", "ana@x.example"], "--as",
             "resellctl --as ana@x.example whoami"),
    "--profile": (["init", "--profile", "staging", "--admin-email", ADMIN], "--profile",
                  f"resellctl --profile staging init --admin-email {ADMIN}"),
    "--db= and --debug": (["whoami", f"--db={URL}", "--debug"], "--db",
                          f"resellctl --db={URL} --debug whoami"),
    "--version": (["whoami", "--version"], "--version", "resellctl --version whoami"),
    "a command's own --db stays": (
        ["context", "create", "x", "--db", URL, "--debug"], "--debug",
        f"resellctl --debug context create x --db {URL}"),
    "options before stay first": (
        ["--db", URL, "license", "purchase", "acme", "5", "--as", "ana@x.example"], "--as",
        f"resellctl --db {URL} --as ana@x.example license purchase acme 5"),
    "a value that needs quotes": (
        ["user", "create", "bo@x.example", "--name", "Bo Li", "--profile", "my ctx"],
        "--profile", "resellctl --profile 'my ctx' user create bo@x.example --name 'Bo Li'"),
    "no value given": (["whoami", "--as"], "--as", "resellctl --as ACTOR whoami"),
    "in a nested group": (["reseller", "balance", "top-up", "acme", "5", "--as", "a@x.example"],
                          "--as", "resellctl --as a@x.example reseller balance top-up acme 5"),
}


@pytest.mark.parametrize("case", MISPLACED)
def test_a_global_option_after_the_command_gets_the_rebuilt_command_line(bare_run, case):
    args, option, suggested = MISPLACED[case]
    text = bare_run(*args)
    assert text.exit_code == 2, text.stderr
    assert text.stdout == ""
    lines = text.stderr.splitlines()
    assert lines[-2:] == [f"Error: No such option: {option}",
                          f"Hint: global options go before the command: {suggested}"]
    as_json = bare_run(*args, "-o", "json")
    assert as_json.exit_code == 2
    assert json.loads(as_json.stderr) == {"error": {
        "code": "usage", "message": f"No such option: {option}", "exit_code": 2,
        "hint": f"global options go before the command: {suggested} -o json"}}
    assert not Path(os.environ["RESELLCTL_CONFIG"]).exists()


def test_other_unknown_options_keep_the_help_hint(bare_run):
    result = bare_run("whoami", "--bogus", "-o", "json")
    assert json.loads(result.stderr)["error"]["hint"] == "run `resellctl whoami --help`"
    assert "Hint:" not in bare_run("whoami", "--bogus").stderr


def test_the_installed_entry_point_prints_the_hint(tmp_path):
    result = subprocess.run([entry_point(), "whoami", "--as", "ana@x.example"],
                            env=clean_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.endswith("Error: No such option: --as\nHint: global options go "
                                  "before the command: resellctl --as ana@x.example whoami\n")


# --- negative counts ----------------------------------------------------------------------


def licences(run) -> int:  # noqa: ANN001
    return ok(run("license", "show", "acme", "-o", "json"))["license_count"]


@pytest.fixture
def acme(run):  # noqa: ANN001, ANN201
    ok(run("reseller", "create", "--slug", "acme", "--name", "Acme", "--owner", ADMIN,
           "--licenses", "3", "-o", "json"))
    ok(run("reseller", "balance", "top-up", "acme", "1000", "-o", "json"))
    return run


NEGATIVE = {
    "license purchase": (["license", "purchase", "acme", "-5"], "QUANTITY must be 1 or more"),
    "license quote": (["license", "quote", "-5"], "QUANTITY must be 1 or more"),
    "license grant": (["license", "grant", "acme", "-5", "--reason", "x"],
                      "QUANTITY must be 1 or more"),
    "license revoke": (["license", "revoke", "acme", "-5"], "QUANTITY must be 1 or more"),
    "settings set": (["settings", "set", "trial_days", "-5"],
                     "must be a whole number from 1 to 365"),
    "balance top-up": (["reseller", "balance", "top-up", "acme", "-5"], "must be positive"),
    "reseller create --licenses": (["reseller", "create", "--slug", "beta", "--name", "B",
                                    "--owner", ADMIN, "--licenses", "-5"], "0 or more"),
    "client create --seats": (["client", "create", "-r", "acme", "--name", "C", "--owner-name",
                               "O", "--owner-email", "o@x.example", "--seats", "-5"],
                              "0 or more"),
}


def test_a_negative_count_is_the_rule_it_breaks(acme):
    before = (licences(acme), ok(acme("settings", "show", "-o", "json")),
              len(ok(acme("audit", "list", "-o", "json"))))
    for case, (args, rule) in NEGATIVE.items():
        text = acme(*args)
        assert text.exit_code == 5, (case, text.stderr)
        assert text.stdout == ""
        assert text.stderr.startswith("Error: ") and rule in text.stderr, case
        assert "No such option" not in text.stderr
        as_json = acme(*args, "-o", "json")
        assert as_json.exit_code == 5, case
        error = json.loads(as_json.stderr)["error"]
        assert error["exit_code"] == 5 and rule in error["message"], case
    after = (licences(acme), ok(acme("settings", "show", "-o", "json")),
             len(ok(acme("audit", "list", "-o", "json"))))
    assert after == before  # nothing written


def test_commands_taking_negative_numbers_still_refuse_unknown_options(acme):
    for args in (["license", "purchase", "acme", "--bogus", "5"],
                 ["license", "quote", "5", "--outptu", "json"],
                 ["settings", "set", "--bogus", "trial_days", "30"],
                 ["reseller", "balance", "adjust", "acme", "-5", "--reasn", "x"]):
        result = acme(*args)
        assert result.exit_code == 2, (args, result.stderr)
        assert "Error: No such option: --" in result.stderr
    assert licences(acme) == 3


def test_an_option_value_may_start_with_a_dash(acme):
    granted = ok(acme("license", "grant", "acme", "2", "--reason", "-launch-", "-o", "json"))
    assert granted["license_count"] == 5
    events = ok(acme("audit", "list", "--action", "license.grant", "-o", "json"))
    assert "-launch-" in json.dumps(events)
    adjusted = ok(acme("reseller", "balance", "adjust", "acme", "-12.50", "--reason", "-fix",
                       "-o", "json"))
    assert adjusted["balance_cents"] == 100_000 - 1250
