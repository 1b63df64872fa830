"""`anycost`: run months end to end and look at what the sandbox holds, without the UI."""

import argparse
import os
import sys
from decimal import Decimal
from pathlib import Path

from anycost_pipeline.config import ConfigError, config_path, load_config
from anycost_pipeline.months import Month

# The step-by-step log stays in the run history; the console gets the summary.
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def _dagster_home(base: Path) -> Path:
    # Runs started here show up in `dagster dev` when both use the project's DAGSTER_HOME.
    home = Path(os.environ.get("DAGSTER_HOME") or base / "dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def _source_months() -> list[str]:
    """The months that the sources' export files hold, for `anycost run` with no month given.

    Pulled sources (APIs, databases) are only read for months named on the command line.
    """
    from anycost_pipeline.cbf.mapping import HOUR, with_usage_hour
    from anycost_pipeline.config import FilesSource
    from anycost_pipeline.sources.files import read_source_files

    config = load_config()
    months: set[str] = set()
    for name, source in config.sources.items():
        if not isinstance(source, FilesSource):
            continue
        frame = with_usage_hour(
            read_source_files(name, source, config.resolve_path(source.path)),
            name, source.time_column, source.timezone, source.time_format,
        )
        months |= {f"{h.year:04d}-{h.month:02d}" for h in frame.get_column(HOUR).unique().to_list()}
    return sorted(m for m in months if m >= config.start_month)


def run(months: list[str]) -> int:
    """Materialise raw → cbf → drop for each month; print what happened and where to look."""
    import dagster as dg

    from anycost_pipeline.defs.jobs import SUBMIT_MONTH

    config = load_config()
    home = _dagster_home(config.base_dir)
    months = [str(Month.parse(m)) for m in months] or _source_months()
    defs = dg.Definitions.merge(dg.load_from_defs_folder(path_within_project=Path(__file__).parent))
    job = defs.resolve_job_def(SUBMIT_MONTH)
    failed = []
    with dg.DagsterInstance.get() as instance:
        for month in months:
            print(f"== {month}: reading sources, converting to CBF, checking, sending ...", flush=True)
            result = job.execute_in_process(
                partition_key=month, instance=instance, raise_on_error=False, run_config=QUIET
            )
            if not result.success:
                failed.append(month)
                for event in result.all_events:
                    if event.is_step_failure and event.step_failure_data:
                        print(f"   FAILED {event.step_key}: {event.step_failure_data.error.message.strip()}")
                continue
            for event in result.get_asset_materialization_events():
                mat = event.materialization
                meta = {k: v.value for k, v in mat.metadata.items()}
                line = f"   {mat.asset_key.to_user_string():28} rows={meta.get('rows')}  cost={meta.get('total_cost_exact')}"
                if "drop_ids" in meta:
                    line += f"  bodies={meta['bodies']}  drop={meta['drop_ids']}"
                print(line)
    storage = config.storage_path
    print()
    print(f"Frames (Parquet):     {storage / 'frames'}")
    if config.cloudzero.target == "sandbox":
        print(f"Sandbox (SQLite):     {storage / 'sandbox' / 'cloudzero_sandbox.sqlite3'}")
        for connection in config.connections:
            print(f"  see a month:        anycost show {connection} {months[-1] if months else 'YYYY-MM'}")
    print(f"Run history:          DAGSTER_HOME={home} dagster dev   (then open http://127.0.0.1:3000)")
    if failed:
        print(f"\n{len(failed)} month(s) failed: {', '.join(failed)}. Nothing was sent for them.", file=sys.stderr)
        return 1
    return 0


def show(connection: str, month: str) -> int:
    """Print what the sandbox holds for a connection and month."""
    from anycost_pipeline.cbf.columns import COST, LINE_ITEM_TYPE
    from anycost_pipeline.cloudzero.sandbox import SandboxStore

    config = load_config()
    if connection not in config.connections:
        raise ConfigError(f"{connection!r} is not a connection in {config_path()} ({', '.join(config.connections)})")
    connection_id = config.connections[connection].resolve_id(connection, sandbox=True)
    store = SandboxStore(config.storage_path / "sandbox")
    rows = store.month_rows(connection_id, str(Month.parse(month)))
    totals: dict[str, Decimal] = {}
    for row in rows:
        kind = row.get(LINE_ITEM_TYPE) or "Usage"
        totals[kind] = totals.get(kind, Decimal(0)) + Decimal(row[COST])
    print(f"Sandbox, connection {connection} ({connection_id}), {month}: {len(rows):,} rows")
    for kind, total in sorted(totals.items()):
        print(f"  {kind:12} {total}")
    print(f"  {'total':12} {sum(totals.values(), Decimal(0))}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="anycost", description="Send cost sources to CloudZero AnyCost Stream.")
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="read, convert, check and send months (default: every month the sources hold)")
    run_parser.add_argument("months", nargs="*", metavar="YYYY-MM")
    show_parser = commands.add_parser("show", help="what the local sandbox holds for a connection and month")
    show_parser.add_argument("connection")
    show_parser.add_argument("month", metavar="YYYY-MM")
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return run(args.months)
        return show(args.connection, args.month)
    except (ConfigError, ValueError) as error:
        print(f"anycost: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
