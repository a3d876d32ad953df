"""Every rank's main-thread stack, grouped, merged into a prefix tree, the suspect named.

A hung job is usually one rank (or a few) somewhere else while all the others wait
in a collective for it. With 127,000 ranks nobody reads 127,000 stacks, so this does
what LLNL STAT does for C stacks: ranks with identical stacks form one group, the
groups merge into a prefix tree whose branches carry rank sets (``[0-3,5-11]``),
and the odd one out is named with the reason. Pure functions over
``ezpz_core.hang.stacks`` records; the collection side (py-spy, signals, timeouts)
lives elsewhere.
"""

from __future__ import annotations

import statistics
import textwrap
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ezpz_core.hang.stacks import Frame, RankStack, intern_frame, intern_stack, main_thread

# Function names (the last dotted part, lower case: py-spy says ``Work.wait``) that mean
# "waiting for other ranks": torch.distributed's collectives, point-to-point and
# barriers, the rendezvous of ``init_process_group``, and waits on work or devices.
COLLECTIVES = frozenset(
    {
        "all_reduce",
        "allreduce",
        "all_reduce_coalesced",
        "all_gather",
        "allgather",
        "all_gather_into_tensor",
        "all_gather_object",
        "_all_gather_base",
        "reduce_scatter",
        "reduce_scatter_tensor",
        "_reduce_scatter_base",
        "all_to_all",
        "alltoall",
        "all_to_all_single",
        "broadcast",
        "broadcast_object_list",
        "reduce",
        "gather",
        "gather_object",
        "scatter",
        "scatter_object_list",
        "barrier",
        "monitored_barrier",
        "_store_based_barrier",
        "init_process_group",
        "send",
        "recv",
        "isend",
        "irecv",
        "batch_isend_irecv",
        "send_object_list",
        "recv_object_list",
        "wait",
        "_wait",
        "synchronize",
    }
)
WAIT_DEPTH = 8  # how many innermost frames may hold the collective (wrappers, logging)
# A ``wait`` in these files is a thread, queue or child process, not a peer rank: a
# rank starved by its data loader sits in ``Condition.wait`` <- ``Queue.get`` and is
# the culprit, not one of the waiters.
NOT_COLLECTIVE_FILES = (
    "/threading.py",
    "/queue.py",
    "/selectors.py",
    "/subprocess.py",
    "/multiprocessing/connection.py",
    "/multiprocessing/synchronize.py",
    "/multiprocessing/popen_fork.py",
    "/concurrent/futures/_base.py",
)
SILENCE_RATIO = 2.0  # rule 3: silent at least this many times the median...
SILENCE_MIN_S = 10.0  # ...and at least this long
REASON_FRAMES = 6  # most frames of one stack a suspect's reason names
SILENCE_LISTED = 8  # a group's silences are listed rank by rank up to this size
CHAIN_HEAD, CHAIN_TAIL = 2, 3  # frames kept at each end of a collapsed chain in the tree
ARROW = " ← "


def rank_ranges(ranks: Iterable[int]) -> str:
    """``[5, 0, 1, 3, 6, 7]`` -> ``"0-1,3,5-7"`` (sorted, duplicates dropped); "" for none."""
    ordered = sorted(set(ranks))
    if not ordered:
        return ""
    parts = []
    start = prev = ordered[0]
    for rank in ordered[1:]:
        if rank != prev + 1:
            parts.append(f"{start}-{prev}" if prev != start else str(start))
            start = rank
        prev = rank
    parts.append(f"{start}-{prev}" if prev != start else str(start))
    return ",".join(parts)


def ranks_label(ranks: Sequence[int]) -> str:
    """``rank 2`` or ``ranks 0-1,3``."""
    return f"rank {ranks[0]}" if len(ranks) == 1 else f"ranks {rank_ranges(ranks)}"


