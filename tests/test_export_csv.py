"""`client list -o csv`, formatted by the database (COPY ... TO STDOUT on PostgreSQL, the
bare cursor on SQLite): every cell must equal what `-o json` says, made spreadsheet-safe.

The CSV is read from the command's raw bytes (CliRunner's `stdout` turns CRLF into LF,
which would hide a mangled cell). Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from helpers import ok

ADMIN = "admin@vendor.example"
ANA = "ana@acme.example"
VIC = "vic@acme.example"
ZED = "zed@nowhere.example"
FIELDS = ["uid", "reseller", "name", "location", "owner_name", "owner_email", "owner_phone",
          "stage", "status", "billing_status", "plan", "seats_allocated", "seats_used",
          "support_type", "support_access", "trial_ends_at", "external_id", "created_at",
          "updated_at", "deleted_at", "import_id"]
HEADER = ",".join(FIELDS) + "\n"
IMPORT_COLUMNS = ["name", "owner_name", "owner_email", "owner_phone", "location", "stage",
                  "plan", "seats", "support_type", "support_access", "external_id"]
FORMULA = ("=", "+", "-", "@", "\t", "\r")
HOSTILE = [
    "cr\ralone", "lf\nline", "crlf\r\nline", 'say "hi", twice', "a,b,,c", "=SUM(A1:A9)",
    "+1+2", "-2+3", "@cmd|' /C calc'!A0", "emoji 🍰☕👩‍👩‍👧", "\u200fمخبز\u200f Bakery",
    "a\n\\.\nb", "\\.", "\\N", "tail\\", "'quoted", "x'); DROP TABLE client; --",
    "100% _under_", "mid=dle, not a formula",
]
EMAILS = ["=cmd@evil.example", "-dash@x.example", "+tag@x.example"]
PLANS = ["", "-minus", "@at", "business-location"]
EXTRA_PLANS = """
[[plans]]
code = "-minus"
name = "Minus"
custom = true

[[plans]]
code = "@at"
name = "At"
custom = true
"""


# ---------------------------------------------------------------- helpers

def raw(run, *args: str, actor: str = "default") -> tuple[int, str, str]:  # noqa: ANN001
    """Run the CLI like `run`, but keep stdout's bytes as written."""
    from resellctl.cli.main import app

    who = run.actor if actor == "default" else actor
    result = run.cli.invoke(app, list(args), env={"RESELLCTL_DATABASE_URL": run.url,
                                                   "RESELLCTL_ACTOR": who},
                            catch_exceptions=False)
    return result.exit_code, result.stdout_bytes.decode("utf-8"), result.stderr


def as_csv(run, *args: str, actor: str = "default") -> list[list[str]]:  # noqa: ANN001
    """`client list ARGS -o csv`, parsed; the header checked and dropped."""
    code, text, err = raw(run, "client", "list", *args, "-o", "csv", actor=actor)
    assert code == 0 and err == "", err
    assert text.startswith(HEADER)  # the exact header, "\n" line ends
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == FIELDS
    return rows[1:]


def as_json(run, *args: str, actor: str = "default") -> list[dict]:  # noqa: ANN001
    return ok(run("client", "list", *args, "-o", "json", actor=actor))


def cell(value: object) -> str:
    """The CSV cell for a JSON value: NULL empty, booleans true/false, formulas quoted
    (and quotes before a formula character: one more quote, which the import drops)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    assert isinstance(value, str)
    return "'" + value if value.lstrip("'").startswith(FORMULA) else value


def same_in_both(run, *args: str, actor: str = "default") -> list[dict]:  # noqa: ANN001
    """The CSV equals the JSON cell by cell, in the same order; returns the JSON."""
    rows = as_json(run, *args, actor=actor)
    assert [list(r) for r in rows] == [FIELDS] * len(rows)
    csv_rows = as_csv(run, *args, actor=actor)
    assert len(csv_rows) == len(rows)
    for got, row in zip(csv_rows, rows, strict=True):
        assert dict(zip(FIELDS, got, strict=True)) == {k: cell(v) for k, v in row.items()}
    return rows


def sql(run, statement: str, **params) -> list:  # noqa: ANN001
    from sqlalchemy import text

    from resellctl.store.engine import make_engine

    engine = make_engine(run.url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement), params)
            return result.all() if result.returns_rows else []
    finally:
        engine.dispose()


def write_csv(path: Path, rows: list[dict]) -> Path:
    """An import file; every cell quoted (with "\n" line ends a lone CR must be)."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n", quoting=csv.QUOTE_ALL)
        writer.writerow(IMPORT_COLUMNS)
        writer.writerows([row.get(c, "") for c in IMPORT_COLUMNS] for row in rows)
    return path


