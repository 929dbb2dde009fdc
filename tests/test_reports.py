"""Reports on a hand-computed portfolio, both stores: the dashboard's figures, seats,
recurring costs, snapshots (a rerun replaces the day) and the activity series."""

from __future__ import annotations

import json

import pytest
from helpers import ok

ANA = "ana@acme.example"
BO = "bo@beta.example"
NOW = "2026-03-10T12:00:00Z"
PLAN = "business-location"  # monthly $15.00 (50+: $12.00), quarterly $43.00, yearly $150.00


@pytest.fixture
def at(run):  # noqa: ANN001, ANN201
    def call(when: str, *args: str, actor: str | None = "default"):  # noqa: ANN202
        return run(*args, "-o", "json", env={"RESELLCTL_NOW": when}, actor=actor)
    return call


def client(at, reseller: str, name: str, *extra: str) -> str:  # noqa: ANN001
    return ok(at(NOW, "client", "create", "-r", reseller, "--name", name, "--owner-name", "O",
                 "--owner-email", f"{name.lower().replace(' ', '')}@x.example", *extra))["uid"]


def subscribe(at, uid: str, *args: str, activate: bool = True) -> str:  # noqa: ANN001
    sub = ok(at(NOW, "subscription", "create", uid, "--plan", PLAN, *args))["id"]
    if activate:
        ok(at(NOW, "subscription", "activate", sub))
    return sub


@pytest.fixture
def portfolio(at):  # noqa: ANN001, ANN201
    """acme: 4 clients (active 10/8 seats, at_risk 5/7, trial 3/0, deactivated lead 9/9),
    a deleted one; subscriptions monthly × 10 ($150), quarterly × 2 ($86), yearly × 1
    ($150, auto-renew off), one pending; $1,000 topped up. beta: 1 active client, monthly
    × 60 ($720), $2,000."""
    for user in (ANA, BO):
        ok(at(NOW, "user", "create", user))
    ok(at(NOW, "reseller", "create", "--slug", "acme", "--name", "Acme", "--owner", ANA,
          "--licenses", "10"))
    ok(at(NOW, "reseller", "create", "--slug", "beta", "--name", "Beta", "--owner", BO,
          "--licenses", "3"))
    ok(at(NOW, "reseller", "balance", "top-up", "acme", "1000"))
    ok(at(NOW, "reseller", "balance", "top-up", "beta", "2000"))
    a = client(at, "acme", "Alpha", "--stage", "demo", "--seats", "10")
    b = client(at, "acme", "Bravo", "--seats", "5")
    c = client(at, "acme", "Charlie", "--stage", "trial", "--seats", "3")
    d = client(at, "acme", "Delta", "--seats", "9")
    e = client(at, "acme", "Echo", "--seats", "4")
    ok(at(NOW, "client", "usage", a, "--seats-used", "8"))
    ok(at(NOW, "client", "usage", b, "--seats-used", "7"))
    ok(at(NOW, "client", "usage", d, "--seats-used", "9"))
    subscribe(at, a, "--quantity", "10")                      # → stage active
    subscribe(at, b, "--quantity", "2", "--interval", "quarterly")   # → active
    ok(at(NOW, "client", "edit", b, "--stage", "at_risk"))
    subscribe(at, a, "--quantity", "1", "--interval", "yearly", "--no-auto-renew")
    subscribe(at, d, "--quantity", "1", activate=False)       # pending
    ok(at(NOW, "client", "deactivate", d))
    ok(at(NOW, "client", "delete", e, "--yes"))
    f = client(at, "beta", "Foxtrot", "--seats", "60")
    subscribe(at, f, "--quantity", "60")                      # $720, → active
    return {"acme": [a, b, c, d], "beta": [f]}


def test_dashboard_figures_are_exact(portfolio, at):
    acme = ok(at(NOW, "report", "dashboard", "-r", "acme"))
    # MRR: 150 + 86/3 (28.666…) + 150/12 (12.5) = 191.1666… → $191.17
    assert {k: v for k, v in acme.items() if k not in ("date", "reseller")} == {
        "total_clients": 4, "active_clients": 2, "trial_clients": 1,
        "allocated_seats": 18, "used_seats": 15, "license_count": 10, "license_used": 3,
        "license_available": 7, "balance_cents": 100000 - 15000 - 8600 - 15000,
        "active_subscriptions": 3, "mrr_cents": 19117, "arr_cents": 229404,
        "renewals_due_30d_cents": 0}
    assert "resellers" not in acme
    channel = ok(at(NOW, "report", "dashboard"))
    assert channel["total_clients"] == 5 and channel["active_subscriptions"] == 4
    assert channel["mrr_cents"] == 19117 + 72000  # one rounding for the whole channel
    assert [r["reseller"] for r in channel["resellers"]] == ["beta", "acme"]  # by MRR
    assert channel["resellers"][1]["mrr_cents"] == 19117
    # renewals due within 30 days of the period ends (2026-04-10)
    later = ok(at("2026-03-20T00:00:00Z", "report", "dashboard", "-r", "acme"))
    assert later["renewals_due_30d_cents"] == 15000  # monthly only: yearly off, quarterly later
    assert ok(at(NOW, "report", "dashboard", actor=BO))["total_clients"] == 1


