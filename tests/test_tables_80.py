"""Tables are for people (CLI.md): every list and show command, run by the installed
entry point in a real pseudo-terminal 80 columns wide, prints no line longer than 80
and never splits an identifier (uid, slug, e-mail) across lines."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import termios
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import ok
from test_entrypoint import ADMIN, clean_env, entry_point

from resellctl.cli.output import width

OWNER = "olivia.owner@acme-security-distribution.example.com"
VIEWER = "victor.viewer@acme-security-distribution.example.com"
BETA = "bruno@beta-partners-international.example"
LONG = "Clínica Dental Sorriso Perfeito de Lisboa e Vale do Tejo, Lda."


def in_terminal(args: list[str], env: dict[str, str], columns: int = 80) -> str:
    """Run the installed `resellctl` with stdout and stderr on a pty COLUMNS wide."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {k: v for k, v in env.items() if k not in ("COLUMNS", "LINES")}
    process = subprocess.Popen([entry_point(), *args], stdin=subprocess.DEVNULL,
                               stdout=follower, stderr=follower, env={**env, "TERM": "xterm"})
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the pty
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=60) == 0, b"".join(chunks).decode()
    return b"".join(chunks).decode().replace("\r\n", "\n")


@pytest.fixture
def channel(run):  # noqa: ANN001, ANN201
    """Two resellers with long names and e-mails, clients in several states, a ledger."""
    for email, name in [(OWNER, "Olivia Owner"), (VIEWER, "Victor Viewer"), (BETA, None)]:
        ok(run("user", "create", email, *(["--name", name] if name else []), "-o", "json"))
    ok(run("reseller", "create", "--slug", "acme-security-distribution",
           "--name", "Acme Security Distribution and Managed Services Ltd", "--owner", OWNER,
           "--licenses", "40", "--partner-supported", "-o", "json"))
    ok(run("reseller", "create", "--slug", "beta", "--name", "Beta", "--owner", BETA,
           "-o", "json"))
    ok(run("reseller", "member", "add", "acme-security-distribution", VIEWER, "--role",
           "viewer", "-o", "json"))
    ok(run("reseller", "balance", "top-up", "acme-security-distribution", "12345.67",
           "--reference", "wire transfer from Acme Security Distribution, March invoice",
           "-o", "json"))
    ok(run("license", "purchase", "acme-security-distribution", "3", "-o", "json"))
    ok(run("reseller", "branding", "set", "acme-security-distribution", "--logo-url",
           "https://cdn.acme-security-distribution.example.com/brand/logo-dark.png",
           "-o", "json"))
    uids = []
    for n, stage in enumerate(["trial", "lead", "demo"]):
        created = ok(run("client", "create", "-r", "acme-security-distribution",
                         "--name", f"{LONG} {n}", "--owner-name", "Ana Maria Pereira da Silva",
                         "--owner-email", f"ana.pereira.{n}@clinica-sorriso-perfeito.pt",
                         "--owner-phone", "+351 912 345 678", "--location", "Lisboa, Portugal",
                         "--stage", stage, "--seats", "10", "--plan", "business-location",
                         "--support-access", "-o", "json"))
        uids.append(created["uid"])
    ok(run("client", "usage", uids[1], "--seats-used", "12", "-o", "json"))
    ok(run("client", "edit", uids[0], "--stage", "active", "-o", "json"))
    ok(run("client", "deactivate", uids[2], "-o", "json"))
    sub = ok(run("subscription", "create", uids[0], "--plan", "business-location",
                 "--quantity", "12", "-o", "json"))
    ok(run("subscription", "activate", sub["id"], "-o", "json"))
    ok(run("subscription", "create", uids[1], "--plan", "enterprise", "--quantity", "3",
           "--unit-price", "1234.50", "--interval", "yearly", "-o", "json"))
    approval = ok(run("approval", "create", uids[0], "-r", "beta", "-o", "json"))
    ok(run("support", "open", uids[0], "--reason", "ticket 4411: the owner cannot log in "
           "since the password reset", "-o", "json"))
    ok(run("report", "snapshot", "-o", "json"))
    return {"uids": uids, "sub": sub["id"], "approval": approval["id"]}


def commands(uids: list[str], sub: str, approval: str) -> list[list[str]]:
    acme = "acme-security-distribution"
    return [
        ["whoami"], ["user", "list"], ["user", "show", OWNER], ["settings", "show"],
        ["reseller", "list"], ["reseller", "show", acme], ["reseller", "balance", "show", acme],
        ["reseller", "balance", "history", acme], ["reseller", "member", "list", acme],
        ["reseller", "branding", "show", acme], ["license", "show", acme],
        ["license", "quote", "60"], ["license", "reconcile"], ["client", "list"],
        ["client", "list", "-r", acme], ["client", "show", uids[0]],
        ["subscription", "plans", "list"], ["subscription", "plans", "show", "business-location"],
        ["audit", "list", "--limit", "30"], ["context", "list"], ["context", "show"],
        ["db", "status"], ["subscription", "list"], ["subscription", "show", sub],
        ["subscription", "quote", "--plan", "business-location", "--quantity", "45"],
        ["subscription", "quote", "--plan", "enterprise", "--quantity", "3"],
        ["subscription", "sweep"], ["approval", "list"], ["approval", "show", approval],
        ["support", "list"], ["report", "dashboard"], ["report", "dashboard", "-r", acme],
        ["report", "seats"], ["report", "recurring", "--upcoming", "60d"],
        ["report", "activity"], ["report", "snapshot"],
    ]


