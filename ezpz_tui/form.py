"""The launch form as text, and its translation into a ``LaunchRequest``.

The console's fields hold what the person typed. ``parse_form`` turns them into
the same ``LaunchRequest`` the CLI flags make, and reports each field's mistake
in words, keyed by field, so the form can show the error next to the field.
Pure: no Textual, no files (the hostfile is read by the planner).
"""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from ezpz_core.errors import HostfileError, UsageError
from ezpz_core.kinds import LauncherChoice, RankIO
from ezpz_core.launch.request import LaunchRequest
from ezpz_core.run.filters import profile_names

MACHINE_DEFAULT = ""  # filter profile: the machine's own (aurora, ...) when empty


@dataclass(frozen=True)
class LaunchForm:
    """Every field of the launch view, as text; "" means "not given"."""

    np: str = ""
    ppn: str = ""
    nhosts: str = ""
    hostfile: str = ""
    cpu_bind: str = ""
    launcher: str = LauncherChoice.AUTO.value
    rank_io: str = RankIO.AUTO.value
    launcher_args: str = ""
    filter_profile: str = MACHINE_DEFAULT
    command: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LaunchForm:
        """Known keys with string values; anything else is ignored (old or hand-edited files)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known and isinstance(v, str)})

    def with_field(self, name: str, value: str) -> LaunchForm:
        return replace(self, **{name: value})


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    placeholder: str
    help: str


FIELD_SPECS: tuple[FieldSpec, ...] = (
    FieldSpec("np", "np", "hosts x ppn", "total ranks (-n)"),
    FieldSpec("ppn", "ppn", "accelerators per host, else 1", "ranks per host (--ppn)"),
    FieldSpec("nhosts", "nhosts", "all there are", "hosts to use (--nhosts)"),
    FieldSpec("hostfile", "hostfile", "the job's, if any (ctrl+b browses)", "--hostfile FILE"),
    FieldSpec("cpu_bind", "cpu-bind", "CPU_BIND, else the machine's", "--cpu-bind"),
    FieldSpec("launcher", "launcher", "", "--launcher"),
    FieldSpec("rank_io", "rank I/O", "", "--rank-io"),
    FieldSpec("launcher_args", "launcher args", "e.g. --no-vni", "words before COMMAND"),
    FieldSpec("filter_profile", "filter", "", "--filter-profile"),
    FieldSpec("command", "command", "the reference workload", "COMMAND, as a shell line"),
)
FIELD_NAMES = tuple(spec.name for spec in FIELD_SPECS)


def filter_choices() -> list[tuple[str, str]]:
    """(label, value) pairs for the filter field: the machine's, none, then each profile."""
    return [("machine default", MACHINE_DEFAULT), ("none", "none")] + [
        (name, name) for name in profile_names()
    ]


@dataclass(frozen=True)
class ParsedForm:
    """The request (None when a field is wrong) and each field's error."""

    request: LaunchRequest | None
    errors: dict[str, str]


def _count(text: str, flag: str) -> tuple[int | None, str | None]:
    value = text.strip()
    if not value:
        return None, None
    if not (value.isascii() and value.isdigit()) or int(value) < 1:  # not "²" or "٣"
        return None, f"{flag} must be a whole number >= 1, got {value!r}"
    return int(value), None


def _words(text: str, what: str) -> tuple[tuple[str, ...], str | None]:
    try:
        return tuple(shlex.split(text)), None
    except ValueError as exc:  # an open quote, a trailing backslash
        return (), f"{what} is not a complete shell line ({exc}); close the quote"


