"""Metrics from printed step lines, checked against the real 2-rank ezpz run.

Fixtures: ``tests/data/ezpz-test-2ranks/console.log`` (ANSI-coloured output with
numbers split by colour codes, a config JSON block, a torchinfo table and terminal
plots) and the same run's ``metrics.jsonl``; plus line vectors for ``parse_step_line``.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from pathlib import Path

import pytest

from ezpz_core.logmetrics import parse_block, parse_step_line, strip_ansi
from ezpz_core.metrics import MetricSeries

SAMPLES = Path(__file__).resolve().parent / "data" / "ezpz-test-2ranks"  # see data/README.md
CONSOLE = SAMPLES / "console.log"
HISTORY = SAMPLES / "metrics.jsonl"
PRINTED_KEYS = {"iter", "loss", "accuracy", "dtf", "dtb", "tflops", "mfu"}
# Our own reading of a printed token: key=text, with an optional (±text).
PRINTED_TOKEN = re.compile(r"(?<!\S)([A-Za-z_][\w/]*)=(\S+?)(?:\(±([^)]*)\))?(?=\s|$)")


def console_text() -> str:
    return CONSOLE.read_text(encoding="utf-8")


def rank0_history() -> dict[float, dict[str, float]]:
    """Rank 0's ``metrics`` by step, from the history file (read with plain json)."""
    rows = [json.loads(line) for line in HISTORY.read_text().splitlines()]
    return {float(r["metrics"]["iter"]): r["metrics"] for r in rows if r["rank"] == 0}


def printed_step_lines() -> list[dict[str, tuple[str, str]]]:
    """For each printed step line: key -> (value text, std text or "")."""
    out = []
    for line in strip_ansi(console_text()).splitlines():
        tokens = PRINTED_TOKEN.findall(line)
        if tokens and tokens[0][0] == "iter":
            out.append({key: (value, std) for key, value, std in tokens})
    return out


def half_unit(text: str) -> float:
    """Half a unit in the last printed digit: ``2.361278`` -> 5e-7, ``3.4e-4`` -> 5e-6."""
    return 0.5 * 10.0 ** Decimal(text).as_tuple().exponent


# --- the sample console log against its own history ---------------------------------


def test_console_gives_one_row_per_logged_step() -> None:
    rows = parse_block(console_text())
    assert [row.step for row in rows] == [float(step) for step in range(1, 20)]
    assert all(row.rank is None for row in rows)


def test_console_steps_equal_rank0_history_steps() -> None:
    rows = parse_block(console_text())
    assert [row.step for row in rows] == sorted(rank0_history())


def test_console_rows_carry_exactly_the_printed_keys() -> None:
    rows = parse_block(console_text())
    printed = printed_step_lines()
    assert len(rows) == len(printed) == 19
    for row, tokens in zip(rows, printed, strict=True):
        expected = set(tokens) | {f"{key}/std" for key, (_, std) in tokens.items() if std}
        assert set(row.values) == expected
        assert set(tokens) == PRINTED_KEYS


def test_console_values_equal_history_to_printed_precision() -> None:
    rows = parse_block(console_text())
    history = rank0_history()
    for row, tokens in zip(rows, printed_step_lines(), strict=True):
        expected = history[row.step]
        for key, (text, _) in tokens.items():
            assert row.values[key] == float(text)
            assert math.isclose(
                row.values[key], expected[key], rel_tol=0, abs_tol=half_unit(text) + 1e-12
            ), (row.step, key, text, expected[key])


def test_console_std_equals_history_std_to_printed_precision() -> None:
    rows = parse_block(console_text())
    history = rank0_history()
    checked = 0
    for row, tokens in zip(rows, printed_step_lines(), strict=True):
        expected = history[row.step]
        for key, (_, std) in tokens.items():
            if not std:
                continue
            got, want = row.values[f"{key}/std"], expected[f"{key}/std"]
            assert got == float(std)
            assert math.isclose(got, want, rel_tol=0, abs_tol=half_unit(std) + 1e-12)
            assert math.isclose(got, want, rel_tol=0.05, abs_tol=1e-12)  # 2 significant figures
            checked += 1
    assert checked > 19 * 4


def test_console_std_missing_only_where_history_std_is_zero() -> None:
    rows = parse_block(console_text())
    history = rank0_history()
    for row in rows:
        for key in PRINTED_KEYS - {"iter"}:
            if f"{key}/std" not in row.values:
                assert history[row.step][f"{key}/std"] == 0.0


def test_console_never_gives_aggregates_other_than_std() -> None:
    for row in parse_block(console_text()):
        assert not any(key.endswith(("/mean", "/min", "/max", "/avg")) for key in row.values)


def test_console_series_matches_history_series() -> None:
    from ezpz_core.history import HistoryTail

    from_log = MetricSeries(rank=0)
    from_log.add(parse_block(console_text()))
    from_history = MetricSeries(rank=0)
    from_history.add(HistoryTail(HISTORY).poll())
    assert from_log.rows == from_history.rows == 19
    assert from_log.points["loss"].xs == from_history.points["loss"].xs
    for got, want in zip(from_log.points["loss"].ys, from_history.points["loss"].ys, strict=True):
        assert got == pytest.approx(want, abs=5e-7)


def test_console_lines_other_than_step_lines_give_no_rows() -> None:
    lines = console_text().split("\n")
    others = [line for line in lines if parse_step_line(line) is None]
    assert len(lines) - len(others) == 19
    assert parse_block("\n".join(others)) == []


