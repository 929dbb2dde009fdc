"""The error contract: exit codes, `Error:`/`Hint:` lines, the JSON error object, --debug."""

from __future__ import annotations

import inspect
import json

import pytest

from resellctl.cli import errors as cli_errors
from resellctl.domain import errors as e

ADMIN = "admin@vendor.example"
SPEC_EXIT_CODES = {
    e.UsageError: 2,
    e.NotFound: 3,
    e.Conflict: 4,
    e.Invalid: 5,
    e.Denied: 6,
    e.Insufficient: 7,
    e.Partial: 9,
    e.StoreUnavailable: 75,
}


def error_object(result) -> dict:  # noqa: ANN001
    """The one JSON error object on stderr, checked for shape."""
    assert result.stdout == ""
    body = json.loads(result.stderr)
    assert list(body) == ["error"]
    error = body["error"]
    assert {"code", "message", "exit_code"} <= set(error)
    assert set(error) <= {"code", "message", "exit_code", "hint", "details"}
    assert isinstance(error["code"], str) and error["code"]
    assert error["exit_code"] == result.exit_code
    return error


def text_error(result) -> list[str]:  # noqa: ANN001
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Error: ")
    assert sum(line.startswith("Error:") for line in lines) == 1
    assert "Traceback" not in result.stderr
    return lines


# --- the mapping ------------------------------------------------------------------------


def test_every_spec_error_kind_has_its_exit_code():
    for kind, code in SPEC_EXIT_CODES.items():
        assert cli_errors.exit_code(kind("x")) == code, kind.__name__


def test_every_domain_error_class_maps_to_the_code_of_its_kind():
    classes = [obj for _, obj in inspect.getmembers(e, inspect.isclass)
               if issubclass(obj, e.ResellError) and obj is not e.ResellError]
    assert set(SPEC_EXIT_CODES) <= set(classes)
    for cls in classes:
        kind = next((k for k in cls.__mro__ if k in SPEC_EXIT_CODES), None)
        assert kind is not None, f"{cls.__name__} is none of the spec's error kinds"
        error = cls.__new__(cls)  # constructors differ; the mapping only looks at the type
        assert cli_errors.exit_code(error) == SPEC_EXIT_CODES[kind], cls.__name__


def test_subclasses_map_like_their_kind():
    class ResellerNotFound(e.NotFound):
        pass

    assert cli_errors.exit_code(ResellerNotFound("x")) == 3


def test_the_bare_base_error_is_internal():
    assert cli_errors.exit_code(e.ResellError("x")) == 1


def test_error_codes_are_stable_slugs():
    assert {k.code for k in SPEC_EXIT_CODES} == {
        "usage", "not_found", "conflict", "invalid", "denied", "insufficient", "partial",
        "store_unavailable"}
    assert e.NotFound("x", code="reseller_not_found").code == "reseller_not_found"
    assert e.NotFound("x").code == "not_found"


def test_report_text_and_json(capsys):
    error = e.Invalid("bad row", hint="fix it", code="invalid_csv",
                      details=[{"row": 2, "column": "email", "message": "not an e-mail"}])
    assert cli_errors.report(error, as_json=False) == 5
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ("Error: bad row\n"
                            "  row 2, column email: not an e-mail\n"
                            "Hint: fix it\n")
    assert cli_errors.report(error, as_json=True) == 5
    captured = capsys.readouterr()
    assert captured.out == ""
    assert json.loads(captured.err) == {"error": {
        "code": "invalid_csv", "message": "bad row", "exit_code": 5, "hint": "fix it",
        "details": [{"row": 2, "column": "email", "message": "not an e-mail"}]}}


def test_report_caps_long_detail_lists(capsys):
    error = e.Invalid("many", details=[{"row": i, "message": "bad"} for i in range(1, 61)])
    cli_errors.report(error, as_json=False)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 + 50 + 1
    assert lines[-1] == "  ... and 10 more"


# --- 0 ----------------------------------------------------------------------------------


def test_success_exits_0_with_nothing_on_stderr(run):
    result = run("whoami")
    assert result.exit_code == 0
    assert result.stderr == ""


# --- 1: internal error ------------------------------------------------------------------


def _boom(*_args, **_kwargs):  # noqa: ANN002, ANN003, ANN202
    raise RuntimeError("kaboom\nsecond line")


def test_internal_error_is_one_line_with_its_hint(run, monkeypatch):
    """CLI.md: "1 | internal error (a bug): one line on stderr"."""
    monkeypatch.setattr("resellctl.domain.users.whoami", _boom)
    result = run("whoami")
    assert result.exit_code == 1
    lines = text_error(result)
    assert lines == ["Error: internal error: RuntimeError: kaboom (rerun with --debug to see "
                     "the traceback, and please report it)"]
    assert "second line" not in result.stderr

    as_json = run("whoami", "-o", "json")
    assert as_json.exit_code == 1
    error = error_object(as_json)
    assert error["code"] == "internal"
    assert error["message"] == "internal error: RuntimeError: kaboom"

    # --debug (option or environment) lets the exception, and its traceback, through.
    with pytest.raises(RuntimeError, match="kaboom"):
        run("--debug", "whoami")
    with pytest.raises(RuntimeError, match="kaboom"):
        run("whoami", env={"RESELLCTL_DEBUG": "1"})


