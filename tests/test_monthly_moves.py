"""`report monthly` of a past month does not change when a client moves to another
reseller later (an accepted approval), and lists only the resellers that existed by
the month's end. Both stores."""

from __future__ import annotations

from helpers import ok
from test_reports import at  # noqa: F401

ANA = "ana@acme.example"
JAN, APR, MAY = "2026-01-10T09:00:00Z", "2026-04-05T09:00:00Z", "2026-05-02T09:00:00Z"
KEYS = ("clients_total", "clients_new", "trials_started")


def counts(at, month: str, *scope: str) -> dict:  # noqa: ANN001, F811
    return {r["reseller"]: tuple(r[k] for k in KEYS)
            for r in ok(at(MAY, "report", "monthly", "--month", month, *scope))}


def test_a_later_move_does_not_rewrite_a_past_month(at):  # noqa: F811
    ok(at(JAN, "user", "create", ANA))
    for slug in ("acme", "beta"):
        ok(at("2026-01-02T09:00:00Z", "reseller", "create", "--slug", slug, "--name",
              slug.title(), "--owner", ANA, "--licenses", "10"))
    moved = ok(at(JAN, "client", "create", "-r", "acme", "--name", "Moved Co", "--owner-name",
                  "M", "--owner-email", "m@moved.example", "--stage", "trial"))["uid"]
    ok(at(JAN, "client", "create", "-r", "acme", "--name", "Stays Co", "--owner-name", "S",
          "--owner-email", "s@stays.example"))
    before = {m: counts(at, m) for m in ("2026-01", "2026-02")}
    scoped = {s: counts(at, "2026-01", "-r", s) for s in ("acme", "beta")}
    assert before["2026-01"] == {"acme": (2, 2, 1), "beta": (0, 0, 0)}

    link = ok(at(APR, "approval", "create", moved, "-r", "beta"))["url"]
    ok(at(APR, "approval", "accept", link, "--admin-email", "m@moved.example", actor=None))
    assert ok(at(APR, "client", "show", moved))["reseller"] == "beta"

    for month, figures in before.items():
        assert counts(at, month) == figures, month
    for slug, figures in scoped.items():
        assert counts(at, "2026-01", "-r", slug) == figures, slug
    # the month of the move and after: the client counts where it is
    assert counts(at, "2026-04") == {"acme": (1, 0, 0), "beta": (1, 0, 0)}
    # a reseller made in May has no row in January's export
    ok(at(MAY, "reseller", "create", "--slug", "gamma", "--name", "Gamma", "--owner", ANA))
    assert set(counts(at, "2026-01")) == {"acme", "beta"}
    assert set(counts(at, "2026-05")) == {"acme", "beta", "gamma"}


def test_the_month_under_way_counts_nothing_that_has_not_happened(at):  # noqa: F811
    june, mid_july = "2026-06-30T09:00:00Z", "2026-07-20T09:00:00Z"
    ok(at(june, "user", "create", ANA))
    ok(at(june, "reseller", "create", "--slug", "acme", "--name", "Acme", "--owner", ANA,
          "--licenses", "5"))
    ok(at(june, "reseller", "balance", "top-up", "acme", "100"))
    uid = ok(at(june, "client", "create", "-r", "acme", "--name", "Renews Co", "--owner-name",
                "R", "--owner-email", "r@renews.example"))["uid"]
    sub = ok(at(june, "subscription", "create", uid, "--plan", "business-location",
                "--quantity", "1"))["id"]
    ok(at(june, "subscription", "activate", sub))  # $15.00 a month, renews on 07-30
    [july] = ok(at(mid_july, "report", "monthly", "--month", "2026-07"))
    assert (july["mrr_cents"], july["mrr_churn_cents"]) == (1500, 0)  # not churned yet
