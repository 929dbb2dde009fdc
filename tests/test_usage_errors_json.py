"""Usage errors (Click's parsing: missing option or argument, unknown option, bad value)
honour `-o json`: one JSON error object on stderr, exit 2; without JSON, Click's text."""

from __future__ import annotations

import json
import subprocess
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import pytest
import typer
from test_entrypoint import HEAVY, PROBE, clean_env, entry_point

from resellctl.cli.main import ResellGroup

CREATE = ["client", "create", "-r", "acme", "--owner-name", "o", "--owner-email",
          "o@x.example"]

# (command line without -o, the text of Click's usage error, the usage line, the command)
CASES = {
    "missing option": (CREATE, "Missing option '--name'.",
                       "Usage: resellctl client create [OPTIONS]", "resellctl client create"),
    "unknown option": (["client", "import", "f.csv", "--bogus"], "No such option: --bogus",
                       "Usage: resellctl client import [OPTIONS] {FILE}",
                       "resellctl client import"),
    "int out of range": (["audit", "list", "--limit", "0"],
                         "Invalid value for '--limit': 0 is not in the range",
                         "Usage: resellctl audit list [OPTIONS]", "resellctl audit list"),
    "not an int": (["audit", "list", "--limit", "many"],
                   "Invalid value for '--limit': 'many' is not a valid int",
                   "Usage: resellctl audit list [OPTIONS]", "resellctl audit list"),
    "missing argument": (["client", "import"], "Missing argument 'FILE'.",
                         "Usage: resellctl client import [OPTIONS] {FILE}",
                         "resellctl client import"),
    "missing second argument": (["settings", "set", "trial_days"], "Missing argument 'value'.",
                                "Usage: resellctl settings set [OPTIONS] {key} {value}",
                                "resellctl settings set"),
    "unknown subcommand": (["client", "no-such-command"], "No such command 'no-such-command'.",
                           "Usage: resellctl client [OPTIONS] COMMAND [ARGS]...",
                           "resellctl client"),
    "unknown root option": (["--bogus", "whoami"], "No such option: --bogus",
                            "Usage: resellctl [OPTIONS] COMMAND [ARGS]...", "resellctl"),
}

JSON_SPELLINGS = {
    "-o json": ["-o", "json"],
    "--output json": ["--output", "json"],
    "--output=json": ["--output=json"],
    "-ojson": ["-ojson"],
    "-o JSON": ["-o", "JSON"],
    "-o table -o json": ["-o", "table", "-o", "json"],
}


def usage_json(result) -> dict:  # noqa: ANN001
    """Exactly one JSON line on stderr, the usage error object; nothing on stdout."""
    assert result.exit_code == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    body = json.loads(lines[0])
    assert list(body) == ["error"]
    error = body["error"]
    assert list(error) == ["code", "message", "exit_code", "hint"]  # as domain errors
    assert error["code"] == "usage"
    assert error["exit_code"] == 2
    return error


def usage_text(result, usage: str, message: str, command: str) -> None:  # noqa: ANN001
    """Click's text, as before: usage line, `Try ... -h`, blank line, `Error: ...`."""
    assert result.exit_code == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[:3] == [usage, f"Try '{command} -h' for help.", ""]
    assert lines[3].startswith(f"Error: {message}")
    assert len(lines) == 4
    assert "{" not in lines[3]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("spelling", JSON_SPELLINGS)
def test_usage_errors_are_json_with_json_output(bare_run, case, spelling):
    args, message, _usage, command = CASES[case]
    error = usage_json(bare_run(*args, *JSON_SPELLINGS[spelling]))
    assert error["message"].startswith(message)
    assert error["hint"] == f"run `{command} --help`"


@pytest.mark.parametrize("case", CASES)
def test_usage_errors_follow_resellctl_output(bare_run, case):
    args, message, usage, command = CASES[case]
    from_env = usage_json(bare_run(*args, env={"RESELLCTL_OUTPUT": "json"}))
    assert from_env["message"].startswith(message)
    # The command line beats the environment, as for the option's own value.
    for table in (["-o", "table"], ["--output=table"], ["-o", "json", "-o", "table"]):
        usage_text(bare_run(*args, *table, env={"RESELLCTL_OUTPUT": "json"}),
                   usage, message, command)


@pytest.mark.parametrize("case", CASES)
def test_usage_errors_stay_text_without_json(bare_run, case):
    args, message, usage, command = CASES[case]
    usage_text(bare_run(*args), usage, message, command)
    for other in (["-o", "table"], ["-o", "ndjson"], ["--output=csv"]):
        usage_text(bare_run(*args, *other), usage, message, command)
    usage_text(bare_run(*args, env={"RESELLCTL_OUTPUT": "csv"}), usage, message, command)
    # ...and the same command line with -o json is the JSON object, same message.
    assert usage_json(bare_run(*args, "-o", "json"))["message"] == \
        bare_run(*args).stderr.splitlines()[3].removeprefix("Error: ")


def test_missing_option_json_is_exactly_the_error_object(bare_run):
    result = bare_run(*CREATE, "-o", "json")
    assert result.stderr == (
        '{"error": {"code": "usage", "message": "Missing option \'--name\'.", '
        '"exit_code": 2, "hint": "run `resellctl client create --help`"}}\n')


def test_after_double_dash_o_json_is_an_argument(bare_run):
    """`--` ends the options: a later `-o json` is an argument, not a request for JSON;
    before it, it is."""
    usage_text(bare_run("settings", "set", "--", "-o", "json", "x"),
               "Usage: resellctl settings set [OPTIONS] {key} {value}",
               "Got unexpected extra argument", "resellctl settings set")
    error = usage_json(bare_run("settings", "set", "-o", "json", "--", "-o", "json", "x"))
    assert error["message"] == "Got unexpected extra argument(s) (x)"