# --- groups -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Group:
    """Ranks whose main threads have the very same stack (name, file and line of
    every frame); ``sources`` are the dump kinds that gave them, sorted."""

    frames: tuple[Frame, ...]  # main thread, OUTERMOST first
    ranks: tuple[int, ...]  # sorted
    sources: tuple[str, ...]

    @property
    def waiting(self) -> bool:
        """Whether it waits for other ranks: one of its ``WAIT_DEPTH`` innermost frames
        is named in ``COLLECTIVES`` (and is not a thread or queue wait)."""
        return any(_is_collective(frame) for frame in self.frames[-WAIT_DEPTH:])

    @property
    def collective(self) -> str:
        """The innermost collective's function name, or ""."""
        for frame in reversed(self.frames[-WAIT_DEPTH:]):
            if _is_collective(frame):
                return frame.name.rsplit(".", 1)[-1]
        return ""


def _is_collective(frame: Frame) -> bool:
    if frame.name.rsplit(".", 1)[-1].lower() not in COLLECTIVES:
        return False
    return not f"/{frame.filename}".endswith(NOT_COLLECTIVE_FILES)


def group_stacks(stacks: Sequence[RankStack]) -> list[Group]:
    """Ranks with identical main-thread stacks, one group each, largest first (then
    by first rank). Ranks without a stack (no threads, or no main thread) form no
    group: ``Report.missing`` lists them.

    Fast at 127,000 ranks: ranks are bucketed by the identity of their frame tuple
    (the parsers intern equal stacks into one object), and only the few distinct
    tuples are compared by value; stacks that were not interned group the same,
    just slower."""
    buckets: dict[tuple[int, str], list[int]] = {}
    frames_by_id: dict[int, tuple[Frame, ...]] = {}
    for stack in stacks:
        threads = stack.threads
        if not threads:
            continue
        thread = threads[0] if len(threads) == 1 else main_thread(stack)
        if thread is None:
            continue
        frames = thread.frames
        key = (id(frames), stack.source)
        ranks = buckets.get(key)
        if ranks is None:
            buckets[key] = ranks = []
            frames_by_id[key[0]] = frames
        ranks.append(stack.rank)
    merged: dict[tuple[Frame, ...], tuple[list[int], set[str]]] = {}
    for (ident, source), ranks in buckets.items():
        frames = frames_by_id[ident]
        found = merged.get(frames)
        if found is None:
            merged[frames] = (ranks, {source})
        else:
            found[0].extend(ranks)
            found[1].add(source)
    groups = [
        Group(frames[::-1], tuple(sorted(ranks)), tuple(sorted(sources)))
        for frames, (ranks, sources) in merged.items()
    ]
    groups.sort(key=lambda g: (-len(g.ranks), g.ranks[0]))
    return groups


# --- the prefix tree ---------------------------------------------------------------------


@dataclass
class Node:
    """One frame of the merged tree with every rank whose stack passes through it;
    the root's ``frame`` is None and holds every rank with a stack."""

    frame: Frame | None
    ranks: tuple[int, ...]
    children: list[Node] = field(default_factory=list)


def prefix_tree(groups: Sequence[Group]) -> Node:
    """The groups' stacks merged outermost first, like STAT's tree. Frames are
    matched on name and file, not line, so near-identical stacks (a loop that
    called ``all_reduce`` from line 40 on some ranks, 42 on others) share branches;
    a node shows the line of the first group through it (the largest, as
    ``group_stacks`` orders them). Siblings: most ranks first, then first rank."""
    root = _Trie(None)
    for index, group in enumerate(groups):
        node = root
        node.groups.append(index)
        for frame in group.frames:
            key = (frame.name, frame.filename)
            child = node.children.get(key)
            if child is None:
                child = node.children[key] = _Trie(frame)
            child.groups.append(index)
            node = child
    # A chain of nodes holds the same groups: their rank sets are built once, shared.
    unions: dict[tuple[int, ...], tuple[int, ...]] = {}

    def ranks_of(members: list[int]) -> tuple[int, ...]:
        key = tuple(members)
        found = unions.get(key)
        if found is None:
            if len(members) == 1:
                found = groups[members[0]].ranks
            else:
                found = tuple(sorted(r for i in members for r in groups[i].ranks))
            unions[key] = found
        return found

    def convert(trie: _Trie) -> Node:
        children = [convert(c) for c in trie.children.values()]
        children.sort(key=lambda n: (-len(n.ranks), n.ranks[0]))
        return Node(trie.frame, ranks_of(trie.groups), children)

    return convert(root)