def test_seats(portfolio, at, run):
    report = ok(at(NOW, "report", "seats", "-r", "acme"))
    assert [(c["name"], c["seats_allocated"], c["seats_used"], c["utilisation"],
             c["over_allocation"]) for c in report["clients"]] == [
        ("Alpha", 10, 8, 0.8, False), ("Bravo", 5, 7, 1.4, True),
        ("Charlie", 3, 0, 0.0, False)]
    assert report["totals"] == {"clients": 3, "seats_allocated": 18, "seats_used": 15,
                                "utilisation": 0.8333, "over_allocation": 1}
    over = ok(at(NOW, "report", "seats", "-r", "acme", "--over-only"))
    assert [c["name"] for c in over["clients"]] == ["Bravo"]
    rows = run("report", "seats", "-r", "acme", "-o", "csv").stdout.splitlines()
    assert rows[0] == ("client,name,reseller,seats_allocated,seats_used,utilisation,"
                       "over_allocation") and len(rows) == 4
    table = run("report", "seats", "-r", "acme").stdout
    assert "140% ⚠" in table and "15 of 18 seats used (83%)" in table


def test_recurring_and_when_the_balance_runs_short(portfolio, at):
    report = ok(at(NOW, "report", "recurring", "-r", "acme", "--upcoming", "120d"))
    assert report["intervals"] == [
        {"interval": "monthly", "count": 1, "period_cents": 15000, "mrr_cents": 15000},
        {"interval": "quarterly", "count": 1, "period_cents": 8600, "mrr_cents": 2867},
        {"interval": "biannual", "count": 0, "period_cents": 0, "mrr_cents": 0},
        {"interval": "yearly", "count": 1, "period_cents": 15000, "mrr_cents": 1250}]
    assert (report["mrr_cents"], report["arr_cents"]) == (19117, 229404)
    # balance $614.00: monthly $150 on 04-10, 05-10, 06-10; quarterly $86 on 06-10
    assert [(d["date"], d["charges_cents"], d["balance_after_cents"])
            for d in report["upcoming"]] == [
        ("2026-04-10", 15000, 46400), ("2026-05-10", 15000, 31400),
        ("2026-06-10", 23600, 7800)]
    assert report["covered"] is True and report["short"] == []
    longer = ok(at(NOW, "report", "recurring", "-r", "acme", "--upcoming", "200d"))
    # 07-10: $78.00 - $150.00 → short; by 09-26 also 08-10, 09-10 and the quarterly 09-10
    assert longer["short"] == [{"reseller": "acme", "date": "2026-07-10",
                                "shortfall_cents": 45800}]
    assert longer["covered"] is False


def test_snapshots_and_activity(portfolio, at, run, tmp_path):
    first = ok(at(NOW, "report", "snapshot"))
    assert first == {"date": "2026-03-10", "resellers": 2, "replaced": False}
    ok(at(NOW, "client", "usage", portfolio["acme"][2], "--seats-used", "3"))
    again = ok(at(NOW, "report", "snapshot"))
    assert again["replaced"] is True
    ok(at(NOW, "report", "snapshot", "--date", "2026-03-07"))
    fails = at(NOW, "report", "snapshot", actor=ANA)
    assert fails.exit_code == 6
    series = ok(at(NOW, "report", "activity", "-r", "acme", "--range", "7d"))
    assert [p["date"] for p in series][0] == "2026-03-04" and len(series) == 7
    assert [p["value"] for p in series] == [None, None, None, 18, None, None, 18]
    mrr = ok(at(NOW, "report", "activity", "--range", "7d", "--metric", "mrr"))
    assert mrr[-1]["value"] == 19117 + 72000
    active = ok(at(NOW, "report", "activity", "--range", "30d", "--metric", "active_clients"))
    assert len(active) == 30 and active[-1]["value"] == 3
    svg = tmp_path / "chart.svg"
    shown = run("report", "activity", "--range", "7d", "--out", str(svg),
                env={"RESELLCTL_NOW": NOW})
    assert shown.exit_code == 0, shown.stderr
    assert "2026-03-04" in shown.stdout and "used seats" in shown.stdout
    assert svg.read_text().startswith("<svg") and "2026-03-10" in svg.read_text()
    bad = at(NOW, "report", "activity", "--range", "2y")
    assert bad.exit_code == 5 and json.loads(bad.stderr)["error"]["exit_code"] == 5