def test_a_bad_output_value_is_text(bare_run):
    """`-o xml` asks for no JSON (the last -o wins), even with RESELLCTL_OUTPUT=json."""
    for env in ({}, {"RESELLCTL_OUTPUT": "json"}):
        for args in (["-o", "xml"], ["-o", "json", "-o", "xml"]):
            result = bare_run("user", "list", *args, env=env)
            usage_text(result, "Usage: resellctl user list [OPTIONS]",
                       "Invalid value for '--output' / '-o'", "resellctl user list")
            assert "'xml' is not one of" in result.stderr
    # An invalid value from the environment is no request for JSON either.
    result = bare_run("user", "list", env={"RESELLCTL_OUTPUT": "xml"})
    assert result.exit_code == 2
    assert result.stderr.startswith("Usage: ")
    assert usage_json(bare_run("user", "list", "--bogus", "-o", "json"))["message"] == \
        "No such option: --bogus"


class Colour(StrEnum):
    red = "red"
    blue = "blue"


choice_app = typer.Typer(cls=ResellGroup, rich_markup_mode=None, pretty_exceptions_enable=False,
                         context_settings={"help_option_names": ["-h", "--help"]})


@choice_app.callback()
def _choice_root() -> None:
    """A group, as the real app is."""


@choice_app.command("paint")
def _paint(colour: Annotated[Colour, typer.Option("--colour")],
           output: Annotated[str, typer.Option("--output", "-o")] = "table") -> None:
    typer.echo(f"{colour.value} {output}")


def test_a_bad_choice_is_json_with_json_output():
    """The real commands' only choice is -o itself; the root group's handling covers any
    choice option (BadParameter from a Choice) the same way."""
    from typer.testing import CliRunner

    runner = CliRunner()
    ok = runner.invoke(choice_app, ["paint", "--colour", "red", "-o", "json"])
    assert (ok.exit_code, ok.stdout) == (0, "red json\n")
    as_json = runner.invoke(choice_app, ["paint", "--colour", "green", "-o", "json"],
                            prog_name="resellctl")
    error = usage_json(as_json)
    assert error["message"].startswith("Invalid value for '--colour': 'green' is not one of")
    assert error["hint"] == "run `resellctl paint --help`"
    text = runner.invoke(choice_app, ["paint", "--colour", "green"], prog_name="resellctl")
    usage_text(text, "Usage: resellctl paint [OPTIONS]",
               "Invalid value for '--colour': 'green' is not one of", "resellctl paint")


def test_help_version_and_no_args_are_not_errors(bare_run):
    """--help and --version win over a usage problem, with or without -o json; a group
    without a subcommand shows its help (exit 2, as before), never a JSON error."""
    helped = bare_run(*CREATE, "--help", "-o", "json")
    assert helped.exit_code == 0
    assert helped.stdout.startswith("Usage: resellctl client create")
    assert helped.stderr == ""
    version = bare_run("--version", env={"RESELLCTL_OUTPUT": "json"})
    assert version.exit_code == 0
    assert version.stdout.startswith("resellctl ")
    # -o belongs to the commands, not the root: there it is an unknown option.
    assert usage_json(bare_run("--version", "-o", "json"))["message"] == \
        "No such option: -o"
    for env in ({"RESELLCTL_OUTPUT": "json"}, {}):
        group = bare_run("client", env=env)
        assert group.exit_code == 2
        assert group.stderr.startswith("Usage: resellctl client [OPTIONS] COMMAND")
        assert "Commands:" in group.stderr
    # Yet a usage error in that group is JSON.
    usage_json(bare_run("client", "--bogus", env={"RESELLCTL_OUTPUT": "json"}))


def test_parse_errors_and_refused_confirmations_are_the_same_json(bare_run):
    """A refused confirmation (a domain UsageError, raised after parsing) already gave the
    JSON object; a parse error on the same command now gives the same shape."""
    refused = usage_json(bare_run("client", "delete", "cl_1a2b3c4d5e6f", "-o", "json"))
    assert refused["message"] == "Delete client cl_1a2b3c4d5e6f: confirmation needed"
    assert refused["hint"] == "pass --yes to confirm without a terminal"
    missing = usage_json(bare_run("client", "delete", "-o", "json"))
    assert missing["message"] == "Missing argument 'CLIENT'."
    assert list(missing) == list(refused)


def test_the_entry_point_prints_the_json_usage_error(tmp_path):
    result = subprocess.run([entry_point(), *CREATE, "-o", "json"], env=clean_env(tmp_path),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stdout == ""
    assert json.loads(result.stderr) == {"error": {
        "code": "usage", "message": "Missing option '--name'.", "exit_code": 2,
        "hint": "run `resellctl client create --help`"}}
    assert result.stderr.count("\n") == 1
    from_env = subprocess.run([entry_point(), "audit", "list", "--limit", "0"],
                              env=clean_env(tmp_path, RESELLCTL_OUTPUT="json"),
                              capture_output=True, text=True, timeout=60)
    assert from_env.returncode == 2
    assert json.loads(from_env.stderr)["error"]["code"] == "usage"
    assert not (tmp_path / "cfg").exists()  # a usage error touches no config


def test_a_json_usage_error_imports_no_heavy_modules(tmp_path):
    args = [*CREATE, "-o", "json"]
    result = subprocess.run([sys.executable, "-c", PROBE.format(args=args, heavy=set(HEAVY))],
                            env=clean_env(tmp_path), capture_output=True, text=True,
                            timeout=60, cwd=Path(__file__).parent.parent)
    first, last = result.stderr.strip().splitlines()
    assert json.loads(first)["error"]["code"] == "usage"
    assert json.loads(last) == {"code": 2, "heavy": []}
