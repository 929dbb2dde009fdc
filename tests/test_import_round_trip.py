"""A file written by `client list -o csv` imports as it is (issue 14, items 3 and 4): the
export's other columns are ignored, `seats_allocated` is `seats`, a row without an
external_id is matched by its uid, the formula guard's quote is dropped; and CSV headers
as people write them (any case, spaces or hyphens, `;` or tab separators).

Every store test runs on SQLite and PostgreSQL; a Hypothesis property proves that
export → import (--on-existing update) → export changes nothing.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import shlex
import subprocess
from pathlib import Path

import pytest
from helpers import ok
from hypothesis import given, settings
from hypothesis import strategies as st
from test_entrypoint import COMMANDS, clean_env, cli
from test_export_csv import raw
from test_import import ANA, acme, counts, error_of, events, import_, pool  # noqa: F401

PHONE = "+351 912 345 678"


def export(run, slug: str = "acme") -> str:  # noqa: ANN001
    """`client list -r SLUG -o csv`, its text exactly as written."""
    code, text, err = raw(run, "client", "list", "-r", slug, "-o", "csv")
    assert code == 0 and err == "", err
    return text


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", newline="")
    return path


def client_events(run) -> list[dict]:  # noqa: ANN001
    """The per-client events of imports (an update's)."""
    return [e for e in events(run, "client.import") if e["entity_type"] == "client"]


def by_name(run) -> dict[str, dict]:  # noqa: ANN001
    return {c["name"]: c for c in ok(run("client", "list", "-o", "json"))}


@pytest.fixture
def portfolio(acme):  # noqa: ANN001, ANN201, F811
    """acme's clients as `client create` and `client edit` leave them: some without an
    external id, formula-like cells, stages beyond a new client's, a deactivated one."""
    def create(name: str, email: str, *extra: str) -> str:
        return ok(acme("client", "create", "-r", "acme", f"--name={name}", "--owner-name=O",
                       f"--owner-email={email}", *extra, "-o", "json"))["uid"]

    create("Café Porto, Lda", "rui@cafe.example", f"--owner-phone={PHONE}",
           "--location=Porto\nRua 1", "--external-id=crm-1", "--stage=trial",
           "--plan=business-location", "--seats=12", "--support-access")
    create("=Evil()", "=e@x.example", "--owner-phone=-12 345 678", "--location=@home")
    create("'=Already quoted", "q@x.example", "--location='+literal", "--external-id=-7")
    uid = create('Say "hi"; twice', "s@x.example", "--support-type=vendor")
    ok(acme("client", "edit", uid, "--stage", "active", "-o", "json"))
    ok(acme("client", "edit", uid, "--stage", "at_risk", "-o", "json"))
    ok(acme("client", "deactivate", create("Gone Ltd", "g@x.example"), "-o", "json"))
    return acme


# ---------------------------------------------------------------- item 3: the round trip

def test_an_exported_file_imports_as_it_is_and_changes_nothing(portfolio, tmp_path) -> None:  # noqa: ANN001
    before = export(portfolio)
    assert f"'{PHONE}" in before and "'=Evil()" in before and "''=Already quoted" in before
    source = write(tmp_path / "export.csv", before)

    # the default refuses every existing client, named by external_id or else by uid
    error = error_of(import_(portfolio, source), 5)
    assert sorted(d["column"] for d in error["details"]) == [
        "external_id", "external_id", "uid", "uid", "uid"]
    summary = ok(import_(portfolio, source, "--on-existing", "update"))
    assert counts(summary) == (0, 0, 5, 0)
    assert ok(import_(portfolio, source, "--on-existing", "skip", "--dry-run"))["skipped"] == 5
    assert export(portfolio) == before
    assert client_events(portfolio) == [] and pool(portfolio) == (10, 4)


def test_a_cell_edited_in_the_export_updates_only_that_client(portfolio, tmp_path) -> None:  # noqa: ANN001
    """The issue's report: the phone came back as `'+351 912 345 678`."""
    clients = by_name(portfolio)
    text = export(portfolio).replace(f"'{PHONE}", "'+351 912 999 999")
    text = text.replace(",'@home,", ",'@work,")  # a client without an external id
    text = text.replace(",deactivated,", ",active,")  # status: not the import's to write
    summary = ok(import_(portfolio, write(tmp_path / "edited.csv", text),
                         "--on-existing", "update"))
    assert counts(summary) == (0, 2, 3, 0)
    after = by_name(portfolio)
    assert after["Café Porto, Lda"]["owner_phone"] == "+351 912 999 999"
    assert after["=Evil()"]["location"] == "@work"
    assert after["Gone Ltd"]["status"] == "deactivated"
    assert {e["entity_id"]: e["changes"]["after"] for e in client_events(portfolio)} == {
        clients["Café Porto, Lda"]["uid"]: {"owner_phone": "+351 912 999 999"},
        clients["=Evil()"]["uid"]: {"location": "@work"}}


def test_a_quote_is_dropped_only_before_a_formula_character(acme, tmp_path) -> None:  # noqa: ANN001, F811
    source = write(tmp_path / "in.csv", "name,owner_name,owner_email,owner_phone,location\n"
                   "'=A,'+B,'-c@x.example,'+351 21 000 0000,'@here\n"
                   "'s-Hertogenbosch,O'Neil,d@x.example,,''=two\n"
                   "\"'\ttab\",'',e@x.example,,'\n")
    assert counts(ok(import_(acme, source))) == (3, 0, 0, 0)
    got = {c["owner_email"]: c for c in ok(acme("client", "list", "-o", "json"))}
    assert [(c["name"], c["owner_name"], c["owner_phone"], c["location"])
            for c in got.values()] == [
        ("'s-Hertogenbosch", "O'Neil", None, "'=two"),
        ("=A", "+B", "+351 21 000 0000", "@here"),
        ("tab", "''", None, "'")]  # `\ttab`, stripped
    assert "-c@x.example" in got


def test_a_uid_matches_only_a_client_of_the_import_s_reseller(portfolio, tmp_path) -> None:  # noqa: ANN001
    ok(portfolio("client", "create", "--name", "Direct", "--owner-name", "D",
                 "--owner-email", "d@x.example", "-o", "json"))
    direct = by_name(portfolio)["Direct"]["uid"]
    evil = by_name(portfolio)["=Evil()"]["uid"]
    source = write(tmp_path / "in.csv", "uid,name,owner_name,owner_email\n"
                   f"{direct},Direct,D,d@x.example\n"
                   f"{evil},Evil,O,e@x.example\n"
                   f"{evil},Evil again,O,e@x.example\n"
                   "cl_nope,Nobody,N,n@x.example\n")
    error = error_of(import_(portfolio, source, "--on-existing", "update"), 5)
    assert [(d["row"], d["column"]) for d in error["details"]] == [
        (2, "uid"), (4, "uid"), (5, "uid")]
    assert f"no client `{direct}` of reseller `acme`" in error["details"][0]["message"]
    assert "repeats row 3" in error["details"][1]["message"]
    assert "empty the uid cell to create a new client" in error["details"][2]["message"]
    assert by_name(portfolio)["=Evil()"]["name"] == "=Evil()"  # nothing written

    failed = tmp_path / "failed.csv"
    summary = import_(portfolio, source, "--on-existing", "update", "--continue-on-error",
                      "--errors-out", str(failed))
    assert summary.exit_code == 9 and counts(summary.json) == (0, 1, 0, 3)
    with failed.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["uid"] for r in rows] == [direct, evil, "cl_nope"]  # ready to fix and retry


