"""The console's launch preview per keystroke, on an emulated 10,624-host Aurora job.

Every keystroke in the launch form re-plans: ``Planner.preview(form)`` (parse the
fields, ``plan_launch``, errors by field) and, when there is a plan, ``argv_parts``
(the argv preview's highlighting). That is what is timed per keystroke; the
``--check`` judgements (``Planner.checks``) are timed separately, as info.

The job is emulated as PBS presents it (tests/fakes.py ``make_pbs_job``): the
environment and a nodefile of 10,624 unique Aurora host names, detected with
``detect_job`` (no tool probes, 8 cores) and a probe that finds only ``mpiexec``
(PALS). The keystrokes are a fixed script of form states, typed character by
character and erased again: np values that do not divide over the hosts or ask for
more than the job has, the whole job, a subset via nhosts, a command with a quote
left open while typing, launcher args, cpu-bind, each launcher and rank I/O mode.
Errors are timed like plans. The script repeats until ``--keystrokes`` are timed.

Scenarios:

* ``job``: the job's own nodefile (no hostfile field);
* ``hostfile``: the hostfile field names a 10,624-host file; it is read once (the
  first read, reported apart: it is not a keystroke) and cached by path, size and
  mtime, so each keystroke only ``stat``s it.

Baseline, timed in the same run: the same keystrokes against a 2-host job (and a
2-host hostfile), alternating (baseline, ours, baseline, ours ...), so the ratio
shows what scale costs. Warm-up: the script once through both planners, untimed.

Target: p95 <= 20 ms per keystroke in each scenario (max printed too).

Run alone: ``.venv/bin/python bench/preview.py [--keystrokes N] [--hosts N]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ezpz_core.job import Job, detect_job
from ezpz_core.kinds import Flavour, LauncherChoice, RankIO
from ezpz_core.schedulers import Context
from ezpz_tui.form import LaunchForm
from ezpz_tui.preview import Planner, Preview, argv_parts

HOSTS = 10_624  # Aurora
BASE_HOSTS = 2
NGPU = 12
KEYSTROKES = 300
TARGET_MS = 20.0
JOBID = "8414055.aurora-pbs-0001.hostmgmt.cm.aurora.alcf.anl.gov"
COMMAND = "python3 train.py --lr 0.1"


class Probe:
    """Only ``mpiexec`` is on PATH, and it is PALS (Aurora's)."""

    def find(self, name: str) -> str | None:
        return name if name == "mpiexec" else None

    def flavour(self, program: str) -> Flavour:
        del program
        return Flavour.PALS


def aurora_hosts(n: int) -> list[str]:
    """``n`` unique Aurora-shaped names: racks of 6 chassis x 8 slots."""
    hosts = [
        f"x{4000 + i // 48}c{(i // 8) % 6}s{i % 8}b0n0.hsn.cm.aurora.alcf.anl.gov" for i in range(n)
    ]
    assert len(set(hosts)) == n
    return hosts


@dataclass
class Emulated:
    job: Job
    env: dict[str, str]
    hosts: list[str]
    hostfile: str  # a user hostfile with the same hosts (for the hostfile scenario)

    def planner(self) -> Planner:
        return Planner(self.job, env=self.env, probe=Probe(), python="python3")


def emulate(tmp: Path, n: int) -> Emulated:
    """A PBS job of ``n`` hosts as PBS presents it: env vars and the nodefile."""
    aux = tmp / f"pbs-{n}" / "var/spool/pbs/aux"
    aux.mkdir(parents=True)
    hosts = aurora_hosts(n)
    text = "".join(f"{h}\n" for h in hosts)
    nodefile = aux / JOBID
    nodefile.write_text(text)
    hostfile = tmp / f"pbs-{n}" / "hosts.txt"
    hostfile.write_text(text)
    env = {
        "PBS_JOBID": JOBID,
        "PBS_NODEFILE": str(nodefile),
        "PATH": os.defpath,
        "NGPU_PER_HOST": str(NGPU),
        "PBS_ENVIRONMENT": "PBS_INTERACTIVE",
    }
    job = detect_job(
        env,
        hostname=hosts[0],
        context=Context(pbs_aux_dir=str(aux)),
        run_tool=lambda argv: None,
        cpus=8,
    )
    if job.machine.name != "aurora" or len(job.allocation.hosts) != n:
        raise RuntimeError(
            f"emulated job detected as {job.machine.name} with "
            f"{len(job.allocation.hosts)} host(s), expected aurora with {n}"
        )
    return Emulated(job=job, env=env, hosts=hosts, hostfile=str(hostfile))


def _type(form: LaunchForm, name: str, text: str) -> Iterator[LaunchForm]:
    for i in range(1, len(text) + 1):
        yield form.with_field(name, getattr(form, name) + text[:i])


def _erase(form: LaunchForm, name: str) -> Iterator[LaunchForm]:
    value = getattr(form, name)
    for i in range(len(value) - 1, -1, -1):
        yield form.with_field(name, value[:i])


def script(hosts: int) -> tuple[tuple[str, str, str], ...]:
    """(action, field, text): "type" appends text a character at a time, "erase"
    backspaces the field to empty, "set" is one keystroke (a select's new value)."""
    return (
        ("type", "np", "12000"),  # 1, 12, 120, ...: none divides over 10,624 hosts
        ("erase", "np", ""),
        ("type", "np", str(hosts * NGPU)),  # the whole job: 127488 on Aurora's size
        ("erase", "np", ""),
        ("type", "np", "999999999"),  # more ranks than the job has slots
        ("erase", "np", ""),
        ("type", "nhosts", str(max(1, hosts // 2))),  # a subset: 5312 hosts
        ("type", "np", str(max(1, hosts // 2) * NGPU)),
        ("type", "ppn", "12"),
        ("erase", "ppn", ""),
        ("erase", "np", ""),
        ("erase", "nhosts", ""),
        ("type", "nhosts", "20000"),  # more hosts than the job has
        ("erase", "nhosts", ""),
        ("type", "command", COMMAND),
        ("type", "launcher_args", "--no-vni"),
        ("type", "cpu_bind", "depth"),
        ("erase", "cpu_bind", ""),
        *(("set", "rank_io", mode.value) for mode in RankIO),
        ("set", "rank_io", RankIO.AUTO.value),
        *(("set", "launcher", choice.value) for choice in LauncherChoice),  # most not found
        ("set", "launcher", LauncherChoice.AUTO.value),
        ("type", "command", ' --note "a b"'),  # the quote is open for 4 keystrokes
        ("erase", "launcher_args", ""),
        ("erase", "command", ""),
    )


def keystrokes(count: int, hostfile: str | None, hosts: int) -> list[LaunchForm]:
    """The form states of ``script(hosts)``, repeated until there are ``count``."""
    start = LaunchForm(hostfile=hostfile or "")
    forms: list[LaunchForm] = []
    while len(forms) < count:
        form = start
        for action, name, text in script(hosts):
            if action == "set":
                steps: Iterator[LaunchForm] = iter([form.with_field(name, text)])
            elif action == "type":
                steps = _type(form, name, text)
            else:
                steps = _erase(form, name)
            for form in steps:
                forms.append(form)
        if form != start:
            raise RuntimeError("the keystroke script does not end where it started")
    return forms[:count]


def _keystroke(planner: Planner, form: LaunchForm) -> tuple[float, Preview]:
    t0 = time.perf_counter()
    preview = planner.preview(form)
    if preview.plan is not None:
        argv_parts(preview.plan)
    return time.perf_counter() - t0, preview


def _checks(planner: Planner, preview: Preview) -> float:
    t0 = time.perf_counter()
    planner.checks(preview)
    return time.perf_counter() - t0


def _p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _stats(seconds: Sequence[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {"median_ms": statistics.median(ms), "p95_ms": _p95(ms), "max_ms": max(ms)}


def _verify(previews: Sequence[Preview], forms: Sequence[LaunchForm], hosts: int) -> dict:
    """The previews must be right, not only fast: np over all hosts plans all of
    them, an np that does not divide over them is an error on the np field."""
    plans = sum(p.plan is not None for p in previews)
    whole = str(hosts * NGPU)
    for form, p in zip(forms, previews, strict=True):
        if not form.np or form.nhosts or form.ppn or form.launcher != "auto":
            continue
        if form.np == whole:
            if p.plan is None:
                raise RuntimeError(f"np={whole} on {hosts} hosts gave no plan: {p.problem}")
            if len(p.plan.hosts) != hosts or f"--np={whole}" not in p.plan.argv:
                raise RuntimeError(f"np={whole}: wrong plan {p.plan.argv[:6]}")
        elif int(form.np) % hosts and (p.plan is not None or "np" not in p.errors):
            raise RuntimeError(f"np={form.np} over {hosts} hosts: no np error ({p.problem})")
    return {"plans": plans, "errors": len(previews) - plans}


def scenario(
    name: str,
    ours: Emulated,
    base: Emulated,
    count: int,
    use_hostfile: bool,
    log: Callable[[str], None],
) -> dict[str, Any]:
    # the same keystrokes for both (ours' script), only the hostfile's path differs
    ours_forms = keystrokes(count, ours.hostfile if use_hostfile else None, len(ours.hosts))
    base_forms = keystrokes(count, base.hostfile if use_hostfile else None, len(ours.hosts))
    ours_planner, base_planner = ours.planner(), base.planner()
    result: dict[str, Any] = {"name": name, "keystrokes": count}
    if use_hostfile:  # the first read: cold cache, not a keystroke
        t, first = _keystroke(ours_planner, ours_forms[0])
        if first.user_hostfile is None or len(first.user_hostfile.hosts) != len(ours.hosts):
            raise RuntimeError(f"hostfile {ours.hostfile} not read: {first.problem}")
        tb, _ = _keystroke(base_planner, base_forms[0])
        result["first_read_ms"] = t * 1000
        result["base_first_read_ms"] = tb * 1000
        result["hostfile"] = f"{len(ours.hosts)} hosts, {os.path.getsize(ours.hostfile):,} bytes"
    for form in ours_forms:  # warm-up, untimed
        _keystroke(ours_planner, form)
    for form in base_forms:
        _keystroke(base_planner, form)
    gc.collect()
    times: dict[str, list[float]] = {"ours": [], "base": [], "ours_checks": [], "base_checks": []}
    previews: dict[str, list[Preview]] = {"ours": [], "base": []}
    for ours_form, base_form in zip(ours_forms, base_forms, strict=True):
        tb, pb = _keystroke(base_planner, base_form)
        to, po = _keystroke(ours_planner, ours_form)
        times["base"].append(tb)
        times["ours"].append(to)
        previews["base"].append(pb)
        previews["ours"].append(po)
        times["base_checks"].append(_checks(base_planner, pb))
        times["ours_checks"].append(_checks(ours_planner, po))
    if use_hostfile:
        for p in previews["ours"]:  # a field error stops before the hostfile is read
            if "hostfile" in p.errors or (p.plan is not None and p.user_hostfile is None):
                raise RuntimeError(f"a keystroke lost the hostfile: {p.problem}")
    ours_stats, base_stats = _stats(times["ours"]), _stats(times["base"])
    slowest = max(range(count), key=times["ours"].__getitem__)
    blank = LaunchForm(hostfile=ours_forms[0].hostfile)
    result["slowest"] = {  # the fields that differ from the empty form
        "ms": times["ours"][slowest] * 1000,
        "form": {k: v for k, v in ours_forms[slowest].to_dict().items() if v != getattr(blank, k)},
        "problem": previews["ours"][slowest].problem,
    }
    p95 = ours_stats["p95_ms"]
    result.update(
        ours=ours_stats,
        base=base_stats,
        ours_checks=_stats(times["ours_checks"]),
        base_checks=_stats(times["base_checks"]),
        ratio_median=ours_stats["median_ms"] / base_stats["median_ms"],
        ratio_p95=p95 / base_stats["p95_ms"],
        outcomes=_verify(previews["ours"], ours_forms, len(ours.hosts)),
        base_outcomes=_verify(previews["base"], base_forms, len(base.hosts)),
        target={"target": TARGET_MS, "value": p95, "pass": p95 <= TARGET_MS},
    )
    first = f", first read {result['first_read_ms']:.1f} ms" if use_hostfile else ""
    log(
        f"preview {name}: {count} keystrokes, {len(ours.hosts)} hosts: median "
        f"{ours_stats['median_ms']:.3f} ms, p95 {p95:.3f} ms, max {ours_stats['max_ms']:.3f} ms"
        f" ({'PASS' if p95 <= TARGET_MS else 'FAIL'} vs p95 <= {TARGET_MS:g} ms){first}"
    )
    log(
        f"preview {name}: {len(base.hosts)}-host baseline median {base_stats['median_ms']:.3f} ms, "
        f"p95 {base_stats['p95_ms']:.3f} ms, max {base_stats['max_ms']:.3f} ms: "
        f"x{result['ratio_median']:.2f} (median), x{result['ratio_p95']:.2f} (p95); "
        f"checks (info) p95 {result['ours_checks']['p95_ms']:.3f} ms "
        f"(baseline {result['base_checks']['p95_ms']:.3f} ms); "
        f"{result['outcomes']['plans']} plans, {result['outcomes']['errors']} errors"
    )
    log(
        f"preview {name}: slowest keystroke {result['slowest']['ms']:.3f} ms, "
        f"form {result['slowest']['form']}"
    )
    return result


def run(
    count: int = KEYSTROKES, hosts: int = HOSTS, workdir: Path | None = None, log=print
) -> dict[str, Any]:
    if count < 1:
        raise ValueError("--keystrokes must be >= 1")
    tmp = Path(tempfile.mkdtemp(prefix="ezpz-bench-preview-", dir=workdir))
    try:
        t0 = time.perf_counter()
        ours = emulate(tmp, hosts)
        detect_ms = (time.perf_counter() - t0) * 1000
        base = emulate(tmp, BASE_HOSTS)
        log(f"preview: emulated {hosts}-host Aurora job detected in {detect_ms:.1f} ms")
        scenarios = [
            scenario("job", ours, base, count, False, log),
            scenario("hostfile", ours, base, count, True, log),
        ]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "hosts": hosts,
        "base_hosts": BASE_HOSTS,
        "keystrokes": count,
        "timed": "Planner.preview(form) + argv_parts(plan); checks timed apart (info)",
        "detect_ms": detect_ms,
        "scenarios": scenarios,
        "targets": {s["name"]: s["target"] for s in scenarios},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Target: p95 <= 20 ms per keystroke. Exit 1 with --strict when missed.",
    )
    parser.add_argument(
        "--keystrokes", type=int, default=KEYSTROKES, help=f"timed per scenario ({KEYSTROKES})"
    )
    parser.add_argument("--hosts", type=int, default=HOSTS, help=f"job size ({HOSTS:,})")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    results = run(args.keystrokes, args.hosts)
    if args.json:
        print(json.dumps(results, indent=2))
    missed = [k for k, t in results["targets"].items() if not t["pass"]]
    return 1 if (args.strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
