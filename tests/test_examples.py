"""The client scripts of examples/README.md, run as written with bash and the installed
command, on both stores."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ok, partner_reseller

README = Path(__file__).parent.parent / "examples" / "README.md"
ADMIN = "admin@vendor.example"


def snippets(section: str) -> list[str]:
    """The ```bash blocks of one `## section` of the examples."""
    text = README.read_text(encoding="utf-8")
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", body, re.S)


def bash(script: str, cwd: Path, store_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESELLCTL_")}
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
               RESELLCTL_DATABASE_URL=store_url, RESELLCTL_ACTOR=ADMIN,
               RESELLCTL_OUTPUT="json", RESELLCTL_CONFIG=str(cwd / "config.toml"))
    path = cwd / "script.sh"
    path.write_text(script, encoding="utf-8")
    return subprocess.run(["bash", str(path), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def acme(run):  # noqa: ANN001, ANN201
    return partner_reseller(run, "ana@acme.example", 10)


def test_the_create_loop_is_idempotent(acme, store_url, tmp_path) -> None:  # noqa: ANN001
    loop, _ = snippets("Create clients idempotently")
    (tmp_path / "crm-export.csv").write_text("CRM-1,Bakery Li,Li Wei,li@bakery.example\n"
                                             "CRM-2,Café Zoë,Zoë Roux,zoe@cafe.example\n",
                                             encoding="utf-8")
    for _ in range(2):
        result = bash(loop, tmp_path, store_url)
        assert result.returncode == 0 and result.stderr == "", result.stderr
    listed = ok(acme("client", "list", "-o", "json"))
    assert sorted((c["external_id"], c["name"]) for c in listed) == [
        ("CRM-1", "Bakery Li"), ("CRM-2", "Café Zoë")]


def test_the_import_script_keeps_failed_rows_for_a_second_pass(acme, store_url,  # noqa: ANN001
                                                               tmp_path) -> None:
    _, script = snippets("Create clients idempotently")
    source = tmp_path / "new.csv"
    source.write_text("name,owner_name,owner_email,external_id\n"
                      "One,O,one@x.example,E-1\nTwo,O,not-an-address,E-2\n", encoding="utf-8")
    result = bash(script, tmp_path, store_url, "acme", str(source))
    assert result.returncode == 9, result.stderr  # cron sees it
    assert "some rows failed" in result.stderr
    summary = json.loads((tmp_path / "new.csv.summary.json").read_text())
    assert (summary["created"], summary["failed"]) == (1, 1)

    failed = tmp_path / "new.csv.failed.csv"
    fixed = failed.read_text(encoding="utf-8").replace("not-an-address", "two@x.example")
    failed.write_text(fixed, encoding="utf-8")
    again = bash(script, tmp_path, store_url, "acme", str(failed))
    assert again.returncode == 0 and "imported:" in again.stdout, again.stderr
    assert sorted(c["external_id"] for c in ok(acme("client", "list", "-o", "json"))) == [
        "E-1", "E-2"]
    # the nightly re-run of the original file: E-1 is skipped, E-2's row (still with
    # its bad e-mail there) fails again and nothing is created twice
    nightly = bash(script, tmp_path, store_url, "acme", str(source))
    assert nightly.returncode == 9, nightly.stderr
    summary = json.loads((tmp_path / "new.csv.summary.json").read_text())
    assert (summary["created"], summary["skipped"], summary["failed"]) == (0, 1, 1)
    assert len(ok(acme("client", "list", "-o", "json"))) == 2


def test_the_import_script_passes_on_other_exit_codes(acme, store_url, tmp_path) -> None:  # noqa: ANN001
    _, script = snippets("Create clients idempotently")
    (tmp_path / "bad-header.csv").write_text("nom,owner_name,owner_email\n", encoding="utf-8")
    assert bash(script, tmp_path, store_url, "acme", "bad-header.csv").returncode == 5
    assert bash(script, tmp_path, store_url, "nosuch", "bad-header.csv").returncode == 3


def test_the_monthly_export_script_writes_the_csv_and_the_chart(run, store_url, tmp_path):
    """examples/cron/monthly-export.sh as written: the CSV and the SVG in OUT_DIR."""
    ok(run("report", "snapshot", "-o", "json"))
    script = (README.parent / "cron" / "monthly-export.sh").read_text(encoding="utf-8")
    month = __import__("datetime").date.today().strftime("%Y-%m")
    env_script = f"export OUT_DIR={tmp_path / 'out'}\n" + script
    done = bash(env_script, tmp_path, store_url, month)
    assert done.returncode == 0, done.stderr
    csv_path = tmp_path / "out" / f"stats-{month}.csv"
    assert done.stdout.strip() == str(csv_path)
    assert csv_path.read_text().startswith("month,reseller,clients_total")
    assert (tmp_path / "out" / f"mrr-{month}.svg").read_text().startswith("<svg")
