"""The fault campaign: `python -m anycost_pipeline_tests.campaign --seeds 200`.

Each seed draws a scenario (a month of one to three sources, an operation, a body size, the
faults the server injects, a kill of the run at some body, a server restart, an unreadable
value) and runs it as a user would. It prints one line per scenario and a table; any invariant
violation is listed with the one command that replays its seed. Exit status 1 on a violation.
"""

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from anycost_pipeline_tests.campaign.runner import Result, run_scenario
from anycost_pipeline_tests.campaign.scenario import draw

REPLAY = "python -m anycost_pipeline_tests.campaign --seed {seed}"


def campaign(seeds: list[int], folder: Path) -> list[Result]:
    results = []
    for seed in seeds:
        scenario = draw(seed)
        started = time.monotonic()
        result = run_scenario(scenario, folder / f"seed-{seed}")
        results.append(result)
        verdict = "ok" if not result.violations else "VIOLATION: " + " | ".join(result.violations)
        print(
            f"seed {seed:4d}  {time.monotonic() - started:5.1f} s  runs {result.runs}  "
            f"{scenario.describe()}  -> {verdict}",
            flush=True,
        )
    return results


def table(results: list[Result]) -> str:
    faults: Counter = Counter()
    for result in results:
        faults.update(result.faults)
    broken = [r for r in results if r.violations]
    lines = [
        f"scenarios            {len(results)}",
        *(f"  {kind:18} {count}" for kind, count in sorted(faults.items())),
        f"kills of the run     {sum(r.kills for r in results)}",
        f"server restarts      {sum(r.restarts for r in results)}",
        f"runs (re-runs)       {sum(r.runs for r in results)} ({sum(r.runs - 1 for r in results)})",
        f"invariant violations {sum(len(r.violations) for r in results)}",
    ]
    lines += [f"  seed {r.seed}: {REPLAY.format(seed=r.seed)}" for r in broken]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="how many seeds (0, 1, ...)")
    parser.add_argument("--first", type=int, default=0, help="the first seed")
    parser.add_argument("--seed", type=int, action="append", help="replay these seeds only")
    parser.add_argument("--keep", type=Path, help="keep each scenario's folder here")
    args = parser.parse_args(argv)
    seeds = args.seed or list(range(args.first, args.first + args.seeds))
    if args.keep:
        results = campaign(seeds, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="anycost-campaign-") as folder:
            results = campaign(seeds, Path(folder))
    print(table(results))
    return 1 if any(r.violations for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
