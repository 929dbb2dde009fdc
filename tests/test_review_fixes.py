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


def test_resellctl_now_out_of_the_calendar_is_invalid_input(run):  # noqa: ANN001
    for when in ("0001-01-02T00:00:00Z", "9999-12-31T10:00:00Z", "1899-12-31T23:59:59Z"):
        for args in (("report", "activity", "--range", "12m"), ("report", "snapshot")):
            result = run(*args, "-o", "json", env={"RESELLCTL_NOW": when})
            assert result.exit_code == 5, (when, args, result.stderr)
            assert json.loads(result.stderr)["error"]["code"] == "invalid_now"
    for when in ("1900-01-01T00:00:00Z", "9998-12-31T10:00:00Z"):
        ok(run("report", "snapshot", "-o", "json", env={"RESELLCTL_NOW": when}))


def test_client_create_table_labels_the_created_flag_apart(run):  # noqa: ANN001
    ok(run("user", "create", "ana@acme.example", "-o", "json"))
    ok(run("reseller", "create", "--slug", "acme", "--name", "Acme", "--owner",
           "ana@acme.example", "--licenses", "2", "-o", "json"))
    table = run("client", "create", "-r", "acme", "--name", "Zed Co", "--owner-name", "Z",
                "--owner-email", "z@zed.example")
    assert table.exit_code == 0, table.stderr
    labels = [line.split("  ")[0] for line in table.stdout.splitlines() if line.strip()]
    assert labels.count("Created") == 1 and "Created now" in labels


def test_the_mrr_chart_labels_its_axis_with_amounts():
    from resellctl.cli.report import chart

    points = [{"date": f"2026-01-0{d}", "value": 150_000 + 10_000 * d} for d in range(1, 6)]
    text = chart(points, "mrr", "mrr, last 7d", width=80, colour=False)
    ticks = [line.split("┤")[0].strip() for line in text.splitlines() if "┤" in line]
    assert len(ticks) == 5 and all(t.startswith("$") for t in ticks), ticks
    assert "$1,5" in ticks[-1] and "$2,0" in ticks[0]
    seats = chart([{**p, "value": p["value"] // 100} for p in points], "used_seats", "s",
                  width=80, colour=False)
    assert "$" not in seats


def test_the_access_log_never_holds_a_token_shaped_path_segment():
    from resellctl.server.access import logged_path

    link, api = "Ab-_" * 10 + "xyz", "rsl_" + "k" * 43
    for path in (f"/approve/{link}", f"/approve//{link}", f"//support/{link}",
                 f"/branding/{link}.css", f"/v1/tokens/{api}/revoke", f"/v1/x/{link}"):
        logged = logged_path(path)
        assert link not in logged and api not in logged and "{token}" in logged, logged
    for path in ("/v1/clients/cl_0123456789abcdef0123", "/v1/resellers/acme", "/healthz"):
        assert logged_path(path) == path
