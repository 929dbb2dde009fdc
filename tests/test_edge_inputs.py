"""Edge inputs found by the third review: --errors-out at odd paths, the input file as its
own errors file, a closed stderr or stdin, bytes that are not UTF-8 in arguments, JSON
arrays in JSON lines, and case-insensitive search beyond ASCII. Both stores."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import threading
from pathlib import Path

import pytest
from helpers import ok
from test_entrypoint import ADMIN, clean_env, entry_point
from test_import import acme, clients, error_of, import_, row, write_csv  # noqa: F401


def cli_env(store_url: str, tmp_path: Path) -> dict[str, str]:
    return clean_env(tmp_path, RESELLCTL_DATABASE_URL=store_url, RESELLCTL_ACTOR=ADMIN)


def one_good_one_bad(path: Path) -> Path:
    return write_csv(path, [row(1), row(2, owner_email="bad")])


# ---------------------------------------------------------------- --errors-out paths

def test_the_file_being_imported_is_not_its_own_errors_file(acme, tmp_path) -> None:  # noqa: ANN001, F811
    source = one_good_one_bad(tmp_path / "in.csv")
    before = source.read_bytes()
    for path in (source, tmp_path / "." / "in.csv"):
        error = error_of(import_(acme, source, "--errors-out", str(path)), 2)
        assert error["code"] == "errors_out_is_input"
    link = tmp_path / "link.csv"
    link.symlink_to(source)
    assert error_of(import_(acme, link, "--errors-out", str(source)), 2)["code"] == \
        "errors_out_is_input"
    assert source.read_bytes() == before and clients(acme) == []


def test_errors_out_through_a_symlink_keeps_the_link_and_the_mode(acme, tmp_path) -> None:  # noqa: ANN001, F811
    target = tmp_path / "target.csv"
    target.write_text("old\n")
    target.chmod(0o640)
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    import_(acme, one_good_one_bad(tmp_path / "in.csv"), "--errors-out", str(link))
    assert link.is_symlink() and link.resolve() == target
    assert "row 3" in target.read_text() and stat.S_IMODE(target.stat().st_mode) == 0o640


def test_errors_out_into_a_fifo_writes_into_it(acme, tmp_path) -> None:  # noqa: ANN001, F811
    fifo = tmp_path / "errors.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    import_(acme, one_good_one_bad(tmp_path / "in.csv"), "--errors-out", str(fifo))
    reader.join(10)
    assert stat.S_ISFIFO(fifo.stat().st_mode)  # still a FIFO, not replaced by a file
    assert b"row 3" in got[0]


def test_a_new_errors_file_gets_the_umasks_mode(acme, tmp_path) -> None:  # noqa: ANN001, F811
    errors_out = tmp_path / "new-errors.csv"
    old = os.umask(0o022)
    try:
        import_(acme, one_good_one_bad(tmp_path / "in.csv"), "--errors-out", str(errors_out))
    finally:
        os.umask(old)
    assert stat.S_IMODE(errors_out.stat().st_mode) == 0o644


# ---------------------------------------------------------------- closed streams

@pytest.mark.parametrize(("args", "code"), [
    (["client", "show", "cl_00000000000000000000"], 3),
    (["client", "list", "--limit", "0"], 2),
    (["client", "list", "--limit", "0", "-o", "json"], 2),
])
def test_a_closed_stderr_keeps_the_exit_code(store_url, tmp_path, args, code) -> None:  # noqa: ANN001
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will read what the command says on stderr
    try:
        result = subprocess.run([entry_point(), *args], env=cli_env(store_url, tmp_path),
                                stdout=subprocess.DEVNULL, stderr=write_end, timeout=60)
    finally:
        os.close(write_end)
    assert result.returncode == code


def test_an_import_from_a_closed_stdin_is_invalid_input(store_url, tmp_path) -> None:  # noqa: ANN001
    result = subprocess.run([entry_point(), "client", "import", "-"],
                            env=cli_env(store_url, tmp_path), capture_output=True, text=True,
                            timeout=60, preexec_fn=lambda: os.close(0))
    assert result.returncode == 5, result.stderr
    assert "no standard input" in result.stderr and "Traceback" not in result.stderr


# ---------------------------------------------------------------- bytes that are not UTF-8

def test_arguments_that_are_not_utf8_are_invalid_input(store_url, tmp_path) -> None:  # noqa: ANN001
    env = cli_env(store_url, tmp_path)
    for args in ([b"client", b"show", b"cl_\xff"], [b"client", b"list", b"--search", b"\xff"],
                 [b"client", b"create", b"--name", b"Caf\xe9", b"--owner-name", b"O",
                  b"--owner-email", b"o@x.example"]):
        result = subprocess.run([os.fsencode(entry_point()), *args], env=env,
                                capture_output=True, timeout=60)
        assert result.returncode == 5, result.stderr
        assert b"not valid UTF-8" in result.stderr and b"Traceback" not in result.stderr


def test_a_file_whose_name_is_not_utf8_imports(store_url, tmp_path) -> None:  # noqa: ANN001
    source = os.path.join(os.fsencode(tmp_path), b"caf\xe9.csv")
    with open(source, "w", encoding="utf-8") as handle:
        handle.write("name,owner_name,owner_email\nCafe,O,cafe@x.example\n")
    env = cli_env(store_url, tmp_path)
    result = subprocess.run([os.fsencode(entry_point()), b"client", b"import", source,
                             b"-o", b"json"], env=env, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["created"] == 1
    [event] = json.loads(subprocess.run(
        [entry_point(), "audit", "list", "--action", "client.import", "-o", "json"],
        env=env, capture_output=True, text=True, timeout=60).stdout)
    assert event["changes"]["source"].endswith("caf\ufffd.csv")


# ---------------------------------------------------------------- JSON lines

def test_json_arrays_and_objects_are_not_cells(acme, tmp_path) -> None:  # noqa: ANN001, F811
    lines = tmp_path / "in.ndjson"
    base = {"owner_name": "O", "owner_email": "j@x.example"}
    lines.write_text("\n".join(json.dumps(line) for line in [
        {"name": ["a"], **base}, {"name": "Nested", "location": {"city": "Porto"}, **base},
        {"name": "Whole", "seats": 3.0, **base, "owner_email": "w@x.example"},
        {"name": "Half", "seats": 2.5, **base, "owner_email": "h@x.example"},
    ]) + "\n", encoding="utf-8")
    result = import_(acme, lines, "--continue-on-error")
    assert result.exit_code == 9, result.stderr
    errors = json.loads(result.stdout)["errors"]
    assert [(e["row"], e["column"]) for e in errors] == [(1, None), (2, None), (4, "seats")]
    assert "not a JSON array or object" in errors[0]["message"]
    assert "location" in errors[1]["message"]
    assert [(c["name"], c["seats_allocated"]) for c in clients(acme)] == [("Whole", 3)]


# ---------------------------------------------------------------- search

def test_search_folds_case_beyond_ascii_on_both_stores(acme) -> None:  # noqa: ANN001, F811
    for number, name in enumerate(["Émile Bakery", "émile café", "Emile Shop", "ÇA VA"]):
        ok(acme("client", "create", "--reseller", "acme", "--name", name, "--owner-name", "O",
                "--owner-email", f"o{number}@x.example", "-o", "json"))

    def found(term: str) -> list[str]:
        return sorted(c["name"] for c in ok(acme("client", "list", "--search", term,
                                                 "-o", "json")))

    assert found("Émile") == found("ÉMILE") == found("émile") == ["Émile Bakery",
                                                                   "émile café"]
    assert found("ça") == ["ÇA VA"] and found("CAFÉ") == ["émile café"]
    assert found("emile") == ["Emile Shop"]  # accents are kept: é is not e


# ---------------------------------------------------------------- stdin read like a file

def test_stdin_is_read_like_a_file(acme, tmp_path) -> None:  # noqa: ANN001, F811
    """CR-only line ends, a BOM, blank lines before JSON lines: the same through `-` as
    from a path; bytes that are not UTF-8 fail the dry run as they fail the real run."""
    cr_only = "name,owner_name,owner_email\rCR1,O,cr1@x.example\rCR2,O,cr2@x.example\r"
    path = tmp_path / "cr.csv"
    path.write_text(cr_only, encoding="utf-8", newline="")
    from_path = json.loads(import_(acme, path, "--dry-run").stdout)
    from_stdin = json.loads(import_(acme, "-", "--dry-run", input=cr_only).stdout)
    assert from_path["created"] == from_stdin["created"] == 2
    lines = '\n\n{"name": "J", "owner_name": "O", "owner_email": "j@x.example"}\n'
    assert json.loads(import_(acme, "-", "--dry-run", input=lines).stdout)["created"] == 1
    bom = "\ufeffname,owner_name,owner_email\r\nB1,O,b1@x.example\r\n"
    assert json.loads(import_(acme, "-", "--dry-run", input=bom).stdout)["created"] == 1


def test_stdin_that_is_not_utf8_fails_the_dry_run_too(store_url, tmp_path) -> None:  # noqa: ANN001
    latin1 = "name,owner_name,owner_email\nCafé,O,c@x.example\n".encode("latin-1")
    env = cli_env(store_url, tmp_path)
    for mode in (["--dry-run"], []):
        result = subprocess.run([entry_point(), "client", "import", "-", *mode], env=env,
                                input=latin1, capture_output=True, timeout=60)
        assert result.returncode == 5, result.stderr
        assert b"standard input is not UTF-8" in result.stderr


def test_an_unclosed_quote_is_named(acme, tmp_path) -> None:  # noqa: ANN001, F811
    source = tmp_path / "quote.csv"
    source.write_text('name,owner_name,owner_email\nA,O,a@x.example\n"B,O,b@x.example\n'
                      "C,O,c@x.example\n", encoding="utf-8")
    error = error_of(import_(acme, source), 5)
    assert "is a closing quote missing?" in error["details"][0]["message"]


def test_a_closed_stderr_keeps_a_partial_imports_exit_code(store_url, tmp_path) -> None:  # noqa: ANN001
    """The "N failed row(s) written to FILE" line goes nowhere; the exit code stays 9."""
    source = one_good_one_bad(tmp_path / "in.csv")
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run([entry_point(), "client", "import", str(source),
                                 "--continue-on-error", "--errors-out",
                                 str(tmp_path / "failed.csv")],
                                env=cli_env(store_url, tmp_path), stdout=subprocess.DEVNULL,
                                stderr=write_end, timeout=60)
    finally:
        os.close(write_end)
    assert result.returncode == 9
    assert "row 3" in (tmp_path / "failed.csv").read_text()
