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
REGENERATE = ".venv/bin/python scripts/gen_cli_docs.py"


def test_cli_reference_is_up_to_date(tmp_path: Path) -> None:
    fresh = tmp_path / "cli.md"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--output", str(fresh)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, f"{SCRIPT.name} failed:\n{proc.stdout}{proc.stderr}"
    expected = fresh.read_text(encoding="utf-8")
    current = CLI_MD.read_text(encoding="utf-8") if CLI_MD.exists() else ""
    if current != expected:
        diff = "".join(list(difflib.unified_diff(
            current.splitlines(keepends=True), expected.splitlines(keepends=True),
            "docs/cli.md (committed)", "docs/cli.md (from the code)"))[:80])
        pytest.fail(f"docs/cli.md is stale: the commands changed. Regenerate it with\n\n"
                    f"    {REGENERATE}\n\nand commit the result. First differences:\n{diff}",
                    pytrace=False)


HTTP_SCRIPT = ROOT / "scripts" / "gen_http_docs.py"
HTTP_MD = ROOT / "docs" / "http.md"


def test_http_reference_is_up_to_date(tmp_path: Path) -> None:
    """docs/http.md is generated from the OpenAPI document of `serve` (the table of
    operations): a new or changed route must be regenerated and committed."""
    fresh = tmp_path / "http.md"
    proc = subprocess.run([sys.executable, str(HTTP_SCRIPT), "--output", str(fresh)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 0, f"{HTTP_SCRIPT.name} failed:\n{proc.stdout}{proc.stderr}"
    expected = fresh.read_text(encoding="utf-8")
    current = HTTP_MD.read_text(encoding="utf-8") if HTTP_MD.exists() else ""
    if current != expected:
        diff = "".join(list(difflib.unified_diff(
            current.splitlines(keepends=True), expected.splitlines(keepends=True),
            "docs/http.md (committed)", "docs/http.md (from the code)"))[:80])
        pytest.fail("docs/http.md is stale: the routes changed. Regenerate it with\n\n"
                    "    .venv/bin/python scripts/gen_http_docs.py\n\nand commit the "
                    f"result. First differences:\n{diff}", pytrace=False)
    assert "## `POST /v1/clients`" in current and "## `GET /v1/whoami`" in current