def hostile_rows() -> list[dict]:
    return [{"name": text, "owner_name": f"Owner {i}",
             "owner_email": EMAILS[i] if i < len(EMAILS) else f"plain{i}@x.example",
             "owner_phone": "+351 21 000 0000" if i % 2 else "", "location": text,
             "stage": ("lead", "demo", "trial")[i % 3], "plan": PLANS[i % len(PLANS)],
             "seats": str(i), "support_access": "yes" if i % 3 else "no",
             "external_id": f"{text}|{i}"} for i, text in enumerate(HOSTILE)]


def partner_reseller(run, licences: int = 100) -> None:  # noqa: ANN001
    ok(run("user", "create", ANA, "-o", "json"))
    ok(run("reseller", "create", "--slug", "acme", "--name", "Acme", "--owner", ANA,
           "--licenses", str(licences), "--partner-supported", "-o", "json"))


@pytest.fixture
def portfolio(run, tmp_path: Path, monkeypatch):  # noqa: ANN001, ANN201
    """acme (partner-supported) with the hostile clients imported, plans `-minus` and `@at`
    in the catalog, cells starting with a tab or a CR (set in the database: the CLI strips
    them), a deleted, a deactivated and a direct client."""
    from resellctl.domain import catalog

    monkeypatch.chdir(tmp_path)  # a short source name: the audit's entity_id holds it
    Path("catalog.toml").write_text(catalog.default_text() + EXTRA_PLANS, encoding="utf-8")
    ok(run("subscription", "plans", "load", "catalog.toml", "-o", "json"))
    partner_reseller(run)
    ok(run("user", "create", VIC, "-o", "json"))
    ok(run("user", "create", ZED, "-o", "json"))
    ok(run("reseller", "member", "add", "acme", VIC, "--role", "viewer", "-o", "json"))
    summary = ok(run("client", "import", str(write_csv(tmp_path / "h.csv", hostile_rows())),
                     "--reseller", "acme", "-o", "json"))
    assert summary["created"] == len(HOSTILE)
    sql(run, "UPDATE client SET name = :name, location = :location, external_id = :ext "
             "WHERE external_id = :old", name="\tTabbed", location="\rCR first",
        ext="\t\rboth", old="lf\nline|1")
    sql(run, "UPDATE client SET owner_phone = :phone WHERE external_id = :old",
        phone="-12 345 678", old="a,b,,c|4")
    uid = {c["external_id"]: c["uid"] for c in as_json(run)}
    ok(run("client", "delete", uid["+1+2|6"], "-y", "-o", "json"))
    ok(run("client", "deactivate", uid["-2+3|7"], "-o", "json"))
    ok(run("client", "create", "--name", "=direct()", "--owner-name", "D",
           "--owner-email", "d@direct.example", "--plan=-minus", "--external-id", "@D-1",
           "-o", "json"))
    return run


# ---------------------------------------------------------------- every cell