def test_debug_prints_the_cause_of_a_domain_error(bare_run):
    result = bare_run("--debug", "--db", "postgresql://u:secret@127.0.0.1:1/x", "--as", ADMIN,
                      "whoami")
    assert result.exit_code == 75
    assert "Traceback" in result.stderr
    assert "Error: store unavailable" in result.stderr
    assert "secret" not in result.stderr
    plain = bare_run("--db", "postgresql://u:secret@127.0.0.1:1/x", "--as", ADMIN, "whoami")
    assert "Traceback" not in plain.stderr


# --- 2: usage ---------------------------------------------------------------------------


@pytest.mark.parametrize("args", [
    ["--no-such-option", "whoami"],
    ["whoami", "--no-such-option"],
    ["user", "show"],
    ["user", "create"],
    ["settings", "set", "trial_days"],
    ["no-such-command"],
    ["user", "list", "--output", "xml"],
    ["audit", "list", "--limit", "0"],
    ["audit", "list", "--limit", "many"],
])
def test_usage_errors_exit_2(bare_run, args):
    result = bare_run(*args)
    assert result.exit_code == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.strip()


def test_usage_error_from_a_refused_confirmation_exits_2(capsys):
    assert cli_errors.report(e.UsageError("cancelled"), as_json=False) == 2
    assert capsys.readouterr().err == "Error: cancelled\n"


# --- 3: not found -----------------------------------------------------------------------


def test_user_show_unknown_exits_3(run):
    result = run("user", "show", "nobody@example.com")
    assert result.exit_code == 3
    lines = text_error(result)
    assert lines == ["Error: user `nobody@example.com` not found",
                     "Hint: run `resellctl user list`"]
    error = error_object(run("user", "show", "nobody@example.com", "-o", "json"))
    assert error == {"code": "user_not_found", "message": "user `nobody@example.com` not found",
                     "exit_code": 3, "hint": "run `resellctl user list`"}
    from_env = run("user", "show", "nobody@example.com", env={"RESELLCTL_OUTPUT": "json"})
    assert error_object(from_env) == error


# --- 4: conflict ------------------------------------------------------------------------


def test_user_create_duplicate_exits_4(run):
    assert run("user", "create", "ana@partner.example").exit_code == 0
    result = run("user", "create", "ANA@partner.example")
    assert result.exit_code == 4
    text_error(result)
    assert "ana@partner.example" in result.stderr
    error = error_object(run("user", "create", "ana@partner.example", "-o", "json"))
    assert error["code"] == "user_exists"


# --- 5: invalid input -------------------------------------------------------------------

INVALID = [
    (["user", "create", "not-an-email"], "invalid_email"),
    (["user", "create", "a@b"], "invalid_email"),
    (["settings", "set", "trial_days", "soon"], "invalid_setting"),
    (["settings", "set", "currency", "dollars"], "invalid_setting"),
    (["settings", "set", "approval_ttl", "forever"], "invalid_duration"),
    (["settings", "set", "no_such_key", "1"], "unknown_setting"),
    (["audit", "list", "--since", "yesterday"], "invalid_date"),
    (["audit", "list", "--since", "2026-02-30"], "invalid_date"),
]


def test_invalid_input_exits_5(run):
    for args, code in INVALID:
        result = run(*args)
        assert result.exit_code == 5, (args, result.stderr)
        text_error(result)
        error = error_object(run(*args, "-o", "json"))
        assert error["code"] == code, args
    users = run("user", "list", "-o", "json").json
    assert [u["email"] for u in users] == [ADMIN]


def test_invalid_resellctl_now_exits_5(run):
    result = run("user", "create", "ana@partner.example", env={"RESELLCTL_NOW": "tomorrow"})
    assert result.exit_code == 5
    assert "tomorrow" in result.stderr
    assert run("user", "show", "ana@partner.example").exit_code == 3


# --- 6: permission denied ---------------------------------------------------------------


def test_unknown_or_missing_actor_exits_6(run):
    result = run("whoami", actor="ghost@example.com")
    assert result.exit_code == 6
    lines = text_error(result)
    assert lines[0] == "Error: unknown user `ghost@example.com`"
    assert lines[1].startswith("Hint: ")
    error = error_object(run("whoami", "-o", "json", actor="ghost@example.com"))
    assert error["code"] == "unknown_actor"
    nobody = run("whoami", actor=None)
    assert nobody.exit_code == 6
    assert "--as" in nobody.stderr


def test_non_super_admin_cannot_create_users_or_change_settings(run):
    assert run("user", "create", "ana@partner.example").exit_code == 0
    ana = "ana@partner.example"
    create = run("user", "create", "bob@partner.example", actor=ana)
    assert create.exit_code == 6
    text_error(create)
    setting = run("settings", "set", "trial_days", "30", "-o", "json", actor=ana)
    assert setting.exit_code == 6
    assert error_object(setting)["code"] == "super_admin_only"
    # Nothing changed.
    assert run("user", "show", "bob@partner.example").exit_code == 3
    assert run("settings", "show", "-o", "json").json["trial_days"] == 21


# --- 75: store unavailable --------------------------------------------------------------


def test_store_unavailable_exits_75(bare_run, tmp_path):
    result = bare_run("--db", f"sqlite:///{tmp_path / 'none.db'}", "--as", ADMIN, "whoami",
                      "-o", "json")
    assert result.exit_code == 75
    error = error_object(result)
    assert error["code"] == "store_unavailable"
    assert "resellctl init" in error["hint"]
