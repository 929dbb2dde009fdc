"""`client import` after the acceptance review: updates audited per client and compared
with the store, inactive resellers, deleted clients' external ids, and --errors-out
files that keep every readable cell and never go stale. Every test runs on both stores."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from helpers import ok
from test_import import (
    COLUMNS,
    acme,  # noqa: F401
    clients,
    counts,
    error_of,
    events,
    import_,
    pool,
    row,
    write_csv,
)

LATER = "2027-03-01T12:00:00Z"


@pytest.fixture
def seeded(acme, tmp_path: Path):  # noqa: ANN001, ANN201, F811
    """acme with clients E-1 (lead, 5 seats) and E-2 (trial), imported."""
    source = write_csv(tmp_path / "seed.csv", [row(1, external_id="E-1", seats="5"),
                                               row(2, external_id="E-2", stage="trial")])
    ok(import_(acme, source))
    return acme


def by_external_id(run) -> dict[str, dict]:  # noqa: ANN001
    return {c["external_id"]: c for c in clients(run)}


def client_events(run) -> list[dict]:  # noqa: ANN001
    return [e for e in events(run) if e["entity_type"] == "client"]


def read_rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


# ---------------------------------------------------------------- updates

def test_an_update_is_audited_per_client_with_its_import(seeded, tmp_path) -> None:  # noqa: ANN001
    before = by_external_id(seeded)
    source = write_csv(tmp_path / "up.csv", [
        row(1, external_id="E-1", name="One Renamed", stage="active", seats="7"),
        row(2, external_id="E-2")])  # E-2 as it is: nothing to change
    summary = ok(import_(seeded, source, "--on-existing", "update",
                         env={"RESELLCTL_NOW": LATER}))
    assert counts(summary) == (0, 1, 1, 0)
    after = by_external_id(seeded)
    assert (after["E-1"]["name"], after["E-1"]["stage"], after["E-1"]["seats_allocated"]) == (
        "One Renamed", "active", 7)
    assert after["E-1"]["updated_at"] == LATER
    assert after["E-2"] == before["E-2"]  # not even updated_at moved
    [event] = client_events(seeded)
    assert (event["action"], event["entity_id"], event["reseller"]) == (
        "client.import", after["E-1"]["uid"], "acme")
    assert event["changes"] == {
        "before": {"name": "Client 1", "stage": "lead", "seats_allocated": 5},
        "after": {"name": "One Renamed", "stage": "active", "seats_allocated": 7},
        "import_id": summary["import_id"]}
    # the client's own trail: created by the first import, changed by the second
    trail = ok(seeded("audit", "list", "--entity", after["E-1"]["uid"], "-o", "json"))
    assert [e["changes"]["import_id"] for e in trail] == [summary["import_id"]]
    assert ok(seeded("client", "show", after["E-1"]["uid"], "-o", "json"))["import_id"] \
        == before["E-1"]["import_id"]


def test_a_dry_run_counts_updates_like_the_real_run(seeded, tmp_path) -> None:  # noqa: ANN001
    source = write_csv(tmp_path / "up.csv", [row(1, external_id="E-1", seats="9"),
                                             row(2, external_id="E-2"), row(3)])
    dry = ok(import_(seeded, source, "--on-existing", "update", "--dry-run"))
    assert counts(dry) == (1, 1, 1, 0)
    assert client_events(seeded) == [] and by_external_id(seeded)["E-1"]["seats_allocated"] == 5
    real = ok(import_(seeded, source, "--on-existing", "update"))
    assert counts(real) == counts(dry)
    assert counts(ok(import_(seeded, source, "--on-existing", "update"))) == (1, 0, 2, 0)


# ---------------------------------------------------------------- inactive reseller

def test_an_inactive_resellers_clients_can_still_be_updated(seeded, tmp_path) -> None:  # noqa: ANN001
    ok(seeded("reseller", "deactivate", "acme", "-o", "json"))
    update = write_csv(tmp_path / "up.csv", [row(1, external_id="E-1", seats="8")])
    assert counts(ok(import_(seeded, update, "--on-existing", "update"))) == (0, 1, 0, 0)
    assert counts(ok(import_(seeded, update, "--on-existing", "skip"))) == (0, 0, 1, 0)
    assert by_external_id(seeded)["E-1"]["seats_allocated"] == 8


def test_an_inactive_reseller_creates_no_client(seeded, tmp_path) -> None:  # noqa: ANN001
    ok(seeded("reseller", "deactivate", "acme", "-o", "json"))
    mixed = write_csv(tmp_path / "mixed.csv", [row(1, external_id="E-1", seats="8"),
                                               row(3, external_id="E-3")])
    error = error_of(import_(seeded, mixed, "--on-existing", "update"), 4)
    assert error["code"] == "reseller_inactive"
    assert "inactive" in error["message"] and "1 row(s) are new clients" in error["message"]
    assert by_external_id(seeded)["E-1"]["seats_allocated"] == 5  # nothing was written
    assert pool(seeded) == (10, 2)

    errors_out = tmp_path / "failed.csv"
    result = import_(seeded, mixed, "--on-existing", "update", "--continue-on-error",
                     "--errors-out", str(errors_out))
    assert result.exit_code == 9, result.stderr
    assert counts(json.loads(result.stdout)) == (0, 1, 0, 1)
    [failed] = read_rows(errors_out)
    assert failed["external_id"] == "E-3" and "inactive" in failed["error"]
    assert sorted(by_external_id(seeded)) == ["E-1", "E-2"]
    assert by_external_id(seeded)["E-1"]["seats_allocated"] == 8
    assert pool(seeded) == (10, 2)


# ---------------------------------------------------------------- messages

def test_a_shortage_names_the_new_rows_and_what_was_imported(acme, tmp_path) -> None:  # noqa: ANN001, F811
    ok(acme("license", "revoke", "acme", "8", "-o", "json"))
    source = write_csv(tmp_path / "three.csv", [row(1), row(2), row(3)])
    result = import_(acme, source, "--continue-on-error")
    assert result.exit_code == 9, result.stderr
    summary = json.loads(result.stdout)
    assert counts(summary) == (2, 0, 0, 1)
    assert summary["license_message"].startswith("3 new client(s) need as many licences")
    error = json.loads(result.stderr.strip().splitlines()[-1])["error"]
    assert error["message"] == ("1 row(s) failed; the others were imported: 2 created, "
                                "0 updated, 0 skipped")


def test_a_deleted_clients_external_id_is_named_as_such(seeded, tmp_path) -> None:  # noqa: ANN001
    uid = by_external_id(seeded)["E-1"]["uid"]
    ok(seeded("client", "delete", uid, "-y", "-o", "json"))
    source = write_csv(tmp_path / "again.csv", [row(1, external_id="E-1")])
    for mode in ("error", "update"):
        error = error_of(import_(seeded, source, "--on-existing", mode), 5)
        [detail] = error["details"]
        assert detail["column"] == "external_id"
        assert f"belongs to deleted client {uid}" in detail["message"]
        assert "--on-existing skip" in detail["message"]
    assert counts(ok(import_(seeded, source, "--on-existing", "skip"))) == (0, 0, 1, 0)


# ---------------------------------------------------------------- --errors-out

def test_all_or_nothing_errors_out_says_to_import_the_whole_file_again(acme, tmp_path  # noqa: ANN001, F811
                                                                       ) -> None:
    source = write_csv(tmp_path / "in.csv", [row(1), row(2, owner_email="nope")])
    errors_out = tmp_path / "failed.csv"
    result = import_(acme, source, "--errors-out", str(errors_out))
    [line] = result.stderr.splitlines()  # -o json: stderr is the JSON error, nothing else
    error = json.loads(line)["error"]
    assert result.exit_code == 5 and error["code"] == "invalid_rows"
    assert "import the whole file again" in error["hint"]
    assert [r["name"] for r in read_rows(errors_out)] == ["Client 2"]
    text = acme("client", "import", str(source), "--reseller", "acme", "--errors-out",
                str(errors_out))
    assert text.exit_code == 5
    assert "nothing was imported: fix them in the original file" in text.stderr
    assert clients(acme) == []


def test_errors_out_keeps_the_cells_of_rows_that_could_not_be_read(acme, tmp_path  # noqa: ANN001, F811
                                                                   ) -> None:
    lines = tmp_path / "in.ndjson"
    good = {"name": "J1", "owner_name": "O", "owner_email": "j1@x.example"}
    lines.write_text("\n".join([
        json.dumps(good),
        json.dumps({"name": "J2", "owner_name": "O", "owner_email": "j2@x.example",
                    "colour": "teal"}),
        '{"name": "J3", "owner_name": ',
        "[1, 2]",
    ]) + "\n", encoding="utf-8")
    errors_out = tmp_path / "failed.csv"
    result = import_(acme, lines, "--continue-on-error", "--errors-out", str(errors_out))
    assert result.exit_code == 9, result.stderr
    failed = read_rows(errors_out)
    assert [(r["name"], r["owner_email"]) for r in failed] == [
        ("J2", "j2@x.example"), ("", ""), ("", "")]
    assert "unknown fields colour" in failed[0]["error"]
    assert "not valid JSON" in failed[1]["error"] and '"J3"' in failed[1]["error"]
    assert "[1, 2]" in failed[2]["error"]

    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(COLUMNS[:3]) + "\nK1,O,k1@x.example,extra\nK2,O\n",
                    encoding="utf-8")
    result = import_(acme, wide, "--continue-on-error", "--errors-out", str(errors_out))
    assert result.exit_code == 9, result.stderr
    assert [(r["name"], r["owner_name"], r["owner_email"]) for r in read_rows(errors_out)] \
        == [("K1", "O", "k1@x.example"), ("K2", "O", "")]


def test_an_all_or_nothing_shortage_counts_every_new_row(acme, tmp_path) -> None:  # noqa: ANN001, F811
    """The shortage shows in the first chunk; the rows after it are still counted."""
    from test_import_blocks import write_big

    source = tmp_path / "big.csv"
    write_big(source, 12_000, columns=COLUMNS[:3])
    for mode in ((), ("--dry-run",)):
        error = error_of(import_(acme, source, *mode), 7)
        assert error["message"] == ("12000 new client(s) need as many licences; reseller "
                                    "`acme` has 10 free")
    assert clients(acme) == []


def test_an_errors_out_path_that_cannot_be_written(acme, tmp_path) -> None:  # noqa: ANN001, F811
    source = write_csv(tmp_path / "in.csv", [row(1)])
    folder = tmp_path / "reports"
    folder.mkdir()
    result = acme("client", "import", str(source), "--reseller", "acme", "--errors-out",
                  str(folder))
    assert result.exit_code == 2 and "is a directory" in result.stderr
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    error = error_of(import_(acme, source, "--errors-out", str(blocker / "errors.csv")), 5)
    assert error["code"] == "errors_out_unwritable" and "nothing was imported" in \
        error["message"]
    assert clients(acme) == [] and pool(acme) == (10, 0)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file


def test_a_row_with_too_many_cells_is_quoted_whole(acme, tmp_path) -> None:  # noqa: ANN001, F811
    source = tmp_path / "comma.csv"
    source.write_text("name,owner_name,owner_email,external_id\n"
                      "Foo, Inc,Own,f@x.example,ext1\n", encoding="utf-8")
    errors_out = tmp_path / "failed.csv"
    result = import_(acme, source, "--errors-out", str(errors_out))
    assert result.exit_code == 5
    [detail] = json.loads(result.stderr.strip().splitlines()[-1])["error"]["details"]
    assert detail["message"] == ("expected 4 cells, found 5; the row as read: "
                                 "Foo, Inc,Own,f@x.example,ext1")
    [failed] = read_rows(errors_out)
    assert "Foo, Inc,Own,f@x.example,ext1" in failed["error"]