def test_every_cell_of_the_csv_equals_the_json_made_safe(portfolio) -> None:  # noqa: ANN001
    rows = same_in_both(portfolio, "--include-deleted")
    assert len(rows) == len(HOSTILE) + 1
    by_ext = {r["external_id"]: r for r in rows}
    csv_by_ext = {r[FIELDS.index("uid")]: dict(zip(FIELDS, r, strict=True))
                  for r in as_csv(portfolio, "--include-deleted")}
    got = {ext: csv_by_ext[r["uid"]] for ext, r in by_ext.items()}

    # the values themselves, spelled out (not only "CSV = JSON")
    assert by_ext["crlf\r\nline|2"]["name"] == "crlf\r\nline"
    assert got["crlf\r\nline|2"]["name"] == "crlf\r\nline"
    assert got["cr\ralone|0"]["location"] == "cr\ralone"
    assert got["a\n\\.\nb|11"]["name"] == "a\n\\.\nb"
    assert (got["\\.|12"]["name"], got["\\N|13"]["location"], got["tail\\|14"]["name"]) == (
        "\\.", "\\N", "tail\\")
    assert got["=SUM(A1:A9)|5"]["name"] == "'=SUM(A1:A9)"
    assert got["=SUM(A1:A9)|5"]["external_id"] == "'=SUM(A1:A9)|5"
    assert got["@cmd|' /C calc'!A0|8"]["location"] == "'@cmd|' /C calc'!A0"
    assert got["'quoted|15"]["name"] == "'quoted"  # already safe: left alone
    assert got["mid=dle, not a formula|18"]["name"] == "mid=dle, not a formula"
    assert got["emoji 🍰☕👩‍👩‍👧|9"]["name"] == "emoji 🍰☕👩‍👩‍👧"
    assert got["\u200fمخبز\u200f Bakery|10"]["name"] == "\u200fمخبز\u200f Bakery"
    tabbed = got["\t\rboth"]
    assert (tabbed["name"], tabbed["location"], tabbed["external_id"]) == (
        "'\tTabbed", "'\rCR first", "'\t\rboth")
    first = ["cr\ralone|0", "\t\rboth", "crlf\r\nline|2", 'say "hi", twice|3']
    assert [got[k]["owner_email"] for k in first[:3]] == [
        "'=cmd@evil.example", "'-dash@x.example", "'+tag@x.example"]
    assert got["a,b,,c|4"]["owner_phone"] == "'-12 345 678"
    assert got["emoji 🍰☕👩‍👩‍👧|9"]["owner_phone"] == "'+351 21 000 0000"
    assert [got[k]["plan"] for k in first] == ["", "'-minus", "'@at", "business-location"]
    assert [got[k]["support_access"] for k in first] == ["false", "true", "true", "false"]
    assert got["+1+2|6"]["deleted_at"] != "" and got["-2+3|7"]["status"] == "deactivated"
    direct = got["@D-1"]
    assert (direct["reseller"], direct["name"], direct["plan"], direct["external_id"],
            direct["import_id"]) == ("", "'=direct()", "'-minus", "'@D-1", "")
    assert got["cr\ralone|0"]["import_id"] == str(by_ext["cr\ralone|0"]["import_id"]) != ""
    trial = "a\n\\.\nb|11"
    assert got[trial]["stage"] == "trial"
    assert got[trial]["trial_ends_at"] == by_ext[trial]["trial_ends_at"] != ""
    assert (got["\\.|12"]["trial_ends_at"], got["\\.|12"]["seats_allocated"]) == ("", "12")


def test_a_line_holding_only_backslash_dot_survives_import_and_export(run, tmp_path) -> None:  # noqa: ANN001
    """`\\.` ends COPY's data in text form: written and read back through COPY on
    PostgreSQL, it must stay data."""
    values = ["a\n\\.\nb", "\\.", "\\.\n\\.", "x\r\n\\.\r\ny", "\\N", "\\", "b\\.c"]
    rows = [{"name": v, "owner_name": "O", "owner_email": f"o{i}@x.example",
             "location": f"{v}\n\\.", "external_id": f"{v}{i}"} for i, v in enumerate(values)]
    summary = ok(run("client", "import", str(write_csv(tmp_path / "dot.csv", rows)), "-o",
                     "json"))
    assert summary["created"] == len(values)
    listed = same_in_both(run, "--sort", "external_id")
    by_ext = {c["external_id"]: c for c in listed}
    assert {k: (c["name"], c["location"]) for k, c in by_ext.items()} == {
        f"{v}{i}": (v, f"{v}\n\\.") for i, v in enumerate(values)}
    code, text, _err = raw(run, "client", "list", "-o", "csv")
    assert code == 0 and "\\." in text
    assert sorted(r[FIELDS.index("name")] for r in csv.reader(io.StringIO(text, newline=""))
                  if r != FIELDS) == sorted(values)


# ---------------------------------------------------------------- filters and windows

def names(rows: list[dict]) -> set[str]:
    return {r["name"] for r in rows}