def test_monthly_rows_and_mrr_movements_that_add_up(at, run, tmp_path):
    for user in (ANA,):
        ok(at(NOW, "user", "create", user))
    ok(at("2026-01-02T09:00:00Z", "reseller", "create", "--slug", "acme", "--name", "Acme",
          "--owner", ANA, "--licenses", "10"))
    ok(at("2026-01-02T09:00:00Z", "reseller", "balance", "top-up", "acme", "5000"))
    jan, feb, mar = "2026-01-10T09:00:00Z", "2026-02-10T09:00:00Z", "2026-03-12T09:00:00Z"
    a = ok(at(jan, "client", "create", "-r", "acme", "--name", "Alpha", "--owner-name", "A",
              "--owner-email", "a@a.example"))["uid"]
    b = ok(at(jan, "client", "create", "-r", "acme", "--name", "Bravo", "--owner-name", "B",
              "--owner-email", "b@b.example", "--stage", "trial"))["uid"]
    sa = ok(at(jan, "subscription", "create", a, "--plan", PLAN, "--quantity", "10"))["id"]
    ok(at(jan, "subscription", "activate", sa))                       # $150/month from 01-10
    sb = ok(at(jan, "subscription", "create", b, "--plan", PLAN, "--quantity", "1",
               "--interval", "quarterly"))["id"]
    ok(at(jan, "subscription", "activate", sb))  # trial until 01-31: from 02-01, $43/quarter
    ok(at(jan, "subscription", "edit", sa, "--quantity", "20"))       # from the 02-10 renewal
    ok(at(feb, "subscription", "sweep"))                              # A renews at $300
    ok(at(mar, "subscription", "cancel", sb, "--yes"))                # B churns
    c = ok(at(mar, "client", "create", "-r", "acme", "--name", "Charlie", "--owner-name", "C",
              "--owner-email", "c@c.example"))["uid"]
    sc = ok(at(mar, "subscription", "create", c, "--plan", PLAN, "--quantity", "2",
               "--interval", "yearly"))["id"]
    ok(at(mar, "subscription", "activate", sc))                       # $300/year: $25 MRR
    ok(at(mar, "subscription", "edit", sa, "--quantity", "5"))        # from the 03-10 renewal?
    assert ok(at(mar, "report", "monthly", "--month", "2025-12")) == []  # before acme existed
    rows = {m: ok(at(mar, "report", "monthly", "--month", m))[0]
            for m in ("2026-01", "2026-02", "2026-03")}
    rows["2025-12"] = {"mrr_cents": 0}
    assert (rows["2026-01"]["mrr_cents"], rows["2026-01"]["mrr_new_cents"]) == (15000, 15000)
    assert rows["2026-01"]["clients_new"] == 2 and rows["2026-01"]["trials_started"] == 1
    # Feb: A 150 → 300 (expansion), B new at 43/3 = 14.333…: 314.33
    assert {k: rows["2026-02"][k] for k in ("mrr_cents", "mrr_new_cents",
                                             "mrr_expansion_cents")} == {
        "mrr_cents": 31433, "mrr_new_cents": 1433, "mrr_expansion_cents": 15000}
    assert rows["2026-02"]["charges_cents"] == 30000
    # Mar: B cancelled (churn −14.33), C new (+25.00); A's period 03-10 was not renewed
    # by a sweep yet, so A's paid period ended 03-10: churn too
    march = rows["2026-03"]
    for previous, month in (("2025-12", "2026-01"), ("2026-01", "2026-02"),
                            ("2026-02", "2026-03")):
        now, before = rows[month], rows[previous]
        assert before["mrr_cents"] + sum(now[f"mrr_{m}_cents"] for m in (
            "new", "expansion", "contraction", "churn")) == now["mrr_cents"], month
    assert march["mrr_new_cents"] == 2500 and march["mrr_churn_cents"] == -31433
    assert march["mrr_cents"] == 2500 and march["clients_total"] == 3
    assert (march["top_ups_cents"], rows["2026-01"]["top_ups_cents"]) == (0, 500000)
    csv_file = tmp_path / "m.csv"
    done = run("report", "monthly", "--month", "2026-03", "-o", "csv", "--out", str(csv_file),
               env={"RESELLCTL_NOW": mar})
    assert done.exit_code == 0 and done.stdout == ""
    lines = csv_file.read_text().splitlines()
    assert lines[0].startswith("month,reseller,clients_total") and lines[0].endswith(
        "mrr_new_cents,mrr_expansion_cents,mrr_contraction_cents,mrr_churn_cents")
    assert lines[1].startswith("2026-03,acme,3,1,")
    bad = at(mar, "report", "monthly", "--month", "2026-13")
    assert bad.exit_code == 5