def parse_form(form: LaunchForm) -> ParsedForm:
    """Check each field on its own; the plan then judges how they fit together."""
    errors: dict[str, str] = {}
    counts: dict[str, int | None] = {}
    for name, flag in (("np", "np"), ("ppn", "ppn"), ("nhosts", "nhosts")):
        counts[name], error = _count(getattr(form, name), flag)
        if error:
            errors[name] = error
    command, error = _words(form.command, "the command")
    if error:
        errors["command"] = error
    launcher_args, error = _words(form.launcher_args, "launcher args")
    if error:
        errors["launcher_args"] = error
    try:
        launcher = LauncherChoice(form.launcher)
    except ValueError:
        errors["launcher"] = f"unknown launcher {form.launcher!r}"
        launcher = LauncherChoice.AUTO
    try:
        rank_io = RankIO(form.rank_io)
    except ValueError:
        errors["rank_io"] = f"unknown rank I/O mode {form.rank_io!r}"
        rank_io = RankIO.AUTO
    profile = form.filter_profile
    if profile not in (MACHINE_DEFAULT, "none", *profile_names()):
        errors["filter_profile"] = f"unknown filter profile {profile!r}"
    cpu_bind = form.cpu_bind.strip()
    hostfile = form.hostfile.strip()
    if errors:
        return ParsedForm(None, errors)
    request = LaunchRequest(
        command=command,
        np=counts["np"],
        ppn=counts["ppn"],
        nhosts=counts["nhosts"],
        hostfile=hostfile or None,
        cpu_bind=cpu_bind or None,
        launcher=launcher,
        rank_io=rank_io,
        launcher_args=launcher_args,
    )
    return ParsedForm(request, {})


# The flag a planner message names first says which field is at fault.
_FLAG_FIELDS = (
    ("-n/--np", "np"),
    ("-n ", "np"),
    ("--ppn", "ppn"),
    ("--nhosts", "nhosts"),
    ("--cpu-bind", "cpu_bind"),
    ("CPU_BIND", "cpu_bind"),
    ("--hostfile", "hostfile"),
)


def field_for_error(error: UsageError, form: LaunchForm) -> str | None:
    """Which field an error from the planner belongs to (None: the whole form)."""
    if isinstance(error, HostfileError) and form.hostfile.strip():
        return "hostfile"
    message = str(error)
    if "ranks per host is more than" in message:  # names -n/--ppn: blame the one given
        return "ppn" if form.ppn.strip() else "np"
    found = [(message.find(flag), name) for flag, name in _FLAG_FIELDS if flag in message]
    return min(found)[1] if found else None


def form_from_request(request: LaunchRequest, filter_profile: str | None = None) -> LaunchForm:
    """The form a set of CLI flags fills in (``ezpz-tui -n 8 -- python3 train.py``)."""

    def text(value: int | str | None) -> str:
        return "" if value is None else str(value)

    return LaunchForm(
        np=text(request.np),
        ppn=text(request.ppn),
        nhosts=text(request.nhosts),
        hostfile=text(request.hostfile),
        cpu_bind=text(request.cpu_bind),
        launcher=request.launcher.value,
        rank_io=request.rank_io.value,
        launcher_args=shlex.join(request.launcher_args),
        filter_profile=filter_profile or MACHINE_DEFAULT,
        command=shlex.join(request.command),
    )


def form_flags(form: LaunchForm) -> list[str]:
    """The ``ezpz-tui`` flags and command this form stands for (the inverse of
    ``form_from_request``): what the console hands to the ``--run`` it starts.
    An argv list, never a shell line: the command's words are split as the
    preview shows them."""
    parsed = parse_form(form)
    if parsed.request is None:
        raise UsageError("; ".join(parsed.errors.values()))
    request = parsed.request
    flags: list[str] = []
    for flag, value in (
        ("--np", request.np),
        ("--ppn", request.ppn),
        ("--nhosts", request.nhosts),
        ("--hostfile", request.hostfile),
        ("--cpu-bind", request.cpu_bind),
    ):
        if value is not None:
            flags.append(f"{flag}={value}")
    flags.append(f"--launcher={request.launcher.value}")
    flags.append(f"--rank-io={request.rank_io.value}")
    flags.extend(f"--launcher-arg={arg}" for arg in request.launcher_args)
    if form.filter_profile:
        flags.append(f"--filter-profile={form.filter_profile}")
    if request.command:
        flags.extend(["--", *request.command])
    return flags
