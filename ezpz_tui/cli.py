"""The ``ezpz-tui`` command: ``ezpz-tui [flags] [-- COMMAND ...]``.

Our flags end at ``--`` or at the first word that is not a flag; everything after
belongs to the command, untouched (its ``-h`` and ``-n`` included). Long flags
are never abbreviated. Only the interactive console imports Textual.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from ezpz_core import __version__
from ezpz_core.errors import EzpzError, UsageError
from ezpz_core.kinds import LauncherChoice, RankIO, SchedulerKind

if TYPE_CHECKING:  # imported only when a command needs them (start-up stays small)
    from ezpz_core.launch.plan import LaunchPlan
    from ezpz_core.launch.request import LaunchRequest
    from ezpz_tui.form import LaunchForm

EXAMPLES = """\
examples:
  ezpz-tui --dry-run                        show the plan for the reference workload
  ezpz-tui --dry-run -n 8 -- python3 train.py --lr 0.1
  ezpz-tui --dry-run --json --ppn 4 --nhosts 2 -- python3 train.py
  ezpz-tui --check                          judge this job: hostfile, launcher, GPUs, env
  ezpz-tui --dry-run --launcher-arg=--no-vni -- python3 train.py
  ezpz-tui --dry-run --hostfile hosts.txt --cpu-bind core -- ./job.sh
  ezpz-tui --run -n 2 -- python3 train.py   run headless: [rank] lines, run dir, exit code
  ezpz-tui --run --ranks 0 --timeout 600 -- python3 train.py
  ezpz-tui --run --launcher none -- ./my_launch.sh   run your own launch script
  ezpz-tui --run --quiet --run-dir runs/lr0.1 -- python3 train.py   files only, named dir
  ezpz-tui --submit --nodes 2 --time 1:00:00 --queue debug -- python3 train.py
                                            write job.sh, submit it, print the job id
  ezpz-tui --submit --dry-run --nodes 2     print the batch script, submit nothing
  ezpz-tui --submit --wait -- python3 train.py   submit, follow, exit with the job's code
  ezpz-tui --attach 123456                  the console on a submitted job (or a run dir)
  ezpz-tui --stacks                         every rank's live stack, grouped, suspect named

Flags after "--" belong to COMMAND. A launcher flag that starts with "-" is
given as --launcher-arg=FLAG; a scheduler directive as --scheduler-arg=ARG.
Docs: docs/cli.md, docs/launch.md, docs/run.md, docs/submit.md.
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        hint = ""
        if "unrecognized arguments" in message:
            hint = "\nhint: put the command after --, and launcher flags in --launcher-arg=FLAG"
        self.exit(2, f"{self.prog}: error: {message}{hint}\n(see {self.prog} --help)\n")


def _whole(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number >= ``minimum``, with a message that says so."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be a whole number >= {minimum}, got {value}")
        return value

    return parse


