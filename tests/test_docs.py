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
