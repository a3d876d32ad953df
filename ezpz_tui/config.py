"""What the console remembers between runs, in the user config directory.

- ``settings.toml``: the theme.
- ``profiles/<name>.toml``: named launch forms (one file each, easy to edit or copy).
- ``recent.json``: the last forms used, per working directory.

The directory is ``platformdirs``' user config path for ``ezpz-tui``, or
``$EZPZ_TUI_CONFIG_DIR`` (tests, and people who keep dotfiles elsewhere). A file
that cannot be read is a ``ConfigError`` naming it, never a traceback; writes go
through a temporary file and a rename, so a crash never leaves half a profile.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ezpz_core.errors import EzpzError
from ezpz_tui.form import LaunchForm

CONFIG_ENV = "EZPZ_TUI_CONFIG_DIR"
RECENT_PER_DIRECTORY = 20
_PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class ConfigError(EzpzError):
    """A config file that cannot be read or written; the message names it."""


def config_dir(env: Mapping[str, str]) -> Path:
    override = env.get(CONFIG_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    import platformdirs  # only the console needs it

    return Path(platformdirs.user_config_path("ezpz-tui"))


def _toml_value(value: object) -> str:
    # A JSON string or list of strings is also a valid TOML basic string / array.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    # ... except DEL, which JSON leaves bare and TOML forbids
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _toml_value(key)


def dump_toml(data: Mapping[str, object], comment: str = "") -> str:
    """Flat ``key = value`` TOML (strings, numbers, booleans): all our files need."""
    lines = [f"# {comment}"] if comment else []
    lines += [f"{_toml_key(key)} = {_toml_value(value)}" for key, value in data.items()]
    return "\n".join(lines) + "\n"


def _write_atomic(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    except UnicodeEncodeError:  # a lone surrogate from a non-UTF-8 argv
        raise ConfigError(f"cannot write {path}: the text is not valid Unicode") from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None


class ConsoleConfig:
    """The files under one config directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    # settings ---------------------------------------------------------------
    @property
    def settings_path(self) -> Path:
        return self.root / "settings.toml"

    def settings(self) -> dict[str, Any]:
        try:
            return _read_toml(self.settings_path)
        except FileNotFoundError:
            return {}

    def save_setting(self, key: str, value: str) -> None:
        try:
            current = self.settings()
        except ConfigError:
            current = {}  # a broken settings file is replaced, not merged
        current[key] = value
        _write_atomic(self.settings_path, dump_toml(current, "ezpz-tui settings"))

    # the batch fields ---------------------------------------------------------
    @property
    def batch_path(self) -> Path:
        return self.root / "batch.toml"

    def batch_fields(self) -> dict[str, Any]:
        """The Submit dialog's fields as last submitted (queue, account, time...):
        on a login node they are mostly the same from one job to the next."""
        try:
            return _read_toml(self.batch_path)
        except FileNotFoundError:
            return {}

    def save_batch_fields(self, fields: Mapping[str, str]) -> None:
        _write_atomic(self.batch_path, dump_toml(fields, "ezpz-tui: the last Submit's fields"))

    # profiles ---------------------------------------------------------------
    @property
    def profiles_dir(self) -> Path:
        return self.root / "profiles"

    def profile_names(self) -> list[str]:
        try:
            return sorted(p.stem for p in self.profiles_dir.glob("*.toml") if p.is_file())
        except OSError:
            return []

    def _profile_path(self, name: str) -> Path:
        if not _PROFILE_NAME.fullmatch(name):
            raise ConfigError(
                f"profile name {name!r} is not allowed: use letters, digits, '.', '_' or '-' "
                "(at most 64, starting with a letter or digit)"
            )
        return self.profiles_dir / f"{name}.toml"

    def save_profile(self, name: str, form: LaunchForm) -> Path:
        path = self._profile_path(name)
        _write_atomic(path, dump_toml(form.to_dict(), f"ezpz-tui launch profile {name}"))
        return path

    def load_profile(self, name: str) -> LaunchForm:
        path = self._profile_path(name)
        try:
            return LaunchForm.from_dict(_read_toml(path))
        except FileNotFoundError:
            raise ConfigError(f"no profile {name!r} ({path} does not exist)") from None

    # recent -----------------------------------------------------------------
    @property
    def recent_path(self) -> Path:
        return self.root / "recent.json"

    def _recent_all(self) -> dict[str, list[dict[str, str]]]:
        try:
            data = json.loads(self.recent_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read {self.recent_path}: {exc}") from None
        if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
            raise ConfigError(
                f"cannot read {self.recent_path}: not a mapping of directory -> list of forms"
            )
        return data

    def recent(self, cwd: str) -> list[LaunchForm]:
        """The forms last used in ``cwd``, newest first."""
        entries = self._recent_all().get(os.path.realpath(cwd), [])
        return [LaunchForm.from_dict(e) for e in entries if isinstance(e, dict)]

    def remember(self, cwd: str, form: LaunchForm) -> None:
        try:
            data = self._recent_all()
        except ConfigError:
            data = {}
        key = os.path.realpath(cwd)
        entry = form.to_dict()
        kept = [e for e in data.get(key, []) if e != entry]
        data[key] = [entry, *kept][:RECENT_PER_DIRECTORY]
        _write_atomic(self.recent_path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")