def _seconds(positive: bool) -> Callable[[str], float]:
    """An argparse type: a finite number of seconds, > 0 or >= 0."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a number of seconds, got {text!r}"
            ) from None
        if not (value > 0 if positive else value >= 0) or value == float("inf"):
            bound = "> 0" if positive else ">= 0"
            raise argparse.ArgumentTypeError(
                f"must be a finite number of seconds {bound}, got {text!r}"
            )
        return value

    return parse


_positive_int = _whole(1)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ezpz-tui",
        usage="ezpz-tui [flags] [-- COMMAND ...]",
        description=(
            "A job console for distributed PyTorch on PBS, Slurm and laptops. It finds the "
            "job it runs in, builds the exact launch command (mpiexec, srun, mpirun or "
            "torchrun) and runs it headless (--run) or, without --dry-run, --check or --run, "
            "opens the interactive console. "
            "With no COMMAND it runs the reference workload (python -m ezpz_core.workload)."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    mode = parser.add_argument_group("what to do")
    mode.add_argument(
        "--dry-run", action="store_true", help="print the plan and the argv, then exit 0"
    )
    mode.add_argument(
        "--check", action="store_true", help="judge discovery and the plan; exit 1 on any error"
    )
    mode.add_argument(
        "--run",
        action="store_true",
        help="run the job headless (no UI): lines as [rank] text, files in the run "
        "directory, the job's exit code",
    )
    mode.add_argument(
        "--submit",
        action="store_true",
        help="from a login node: write a batch script (job.sh) into a new run directory, "
        "submit it (sbatch or qsub) and print the job id; the job runs ezpz-tui --run there",
    )
    mode.add_argument(
        "--attach",
        nargs="?",
        const="",
        metavar="JOBID|RUN_DIR",
        help="open the console on a run, live or finished: a submitted job's id, a run "
        "directory, or (alone) the newest run under --outdir; a run on another host works "
        "over a shared filesystem",
    )
    mode.add_argument(
        "--stacks",
        nargs="?",
        const="",
        metavar="JOBID|RUN_DIR",
        help="the live Python stacks of every rank of a running job on this host (py-spy), "
        "identical ones grouped, the suspect rank named; saved in the run's stacks/ "
        "(alone: the newest run under --outdir)",
    )
    mode.add_argument(
        "--history",
        metavar="FILE",
        help="open the console on the charts of a metrics history file (JSONL: ours, or one "
        "an unmodified ezpz job wrote under outputs/), growing or finished",
    )
    mode.add_argument(
        "--json", action="store_true", help="with --dry-run or --check: one JSON object on stdout"
    )
    mode.add_argument("--version", action="version", version=f"ezpz-tui {__version__}")

    size = parser.add_argument_group("topology (derived from the job when not given)")
    size.add_argument("-n", "--np", type=_positive_int, metavar="N", help="total ranks")
    size.add_argument(
        "--ppn",
        type=_positive_int,
        metavar="P",
        help="ranks per host (default: accelerators per host, else 1)",
    )
    size.add_argument(
        "--nhosts", type=_positive_int, metavar="H", help="hosts to use (default: all of the job's)"
    )
    size.add_argument(
        "--hostfile",
        metavar="FILE",
        help="hosts to use instead of the job's (host, host slots=N or host:N per line)",
    )

    launch = parser.add_argument_group("launcher")
    launch.add_argument(
        "--launcher",
        choices=[c.value for c in LauncherChoice],
        default=LauncherChoice.AUTO.value,
        help="auto: mpiexec in PBS jobs, srun in Slurm jobs, else mpirun, else torchrun; "
        "none: run COMMAND exactly as given (your own launch script)",
    )
    launch.add_argument(
        "--launcher-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="pass ARG to the launcher before COMMAND (repeatable; write --launcher-arg=--flag)",
    )
    launch.add_argument(
        "--cpu-bind", metavar="BIND", help="CPU binding (beats CPU_BIND and the machine default)"
    )
    launch.add_argument(
        "--rank-io",
        choices=[r.value for r in RankIO],
        default=None,
        help="how output lines are tied to ranks: label (launcher labels, where line-safe), "
        "wrapper (our per-rank wrapper), none; auto picks the safe one",
    )
    launch.add_argument(
        "--no-label", action="store_true", help="same as --rank-io none: the plain launcher argv"
    )

    run = parser.add_argument_group("running (--run)")
    run.add_argument(
        "--outdir",
        default="outputs/ezpz-tui",
        metavar="DIR",
        help="where run directories go (default: ./outputs/ezpz-tui)",
    )
    run.add_argument(
        "--run-dir",
        metavar="PATH",
        help="write this run into PATH (created if missing; it must be empty) "
        "instead of a new <outdir>/<time>-<job id>/",
    )
    run.add_argument(
        "--quiet",
        action="store_true",
        help="print no job lines to stdout; the run directory still gets every line, "
        "and our messages and the summary still go to stderr",
    )
    run.add_argument(
        "--timeout",
        type=_seconds(positive=True),
        metavar="SECONDS",
        help="stop the job after this long without any output; exit 124",
    )
    run.add_argument(
        "--retries",
        type=_whole(0),
        default=0,
        metavar="N",
        help="re-run up to N times on a non-zero exit",
    )
    run.add_argument(
        "--retry-backoff",
        type=_seconds(positive=False),
        default=5.0,
        metavar="SECONDS",
        help="wait before the first retry; doubles each time, at most 60 s (default 5)",
    )
    show = parser.add_argument_group("what is shown (files always get everything)")
    show.add_argument(
        "--ranks", metavar="SPEC", help="ranks to print: 0, 0,3-5 or all (default all)"
    )
    show.add_argument("--grep", metavar="REGEX", help="print only lines that match REGEX")
    show.add_argument(
        "--filter-profile",
        metavar="NAME",
        help="noise filter profile (default: the machine's, e.g. aurora; none for no filter)",
    )
    show.add_argument("--no-filter", action="store_true", help="show noise lines too")
    show.add_argument(
        "--metrics-rank",
        type=_whole(0),
        default=0,
        metavar="N",
        help="whose metrics to chart and summarise: history rows and step lines of rank N "
        "(default 0)",
    )

    batch = parser.add_argument_group("batch job (--submit; the scheduler's defaults if not given)")
    batch.add_argument("--nodes", type=_positive_int, metavar="N", help="nodes to ask for (1)")
    batch.add_argument(
        "--time", metavar="HH:MM:SS", help="walltime: HH:MM:SS, H:MM, minutes or D-HH:MM:SS"
    )
    batch.add_argument("--queue", metavar="Q", help="queue (PBS -q) or partition (Slurm)")
    batch.add_argument("--account", metavar="A", help="project to charge (PBS -A, Slurm)")
    batch.add_argument("--job-name", metavar="NAME", help="the job's name (default ezpz)")
    batch.add_argument(
        "--scheduler-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="one more directive for the script, as given (repeatable): "
        "--scheduler-arg=--gpus-per-node=4, --scheduler-arg='-l filesystems=home:flare'",
    )
    batch.add_argument(
        "--wait",
        action="store_true",
        help="follow the job: its queue state, then its ranks' lines as --run prints them; "
        "exit with the job's exit code (Ctrl+C stops following, the job runs on)",
    )

    where = parser.add_argument_group("discovery overrides")
    where.add_argument(
        "--scheduler",
        choices=["auto", *(k.value for k in SchedulerKind)],
        default="auto",
        help="which scheduler to assume (also EZPZ_SCHEDULER)",
    )
    where.add_argument(
        "--machine", metavar="NAME", help="which machine's defaults to use (also EZPZ_MACHINE)"
    )
    return parser


def split_argv(parser: argparse.ArgumentParser, argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Our flags, and the command: everything after ``--`` or from the first non-flag.

    Long flags that take a value are rejoined as ``--flag=value`` so a value that
    starts with ``-`` (``--launcher-arg --no-vni``) is not mistaken for a flag.
    """
    takes_value = {
        name for name, action in parser._option_string_actions.items() if action.nargs != 0
    }
    optional = {  # a value that may be left out (--attach): never a flag that follows
        name for name, action in parser._option_string_actions.items() if action.nargs == "?"
    }
    ours: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            return ours, list(argv[i + 1 :])
        if not token.startswith("-") or token == "-":
            return ours, list(argv[i:])
        if token in optional and i + 1 < len(argv) and argv[i + 1].startswith("-"):
            ours.append(token)
            i += 1
            continue
        if token in takes_value and i + 1 < len(argv) and argv[i + 1] != "--":
            value = argv[i + 1]
            ours.append(f"{token}={value}" if token.startswith("--") else token)
            if not token.startswith("--"):
                ours.append(value)
            i += 2
            continue
        ours.append(token)
        i += 1
    return ours, []