def test_a_deleted_client_s_row_fails_unless_skipped(portfolio, tmp_path) -> None:  # noqa: ANN001
    uid = by_name(portfolio)["=Evil()"]["uid"]
    ok(portfolio("client", "delete", uid, "-y", "-o", "json"))
    code, text, _ = raw(portfolio, "client", "list", "-r", "acme", "--include-deleted",
                        "-o", "csv")
    source = write(tmp_path / "all.csv", text)
    error = error_of(import_(portfolio, source, "--on-existing", "update"), 5)
    assert [d["column"] for d in error["details"]] == ["uid"]
    assert f"client {uid} is deleted" in error["details"][0]["message"]
    assert counts(ok(import_(portfolio, source, "--on-existing", "skip"))) == (0, 0, 5, 0)


def test_seats_allocated_is_seats_and_both_are_one_column_too_many(acme, tmp_path) -> None:  # noqa: ANN001, F811
    source = write(tmp_path / "in.csv", "name,owner_name,owner_email,Seats Allocated\n"
                   "A,B,a@x.example,7\n")
    assert counts(ok(import_(acme, source))) == (1, 0, 0, 0)
    assert by_name(acme)["A"]["seats_allocated"] == 7
    both = write(tmp_path / "both.csv", "name,owner_name,owner_email,seats,seats_allocated\n")
    error = error_of(import_(acme, both), 5)
    assert error["message"] == "the file's header has repeated columns seats"
    lines = tmp_path / "in.ndjson"
    lines.write_text(json.dumps({"name": "J", "owner_name": "O", "owner_email": "j@x.example",
                                 "seats": 1, "seats_allocated": 2}) + "\n", encoding="utf-8")
    error = error_of(import_(acme, lines), 5)
    assert "seats and seats_allocated" in error["details"][0]["message"]
    assert pool(acme) == (10, 1)


