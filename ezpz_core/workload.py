"""The reference distributed workload: ``python -m ezpz_core.workload``.

A small MLP classifier trained with DDP on synthetic data: each rank draws its own
batches from a fixed random "teacher" (so the loss really falls), every logged
step prints ``step=N loss=... dt=...`` on every rank (its own values; on rank 0
the means across ranks with their spread), and rank 0 appends one
History row (ezpz schema, aggregates across ranks) to ``--history`` or
``$EZPZ_HISTORY``. What ``ezpz-tui --run`` runs when given no command.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ezpz_core.errors import EzpzError, UsageError
from ezpz_core.history import HistoryWriter, history_row
from ezpz_core.rankenv import rank_from_env

if TYPE_CHECKING:
    from ezpz_core.dist import DistInfo

FEATURES = 32
CLASSES = 4
NO_AGGREGATE_ABOVE = 384  # ranks; like ezpz, aggregation is skipped past this
TIMING_KEYS = ("loss", "accuracy", "dt", "dtf", "dtb", "samples_per_s")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ezpz_core.workload",
        description=(
            "Train a small MLP with DDP on synthetic data on every rank; print one "
            "'step=N loss=...' line per logged step and write a metric history."
        ),
        allow_abbrev=False,
    )
    parser.add_argument("--steps", type=int, default=200, help="training steps (default 200)")
    parser.add_argument("--batch-size", type=int, default=64, help="per-rank batch (default 64)")
    parser.add_argument("--hidden", type=int, default=128, help="hidden width (default 128)")
    parser.add_argument("--lr", type=float, default=0.05, help="SGD learning rate (default 0.05)")
    parser.add_argument(
        "--log-every", type=int, default=10, help="log every N steps, and the last (default 10)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--sleep", type=float, default=0.0, help="seconds to sleep each step (slow demos)"
    )
    parser.add_argument(
        "--history",
        default=None,
        help="history JSONL path (default: $EZPZ_HISTORY; none when unset)",
    )
    parser.add_argument(
        "--wandb",
        action="store_true",
        help="log to Weights & Biases (also when WANDB_PROJECT is set); offline without a key",
    )
    args = parser.parse_args(argv)
    for name in ("steps", "batch_size", "hidden", "log_every"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.lr <= 0 or args.sleep < 0:
        parser.error("--lr must be positive and --sleep not negative")
    return args


def format_std(std: float) -> str:
    """Two significant figures: fixed point at >= 0.01, else ``5.1e-4`` (as ezpz)."""
    if std >= 0.01:
        text = f"{std:.2g}"
        return f"{float(text):.0f}" if "e" in text else text
    mantissa, exponent = f"{std:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def step_line(step: int, values: Mapping[str, float], stds: Mapping[str, float]) -> str:
    """``step=10 loss=0.6931(±0.012) dt=0.0123 ...``: ``(±std)`` where ranks differ."""
    parts = [f"step={step}"]
    for key in TIMING_KEYS:
        if key not in values:
            continue
        value = values[key]
        text = f"{value:.1f}" if key == "samples_per_s" else f"{value:.6f}"
        std = stds.get(key, 0.0)
        if std > 0 and math.isfinite(std):
            text += f"(±{format_std(std)})"
        parts.append(f"{key}={text}")
    return " ".join(parts)


def aggregates(
    names: Sequence[str], total: Sequence[float], deviations: Sequence[float],
    low: Sequence[float], high: Sequence[float], n: int,
) -> dict[str, float]:  # fmt: skip
    """``X/mean``, ``X/max``, ``X/min``, ``X/std`` from reduced values: sums, sums of
    squared deviations from the mean (two passes: ezpz's E[X^2] - E[X]^2 loses all
    precision for large, close values such as throughputs), minima and maxima."""
    out: dict[str, float] = {}
    for i, name in enumerate(names):
        out[f"{name}/mean"] = total[i] / n
        out[f"{name}/max"] = high[i]
        out[f"{name}/min"] = low[i]
        spread = high[i] > low[i]  # identical values: exactly no spread
        out[f"{name}/std"] = math.sqrt(max(deviations[i] / n, 0.0)) if spread else 0.0
    return out


class Wandb:
    """Weights & Biases on rank 0, when installed and asked for; any failure is a
    warning and turns it off, so it never stops the training loop."""

    def __init__(self, enabled: bool, config: dict[str, Any], env: Mapping[str, str]) -> None:
        self.run: Any = None
        if not enabled:
            return
        try:
            import wandb
        except ImportError:
            warnings.warn("wandb was asked for but is not installed; not using it", stacklevel=2)
            return
        mode = env.get("WANDB_MODE") or ("online" if _has_wandb_key(env) else "offline")
        project = env.get("WANDB_PROJECT") or "ezpz-tui"
        try:
            self.run = wandb.init(
                project=project, config=config, mode=mode, reinit="return_previous"
            )
        except Exception as exc:
            if mode == "offline":
                warnings.warn(f"wandb init failed ({exc}); not logging to it", stacklevel=2)
                return
            warnings.warn(f"wandb online init failed ({exc}); logging offline", stacklevel=2)
            try:
                self.run = wandb.init(project=project, config=config, mode="offline")
            except Exception as again:
                warnings.warn(f"wandb offline init failed too ({again})", stacklevel=2)

    def log(self, data: Mapping[str, float], step: int) -> None:
        if self.run is None:
            return
        try:
            self.run.log(dict(data), step=step)
        except Exception as exc:
            warnings.warn(f"wandb log failed ({exc}); not logging to it any more", stacklevel=2)
            self.run = None

    def finish(self) -> None:
        if self.run is None:
            return
        try:
            self.run.finish()
        except Exception as exc:
            warnings.warn(f"wandb finish failed ({exc})", stacklevel=2)
        self.run = None


def _has_wandb_key(env: Mapping[str, str]) -> bool:
    if env.get("WANDB_API_KEY"):
        return True
    netrc = os.path.join(env.get("HOME", os.path.expanduser("~")), ".netrc")
    try:
        with open(netrc) as handle:
            return "api.wandb.ai" in handle.read()
    except OSError:
        return False


def open_history(path: str | None) -> HistoryWriter | None:
    if not path:
        return None
    try:
        return HistoryWriter(path)
    except OSError as exc:
        raise UsageError(
            f"history file {path}: cannot open it for appending ({exc.strerror or exc}); "
            "pass a writable --history PATH"
        ) from None


def train(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from ezpz_core.dist import cleanup, setup_torch

    history_path = args.history or env.get("EZPZ_HISTORY")
    # opened before the rendezvous: a bad path fails at once, not after other ranks wait
    history = open_history(history_path) if rank_from_env(env).rank == 0 else None
    info = setup_torch()
    use_wandb = info.rank == 0 and (args.wandb or bool(env.get("WANDB_PROJECT")))
    tracker = Wandb(use_wandb, vars(args), env)
    try:
        if info.rank == 0:
            print(
                f"ezpz workload: world_size={info.world_size} backend={info.backend} "
                f"device={info.device} rendezvous={info.master_addr}:{info.master_port} "
                f"({info.rendezvous_source}) history={history_path or '-'}",
                flush=True,
            )
        _fit(args, env, info, history, tracker)
    finally:
        tracker.finish()
        if history is not None:
            history.close()
        # _fit has returned, so the DDP model that holds the process group is gone:
        # cleanup() can free the group and join gloo's worker threads right here
        cleanup()
    return 0


def _fit(
    args: argparse.Namespace,
    env: Mapping[str, str],
    info: DistInfo,
    history: HistoryWriter | None,
    tracker: Wandb,
) -> None:
    """The training loop. The model, DDP and optimizer live in this frame only."""
    import torch
    import torch.distributed as dist
    from torch import nn
    from torch.nn.parallel import DistributedDataParallel as DDP

    rank, world = info.rank, info.world_size
    aggregate = (
        world > 1
        and world <= NO_AGGREGATE_ABOVE
        and not env.get("EZPZ_NO_DISTRIBUTED_HISTORY")
        and not env.get("EZPZ_LOCAL_HISTORY")
    )
    device = torch.device(info.device)
    torch.manual_seed(args.seed)
    teacher = torch.randn(FEATURES, CLASSES, generator=torch.Generator().manual_seed(args.seed))
    data_gen = torch.Generator().manual_seed(args.seed * 1_000_003 + rank + 1)
    model = nn.Sequential(
        nn.Linear(FEATURES, args.hidden),
        nn.ReLU(),
        nn.Linear(args.hidden, args.hidden),
        nn.ReLU(),
        nn.Linear(args.hidden, CLASSES),
    ).to(device)
    ddp = DDP(model)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=args.lr, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    teacher = teacher.to(device)
    for step in range(1, args.steps + 1):
        t0 = time.perf_counter()
        x = torch.randn(args.batch_size, FEATURES, generator=data_gen).to(device)
        y = (x @ teacher).argmax(dim=1)
        logits = ddp(x)
        loss = loss_fn(logits, y)
        t1 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if args.sleep:
            time.sleep(args.sleep)
        t2 = time.perf_counter()
        if step % args.log_every and step != args.steps:
            continue
        dt = t2 - t0
        values = {
            "step": float(step),
            "loss": float(loss.item()),
            "accuracy": float((logits.argmax(dim=1) == y).float().mean().item()),
            "dt": dt,
            "dtf": t1 - t0,
            "dtb": t2 - t1,
            "samples_per_s": args.batch_size * world / dt,
        }
        reduced = _reduce(dist, torch, values, world) if aggregate else {}
        if rank == 0 and reduced:  # the job's view: means across ranks, with spread
            means = {k: reduced.get(f"{k}/mean", v) for k, v in values.items()}
            stds = {k: reduced.get(f"{k}/std", 0.0) for k in values}
            print(step_line(step, means, stds), flush=True)
        else:  # this rank's own values and timing
            print(step_line(step, values, {}), flush=True)
        if rank == 0:
            if history is not None:
                history.write(history_row({**values, "step": step}, reduced or None, rank))
            tracker.log({**values, **reduced}, step)


def _reduce(dist: Any, torch: Any, values: Mapping[str, float], world: int) -> dict[str, float]:
    """Aggregates of every metric across ranks (four collectives, float64)."""
    names = [k for k in values if k != "step"]
    own = torch.tensor([values[k] for k in names], dtype=torch.float64)
    total, low, high = own.clone(), own.clone(), own.clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    deviations = (own - total / world) ** 2
    dist.all_reduce(deviations, op=dist.ReduceOp.SUM)
    return aggregates(
        names, total.tolist(), deviations.tolist(), low.tolist(), high.tolist(), world
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return train(args, os.environ)
    except EzpzError as exc:
        print(f"ezpz workload: error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