def test_filters_give_the_same_rows_in_csv(portfolio) -> None:  # noqa: ANN001
    live = [t for t in HOSTILE if t not in ("+1+2", "lf\nline")]  # deleted, edited in SQL
    stages = {t: ("lead", "demo", "trial")[i % 3] for i, t in enumerate(HOSTILE)}

    rows = same_in_both(portfolio, "--stage", "lead", "--stage", "trial")
    assert names(rows) == {t for t in live if stages[t] in ("lead", "trial")} | {"=direct()"}
    assert names(same_in_both(portfolio, "--stage", "demo")) == {
        t for t in live if stages[t] == "demo"} | {"\tTabbed"}
    assert names(same_in_both(portfolio, "--status", "deactivated")) == {"-2+3"}
    assert names(same_in_both(portfolio, "--status", "active")) == (
        set(live) - {"-2+3"}) | {"\tTabbed", "=direct()"}
    assert names(same_in_both(portfolio, "--reseller", "acme", "--status", "active")) == (
        set(live) - {"-2+3"}) | {"\tTabbed"}

    # --search: text in the name or e-mail, matched literally (quotes, LIKE wildcards)
    assert names(same_in_both(portfolio, "--search", "'")) == {
        "@cmd|' /C calc'!A0", "'quoted", "x'); DROP TABLE client; --"}
    assert names(same_in_both(portfolio, "--search", "%")) == {"100% _under_"}
    assert names(same_in_both(portfolio, "--search", "_")) == {"100% _under_"}
    assert names(same_in_both(portfolio, "--search", "0% _u")) == {"100% _under_"}
    assert names(same_in_both(portfolio, "--search", "x'); DROP TABLE client; --")) == {
        "x'); DROP TABLE client; --"}
    assert names(same_in_both(portfolio, "--search", "'; DROP TABLE client; --")) == set()
    assert names(same_in_both(portfolio, "--search", "\\.")) == {"a\n\\.\nb", "\\."}
    assert names(same_in_both(portfolio, "--search", "%(name)s")) == set()  # no placeholder
    assert names(same_in_both(portfolio, "--search", "%s")) == set()
    assert names(same_in_both(portfolio, "--search", "=CMD@EVIL")) == {"cr\ralone"}
    assert names(same_in_both(portfolio, "--search", "@D-1")) == {"=direct()"}  # exact id
    # the table is still there, whole
    assert len(same_in_both(portfolio, "--include-deleted")) == len(HOSTILE) + 1

    # windows: the same slice of the same order
    everything = same_in_both(portfolio, "--sort", "-name")
    assert len(everything) == len(live) + 2  # and the tabbed one, and the direct one
    window = same_in_both(portfolio, "--sort", "-name", "--limit", "3", "--offset", "2")
    assert window == everything[2:5]
    assert same_in_both(portfolio, "--sort", "external_id", "--limit", "1") == \
        same_in_both(portfolio, "--sort", "external_id")[:1]
    assert same_in_both(portfolio, "--sort", "-seats_allocated", "--offset", "100") == []


def test_an_empty_result_is_the_header_alone(portfolio) -> None:  # noqa: ANN001
    for args in (["--search", "nothing matches this"], ["--stage", "churned"],
                 ["--offset", "1000"]):
        code, text, err = raw(portfolio, "client", "list", *args, "-o", "csv")
        assert (code, text, err) == (0, HEADER, "")
        assert as_json(portfolio, *args) == []


def test_the_csv_shows_what_the_actor_may_see(portfolio) -> None:  # noqa: ANN001
    mine = same_in_both(portfolio, actor=VIC)
    assert {r["reseller"] for r in mine} == {"acme"} and "=direct()" not in names(mine)
    assert len(mine) == len(HOSTILE) - 1
    # a user of no reseller sees no client (an empty IN list, bound into the COPY text)
    assert raw(portfolio, "client", "list", "-o", "csv", actor=ZED) == (0, HEADER, "")
    assert as_json(portfolio, actor=ZED) == []
    code, text, err = raw(portfolio, "client", "list", "--reseller", "nope", "-o", "csv")
    assert code == 3 and text == "" and "nope" in err


def test_refused_options_print_nothing(portfolio) -> None:  # noqa: ANN001
    for args, code in ((["--stage", "won"], 5), (["--status", "gone"], 5),
                       (["--sort", "password"], 5)):
        got = raw(portfolio, "client", "list", *args, "-o", "csv")
        assert (got[0], got[1]) == (code, ""), got


# ---------------------------------------------------------------- many rows

def test_thousands_of_rows_across_chunks(run, tmp_path) -> None:  # noqa: ANN001
    """More rows than one chunk of the writer (SQLite) or of COPY reads (PostgreSQL), with
    CRs, formulas and quotes here and there: still cell for cell the JSON."""
    rows = []
    for n in range(2600):
        name = f"Client {n:04d}"
        if n % 700 == 3:
            name = f"cr\r{n}"
        elif n % 500 == 7:
            name = f"=f({n})"
        elif n % 300 == 11:
            name = f'q "{n}", c'
        rows.append({"name": name, "owner_name": "O", "owner_email": f"o{n}@x.example",
                     "stage": ("lead", "trial")[n % 2], "external_id": f"-{n}",
                     "support_access": "yes" if n % 5 else ""})
    partner_reseller(run, 3000)
    summary = ok(run("client", "import", str(write_csv(tmp_path / "many.csv", rows)),
                     "--reseller", "acme", "-o", "json"))
    assert summary["created"] == 2600
    listed = same_in_both(run, "--sort", "external_id")
    assert len(listed) == 2600
    assert {r["name"] for r in listed} == {r["name"] for r in rows}
    window = same_in_both(run, "--sort", "external_id", "--offset", "999", "--limit", "1500")
    assert window == listed[999:2499]