def test_an_ndjson_export_imports_as_it_is_too(portfolio, tmp_path) -> None:  # noqa: ANN001
    listed = portfolio("client", "list", "-r", "acme", "-o", "ndjson")
    source = write(tmp_path / "export.ndjson", listed.stdout)
    assert counts(ok(import_(portfolio, source, "--on-existing", "update"))) == (0, 0, 5, 0)
    assert portfolio("client", "list", "-r", "acme", "-o", "ndjson").stdout == listed.stdout


# ---------------------------------------------------------------- the property

SPECIAL = [*"=+-@'\",;\n\r\t .\\éßم🍰", "\u200f"]
CHARACTERS = st.one_of(st.sampled_from(SPECIAL),
                       st.characters(codec="utf-8", exclude_characters="\x00"))
# Starts a spreadsheet reads as a formula, with and without quotes before them.
START = st.sampled_from(["", "", "'", "=", "+", "-", "@", "'=", "''-", "'@", "'s"])
TEXT = st.builds(str.__add__, START, st.text(CHARACTERS, min_size=1, max_size=20))
NAME = TEXT.filter(str.strip)
DIGITS = st.sampled_from("0123456789")
PHONE_TEXT = st.builds(str.__add__, START, st.lists(
    st.one_of(DIGITS, DIGITS, CHARACTERS), min_size=6, max_size=28).map("".join)).filter(
    lambda p: 6 <= sum(c in "0123456789" for c in p) <= 20 and len(p) <= 64)


@st.composite
def client_rows(draw: st.DrawFn) -> list[dict]:
    rows = []
    for n in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["vendor", "partner"]))
        rows.append({
            "name": draw(NAME), "owner_name": draw(NAME),
            "owner_email": draw(st.sampled_from(["", "=", "+", "-", "'", "'=", "'+"]))
            + f"o{n}@x.example",
            "owner_phone": draw(st.none() | PHONE_TEXT), "location": draw(st.none() | TEXT),
            "stage": draw(st.sampled_from(["lead", "demo", "trial"])),
            "plan": draw(st.sampled_from([None, "business-location"])),
            "seats": draw(st.integers(0, 10**6)), "support_type": kind,
            "support_access": kind == "partner" and draw(st.booleans()),
            "external_id": draw(st.none() | TEXT.map(lambda t, n=n: f"{t}#{n}"))})
    return rows


def test_export_import_export_is_the_identity(acme, tmp_path) -> None:  # noqa: ANN001, F811
    """Clients with generated names, phones and locations (formula characters, quotes,
    commas, line breaks, unicode), created from JSON lines (exact values, no CSV guard):
    their export, imported with --on-existing update, changes nothing, byte for byte."""
    slugs = itertools.count()

    @settings(max_examples=8, deadline=None, database=None)
    @given(client_rows())
    def round_trip(rows: list[dict]) -> None:
        slug = f"p{next(slugs)}"
        ok(acme("reseller", "create", "--slug", slug, "--name", slug, "--owner", ANA,
                "--licenses", "10", "--partner-supported", "-o", "json"))
        lines = write(tmp_path / "new.ndjson", "".join(json.dumps(r) + "\n" for r in rows))
        assert counts(ok(import_(acme, lines, reseller=slug)))[0] == len(rows)
        before = export(acme, slug)
        source = write(tmp_path / "export.csv", before)
        summary = ok(import_(acme, source, "--on-existing", "update", reseller=slug))
        assert counts(summary) == (0, 0, len(rows), 0)
        assert export(acme, slug) == before

    round_trip()
    assert client_events(acme) == []


def test_a_pipe_from_export_to_import_changes_nothing(run, store_url, tmp_path) -> None:  # noqa: ANN001
    """The installed command, `client list -o csv | client import - --on-existing update`,
    over more rows than a block: on SQLite the export's writer process and the import's
    reader process at work on both ends of a real pipe."""
    rows = [json.dumps({"name": f"=Co {n}" if n % 7 == 0 else f"Co; {n}", "owner_name": "O",
                        "owner_email": f"o{n}@x.example", "owner_phone": f"+1 555 {n:07d}",
                        "external_id": f"E{n}" if n % 2 else None}) for n in range(2_100)]
    lines = write(tmp_path / "new.ndjson", "\n".join(rows))
    assert ok(run("client", "import", str(lines), "-o", "json"))["created"] == 2_100
    env = clean_env(tmp_path, RESELLCTL_DATABASE_URL=store_url, RESELLCTL_ACTOR=run.actor)
    command = shlex.join(COMMANDS["script"]())
    piped = subprocess.run(["bash", "-c", f"set -o pipefail; {command} client list -o csv "
                            f"| tee before.csv | {command} client import - --on-existing update "
                            "-o json"], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=60)
    assert piped.returncode == 0, piped.stderr
    assert counts(json.loads(piped.stdout)) == (0, 0, 2_100, 0)
    before = (tmp_path / "before.csv").read_text(encoding="utf-8")
    assert cli("script", "client", "list", "-o", "csv", env=env).stdout == before


