"""Display filters: data, applied to the view only. Nothing is ever filtered on disk.

Noise profiles are per machine (``Machine.filter_profile``). Their patterns are
anchored to the shape of the noise, so they cannot swallow a real error: never a
bare word such as ``AttributeError`` (ezpz's list hid real tracebacks that way).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import compress
from typing import TypeVar

from ezpz_core.errors import UsageError
from ezpz_core.run.events import Line, Row

RowT = TypeVar("RowT", Row, Line)


@dataclass(frozen=True)
class NoiseFilter:
    """Named noise: every pattern must match a whole line.

    ``literals``: strings one of which every line it hides contains. A batch of
    lines that holds none of them is passed without running the patterns (most
    batches of a training run), which keeps the filter nearly free."""

    name: str
    patterns: tuple[str, ...]
    literals: tuple[str, ...] = ()


PROFILES: dict[str, tuple[NoiseFilter, ...]] = {
    "aurora": (
        NoiseFilter(
            "xpu-kernel-reregistration",
            (
                r"\s*Overriding a previously registered kernel for the same operator"
                r" and the same dispatch key$",
                r"\[W\d+ [\d:.]+ OperatorEntry\.cpp:\d+\] Warning: (Warning only once for all"
                r" operators,.*|Overriding a previously registered kernel for the same operator"
                r" and the same dispatch key)$",
                r"\s*operator: aten::\S+(\(.*\))?( -> .*)?$",
                r"\s*(previous|new) kernel: registered at .*$",
                r"\s*registered at /build/pytorch/build/aten/src/ATen/RegisterSchema\.cpp:\d+$",
                r"\s*dispatch key: XPU$",
            ),
            literals=("OperatorEntry.cpp", "registered", "operator: aten::", "dispatch key"),
        ),
        NoiseFilter(
            "protobuf-getprototype",
            (r"AttributeError: 'MessageFactory' object has no attribute 'GetPrototype'$",),
            literals=("GetPrototype",),
        ),
        NoiseFilter(
            "pkg-resources-deprecation",
            (
                r".*UserWarning: pkg_resources is deprecated as an API\..*$",
                r"\s*import pkg_resources$",
            ),
            literals=("pkg_resources",),
        ),
        NoiseFilter(
            "deepspeed-accelerator-banner",
            (r".*Setting ds_accelerator to xpu \(auto detect\)$",),
            literals=("ds_accelerator",),
        ),
        NoiseFilter(
            "duplicate-metric-registration",
            (r".*Trying to register 2 metrics with the same name.*$",),
            literals=("register 2 metrics",),
        ),
        NoiseFilter("tf-trt-warning", (r".*TF-TRT Warning: .*$",), literals=("TF-TRT",)),
        NoiseFilter(
            "sycl-header-without-fsycl",
            (
                r"In file included from /var/run/palsd/.*$",
                r"/opt/aurora/[^:]+/sycl/sycl\.hpp:\d+:\d+: warning: .*$",
                r".*You are including <sycl/sycl\.hpp> without -fsycl flag.*$",
                r".*SYCL_DISABLE_FSYCL_SYCLHPP_WARNING macro\.?\"?\)?$",
                r"<scratch space>:\d+:\d+: note: expanded from here$",
                r"\d+ warnings? generated\.$",
                r"\s*\|\s*\^~*\s*$",
            ),
            literals=(
                "palsd",
                "sycl.hpp",
                "fsycl",
                "SYCL_DISABLE",
                "scratch space",
                "generated.",
                "^",
            ),
        ),
    ),
}


def profile_names() -> list[str]:
    return sorted(PROFILES)


def parse_ranks(spec: str | None) -> frozenset[int] | None:
    """``"0"``, ``"0,3-5"``, ``"all"`` -> the ranks to show (None: all)."""
    if spec is None or spec.strip().lower() == "all":
        return None
    ranks: set[int] = set()
    for part in spec.split(","):
        lo, dash, hi = part.strip().partition("-")
        if not lo.isdigit() or (dash and not hi.isdigit()):
            raise UsageError(f"--ranks {spec!r}: expected ranks like 0, 0,3-5 or all")
        first, last = int(lo), int(hi) if dash else int(lo)
        if last < first:
            raise UsageError(f"--ranks {spec!r}: range {part.strip()} runs backwards")
        ranks.update(range(first, last + 1))
    return frozenset(ranks)


@dataclass
class DisplayFilter:
    """Decides which lines are shown, and counts what each rule hid."""

    noise: tuple[NoiseFilter, ...] = ()
    grep: str | None = None
    ranks: frozenset[int] | None = None
    hidden: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._noise = None
        self._literals: tuple[str, ...] | None = None
        self._literal_bytes: tuple[bytes, ...] | None = None
        if self.noise:
            groups = "|".join(
                f"(?P<f{i}>{'|'.join(f'(?:{p})' for p in f.patterns)})"
                for i, f in enumerate(self.noise)
            )
            self._noise = re.compile(groups)
            if all(f.literals for f in self.noise):
                self._literals = tuple({lit for f in self.noise for lit in f.literals})
        try:
            self._grep = re.compile(self.grep) if self.grep is not None else None
        except re.error as exc:
            raise UsageError(
                f"--grep {self.grep!r} is not a valid regular expression: {exc}"
            ) from None

    @property
    def active(self) -> bool:
        return bool(self._noise or self._grep or self.ranks is not None)

    def shows_all(self, texts: list[bytes]) -> bool:
        """True when no line of ``texts`` can be hidden: only noise filters are on
        and the batch holds none of their literals (most batches of a run), so
        the caller can skip ``visible`` and its per-line work."""
        if self._grep is not None or self.ranks is not None or self._literals is None:
            return not self.active
        if self._literal_bytes is None:
            self._literal_bytes = tuple(lit.encode() for lit in self._literals)
        batch = b"".join(texts)
        return not any(literal in batch for literal in self._literal_bytes)

    def _hide(self, name: str) -> None:
        self.hidden[name] = self.hidden.get(name, 0) + 1

    def visible(self, rows: Iterable[RowT]) -> list[RowT]:
        """The rows (``(rank, stream, text)`` tuples or ``Line`` values) to show."""
        rows = list(rows)
        return list(compress(rows, self.shown(rows)))

    def shown(self, rows: Sequence[Row] | Sequence[Line]) -> list[bool]:
        """For each row, whether it is shown (what ``visible`` keeps); counts the
        hidden ones. A mask, so that a caller can keep the lines' own bytes."""
        noise = self._noise.fullmatch if self._noise else None
        if noise is not None and self._literals is not None:
            batch = "\n".join([row[2] for row in rows])
            if not any(literal in batch for literal in self._literals):
                noise = None  # no line of this batch can be noise
        grep = self._grep.search if self._grep else None
        ranks = self.ranks
        mask: list[bool] = []
        for row in rows:
            rank, text = row[0], row[2]
            if ranks is not None and rank >= 0 and rank not in ranks:
                self._hide("--ranks")
                mask.append(False)
            elif noise is not None and (m := noise(text)) is not None:
                self._hide(self.noise[int(str(m.lastgroup)[1:])].name)
                mask.append(False)
            elif grep is not None and grep(text) is None:
                self._hide("--grep")
                mask.append(False)
            else:
                mask.append(True)
        return mask


def make_filter(
    machine_profile: str | None,
    profile: str | None = None,
    no_filter: bool = False,
    grep: str | None = None,
    ranks: str | None = None,
) -> DisplayFilter:
    """The display filter for these flags (``--filter-profile``, ``--no-filter``...)."""
    name = None if no_filter else (profile or machine_profile)
    if name is not None and name != "none" and name not in PROFILES:
        raise UsageError(
            f"--filter-profile {name!r} is unknown; "
            f"choose one of: none, {', '.join(profile_names())}"
        )
    noise = PROFILES.get(name or "", ()) if name != "none" else ()
    return DisplayFilter(noise=noise, grep=grep, ranks=parse_ranks(ranks))
