"""Small contract fixes from the spec audit, both stores."""

from __future__ import annotations

import json

from helpers import ok


def test_reseller_edit_with_nothing_to_change_is_a_usage_error(run):  # noqa: ANN001
    ok(run("user", "create", "ana@acme.example", "-o", "json"))
    ok(run("reseller", "create", "--slug", "acme", "--name", "Acme", "--owner",
           "ana@acme.example", "-o", "json"))
    events = len(ok(run("audit", "list", "-o", "json")))
    result = run("reseller", "edit", "acme", "-o", "json")
    assert result.exit_code == 2 and result.stdout == ""
    assert json.loads(result.stderr)["error"]["code"] == "nothing_to_change"
    assert len(ok(run("audit", "list", "-o", "json"))) == events
    assert ok(run("reseller", "edit", "acme", "--name", "Acme Ltd", "-o", "json"))["name"] == \
        "Acme Ltd"