# ---------------------------------------------------------------- item 4: headers

def test_headers_as_people_write_them(acme, tmp_path) -> None:  # noqa: ANN001, F811
    source = write(tmp_path / "in.csv", "\ufeffName , Owner Name,owner-email,OWNER_PHONE,"
                   "Support-Type, support access ,SEATS,External ID\n"
                   f"A,Ana,A@X.example,{PHONE},partner,yes,3,E-1\n")
    assert counts(ok(import_(acme, source))) == (1, 0, 0, 0)
    got = by_name(acme)["A"]
    assert (got["owner_name"], got["owner_email"], got["owner_phone"], got["support_access"],
            got["seats_allocated"], got["external_id"]) == (
        "Ana", "a@x.example", PHONE, True, 3, "E-1")


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_a_file_separated_by_semicolons_or_tabs_is_detected(acme, tmp_path, delimiter) -> None:  # noqa: ANN001, F811
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerows([["", ""], ["Name", "Owner Name", "Owner-Email", "location", "seats"],
                      ["Café; Porto, Lda", "Rui", "rui@x.example", "Rua 1\nPorto", "2"],
                      ["Tab\there", "Li", "li@x.example", "'=Praça", "-1"]])
    source = write(tmp_path / "in.csv", buffer.getvalue())
    error = error_of(import_(acme, source), 5)
    assert [(d["row"], d["column"]) for d in error["details"]] == [(4, "seats")]
    fixed = buffer.getvalue().replace("-1", "1")
    assert counts(ok(import_(acme, write(tmp_path / "in.csv", fixed)))) == (2, 0, 0, 0)
    got = by_name(acme)
    assert got["Café; Porto, Lda"]["location"] == "Rua 1\nPorto"
    assert (got["Tab\there"]["location"], got["Tab\there"]["seats_allocated"]) == ("=Praça", 1)
    piped = fixed.replace("x.example", "y.example")
    assert counts(ok(import_(acme, "-", input=piped, reseller="acme"))) == (2, 0, 0, 0)


def test_a_comma_header_with_a_semicolon_in_a_cell_stays_a_comma_file(acme, tmp_path) -> None:  # noqa: ANN001, F811
    source = write(tmp_path / "in.csv", 'name,owner_name,owner_email,"location; city"\n')
    error = error_of(import_(acme, source), 5)
    assert error["message"] == "the file's header has unknown columns `location; city`"
    assert error["hint"].startswith("did you mean location? ")


def test_an_unknown_column_names_the_closest_known_one(acme, tmp_path) -> None:  # noqa: ANN001, F811
    source = write(tmp_path / "in.csv", "name,owner_name,Owner Mail\nA,B,c@d.example\n")
    result = import_(acme, source)
    error = error_of(result, 5)
    assert error["message"] == ("the file's header has unknown columns `Owner Mail`; "
                                "missing required columns owner_email")
    assert error["hint"].startswith("did you mean owner_email? The columns: name, ")
    text = acme("client", "import", str(source), "-r", "acme")
    assert text.exit_code == 5 and "Hint: did you mean owner_email?" in text.stderr
    several = write(tmp_path / "several.csv", "name,owner_name,owner_email,plans,colour,sets\n")
    hint = error_of(import_(acme, several), 5)["hint"]
    assert hint.startswith("did you mean plan for `plans`, seats for `sets`? The columns: ")
    none_close = write(tmp_path / "none.csv", "name,owner_name,owner_email,zzz\n")
    assert error_of(import_(acme, none_close), 5)["hint"].startswith("columns: name, ")
    assert pool(acme) == (10, 0)


def test_the_semicolon_example_imports_as_it_is(acme) -> None:  # noqa: ANN001, F811
    example = Path(__file__).parent.parent / "examples" / "clients-semicolon.csv"
    assert counts(ok(import_(acme, example))) == (2, 0, 0, 0)
    got = by_name(acme)
    assert (got["Padaria Sol; Lda"]["owner_email"], got["Padaria Sol; Lda"]["plan"],
            got["Müller & Söhne"]["location"]) == (
        "ines@padaria-sol.example", "business-location", "Hauptstraße 7, Köln")