def test_console_config_block_gives_no_rows() -> None:
    text = console_text()
    start = text.index("\n{\n")
    block = text[start : text.index("\n}\n", start) + 3]
    assert "train_iters" in block
    assert parse_block(block) == []


def test_console_plots_and_table_give_no_rows() -> None:
    text = console_text()
    after_training = text[text.index("seconds to finish training") :]
    assert len(after_training.split("\n")) > 100
    assert parse_block(after_training) == []
    table = text[text.index("Layer (typ") : text.index("Non-trainable params")]
    assert parse_block(table) == []


def test_parse_block_labels_rows_with_rank() -> None:
    rows = parse_block("step=1 loss=0.5\nnoise\nstep=2 loss=0.4", rank=3)
    assert [(row.step, row.rank) for row in rows] == [(1.0, 3), (2.0, 3)]


def test_parse_block_without_step_words_is_empty() -> None:
    assert parse_block("loss=0.5 accuracy=0.9\nepoch done") == []


# --- single lines --------------------------------------------------------------------

PREFIX = "[2026-11-26 11:51:34][I][examples/test:403:train_step] "
ESC_NUM = "\x1b[1;36m"
RESET = "\x1b[0m"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param(
            "step=10 loss=0.693100(±0.012) accuracy=0.5 dt=0.012300 samples_per_s=5200.1",
            {
                "step": 10.0,
                "loss": 0.6931,
                "loss/std": 0.012,
                "accuracy": 0.5,
                "dt": 0.0123,
                "samples_per_s": 5200.1,
            },
            id="our-workload",
        ),
        pytest.param(
            PREFIX + "iter=2    loss=2.192272(±6.7e-3) accuracy=0.500000 dtf=0.002125(±7.7e-5)",
            {
                "iter": 2.0,
                "loss": 2.192272,
                "loss/std": 6.7e-3,
                "accuracy": 0.5,
                "dtf": 0.002125,
                "dtf/std": 7.7e-5,
            },
            id="ezpz-behind-logger-prefix",
        ),
        pytest.param(
            "iter=180   loss=0.078(±0.026) accuracy=0.984(±9.9e-3) lr=0.000059",
            {
                "iter": 180.0,
                "loss": 0.078,
                "loss/std": 0.026,
                "accuracy": 0.984,
                "accuracy/std": 9.9e-3,
                "lr": 0.000059,
            },
            id="bare-hyperparameter",
        ),
        pytest.param(
            "step=3 loss=1.5 memory=1.2/3.4GiB (cur/peak, 35% of 3.4GiB) lr=0.001",
            {"step": 3.0, "loss": 1.5, "lr": 0.001},
            id="memory-skipped",
        ),
        pytest.param(
            "step=4 lr=5.1e-4 big=1E+3 small=-2.5e-10",
            {"step": 4.0, "lr": 5.1e-4, "big": 1000.0, "small": -2.5e-10},
            id="scientific",
        ),
        pytest.param(
            "step=5 train/loss=0.5 eval/acc=0.9",
            {"step": 5.0, "train/loss": 0.5, "eval/acc": 0.9},
            id="slash-keys",
        ),
        pytest.param(
            f"iter={ESC_NUM}1{RESET} loss={ESC_NUM}2{RESET}{ESC_NUM}.361278{RESET}",
            {"iter": 1.0, "loss": 2.361278},
            id="colour-inside-number",
        ),
        pytest.param(
            f"\x1b[94miter{RESET}={ESC_NUM}7{RESET} \x1b[94mloss{RESET}={ESC_NUM}0.25{RESET}",
            {"iter": 7.0, "loss": 0.25},
            id="colour-between-key-and-equals",
        ),
        pytest.param("step=6", {"step": 6.0}, id="step-only"),
        pytest.param("  step=1\tloss=0.5  ", {"step": 1.0, "loss": 0.5}, id="tabs-and-spaces"),
    ],
)
def test_parse_step_line_reads_metrics(line: str, expected: dict[str, float]) -> None:
    row = parse_step_line(line)
    assert row is not None
    assert row.values == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "line",
    [
        "loss=0.5 accuracy=0.9",
        "Warmup complete at step 5",
        "iteration=5 loss=1",
        "substep=5 loss=1",
        "step=1.5 loss=1",
        "step=abc loss=1",
        "train_iters=20 loss=1",
        PREFIX + "Took: 0.34 seconds to finish training",
        "",
    ],
)
def test_parse_step_line_rejects_non_step_lines(line: str) -> None:
    assert parse_step_line(line) is None


@pytest.mark.parametrize(
    ("token", "check"),
    [
        ("nan", math.isnan),
        ("NaN", math.isnan),
        ("inf", lambda v: v == math.inf),
        ("-inf", lambda v: v == -math.inf),
        ("Infinity", lambda v: v == math.inf),
    ],
)
def test_parse_step_line_reads_nonfinite_values(token: str, check) -> None:
    row = parse_step_line(f"step=8 loss={token} acc=0.5")
    assert row is not None
    assert check(row.values["loss"])
    assert row.values["acc"] == 0.5


def test_parse_step_line_keeps_rank() -> None:
    row = parse_step_line("iter=1 loss=0.5", rank=2)
    assert row is not None
    assert row.rank == 2
    assert row.step == 1.0


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("\x1b[1;36m2\x1b[0m\x1b[1;36m.361278\x1b[0m", "2.361278"),
        ("\x1b[38;5;10mtext\x1b[0m", "text"),
        ("\x1b[?25lhidden\x1b[?25h", "hidden"),
        ("no codes", "no codes"),
    ],
)
def test_strip_ansi(text: str, plain: str) -> None:
    assert strip_ansi(text) == plain