def _validate(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse what argparse lets through: ``--flag=--`` (parsed as an empty list)
    and empty strings where a value is needed."""
    for action in parser._actions:
        value = getattr(args, action.dest, None)
        values = value if action.dest in ("launcher_arg", "scheduler_arg") else [value]
        if any(isinstance(v, list) for v in values):
            parser.error(f"argument {action.option_strings[-1]}: expected one argument")
    if args.hostfile is not None and not args.hostfile.strip():
        parser.error("argument --hostfile: expected a file name, got an empty string")
    if any(not arg for arg in args.launcher_arg):
        parser.error("argument --launcher-arg: expected a value, got an empty string")
    if any(not arg for arg in args.scheduler_arg):
        parser.error("argument --scheduler-arg: expected a value, got an empty string")
    if args.run_dir is not None and not args.run_dir.strip():
        parser.error("argument --run-dir: expected a directory, got an empty string")


def _rank_io(args: argparse.Namespace) -> RankIO:
    if args.no_label and args.rank_io not in (None, RankIO.NONE.value):
        raise UsageError(f"--no-label contradicts --rank-io {args.rank_io}; give one of them")
    if args.no_label:
        return RankIO.NONE
    return RankIO(args.rank_io or RankIO.AUTO.value)


def _request(args: argparse.Namespace, command: list[str]) -> LaunchRequest:
    from ezpz_core.launch.request import LaunchRequest

    return LaunchRequest(
        command=tuple(command),
        np=args.np,
        ppn=args.ppn,
        nhosts=args.nhosts,
        hostfile=os.path.expanduser(args.hostfile) if args.hostfile else None,
        cpu_bind=args.cpu_bind,
        launcher=LauncherChoice(args.launcher),
        rank_io=_rank_io(args),
        launcher_args=tuple(args.launcher_arg),
    )


def _scheduler(args: argparse.Namespace) -> SchedulerKind | None:
    return SchedulerKind(args.scheduler) if args.scheduler != "auto" else None


def _plan(args: argparse.Namespace, command: list[str]) -> LaunchPlan:
    from ezpz_core.launch.plan import make_plan

    return make_plan(_request(args, command), scheduler=_scheduler(args), machine=args.machine)


def _dry_run(args: argparse.Namespace, command: list[str]) -> int:
    from ezpz_tui import report

    plan = _plan(args, command)
    if args.json:
        print(json.dumps(plan.to_json(), indent=2))
    else:
        print(report.format_plan(plan))
    return 0


def _check(args: argparse.Namespace, command: list[str]) -> int:
    from ezpz_core.doctor import Status, run_checks
    from ezpz_core.hostfile import read_hostfile
    from ezpz_core.job import detect_job
    from ezpz_core.launch.flavour import SystemProbe
    from ezpz_core.launch.plan import plan_launch
    from ezpz_tui import report

    env = os.environ
    job = detect_job(
        env,
        scheduler=_scheduler(args),
        machine=args.machine,
    )
    request = _request(args, command)
    plan, error, hostfile_error = None, None, None
    try:
        user = read_hostfile(request.hostfile) if request.hostfile else None
    except EzpzError as exc:
        user, error, hostfile_error = None, str(exc), str(exc)
    if error is None:
        try:
            plan = plan_launch(
                job,
                request,
                env=env,
                probe=SystemProbe(env),
                user_hostfile=user,
                as_root=os.geteuid() == 0,
            )
        except EzpzError as exc:
            error = str(exc)
    checks = run_checks(
        job,
        plan,
        env=env,
        python=sys.executable,
        plan_error=error,
        user_hostfile=request.hostfile,
        user_hostfile_error=hostfile_error,
    )
    if args.json:
        facts = plan.to_json() if plan else job.to_json()
        facts["checks"] = [c.to_json() for c in checks]
        print(json.dumps(facts, indent=2))
    else:
        print(report.format_checks(job, plan, checks))
    return 1 if any(c.status is Status.ERROR for c in checks) else 0


def _headless(args: argparse.Namespace, command: list[str]) -> int:
    from ezpz_core.run.filters import make_filter
    from ezpz_core.run.session import RunOptions
    from ezpz_tui.headless import run_headless

    plan = _plan(args, command)
    display = make_filter(
        plan.job.machine.filter_profile,
        profile=args.filter_profile,
        no_filter=args.no_filter,
        grep=args.grep,
        ranks=args.ranks,
    )
    options = RunOptions(
        outdir=args.outdir,
        timeout=args.timeout,
        retries=args.retries,
        retry_backoff=args.retry_backoff,
        metrics_rank=args.metrics_rank,
        run_dir=os.path.expanduser(args.run_dir) if args.run_dir is not None else None,
    )
    return run_headless(plan, options, display, quiet=args.quiet)


def run_flags(args: argparse.Namespace) -> list[str]:
    """The ``--run`` flags a batch job needs that the launch form has no field for."""
    flags: list[str] = []
    if args.timeout is not None:
        flags.append(f"--timeout={args.timeout:g}")
    if args.retries:
        flags += [f"--retries={args.retries}", f"--retry-backoff={args.retry_backoff:g}"]
    if args.metrics_rank:
        flags.append(f"--metrics-rank={args.metrics_rank}")
    if args.scheduler != "auto":
        flags.append(f"--scheduler={args.scheduler}")
    if args.machine:
        flags.append(f"--machine={args.machine}")
    return flags


def _submit(args: argparse.Namespace, command: list[str]) -> int:
    import shlex

    from ezpz_core.job import detect_job
    from ezpz_core.run.filters import make_filter
    from ezpz_core.run.store import claim_run_dir, new_run_dir
    from ezpz_core.submit.batch import batch_script
    from ezpz_core.submit.client import SchedulerClient
    from ezpz_core.submit.follow import JobFollower
    from ezpz_core.submit.submit import submit
    from ezpz_tui.headless import use_color
    from ezpz_tui.submitting import (
        BatchForm,
        batch_request,
        parse_batch,
        planned_run_dir,
        submit_kind,
    )
    from ezpz_tui.waiting import JobPrinter, StatusLine, stderr_is_live, wait_for_job

    env = dict(os.environ)
    job = detect_job(env, scheduler=_scheduler(args), machine=args.machine)
    kind = submit_kind(job.scheduler, job.scheduler_source)
    spec, errors = parse_batch(
        BatchForm(
            nodes=str(args.nodes or ""),
            time=args.time or "",
            queue=args.queue or "",
            account=args.account or "",
            job_name=args.job_name or "",
            scheduler_args=shlex.join(args.scheduler_arg),
        )
    )
    if spec is None:
        raise UsageError("; ".join(errors.values()))
    form = console_form(args, command)
    cwd = os.getcwd()
    outdir = Path(os.path.expanduser(args.outdir))
    outdir = outdir if outdir.is_absolute() else Path(cwd) / outdir
    given = Path(os.path.expanduser(args.run_dir)) if args.run_dir else None
    planned = given.absolute() if given else planned_run_dir(outdir, spec.job_name)
    script = batch_script(batch_request(kind, form, spec, planned, cwd, run_flags(args)))
    if args.dry_run:  # (the script was written first: its refusals leave no directory)
        run_dir = planned
        print(script, end="")
        print(
            f"ezpz-tui: --dry-run: nothing written or submitted (the run directory would be "
            f"{run_dir})",
            file=sys.stderr,
        )
        return 0
    run_dir = (
        claim_run_dir(os.path.expanduser(args.run_dir))
        if args.run_dir is not None
        else new_run_dir(outdir, spec.job_name)
    ).absolute()
    req = batch_request(kind, form, spec, run_dir, cwd, run_flags(args))
    client = SchedulerClient(kind, env)
    result = submit(req, client)
    err = sys.stderr
    err.write(f"ezpz-tui: wrote {run_dir / 'job.sh'}:\n")
    err.write("".join(f"  {line}\n" for line in result.script.splitlines()))
    if not result.ok:
        program = result.record.argv[0]
        err.write(
            f"ezpz-tui: error: {program} refused the job: {result.answer.message}\n"
            f"  the script is kept in {run_dir / 'job.sh'}\n"
        )
        return result.answer.rc if result.answer.rc not in (0, 124, 126, 127) else 1
    job_id = result.record.job_id
    err.write(
        f"ezpz-tui: submitted job {job_id} ({kind.value}); run dir {run_dir}\n"
        f"  follow it: ezpz-tui --attach {job_id}   (or --attach {run_dir})\n"
    )
    err.flush()
    if not args.wait:
        print(job_id)
        return 0
    display = make_filter(
        job.machine.filter_profile,
        profile=args.filter_profile,
        no_filter=args.no_filter,
        grep=args.grep,
        ranks=args.ranks,
    )
    follower = JobFollower(run_dir, client, result.record)
    out = open(os.devnull, "w") if args.quiet else sys.stdout  # noqa: SIM115
    printer = JobPrinter(run_dir, out, display, use_color(sys.stdout, env))
    return wait_for_job(follower, printer, StatusLine(err, stderr_is_live(env)))


def console_form(args: argparse.Namespace, command: list[str]) -> LaunchForm:
    """The launch form the flags fill in (``--no-filter`` is the filter profile none)."""
    from ezpz_tui.form import form_from_request

    profile = "none" if args.no_filter else args.filter_profile
    return form_from_request(_request(args, command), profile)


_JOB_ID = re.compile(r"\d+(?:_\d+)?(?:\+\d+)?(?:\.[\w.-]+)?")  # 123, 123_4, 123.pbs01


def attach_target(
    given: str, outdir: str, env: Mapping[str, str] | None = None, flag: str = "--attach"
) -> Path:
    """The run directory ``--attach`` (or ``--stacks``: ``flag``) names: a
    directory, a submitted job's id (its run under ``outdir``, else where the
    scheduler says its output goes), or the newest run under ``outdir`` when
    none is named."""
    from ezpz_core.run.rundir import is_run_dir, newest_run

    if not given:
        newest = newest_run(Path(outdir))
        if newest is None:
            raise UsageError(
                f"{flag}: no runs under {outdir}; start one (ezpz-tui, then ctrl+g) "
                "or name a run directory"
            )
        return newest
    path = Path(os.path.expanduser(given))
    if not path.is_dir() and _JOB_ID.fullmatch(given):
        return _job_run(given, outdir, os.environ if env is None else env, flag)
    if not path.is_dir():
        raise UsageError(f"{flag} {given}: no such directory, and not a job id")
    if not is_run_dir(path):
        raise UsageError(
            f"{flag} {given}: not a run directory (no plan.json, events.jsonl, submit.json "
            "or combined.log); runs live under --outdir (default ./outputs/ezpz-tui)"
        )
    return path


def _job_run(job_id: str, outdir: str, env: Mapping[str, str], flag: str = "--attach") -> Path:
    """The run of job ``job_id``: under ``outdir``, else the parent of the job's
    output file as its scheduler names it (a job submitted from elsewhere)."""
    import shutil

    from ezpz_core.kinds import SchedulerKind
    from ezpz_core.run.rundir import is_run_dir
    from ezpz_core.submit.client import SchedulerClient
    from ezpz_core.submit.record import find_job_run

    found = find_job_run(Path(outdir), job_id)
    if found is not None:
        return found
    asked = ""
    for kind, program in ((SchedulerKind.SLURM, "scontrol"), (SchedulerKind.PBS, "qstat")):
        if shutil.which(program, path=env.get("PATH", "")) is None:
            continue
        lookup = SchedulerClient(kind, env, timeout=10).lookup(job_id)
        if lookup.state is not None and lookup.state.output:
            where = Path(lookup.state.output).parent
            if is_run_dir(where):
                return where
            asked = f"; {program} says its output goes to {lookup.state.output}, not a run dir"
        else:
            asked = f"; {program} does not know it either" + (
                f" ({lookup.error})" if lookup.error else ""
            )
        break
    raise UsageError(
        f"{flag} {job_id}: no run of job {job_id} under {outdir}{asked}; "
        f"name its run directory ({flag} DIR) or its --outdir"
    )


def history_target(given: str) -> Path:
    """The file ``--history`` names, checked enough that the charts can follow it."""
    path = Path(os.path.expanduser(given))
    if path.is_dir():
        raise UsageError(
            f"--history {given}: a directory; name a .jsonl file (a run directory: --attach)"
        )
    if not path.exists():
        raise UsageError(f"--history {given}: no such file")
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise UsageError(f"--history {given}: cannot read it: {exc.strerror or exc}") from exc
    return path


def _stacks(args: argparse.Namespace) -> int:
    """``--stacks``: one dump, printed and saved; 1 when no rank gave a stack."""
    from ezpz_core.hang.dump import take_dump

    run_dir = attach_target(args.stacks, args.outdir, flag="--stacks")
    dump = take_dump(run_dir, os.environ)
    print(dump.text, end="" if dump.text.endswith("\n") else "\n")
    print(f"ezpz-tui: saved {dump.text_path} and {dump.json_path.name}", file=sys.stderr)
    return 0 if dump.report.groups else 1


def _interactive(args: argparse.Namespace, command: list[str]) -> int:
    """The console, its form filled from the flags; a wrong value shows beside its field."""
    from ezpz_tui.surroundings import real_surroundings

    attach = attach_target(args.attach, args.outdir) if args.attach is not None else None
    history = history_target(args.history) if args.history is not None else None
    surroundings = real_surroundings(
        console_form(args, command), _scheduler(args), args.machine, outdir=args.outdir
    )
    from ezpz_tui.app import EzpzApp  # Textual is imported only here

    EzpzApp(surroundings, attach=attach, history=history).run()
    return 0


_BATCH_FLAGS = (
    ("nodes", "--nodes"),
    ("time", "--time"),
    ("queue", "--queue"),
    ("account", "--account"),
    ("job_name", "--job-name"),
    ("scheduler_arg", "--scheduler-arg"),
    ("wait", "--wait"),
)


def run(argv: Sequence[str]) -> int:
    parser = build_parser()
    ours, command = split_argv(parser, argv)
    args = parser.parse_args(ours)
    _validate(parser, args)
    if (args.json and not (args.dry_run or args.check)) or (args.json and args.submit):
        parser.error("--json needs --dry-run or --check (not --submit)")
    for given, flag in ((args.run_dir is not None, "--run-dir"), (args.quiet, "--quiet")):
        if given and not (args.run or args.submit):
            parser.error(f"{flag} needs --run or --submit")
    for dest, flag in _BATCH_FLAGS:
        if getattr(args, dest) not in (None, False, []) and not args.submit:
            parser.error(f"{flag} needs --submit")
    if args.wait and args.dry_run:
        parser.error("--wait follows a submitted job; --dry-run submits none")
    modes = (
        args.dry_run and not args.submit,
        args.check,
        args.run,
        args.submit,
        args.attach is not None,
        args.history is not None,
        args.stacks is not None,
    )
    if sum(modes) > 1:
        parser.error(
            "--dry-run, --check, --run, --submit, --attach, --stacks and --history are "
            "separate modes; give one (--submit --dry-run prints the batch script)"
        )
    if args.stacks is not None:
        return _stacks(args)
    if args.submit:
        return _submit(args, command)
    if args.run:
        return _headless(args, command)
    if args.check:
        return _check(args, command)
    if args.dry_run:
        return _dry_run(args, command)
    return _interactive(args, command)


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point: user mistakes print one line, never a traceback."""
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except EzpzError as exc:
        print(f"ezpz-tui: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
