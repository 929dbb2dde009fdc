"""Profiles (contexts) in a TOML config file, written atomically with mode 0600.

Precedence for every setting: option > environment > profile > default.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from resellctl.domain.errors import Invalid, NotFound
from resellctl.files import PRIVATE, replace_file

APP = "resellctl"
DEFAULT_PROFILE = "default"


def config_path() -> Path:
    env = os.environ.get("RESELLCTL_CONFIG")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_config_dir(APP)) / "config.toml"


def default_database_url() -> str:
    import platformdirs

    return f"sqlite:///{Path(platformdirs.user_data_dir(APP)) / 'resellctl.db'}"


@dataclass
class Config:
    current: str | None = None
    profiles: dict[str, dict[str, str]] = field(default_factory=dict)

    def profile(self, name: str | None) -> dict[str, str]:
        """The named profile, or the current one; {} when none is set up."""
        if name is None:
            return self.profiles.get(self.current or DEFAULT_PROFILE, {})
        if name not in self.profiles:
            raise NotFound(f"context `{name}` not found", hint="run `resellctl context list`")
        return self.profiles[name]


def load(path: Path | None = None) -> Config:
    path = path or config_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Config()
    except OSError as exc:  # a directory, no permission, ...
        raise Invalid(f"cannot read config file {path}: {exc.strerror or exc}",
                      hint="point RESELLCTL_CONFIG at a file, or fix its permissions") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise Invalid(f"config file {path} is not valid TOML: {exc}",
                      hint="fix or remove the file") from exc
    contexts, current = data.get("contexts", {}), data.get("current_context")
    if (not isinstance(contexts, dict) or not all(isinstance(v, dict) for v in contexts.values())
            or not all(isinstance(b, str) for v in contexts.values() for b in v.values())
            or not isinstance(current, str | None)):
        raise Invalid(f"config file {path}: `contexts` must hold tables of strings and "
                      "`current_context` must be a string", hint="fix or remove the file")
    profiles = {str(k): {str(a): str(b) for a, b in v.items()} for k, v in contexts.items()}
    return Config(current=current, profiles=profiles)


def save(config: Config, path: Path | None = None) -> Path:
    """Write the config atomically (temp file, then rename), readable by the owner only."""
    import tomli_w

    path = path or config_path()
    data: dict = {}
    if config.current:
        data["current_context"] = config.current
    data["contexts"] = config.profiles
    replace_file(path, lambda handle: tomli_w.dump(data, handle), mode=PRIVATE, binary=True)
    return path


@dataclass
class Resolved:
    """What one invocation runs against."""

    database_url: str | None  # None in a remote profile
    actor: str | None
    reseller: str | None
    profile: str | None
    url: str | None = None  # a remote profile: the `serve` API's address
    token: str | None = None

    @property
    def remote(self) -> bool:
        return self.url is not None


def resolve(*, db: str | None, actor: str | None, profile: str | None) -> Resolved:
    """Apply option > environment > profile > default. Options already include env (Typer).

    The store comes from the first level that names one (HTTP.md): `--db`; then
    RESELLCTL_DATABASE_URL or RESELLCTL_URL (both set is a usage error); then the
    profile's `db` or `url`; then the default SQLite file."""
    from resellctl.domain.errors import UsageError

    config = load()
    chosen = config.profile(profile)
    name = profile or ((config.current or DEFAULT_PROFILE) if chosen else None)
    env_url = os.environ.get("RESELLCTL_URL") or None
    if env_url and os.environ.get("RESELLCTL_DATABASE_URL"):
        raise UsageError("RESELLCTL_DATABASE_URL and RESELLCTL_URL are both set",
                         code="two_stores", hint="unset one of them")
    common = {"actor": actor or chosen.get("actor") or None,
              "reseller": chosen.get("reseller") or None, "profile": name}
    # An empty --db is a mistake to report, not a reason to fall back to another store.
    if db is not None:
        return Resolved(database_url=db, **common)
    if env_url:
        return Resolved(database_url=None, url=env_url,
                        token=os.environ.get("RESELLCTL_TOKEN") or chosen.get("token"),
                        **common)
    if chosen.get("url") and not chosen.get("db"):
        return Resolved(database_url=None, url=chosen["url"],
                        token=os.environ.get("RESELLCTL_TOKEN") or chosen.get("token"),
                        **common)
    return Resolved(database_url=chosen.get("db") or default_database_url(), **common)
