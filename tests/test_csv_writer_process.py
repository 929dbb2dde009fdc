"""`csvfile.write_rows_beside`: the SQLite export's writer process, and the installed
command using it (a real stdout is needed: the in-process runner's stdout has no file
descriptor, so there the rows are written in-process)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
from pathlib import Path

import pytest
from test_entrypoint import COMMANDS, clean_env, cli

from resellctl.domain import csvfile, processes

ROWS = [(f"cl_{n:04d}", f"Name {n}" + ("\r" if n % 997 == 0 else "") + ("," if n % 3 else ""),
         None if n % 5 else f'say "{n}"', n, "" if n % 7 else "x\ny") for n in range(4_321)]


def text_of(path: Path) -> str:
    with path.open(encoding="utf-8", newline="") as handle:  # CRs as they are
        return handle.read()


def in_process(rows: list[tuple]) -> str:
    out = io.StringIO()
    csvfile.write_rows(rows, out)
    return out.getvalue()


def test_the_writer_process_writes_what_write_rows_writes(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    with target.open("w", encoding="utf-8", newline="") as out:
        out.write("header\n")  # buffered before the fork: written once, first
        csvfile.write_rows_beside(ROWS, out)
    assert text_of(target) == "header\n" + in_process(ROWS)
    with target.open(encoding="utf-8", newline="") as back:
        assert len(list(csv.reader(back))) == len(ROWS) + 1


def test_few_rows_or_no_file_descriptor_stay_in_process(monkeypatch, tmp_path) -> None:  # noqa: ANN001
    monkeypatch.setattr(processes, "fork_or_none", lambda: pytest.fail("forked"))
    small = ROWS[: csvfile.CHUNK - 1]
    target = tmp_path / "small.csv"
    with target.open("w", encoding="utf-8", newline="") as out:
        csvfile.write_rows_beside(small, out)
    assert text_of(target) == in_process(small)
    buffer = io.StringIO()
    csvfile.write_rows_beside(ROWS, buffer)
    assert buffer.getvalue() == in_process(ROWS)


def test_no_process_to_spare_writes_in_process(monkeypatch, tmp_path) -> None:  # noqa: ANN001
    monkeypatch.setattr(processes, "fork_or_none", lambda: None)
    target = tmp_path / "out.csv"
    with target.open("w", encoding="utf-8", newline="") as out:
        csvfile.write_rows_beside(ROWS, out)
    assert text_of(target) == in_process(ROWS)


def test_a_reader_that_goes_away_is_a_broken_pipe_and_the_writer_is_collected() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # `| head` that has already left
    with open(write_end, "w", encoding="utf-8") as out, pytest.raises(BrokenPipeError):
        csvfile.write_rows_beside(ROWS * 5, out)
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


def test_the_installed_command_exports_a_big_sqlite_portfolio_like_json(tmp_path) -> None:  # noqa: ANN001
    env = clean_env(tmp_path)
    assert cli("script", "init", "--admin-email", "a@v.example", env=env).returncode == 0
    source = tmp_path / "c.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n", quoting=csv.QUOTE_ALL)  # the CRs
        writer.writerow(["name", "owner_name", "owner_email", "location", "external_id"])
        for n in range(2_500):
            writer.writerow([f"=Co {n}" if n % 11 == 0 else f"Co, {n}", "O",
                             f"o{n}@x.example", "Lyon\r" if n % 13 == 0 else "Porto",
                             f"E{n}"])
    imported = cli("script", "client", "import", str(source), "-o", "json", env=env)
    assert imported.returncode == 0, imported.stderr
    target = tmp_path / "out.csv"
    with target.open("w") as out:
        listed = subprocess.run([*COMMANDS["script"](), "client", "list", "-o", "csv"],
                                env=env, stdout=out, stderr=subprocess.PIPE, text=True,
                                timeout=60)
    assert listed.returncode == 0, listed.stderr
    as_json = json.loads(cli("script", "client", "list", "-o", "json", env=env).stdout)
    with target.open(encoding="utf-8", newline="") as back:
        rows = list(csv.DictReader(back))
    assert len(rows) == len(as_json) == 2_500
    for row, item in zip(rows, as_json, strict=True):
        name = item["name"]
        assert row["name"] == ("'" + name if name.startswith("=") else name)
        assert row["location"] == item["location"] and row["external_id"] == item["external_id"]