@pytest.mark.parametrize("limit", [10_000, 300_000])  # mid-stream; at the last write
def test_an_export_cut_off_by_its_reader_raises_that_error_and_keeps_the_store(run, tmp_path,  # noqa: ANN001
                                                                              limit):
    """`client list -o csv | head -1`: writing fails (broken pipe) while rows still stream,
    or at the last write, when the COPY has already ended. That error must surface, not a
    store error, and the pooled connection must come back usable (on PostgreSQL: the
    COPY ... TO STDOUT ended, not left running)."""
    from resellctl.domain import clients
    from resellctl.domain.context import Ctx
    from resellctl.store.engine import Store

    rows = [{"name": f"Client {n:04d}", "owner_name": "O", "owner_email": f"o{n}@x.example"}
            for n in range(2600)]
    assert ok(run("client", "import", str(write_csv(tmp_path / "m.csv", rows)), "-o",
                  "json"))["created"] == 2600

    class Pipe(io.StringIO):
        def write(self, text: str) -> int:
            if self.tell() + len(text) > limit:  # the reader has gone
                raise BrokenPipeError(32, "Broken pipe")
            return super().write(text)

    filters = {"reseller": None, "stages": [], "status": None, "search": None,
               "include_deleted": False, "sort": "name", "limit": None, "offset": 0}
    store = Store(run.url)
    ctx = Ctx(store, ADMIN)

    def connection() -> tuple:
        with store.read() as conn:
            pid = (conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
                   if conn.dialect.name == "postgresql" else None)
            return conn.connection.dbapi_connection, pid

    try:
        before = connection()
        with pytest.raises(BrokenPipeError):
            clients.export_csv(ctx, Pipe(), **filters)
        assert connection() == before
        whole = io.StringIO()
        clients.export_csv(ctx, whole, **filters)
        assert len(whole.getvalue().splitlines()) == 2601
    finally:
        store.dispose()


def test_a_client_encoding_other_than_utf8_gives_the_same_csv(run, monkeypatch) -> None:  # noqa: ANN001
    """libpq takes the client encoding from PGCLIENTENCODING (else from the database):
    COPY's rows arrive in it, like every other result, and must be decoded from it."""
    latin = ["Café Zoë", "Müller & Söhne", "Ångström, Å", "=Señor"]
    for i, name in enumerate(latin):
        ok(run("client", "create", "--name", name, "--owner-name", "Ñoño",
               "--owner-email", f"o{i}@x.example", "--location", "Bogotá", "-o", "json"))
    monkeypatch.setenv("PGCLIENTENCODING", "LATIN1")
    rows = same_in_both(run)
    assert names(rows) == set(latin)
    assert {r["location"] for r in rows} == {"Bogotá"}


def test_a_lock_timeout_during_a_postgresql_export_is_exit_75(run, store_url):  # noqa: ANN001
    """A database error inside COPY ... TO STDOUT is translated like any other: a lock
    timeout is "store unavailable" (exit 75), not an internal error."""
    if not store_url.startswith("postgresql"):
        pytest.skip("PostgreSQL-only: lock timeouts")
    import psycopg
    from conftest import pg_base_url

    ok(run("client", "create", "--name", "Locked Co", "--owner-name", "O",
           "--owner-email", "o@locked.example", "-o", "json"))
    schema = re.search(r"search_path%3D(\w+)", store_url).group(1)
    impatient = store_url.replace("-csynchronous_commit", "-clock_timeout%3D300%20"
                                  "-csynchronous_commit")
    assert impatient != store_url
    with psycopg.connect(pg_base_url()) as locker:
        locker.execute(f'LOCK TABLE "{schema}".subscription IN ACCESS EXCLUSIVE MODE')
        result = run("--db", impatient, "client", "list", "-o", "csv")
    assert result.exit_code == 75, (result.stdout, result.stderr)
    assert "lock timeout" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""
    assert len(run("client", "list", "-o", "csv").stdout.splitlines()) == 2
