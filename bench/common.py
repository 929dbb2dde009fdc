"""Shared by the bench scripts (run as `python bench/NAME.py`, so this imports as `common`)."""

from __future__ import annotations

import os
from pathlib import Path


def bench_env(workdir: Path, url: str) -> dict[str, str]:
    """An environment in which everything resellctl reads points into `workdir`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESELLCTL_")}
    home = workdir / "home"
    env.update({
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "RESELLCTL_CONFIG": str(workdir / "config.toml"),
        "RESELLCTL_DATABASE_URL": url,
        "NO_COLOR": "1",
        "COLUMNS": "100",
    })
    # Like a user's shell: .pyc files get cached, stdout is block-buffered.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONUNBUFFERED", None)
    return env
