"""docs/cli.md is generated from the Typer app and must match the code."""

from __future__ import annotations

import difflib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "gen_cli_docs.py"
CLI_MD = ROOT / "docs" / "cli.md"


def assert_regenerated(script: Path, committed: Path, tmp_path: Path, what: str) -> str:
    """Run the generator into tmp_path; fail, with the first differences and the command
    to run, when the committed file is not what it writes."""
    fresh = tmp_path / committed.name
    proc = subprocess.run([sys.executable, str(script), "--output", str(fresh)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, f"{script.name} failed:\n{proc.stdout}{proc.stderr}"
    expected = fresh.read_text(encoding="utf-8")
    current = committed.read_text(encoding="utf-8") if committed.exists() else ""
    if current != expected:
        name = f"docs/{committed.name}"
        diff = "".join(list(difflib.unified_diff(
            current.splitlines(keepends=True), expected.splitlines(keepends=True),
            f"{name} (committed)", f"{name} (from the code)"))[:80])
        pytest.fail(f"{name} is stale: {what} changed. Regenerate it with\n\n"
                    f"    .venv/bin/python scripts/{script.name}\n\nand commit the result. "
                    f"First differences:\n{diff}", pytrace=False)
    return current


def test_cli_reference_is_up_to_date(tmp_path: Path) -> None:
    assert_regenerated(SCRIPT, CLI_MD, tmp_path, "the commands")


HTTP_SCRIPT = ROOT / "scripts" / "gen_http_docs.py"
HTTP_MD = ROOT / "docs" / "http.md"


def test_http_reference_is_up_to_date(tmp_path: Path) -> None:
    """docs/http.md is generated from the OpenAPI document of `serve` (the table of
    operations): a new or changed route must be regenerated and committed."""
    current = assert_regenerated(HTTP_SCRIPT, HTTP_MD, tmp_path, "the routes")
    assert "## `POST /v1/clients`" in current and "## `GET /v1/whoami`" in current
