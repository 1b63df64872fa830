"""The fault campaign: `python -m anycost_pipeline_tests.campaign --seeds 200`.

Each seed draws a scenario (a month of one to three sources, an operation, a body size, the
faults the server injects, a kill of the run at some body, a server restart, an unreadable
value) and a history (three months of invoice files over several runs: charges moving month,
files emptied and deleted, another sender, `delete-month`, a damaged or lost journal, a killed
run), and runs both as a user would. It prints one line per scenario and history and a table;
any invariant violation is listed with the one command that replays its seed. Exit status 1 on
a violation.
"""

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from anycost_pipeline_tests.campaign.history import draw_history, run_history
from anycost_pipeline_tests.campaign.runner import Result, run_scenario
from anycost_pipeline_tests.campaign.scenario import draw

REPLAY = "python -m anycost_pipeline_tests.campaign --seed {seed}"


def campaign(
    seeds: list[int], folder: Path, months: bool = True, histories: bool = True
) -> list[Result]:
    results = []
    for seed in seeds:
        if months:
            scenario = draw(seed)
            started = time.monotonic()
            result = run_scenario(scenario, folder / f"seed-{seed}")
            results.append(result)
            _line(seed, started, result.runs, scenario.describe(), result.violations)
        if histories:
            history = draw_history(seed)
            started = time.monotonic()
            lived = run_history(history, folder / f"history-{seed}")
            results.append(
                Result(
                    seed,
                    runs=lived.runs,
                    violations=lived.violations,
                    met_writes=lived.met_writes,
                    waited=lived.waited,
                )
            )
            _line(seed, started, lived.runs, history.describe(), lived.violations)
    return results


def _line(seed: int, started: float, runs: int, what: str, violations: list[str]) -> None:
    verdict = "ok" if not violations else "VIOLATION: " + " | ".join(violations)
    print(
        f"seed {seed:4d}  {time.monotonic() - started:5.1f} s  runs {runs}  {what}  -> {verdict}",
        flush=True,
    )


def table(results: list[Result]) -> str:
    faults: Counter = Counter()
    for result in results:
        faults.update(result.faults)
    broken = [r for r in results if r.violations]
    lines = [
        f"scenarios            {len(results)}",
        *(f"  {kind:18} {count}" for kind, count in sorted(faults.items())),
        f"kills of the run     {sum(r.kills for r in results)}",
        # Reads refused while a write whose answer was held ran: the client asking (allowed).
        f"probes of held writes {sum(r.probes for r in results)}",
        f"server restarts      {sum(r.restarts for r in results)}",
        f"runs started while another's write was held (said they waited) "
        f"{sum(r.met_writes for r in results)} ({sum(r.waited for r in results)})",
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
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--months-only", action="store_true", help="run the one-month scenarios only")
    only.add_argument("--histories-only", action="store_true", help="run the histories only")
    args = parser.parse_args(argv)
    seeds = args.seed or list(range(args.first, args.first + args.seeds))
    kinds = {"months": not args.histories_only, "histories": not args.months_only}
    if args.keep:
        results = campaign(seeds, args.keep, **kinds)
    else:
        with tempfile.TemporaryDirectory(prefix="anycost-campaign-") as folder:
            results = campaign(seeds, Path(folder), **kinds)
    print(table(results))
    return 1 if any(r.violations for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