class _Trie:
    """prefix_tree's working node: children by (name, filename), groups by index."""

    __slots__ = ("children", "frame", "groups")

    def __init__(self, frame: Frame | None) -> None:
        self.frame = frame
        self.children: dict[tuple[str, str], _Trie] = {}
        self.groups: list[int] = []


# --- the suspect -------------------------------------------------------------------------


@dataclass(frozen=True)
class Suspect:
    """The rank(s) most likely holding the others up, and why in words."""

    ranks: tuple[int, ...]
    reason: str


def suspect(groups: Sequence[Group], silence: Mapping[int, float] | None = None) -> Suspect | None:
    """Who holds the job up, by the first of these rules that names anyone:

    1. Some groups wait in a collective and others do not: the ranks of those that
       do not (a collective cannot finish until they join it).
    2. Two or more groups, not all the same size: the smallest group. When several
       tie for smallest, the least advanced of them: the one sharing the fewest
       outermost frames (name and file) with the largest group, then the one with
       the fewest frames; a tie after that names them all.
    3. ``silence`` (seconds since each rank's last line) names ranks silent at least
       ``SILENCE_RATIO`` times the median and at least ``SILENCE_MIN_S``: those.
    4. Otherwise None: every rank looks alike.
    """
    if groups:
        waiting = [g for g in groups if g.waiting]
        busy = [g for g in groups if not g.waiting]
        if waiting and busy:
            ranks = _union(busy)
            text = f"{_describe(busy, waiting[0])} while {_describe(waiting, busy[0], 'wait in')}"
            return Suspect(ranks, text)
        found = _minority(groups)
        if found is not None:
            return found
    if silence:
        return _silent(silence)
    return None


def _union(groups: Sequence[Group]) -> tuple[int, ...]:
    if len(groups) == 1:
        return groups[0].ranks  # sorted already; the common case, at 127,000 ranks
    return tuple(sorted(r for g in groups for r in g.ranks))


def _describe(groups: Sequence[Group], other: Group, verb: str = "") -> str:
    """``rank 2: next_batch ← data_step ← main`` (or ``ranks 0-1,3 wait in ...`` with
    a verb) for the ranks of ``groups``, naming the largest one's frames up to
    where it parts from ``other``; ``(+1 other stack)`` for the rest."""
    ranks = _union(groups)
    joint = f" {verb} " if verb else ": "
    text = f"{ranks_label(ranks)}{joint}{_parted(groups[0].frames, other.frames)}"
    if len(groups) > 1:
        text += f" (+{len(groups) - 1} other stack{'s' if len(groups) > 2 else ''})"
    return text