IDENTIFIER = re.compile(r"[\w.+-]+@[\w.-]+\.[a-z]{2,}\b|cl_[0-9a-f]{20}"
                        r"|(?:sub|apr|sup)_[0-9a-f]{17}|acme-security-distribution")


def assert_whole(identifier: str, line: str, shown: str) -> None:
    """Where an identifier starts on a line, it is there whole, or visibly shortened
    with `…` inside a text cell: never cut at a column's edge and continued below."""
    for token in re.finditer(r"[\w.@+-]+", line):
        part = token.group()
        if part != identifier and identifier.startswith(part) and len(part) >= 6:
            assert line[token.end():].startswith("…"), (identifier, line, shown)


def test_every_list_and_show_fits_80_columns_and_keeps_identifiers_whole(
        run, channel, store_url, tmp_path: Path) -> None:  # noqa: ANN001
    env = clean_env(tmp_path, RESELLCTL_DATABASE_URL=store_url, RESELLCTL_ACTOR=ADMIN)
    todo = commands(channel["uids"], channel["sub"], channel["approval"])
    with ThreadPoolExecutor(4) as pool:
        tables = list(pool.map(lambda args: in_terminal(args, env), todo))
    for args, table in zip(todo, tables, strict=True):
        shown = f"$ resellctl {' '.join(args)}\n{table}"
        lines = table.splitlines()
        assert lines, shown
        assert max(width(line) for line in lines) <= 80, shown
        assert "\x1b[" not in table, shown  # NO_COLOR
        data = run(*args, "-o", "json")
        assert data.exit_code == 0, data.stderr
        for identifier in set(IDENTIFIER.findall(data.stdout)):
            for line in lines:
                assert_whole(identifier, line, shown)
        assert not re.search(r"\b\d{3,}_?cents\b|_cents|\bis_", table), shown


def test_amounts_words_and_nested_values_read_as_people_write_them(
        run, channel, store_url, tmp_path: Path) -> None:  # noqa: ANN001
    env = clean_env(tmp_path, RESELLCTL_DATABASE_URL=store_url, RESELLCTL_ACTOR=ADMIN)
    acme = "acme-security-distribution"
    reseller = in_terminal(["reseller", "list"], env).splitlines()
    assert reseller[0].split() == ["Slug", "Name", "Active", "Licences", "Balance", "Clients"]
    assert reseller[1].split() == ["used/total"]
    assert reseller[2].startswith(f"{acme}  Acme Secur")
    assert reseller[2].split()[-4:] == ["yes", "2/43", "$12,090.67", "3"]
    history = in_terminal(["reseller", "balance", "history", acme], env).splitlines()
    assert history[0].split()[:4] == ["At", "Kind", "Amount", "Balance"]
    assert re.search(r"activation +-\$180\.00 +\$12,090\.67  Business Locatio",
                     history[1])
    assert re.search(r"license_purchase +-\$75\.00 +\$12,270\.67  3 licences at \$2", history[2])
    piped = run("reseller", "balance", "history", acme).stdout  # not cut off a terminal
    assert "3 licences at $25.00" in piped
    assert "$12,345.67" in history[3]
    user = in_terminal(["user", "show", OWNER], env)
    assert re.search(r"^Super admin +no$", user, re.M), user
    assert re.search(r"^Resellers +acme-security-distribution \(admin\)$", user, re.M), user
    plans = in_terminal(["subscription", "plans", "list"], env)
    assert "monthly   1+ $15.00 · 50+ $12.00" in plans, plans
    assert "per contract" in plans, plans
    audit = in_terminal(["audit", "list", "--entity", channel["uids"][0]], env)
    assert "stage: trial → active" in audit, audit
    show = in_terminal(["client", "show", channel["uids"][0]], env)
    assert re.search(r"^Support access +On$", show, re.M), show
    assert re.search(r"^Seats allocated +10$", show, re.M), show
    # json keeps the keys and the cents
    assert ok(run("reseller", "show", acme, "-o", "json"))["balance_cents"] == 1209067


def test_a_super_admin_listing_every_reseller_sees_a_reseller_column(
        run, channel, store_url, tmp_path: Path) -> None:  # noqa: ANN001
    env = clean_env(tmp_path, RESELLCTL_DATABASE_URL=store_url, RESELLCTL_ACTOR=ADMIN)
    across = in_terminal(["client", "list"], env).splitlines()
    one = in_terminal(["client", "list", "-r", "acme-security-distribution"], env).splitlines()
    assert across[0].split()[:2] == ["Client", "Reseller"]
    assert "Reseller" not in one[0]
    over = next(line for line in one if "12/10" in line)
    assert "⚠" in over
    assert any(line.split()[:1] == ["deactivated"] or " deactivated" in line for line in one)
    assert any(uid in line for uid in channel["uids"] for line in one)


def test_off_a_terminal_a_table_is_not_cut(run, channel) -> None:  # noqa: ANN001
    """Piped, nothing is shortened: a script that greps a table sees whole names."""
    table = run("client", "list", "-r", "acme-security-distribution").stdout
    assert f"{LONG} 0" in table
