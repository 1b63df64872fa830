"""A deterministic month of an hourly vendor export, in the sample vendor's CSV format.

The sample vendor ("Simple Cloud") exports `date, service, account, charge_type, amount`. The
benchmark's vendor adds what a real hourly export carries: an hourly timestamp in `date`, a
`region` and three tag columns (`team`, `env`, `cost_center`). The same row count always gives
the same bytes, so figures from different machines describe the same input.
"""

import argparse
import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl

MONTH = "2024-08"
HOURS = 31 * 24
SERVICES = 50
ACCOUNTS = 200
REGIONS = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "sa-east-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "eu-south-1",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "me-south-1",
    "af-south-1",
    "no-region",
]
TEAMS = [
    "platform",
    "data",
    "payments",
    "search",
    "mobile",
    "web",
    "ml",
    "security",
    "sre",
    "growth",
    "infra",
    "billing",
]
ENVS = ["prod", "staging", "dev", "test"]
DEFAULT_FOLDER = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class SourceMonth:
    """A generated export file and what it must add up to."""

    path: Path
    rows: int
    total: Decimal  # exact sum of `amount`
    bytes: int


def _frame(
    rows: int, start: str = f"{MONTH}-01 00:00:00", hours: int = HOURS, first: int = 0
) -> pl.DataFrame:
    """`rows` rows spread over `hours` hours from `start`; `first` numbers the first row."""
    i = pl.int_range(first, first + rows, dtype=pl.Int64)
    # Spread the rows evenly over the hours, in time order as exports usually are.
    hour = ((i - first) * hours) // rows
    stamp = pl.lit(start).str.to_datetime("%Y-%m-%d %H:%M:%S") + pl.duration(hours=hour)
    # Multiplicative hashing gives a well-mixed but reproducible choice per row.
    mix = (i * 2_654_435_761) % 4_294_967_296
    kind = (
        pl.when(i % 50 == 7)
        .then(pl.lit("tax"))
        .when(i % 97 == 3)
        .then(pl.lit("credit"))
        .otherwise(pl.lit("usage"))
    )
    micros = mix % 50_000_000  # up to 49.999999
    sign = pl.when(kind == "credit").then(pl.lit("-")).otherwise(pl.lit(""))
    amount = pl.concat_str(
        sign,
        (micros // 1_000_000).cast(pl.String),
        pl.lit("."),
        (micros % 1_000_000).cast(pl.String).str.zfill(6),
    )
    pick = lambda values, salt: pl.lit(pl.Series(values)).gather((mix // salt) % len(values))  # noqa: E731
    cost_center = pl.concat_str(pl.lit("CC-"), (1000 + (mix // 7) % 100).cast(pl.String))
    return pl.select(
        date=stamp.dt.strftime("%Y-%m-%d %H:%M:%S"),
        service=pl.concat_str(
            pl.lit("service-"), ((mix // 3) % SERVICES).cast(pl.String).str.zfill(2)
        ),
        account=pl.concat_str(
            pl.lit("acct-"), ((mix // 11) % ACCOUNTS).cast(pl.String).str.zfill(4)
        ),
        region=pick(REGIONS, 13),
        charge_type=kind,
        amount=amount,
        team=pick(TEAMS, 17),
        env=pick(ENVS, 19),
        # One row in ten has no cost centre: the export leaves the cell empty.
        cost_center=pl.when(i % 10 == 4).then(pl.lit(None, pl.String)).otherwise(cost_center),
    )


def generate(rows: int, folder: Path = DEFAULT_FOLDER) -> SourceMonth:
    """Write (or reuse) the month of `rows` rows; returns its path and exact total."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"hourly_cloud_{MONTH}_{rows}.csv"
    facts = path.with_suffix(".json")
    if path.exists() and facts.exists():
        known = json.loads(facts.read_text())
        if known.get("bytes") == path.stat().st_size:
            return SourceMonth(path, known["rows"], Decimal(known["total"]), known["bytes"])
    frame = _frame(rows)
    total = sum((Decimal(v) for v in frame.get_column("amount").to_list()), Decimal(0))
    frame.write_csv(path)
    facts.write_text(json.dumps({"rows": rows, "total": str(total), "bytes": path.stat().st_size}))
    return SourceMonth(path, rows, total, path.stat().st_size)


@dataclass(frozen=True)
class DailyExport:
    """A year of daily export files (one per day) and the exact total of each month."""

    folder: Path
    pattern: str  # the files' glob, for a source's `path`
    rows_per_day: int
    totals: dict[str, Decimal]  # YYYY-MM: exact sum of `amount`


def generate_daily(
    rows_per_day: int, year: int = 2024, folder: Path = DEFAULT_FOLDER
) -> DailyExport:
    """Write (or reuse) a daily export of `year`: hourly_cloud_YYYY-MM-DD.csv, one file per day."""
    days = pl.date_range(date(year, 1, 1), date(year, 12, 31), eager=True).to_list()
    place = folder / f"daily_{year}_{rows_per_day}"
    place.mkdir(parents=True, exist_ok=True)
    facts = place / "totals.json"
    if facts.exists() and len(list(place.glob("hourly_cloud_*.csv"))) == len(days):
        totals = {m: Decimal(t) for m, t in json.loads(facts.read_text()).items()}
        return DailyExport(place, str(place / "hourly_cloud_*.csv"), rows_per_day, totals)
    totals: dict[str, Decimal] = {}
    for index, day in enumerate(days):
        frame = _frame(rows_per_day, f"{day} 00:00:00", 24, index * rows_per_day)
        month = f"{day:%Y-%m}"
        total = sum((Decimal(v) for v in frame.get_column("amount").to_list()), Decimal(0))
        totals[month] = totals.get(month, Decimal(0)) + total
        frame.write_csv(place / f"hourly_cloud_{day}.csv")
    facts.write_text(json.dumps({m: str(t) for m, t in totals.items()}))
    return DailyExport(place, str(place / "hourly_cloud_*.csv"), rows_per_day, totals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--folder", type=Path, default=DEFAULT_FOLDER)
    args = parser.parse_args()
    for rows in args.rows:
        month = generate(rows, args.folder)
        print(f"{month.path}  rows={month.rows:,}  total={month.total}  bytes={month.bytes:,}")


if __name__ == "__main__":
    main()