def _shared(a: Sequence[Frame], b: Sequence[Frame]) -> int:
    """How many outermost frames ``a`` and ``b`` share (by name and file)."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x.name != y.name or x.filename != y.filename:
            break
        n += 1
    return n


def _parted(frames: tuple[Frame, ...], other: tuple[Frame, ...]) -> str:
    """``frames`` innermost first down to the last frame shared with ``other`` (what
    tells them apart, and where they parted). Past ``REASON_FRAMES``, the two
    innermost (what it is doing) and those nearest the parting (where in the
    program it went its own way) are kept around an ellipsis."""
    part = frames[max(_shared(frames, other) - 1, 0) :]
    if len(part) <= REASON_FRAMES:
        return _chain(part)
    return f"{_chain(part[-2:])}{ARROW}…{ARROW}{_chain(part[: REASON_FRAMES - 2])}"


def _chain(frames: Sequence[Frame]) -> str:
    """Function names innermost first: ``all_reduce ← train_step ← main``."""
    return ARROW.join(f.name for f in reversed(frames)) if frames else "(no Python frame)"


def _minority(groups: Sequence[Group]) -> Suspect | None:
    """Rule 2 (see ``suspect``)."""
    sizes = {len(g.ranks) for g in groups}
    if len(groups) < 2 or len(sizes) < 2:
        return None
    smallest = min(sizes)
    majority = groups[0]  # group_stacks puts the largest first
    tied = [g for g in groups if len(g.ranks) == smallest]
    note = ""
    if len(tied) > 1:

        def progress(g: Group) -> tuple[int, int]:
            return (_shared(g.frames, majority.frames), len(g.frames))

        least = min(progress(g) for g in tied)
        note = f" (least advanced of {len(tied)} equal groups)"
        tied = [g for g in tied if progress(g) == least]
        if len(tied) > 1:
            note = f" ({len(tied)} equal groups)"
    ranks = _union(tied)
    total = sum(len(g.ranks) for g in groups)
    head = f"the minority: {len(ranks)} of {total} ranks{note}"
    return Suspect(
        ranks,
        f"{head}; {_describe(tied, majority)} while {_describe([majority], tied[0], 'are in')}",
    )


def _silent(silence: Mapping[int, float]) -> Suspect | None:
    """Rule 3 (see ``suspect``)."""
    median = statistics.median(silence.values())
    floor = max(SILENCE_RATIO * median, SILENCE_MIN_S)
    quiet = sorted(r for r, s in silence.items() if s >= floor)
    if not quiet:
        return None
    longest = max(silence[r] for r in quiet)
    shortest = min(silence[r] for r in quiet)
    spell = _secs(longest) if longest == shortest else f"{_secs(shortest)}-{_secs(longest)}"
    return Suspect(
        tuple(quiet),
        f"{ranks_label(quiet)}: silent {spell} while the median rank has been silent "
        f"{_secs(median)}",
    )


def _secs(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"


# --- the report -------------------------------------------------------------------------


@dataclass
class Report:
    """One dump of every rank: what ``ezpz-tui --stacks`` prints and the console shows."""

    t: float  # when the dump was taken (epoch seconds)
    stacks: list[RankStack]
    groups: list[Group]
    suspect: Suspect | None
    missing: tuple[int, ...]  # ranks without a stack

    def to_json(self) -> dict[str, Any]:
        """JSON-ready (frames as ``[name, filename, line]``, as in ``RankStack``)."""
        return {
            "t": self.t,
            "stacks": [s.to_json() for s in self.stacks],
            "groups": [
                {
                    "frames": [[f.name, f.filename, f.line] for f in g.frames],
                    "ranks": list(g.ranks),
                    "sources": list(g.sources),
                }
                for g in self.groups
            ],
            "suspect": None
            if self.suspect is None
            else {"ranks": list(self.suspect.ranks), "reason": self.suspect.reason},
            "missing": list(self.missing),
        }

    @classmethod
    def from_json(cls, data: object) -> Report | None:
        """The report ``to_json`` wrote; None for anything else, never an exception."""
        try:
            if not isinstance(data, dict):
                return None
            t = data["t"]
            if not isinstance(t, int | float) or isinstance(t, bool):
                return None
            stacks = [RankStack.from_json(s) for s in data["stacks"]]
            groups = [_group_from_json(g) for g in data["groups"]]
            found = data["suspect"]
            suspect_ = None
            if found is not None:
                if not isinstance(found["reason"], str):
                    return None
                suspect_ = Suspect(_ints(found["ranks"]), found["reason"])
            checked = [s for s in stacks if s is not None]
            if len(checked) != len(stacks):
                return None
            return cls(float(t), checked, groups, suspect_, _ints(data["missing"]))
        except (KeyError, TypeError, ValueError):
            return None


def _ints(values: object) -> tuple[int, ...]:
    if not isinstance(values, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in values
    ):
        raise TypeError("not a list of integers")
    return tuple(values)


def _group_from_json(data: object) -> Group:
    if not isinstance(data, dict):
        raise TypeError("group is not an object")
    frames = []
    for item in data["frames"]:
        if not isinstance(item, list) or len(item) != 3:
            raise TypeError("frame is not [name, filename, line]")
        name, filename, line = item
        if not isinstance(name, str) or not isinstance(filename, str):
            raise TypeError("frame name or filename")
        frames.append(intern_frame(name, filename, _ints([line])[0]))
    sources = data["sources"]
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise TypeError("sources")
    return Group(intern_stack(tuple(frames)), _ints(data["ranks"]), tuple(sources))


def build_report(
    stacks: Sequence[RankStack], t: float, silence: Mapping[int, float] | None = None
) -> Report:
    """Group, name the suspect, list the ranks without a stack. ``silence`` (rank ->
    seconds since its last line) fills in ``silent_s`` where a stack lacks it, so
    the report and its JSON carry it; without it, the stacks' own ``silent_s``
    feed rule 3."""
    kept = list(stacks)
    if silence:
        kept = [
            replace(s, silent_s=silence[s.rank]) if s.silent_s is None and s.rank in silence else s
            for s in kept
        ]
    else:
        silence = {s.rank: s.silent_s for s in kept if s.silent_s is not None}
    groups = group_stacks(kept)
    grouped = {r for g in groups for r in g.ranks}
    missing = tuple(sorted({s.rank for s in kept} - grouped))
    return Report(t, kept, groups, suspect(groups, silence), missing)


def moved(before: Report, after: Report) -> tuple[int, ...]:
    """Ranks whose main-thread stack changed between two dumps (a rank without a
    stack in either dump is not counted: nothing is known of it). Two dumps a few
    seconds apart tell a hang (nobody moved) from a slow step (everybody moved),
    and a rank that moved while the others sat still is the one still working."""
    group_of = {r: i for i, g in enumerate(before.groups) for r in g.ranks}
    same: dict[tuple[int, int], bool] = {}
    changed = []
    for j, group in enumerate(after.groups):
        for rank in group.ranks:
            i = group_of.get(rank)
            if i is None:
                continue
            key = (i, j)
            equal = same.get(key)
            if equal is None:
                equal = same[key] = before.groups[i].frames == group.frames
            if not equal:
                changed.append(rank)
    return tuple(sorted(changed))


# --- text ---------------------------------------------------------------------------------


def render_text(report: Report, width: int = 100) -> str:
    """What ``ezpz-tui --stacks`` prints: a header, the suspect, each group (its
    stack innermost first, and its ranks' silence), the prefix tree with rank sets
    on its branches, then the ranks without a stack and why. Lines are cut at
    ``width``; the output depends on the report alone (and the local time zone)."""
    silence = {s.rank: s.silent_s for s in report.stacks if s.silent_s is not None}
    lines = [_header(report)]
    if report.suspect is not None:  # the answer: wrapped, never cut; "← name" kept together
        bound = f"suspect: {report.suspect.reason}".replace(ARROW, " ←\u00a0")
        wrapped = textwrap.wrap(bound, width, subsequent_indent="  ", break_on_hyphens=False)
        lines += [line.replace("\u00a0", " ") for line in wrapped]
    elif report.groups:
        lines.append("suspect: none (every rank looks alike)")
    else:
        lines.append("suspect: none (no rank gave a stack)")
    if report.groups:
        lines.append("")
        for group in report.groups:
            lines += _group_lines(group, silence, width)
        lines += ["", "tree (outermost first; [ranks] where a branch starts or its ranks change):"]
        lines += tree_lines(prefix_tree(report.groups), width)
    if report.missing:
        lines += ["", f"no stack ({len(report.missing)}):"]
        lines += _missing_lines(report)
    return "\n".join(_clip(line, width) for line in lines) + "\n"


def _header(report: Report) -> str:
    clock = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(report.t))
    missing = set(report.missing)
    counts: dict[str, int] = {}
    ranks: set[int] = set()
    for stack in report.stacks:
        ranks.add(stack.rank)
        if stack.rank not in missing:
            counts[stack.source] = counts.get(stack.source, 0) + 1
    sources = ", ".join(f"{name} {n:,}" for name, n in sorted(counts.items()))
    with_stack = len(ranks) - len(missing)
    return (
        f"stacks at {clock}: {len(ranks):,} rank{'s' if len(ranks) != 1 else ''}, "
        f"{with_stack:,} with a stack"
        + (f" ({sources})" if sources else "")
        + f", {len(report.groups)} distinct"
    )


def _group_lines(group: Group, silence: Mapping[int, float], width: int) -> list[str]:
    label = _clip_ranges(ranks_label(group.ranks), width // 2)
    head = f"{label} ({len(group.ranks):,}, {', '.join(group.sources)}): "
    lines = [head + _fit_chain(group.frames, width - len(head))]
    known = [(r, silence[r]) for r in group.ranks if r in silence]
    if not known:
        return lines
    if len(group.ranks) <= SILENCE_LISTED:
        lines.append("  silent: " + ", ".join(f"rank {r} {_secs(s)}" for r, s in known))
    else:
        values = [s for _, s in known]
        rank, longest = max(known, key=lambda p: (p[1], -p[0]))
        lines.append(
            f"  silent {_secs(min(values))}-{_secs(longest)}, median "
            f"{_secs(statistics.median(values))}, longest rank {rank} "
            f"({len(known)} of {len(group.ranks)} known)"
        )
    return lines


def _fit_chain(frames: tuple[Frame, ...], room: int) -> str:
    """The whole stack innermost first, cut to ``room`` characters at an arrow."""
    text = _chain(frames)
    if len(text) <= room:
        return text
    cut = text.rfind(ARROW, 0, max(room - len(ARROW) - 1, 0))
    return (text[:cut] if cut > 0 else text[: max(room - 1, 0)]) + ARROW + "…"


def _clip_ranges(label: str, room: int) -> str:
    if len(label) <= room:
        return label
    cut = label.rfind(",", 0, max(room - 2, 1))
    return label[: cut if cut > 0 else room - 1] + ",…"


def _clip(line: str, width: int) -> str:
    return line if len(line) <= width else line[: width - 1] + "…"


def tree_lines(root: Node, width: int = 100) -> list[str]:
    """The tree drawn with box characters, STAT-like rank sets on each branch::

        [0-3] main (train.py:50)
        ├─ [0-1,3] train_step (train.py:20)
        │  all_reduce (train.py:9)
        └─ [2] data_step (train.py:30)
           next_batch (train.py:12)

    Only branch points indent: a chain of single children goes straight down,
    its rank set shown again only where it changes (a stack ended above), and a
    chain longer than ``CHAIN_HEAD + CHAIN_TAIL + 1`` frames shows its ends around
    ``⋮ N frames``."""
    lines: list[str] = []
    labels: dict[int, str] = {}  # rank tuples are shared along chains: one label each

    def label(ranks: tuple[int, ...]) -> str:
        found = labels.get(id(ranks))
        if found is None:
            found = labels[id(ranks)] = _clip_ranges(rank_ranges(ranks), width // 3)
        return found

    def branch(node: Node, first: str, rest: str) -> None:
        chain = [node]
        while len(chain[-1].children) == 1:
            chain.append(chain[-1].children[0])
        shown: list[Node | int] = list(chain)
        if len(chain) > CHAIN_HEAD + CHAIN_TAIL + 1:
            hidden = len(chain) - CHAIN_HEAD - CHAIN_TAIL
            shown = [*chain[:CHAIN_HEAD], hidden, *chain[-CHAIN_TAIL:]]
        last_ranks: tuple[int, ...] | None = None
        for i, item in enumerate(shown):
            prefix = first if i == 0 else rest
            if isinstance(item, int):
                lines.append(f"{prefix}⋮ {item} frames")
                continue
            text = item.frame.text if item.frame is not None else "(root)"
            if item.ranks != last_ranks:
                text = f"[{label(item.ranks)}] {text}"
                last_ranks = item.ranks
            lines.append(prefix + text)
        children(chain[-1].children, rest)

    def children(nodes: list[Node], prefix: str) -> None:
        for i, child in enumerate(nodes):
            last = i == len(nodes) - 1
            branch(child, prefix + ("└─ " if last else "├─ "), prefix + ("   " if last else "│  "))

    if len(root.children) == 1:
        branch(root.children[0], "", "")
    else:
        children(root.children, "")
    return lines


def _missing_lines(report: Report) -> list[str]:
    """The ranks without a stack, those with the same source and error together."""
    missing = set(report.missing)
    why: dict[tuple[str, str], list[int]] = {}
    for stack in report.stacks:
        if stack.rank in missing:
            error = stack.error or ("no main thread" if stack.threads else "no stack")
            why.setdefault((stack.source, error), []).append(stack.rank)
    ordered = sorted(why.items(), key=lambda item: min(item[1]))
    return [
        f"  {ranks_label(sorted(ranks))} ({source}): {error}" for (source, error), ranks in ordered
    ]
