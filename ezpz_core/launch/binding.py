"""CPU binding: ``--cpu-bind`` beats ``CPU_BIND``, which beats the machine default."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ezpz_core.errors import UsageError

_PREFIX = "--cpu-bind="


@dataclass(frozen=True)
class Binding:
    """A binding value chosen by the user (flag or env); None defers to the machine."""

    value: str | None
    source: str  # "--cpu-bind", "CPU_BIND" or ""


def normalise(value: str, source: str) -> str:
    """Trim, and drop a pasted ``--cpu-bind=`` prefix (``--cpu-bind=--cpu-bind=list:0-15``)."""
    text = value.strip()
    while text.startswith(_PREFIX):
        text = text[len(_PREFIX) :].strip()
    if not text:
        raise UsageError(f"{source} is empty; give a binding such as depth, core or list:0-7")
    return text


def resolve_binding(flag: str | None, env: Mapping[str, str]) -> tuple[Binding, list[str]]:
    """The user's binding and the warnings that explain where it came from."""
    env_value = env.get("CPU_BIND", "").strip()
    if flag is not None:
        chosen = normalise(flag, "--cpu-bind")
        notes = []
        if env_value:
            notes.append(f"--cpu-bind {chosen} overrides CPU_BIND={env_value} from the environment")
        return Binding(chosen, "--cpu-bind"), notes
    if env_value:
        chosen = normalise(env_value, "CPU_BIND")
        return Binding(chosen, "CPU_BIND"), [f"using CPU_BIND={env_value} from the environment"]
    return Binding(None, ""), []
