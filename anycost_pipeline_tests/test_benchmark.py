"""The benchmark's exactness check, end to end on a small month, so it keeps working.

No timings are asserted: this only proves that the benchmark runs, that the adaptor's bodies,
the plain-Python baseline's and the bare polars reference's hold the same rows and cost as the
source, and that the check notices when they do not.
"""

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from benchmarks.check import compare
from benchmarks.generate import MONTH, generate
from benchmarks.routes import plain, project

REPO = Path(__file__).resolve().parents[1]


def test_benchmark_command_runs_and_its_exactness_check_passes(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "benchmarks/run.py",
            "--rows",
            "1000",
            "--repeat",
            "1",
            "--sandbox-rows",
            "1000",
            # The twelve-month backfill's path, on a few rows a day: its default of 1,000 a day
            # (366,000 rows) is a figure to measure, not a check to run on every commit.
            "--backfill-rows-per-day",
            "5",
            # The small months' path (the quickstart's month, sent then unchanged; several
            # sources on several connections), on 3 sources instead of 50.
            "--many-sources",
            "3",
            "--many-connections",
            "2",
            "--data",
            str(tmp_path / "data"),
            "--scratch",
            str(tmp_path / "scratch"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "exactness: PASS" in done.stdout
    assert "the sandbox holds 1,000 rows for 2024-08" in done.stdout
    for label in ("adaptor (a)", "plain (b)", "floor (c)", "bare (d)"):
        assert label in done.stdout
    assert "exactness: PASS: (d) and (b) hold 1,000 and 1,000 rows" in done.stdout
    assert "reference: (d), the obvious polars job" in done.stdout
    assert "one month of 3 such sources on 2 connections:" in done.stdout
    assert "the quickstart's 250-row month end to end, wall (unchanged)" in done.stdout


def test_exactness_check_notices_a_changed_row(tmp_path: Path) -> None:
    month = generate(1000, tmp_path / "data")
    project(month.path, tmp_path / "a")
    plain(month.path, tmp_path / "b")
    assert compare(tmp_path / "a", tmp_path / "b", MONTH, month.rows, month.total).passed

    # Move one micro-dollar from one row to another: the total still matches, the rows do not.
    body = tmp_path / "b" / "body-00000.json"
    text = body.read_text()
    first, second = text.index('"cost/cost":"') + 13, text.index('"cost/cost":"', 200) + 13
    cost_1, cost_2 = (text[i : text.index('"', i)] for i in (first, second))
    moved_1, moved_2 = (
        str(Decimal(cost_1) + Decimal("0.000001")),
        str(Decimal(cost_2) - Decimal("0.000001")),
    )
    assert len(moved_1) == len(cost_1) and len(moved_2) == len(cost_2)
    changed = (
        text[:first]
        + moved_1
        + text[first + len(cost_1) : second]
        + moved_2
        + text[second + len(cost_2) :]
    )
    body.write_text(changed)
    verdict = compare(tmp_path / "a", tmp_path / "b", MONTH, month.rows, month.total)
    assert not verdict.passed
    assert "rows differ: 2 only in (a), 2 only in (b)" in "\n".join(verdict.lines)

    # A row dropped from the baseline changes its count and total too.
    body.write_text(text.replace(text[text.index("{", 10) : text.index("},{") + 2], "", 1))
    verdict = compare(tmp_path / "a", tmp_path / "b", MONTH, month.rows, month.total)
    assert not verdict.passed
    assert "999 rows" in "\n".join(verdict.lines)
