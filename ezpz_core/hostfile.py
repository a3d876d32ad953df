"""Hostfiles and Slurm host lists: parsed, checked, never guessed.

Accepted lines (after ``#`` comments and blank lines are dropped):

* ``host`` (one slot),
* ``host slots=N`` (Open MPI; ``max_slots=`` / ``max-slots=`` are accepted and
  ignored, as they cap rather than add slots),
* ``host:N`` (MPICH/Hydra).

A host listed more than once gets the sum of its slots: PBS writes one line per
MPI process slot, and Open MPI reads repeats the same way. Repeats are reported,
never counted as extra nodes (ezpz counted them as nodes).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import hostlist

from ezpz_core.errors import HostfileError, UsageError

# RFC 1123 labels, plus "_" which real clusters use; IPv4 literals match too.
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
MAX_HOSTFILE_BYTES = 64 * 1024 * 1024
_SLOTS = re.compile(r"(slots|max_slots|max-slots)=(.*)")


@dataclass(frozen=True)
class Hostfile:
    """The hosts of one hostfile, in first-seen order, with slots per host."""

    path: str
    hosts: tuple[str, ...]
    slots: tuple[int, ...]
    repeated: tuple[str, ...]  # hosts that appeared on more than one line
    explicit_slots: bool  # any slots=N or host:N given (or a host repeated)

    @property
    def uniform_slots(self) -> int | None:
        """The slots per host when every host has the same explicit count, else None."""
        if not self.explicit_slots or not self.slots or len(set(self.slots)) != 1:
            return None
        return self.slots[0]

    def repeat_warning(self) -> str | None:
        """A sentence that reports repeated hosts, or None when there are none."""
        if not self.repeated:
            return None
        names = ", ".join(self.repeated[:3]) + (" ..." if len(self.repeated) > 3 else "")
        return (
            f"hostfile {self.path} lists {len(self.repeated)} host(s) more than once "
            f"({names}); repeats count as slots on one node, not as extra nodes"
        )


def is_valid_hostname(name: str) -> bool:
    """True for names a launcher can resolve: DNS labels separated by dots."""
    return len(name) <= 253 and _HOSTNAME.fullmatch(name) is not None


def _parse_slots(value: str, path: str, lineno: int, what: str) -> int:
    if re.fullmatch(r"[0-9]{1,9}", value) is None or int(value) < 1:
        raise HostfileError(path, f"{what} must be a whole number >= 1, got {value!r}", lineno)
    return int(value)


def _parse_line(line: str, path: str, lineno: int) -> tuple[str, int, bool] | None:
    """One line -> (host, slots, explicit) or None for blank/comment lines."""
    text = line.split("#", 1)[0].strip()
    if not text:
        return None
    tokens = text.split()
    head, rest = tokens[0], tokens[1:]
    slots, explicit = 1, False
    if ":" in head:
        head, _, count = head.partition(":")
        slots, explicit = _parse_slots(count, path, lineno, f"slot count in {tokens[0]!r}"), True
    if not is_valid_hostname(head):
        raise HostfileError(path, f"{head!r} is not a valid host name", lineno)
    for token in rest:
        match = _SLOTS.fullmatch(token)
        if match is None:
            raise HostfileError(
                path, f"unexpected {token!r} after host {head!r}; expected slots=N", lineno
            )
        if match.group(1) == "slots":
            slots = _parse_slots(match.group(2), path, lineno, "slots")
            explicit = True
        else:
            _parse_slots(match.group(2), path, lineno, match.group(1))
    return head, slots, explicit


def parse_hostfile(text: str, path: str) -> Hostfile:
    """Parse hostfile ``text`` read from ``path``; errors name the file and line."""
    slots: dict[str, int] = {}
    seen_twice: dict[str, None] = {}
    explicit = False
    # Only "\n" ends a line (as for launchers and editors); str.splitlines would
    # also split at form feeds and other separators inside comments.
    for lineno, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r")
        if "\x00" in line:
            raise HostfileError(path, "contains binary data (NUL bytes); is it a hostfile?", lineno)
        parsed = _parse_line(line, path, lineno)
        if parsed is None:
            continue
        host, count, was_explicit = parsed
        explicit = explicit or was_explicit
        if host in slots:
            seen_twice[host] = None
            slots[host] += count
        else:
            slots[host] = count
    if not slots:
        raise HostfileError(path, "has no hosts (it is empty or holds only comments)")
    return Hostfile(
        path=path,
        hosts=tuple(slots),
        slots=tuple(slots.values()),
        repeated=tuple(seen_twice),
        explicit_slots=explicit or bool(seen_twice),
    )


def decode_hostfile(data: bytes, path: str) -> str:
    """Bytes -> text; undecodable bytes are an error that names the line."""
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        lineno = data.count(b"\n", 0, exc.start) + 1
        raise HostfileError(path, "contains binary data (not UTF-8 text)", lineno) from None


def read_hostfile(path: str) -> Hostfile:
    """Read and parse the hostfile at ``path`` (the I/O edge of this module)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_HOSTFILE_BYTES + 1)
    except FileNotFoundError:
        raise HostfileError(path, "does not exist") from None
    except IsADirectoryError:
        raise HostfileError(path, "is a directory, not a file") from None
    except PermissionError:
        raise HostfileError(path, "cannot be read (permission denied)") from None
    except OSError as exc:
        raise HostfileError(path, f"cannot be read ({exc.strerror or exc})") from None
    if len(data) > MAX_HOSTFILE_BYTES:
        raise HostfileError(path, "is larger than 64 MiB; is it a hostfile?")
    return parse_hostfile(decode_hostfile(data, path), path)


def expand_nodelist(expression: str, source: str) -> tuple[str, ...]:
    """Expand a Slurm host list (``nid[001-003,007],login[1-2]-ib``) in order.

    ``source`` names where the expression came from, for the error message.
    """
    text = expression.strip()
    if not text:
        raise UsageError(f"{source} is empty; expected a Slurm host list such as nid[001-004]")
    try:
        hosts = hostlist.expand_hostlist(text)
    except hostlist.BadHostlist as exc:
        raise UsageError(f"{source}={expression!r} is not a valid Slurm host list: {exc}") from None
    bad = [h for h in hosts if not is_valid_hostname(h)]
    if bad:
        raise UsageError(f"{source}={expression!r} expands to an invalid host name {bad[0]!r}")
    return tuple(dict.fromkeys(hosts))


def compress_hosts(hosts: Iterable[str]) -> str:
    """The shortest Slurm host-list spelling of ``hosts`` (for srun --nodelist).

    Cached: compressing 10,000 names takes ~0.1 s, and the console re-plans the
    same hosts on every keystroke.
    """
    return _compress(tuple(hosts))


@lru_cache(maxsize=8)
def _compress(hosts: tuple[str, ...]) -> str:
    return str(hostlist.collect_hostlist(list(hosts)))


def short_name(host: str) -> str:
    """``x4514c6s0b0n0.hsn.cm.aurora...`` -> ``x4514c6s0b0n0`` (for host comparisons)."""
    return host.split(".", 1)[0].lower()
