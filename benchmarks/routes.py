"""The ways of turning the benchmark's source month into request bodies, one per process.

    python -m benchmarks.routes project SOURCE.csv OUT_DIR   # the adaptor's own functions
    python -m benchmarks.routes plain   SOURCE.csv OUT_DIR   # a plain-Python adaptor (baseline)
    python -m benchmarks.routes bare    SOURCE.csv OUT_DIR   # the obvious polars job, no checks (reference)
    python -m benchmarks.routes floor   SOURCE.csv OUT_DIR --bytes N  # read the file, write N bytes

Each route reads the source file, writes its bodies into OUT_DIR (`body-00000.json`, ...) and
prints one JSON line: rows, bodies, JSON bytes, the exact cost total and seconds per phase.
"""

import argparse
import json
import sys
import time
from collections.abc import Iterable
from itertools import accumulate
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from anycost_pipeline.cbf.bodies import MonthBodies

STARTED = time.perf_counter()
HERE = Path(__file__).resolve().parent
CONFIG = HERE / "anycost.bench.yaml"
SOURCE = "hourly_cloud"
MONTH = "2024-08"
TARGET_BYTES = 4_500_000


class Phases:
    """Seconds spent per named phase, measured back to back, and the peak RSS after each."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.peak_mb: dict[str, float | None] = {}
        self._last, self._last_cpu = time.perf_counter(), time.process_time()

    def mark(self, name: str) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        self.seconds[name] = round(now - self._last, 4)
        self.cpu[name] = round(cpu - self._last_cpu, 4)  # all threads: can exceed wall time
        self.peak_mb[name] = own_peak_mb()
        self._last, self._last_cpu = now, cpu

    def report(self) -> dict:
        return {"phases": self.seconds, "phases_cpu": self.cpu, "peak_mb_after": self.peak_mb}


def own_peak_mb() -> float | None:
    """This process's own peak RSS (VmHWM). `ru_maxrss` seen by a parent also counts what this
    process inherited at fork from that parent, so small routes would report the parent's size."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def write_bodies(out: Path, payloads: Iterable[bytes]) -> None:
    """Each payload to its own file in `out`, one at a time, in order."""
    out.mkdir(parents=True, exist_ok=True)
    for index, payload in enumerate(payloads):
        (out / f"body-{index:05d}.json").write_bytes(payload)


# Room for rows in a body: the target less the envelope around them.
BUDGET = TARGET_BYTES - len(f'{{"month":"{MONTH}","operation":"replace_hourly","data":[]}}')


def body(index: int, data: str) -> bytes:
    """Body `index` of the month around `data` (its rows' JSON joined by commas); the first
    replaces the whole month, the others their own hours."""
    operation = "replace_drop" if index == 0 else "replace_hourly"
    return f'{{"month":"{MONTH}","operation":"{operation}","data":[{data}]}}'.encode()


def hour_groups(hours: list[str], sizes: list[int]) -> list[slice]:
    """Whole hours packed greedily, in order, into bodies of at most BUDGET bytes of rows, as
    slices of `hours`; `sizes` are each hour's rows' JSON with a comma after each row. A month
    without rows is one empty body."""
    groups: list[slice] = []
    start = used = 0
    for index, (hour, size) in enumerate(zip(hours, sizes)):
        if size > BUDGET:
            raise SystemExit(f"hour {hour} alone is larger than a body")
        if used and used + size > BUDGET:
            groups.append(slice(start, index))
            start, used = index, 0
        used += size
    groups.append(slice(start, len(hours)))
    return groups


def build_month(source_file: Path, phases: Phases) -> tuple["MonthBodies", int, object]:
    """The adaptor's path, with the functions the raw/ and cbf/ assets call, in the same order:
    the month's request bodies as the drop plans them (each kept on disk and read back, checked
    against its hash, when it is used), its row count and its exact cost total."""
    from anycost_pipeline import sources as readers
    from anycost_pipeline.cbf.bodies import plan_bodies
    from anycost_pipeline.cbf.conservation import source_cost
    from anycost_pipeline.cbf.errors import raise_problems
    from anycost_pipeline.cbf.hours import rows_of_month, usage_hours
    from anycost_pipeline.cbf.mapping import convert
    from anycost_pipeline.cbf.validation import cost_total, row_problems, source_rows_in
    from anycost_pipeline.config import load_config
    from anycost_pipeline.months import Month

    config = load_config(CONFIG)
    # The generated file stands in for the configured glob; every other setting is the source's own.
    source = config.sources[SOURCE].model_copy(update={"path": str(source_file.resolve())})
    month = Month.parse(MONTH)
    phases.mark("import")
    frame = readers.read_month(SOURCE, source, config, month)
    phases.mark("read")
    frame, untimed = usage_hours(
        frame,
        SOURCE,
        source.time_column,
        source.timezone,
        source.time_format,
        source.ambiguous_time,
    )
    raise_problems(SOURCE, untimed)  # on_bad_rows: strict
    raw = rows_of_month(frame, month)
    del frame
    phases.mark("hours")
    mapping = config.mapping_of(SOURCE)
    done = convert(raw, SOURCE, mapping, month)
    cbf = done.cbf
    phases.mark("map")
    problems = row_problems(cbf, month)
    if not problems.is_empty():
        raise SystemExit(f"the project found bad rows:\n{problems.head(10)}")
    source_total, unreadable = source_cost(raw, mapping, month)
    total = cost_total(cbf)
    sent_rows = source_rows_in(cbf)
    if source_total != total or unreadable or done.rejects.height or sent_rows != raw.height:
        raise SystemExit(
            f"cost not conserved: source {source_total}, CBF {total}, {sent_rows:,} of {raw.height:,} rows sent"
        )
    rows = cbf.height
    del raw
    phases.mark("validate")
    bodies = plan_bodies(cbf, MONTH, target_bytes=TARGET_BYTES)
    del cbf
    phases.mark("bodies")
    return bodies, rows, total


def project(source_file: Path, out: Path) -> dict:
    """The adaptor's path (`build_month`), its bodies written to `out` one at a time, each read
    back and checked as the drop reads it to send it."""
    phases = Phases()
    bodies, rows, total = build_month(source_file, phases)
    try:
        write_bodies(out, (body.payload for body in bodies))
    finally:
        bodies.close()
    phases.mark("write")
    return {
        "rows": rows,
        "bodies": len(bodies),
        "bytes": bodies.bytes,
        "total": str(total),
        **phases.report(),
    }


def plain(source_file: Path, out: Path) -> dict:
    """The same job in plain Python: csv, Decimal, a dict per row without its empty values,
    json.dumps, cut by hour."""
    import csv
    import re
    from datetime import datetime
    from decimal import Decimal, InvalidOperation

    phases = Phases()
    kinds = {"usage": "Usage", "tax": "Tax", "credit": "Credit"}
    line_item_types = {
        "Usage",
        "Tax",
        "Support",
        "Purchase",
        "CommittedUsePurchase",
        "Discount",
        "Credit",
        "Fee",
        "Adjustment",
        "CommittedUseVacancy",
        "CommittedUseRecurringFee",
    }
    hour_pattern = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:00:00Z$")
    unsafe = re.compile(r"[^A-Za-z0-9_.=+\-@]")
    by_hour: dict[str, list[str]] = {}
    total = Decimal(0)
    rows = 0
    with open(source_file, newline="", encoding="utf-8") as handle:
        for number, record in enumerate(csv.DictReader(handle), start=2):
            stamp = datetime.fromisoformat(record["date"].strip()).replace(
                minute=0, second=0, microsecond=0
            )
            hour = stamp.strftime("%Y-%m-%dT%H:00:00Z")
            if not hour.startswith(MONTH):
                continue
            text = record["amount"].strip()
            try:
                cost = Decimal(text)
            except InvalidOperation:
                raise SystemExit(f"row {number}: amount {text!r} is not a decimal") from None
            if not cost.is_finite():
                raise SystemExit(f"row {number}: amount {text!r} is not finite")
            kind = kinds.get(record["charge_type"].strip())
            if kind is None:
                raise SystemExit(
                    f"row {number}: charge_type {record['charge_type']!r} is not mapped"
                )
            account, service, region = (
                record["account"].strip(),
                record["service"].strip(),
                record["region"].strip(),
            )
            resource_id = f"{account}/{service}/{region}"
            if ":" in resource_id or "/" in resource_id:
                # resource_id_encoding: service_prefix, so CloudZero's cut at the first : or / keeps the id whole.
                resource_id = f"{unsafe.sub('-', service) or unsafe.sub('-', SOURCE)}/{resource_id}"
            row = {
                "cost/cost": format(cost, "f"),
                "lineitem/type": kind,
                "resource/account": account,
                "resource/id": resource_id,
                "resource/region": region,
                "resource/service": service,
                "resource/tag:cost_center": record["cost_center"].strip(),
                "resource/tag:env": record["env"].strip(),
                "resource/tag:team": record["team"].strip(),
                "time/usage_start": hour,
            }
            row = {name: value for name, value in row.items() if value}  # empty: left out
            # The CBF rules the adaptor checks before sending.
            tagged = any(name.startswith("resource/tag:") for name in row)
            if (
                not hour_pattern.match(hour)
                or kind not in line_item_types
                or (tagged and not row.get("resource/id"))
            ):
                raise SystemExit(f"row {number} breaks a CBF rule: {row}")
            total += cost
            rows += 1
            by_hour.setdefault(hour, []).append(
                json.dumps(row, separators=(",", ":"), sort_keys=True)
            )
    phases.mark("read_map_validate")
    hours = sorted(by_hour)
    sizes = [sum(len(line) + 1 for line in by_hour[hour]) for hour in hours]
    payloads = [
        body(index, ",".join(line for hour in hours[group] for line in by_hour[hour]))
        for index, group in enumerate(hour_groups(hours, sizes))
    ]
    phases.mark("bodies")
    write_bodies(out, payloads)
    phases.mark("write")
    return {
        "rows": rows,
        "bodies": len(payloads),
        "bytes": sum(map(len, payloads)),
        "total": str(total),
        **phases.report(),
    }


def bare(source_file: Path, out: Path) -> dict:
    """The obvious polars job, for reference: the same rows built with column expressions
    (empty values left out) and joined into bodies one after another, with none of the
    adaptor's checks (no trimming, no
    decimal or CBF rules, no cost conservation, no escaping of JSON text, no lineage; an hour
    too large for one body stops it instead of being split). The hour is cut from the date text rather than read as a time in
    a zone, and every id gets the service prefix: right only because the benchmark's export is
    clean UTC text in one format."""
    phases = Phases()
    import polars as pl

    phases.mark("import")
    source = pl.read_csv(source_file, infer_schema=False)
    phases.mark("read")
    service, account, region = pl.col("service"), pl.col("account"), pl.col("region")
    date = pl.col("date")
    cbf = (
        source.select(
            pl.col("amount").alias("cost/cost"),
            pl.col("charge_type")
            .replace_strict({"usage": "Usage", "tax": "Tax", "credit": "Credit"})
            .alias("lineitem/type"),
            account.alias("resource/account"),
            # The template's "/" always needs the service prefix (see `plain`); these services are safe text.
            pl.concat_str(service, account, service, region, separator="/").alias("resource/id"),
            region.alias("resource/region"),
            service.alias("resource/service"),
            pl.col("cost_center").alias("resource/tag:cost_center"),
            pl.col("env").alias("resource/tag:env"),
            pl.col("team").alias("resource/tag:team"),
            pl.concat_str(
                date.str.slice(0, 10), pl.lit("T"), date.str.slice(11, 2), pl.lit(":00:00Z")
            ).alias("time/usage_start"),
        )
        .filter(pl.col("time/usage_start").str.starts_with(MONTH))
        .sort("time/usage_start", maintain_order=True)
    )
    phases.mark("map")
    members = [
        pl.when(pl.col(name) != "").then(pl.concat_str(pl.lit(f'"{name}":"'), name, pl.lit('"')))
        for name in cbf.columns
    ]  # null where the value is null or ""
    rows = cbf.select(
        pl.concat_str(
            pl.lit("{"), pl.concat_str(members, separator=",", ignore_nulls=True), pl.lit("}")
        ).alias("json"),
        pl.col("time/usage_start").alias("hour"),
    )
    hours = rows.group_by("hour", maintain_order=True).agg(
        pl.len(), (pl.col("json").str.len_bytes() + 1).sum().alias("size")
    )
    names, counts, sizes = (
        (list(c) for c in zip(*hours.iter_rows())) if hours.height else ([], [], [])
    )
    starts = [0, *accumulate(counts)]
    payloads = [
        body(
            index,
            rows.slice(starts[g.start], starts[g.stop] - starts[g.start])
            .select(pl.col("json").str.join(","))
            .item(),
        )
        for index, g in enumerate(hour_groups(names, sizes))
    ]
    phases.mark("bodies")
    write_bodies(out, payloads)
    phases.mark("write")
    return {
        "rows": rows.height,
        "bodies": len(payloads),
        "bytes": sum(map(len, payloads)),
        "total": None,
        **phases.report(),
    }


def floor(source_file: Path, out: Path, size: int) -> dict:
    """Only the unavoidable: read the source file and write `size` bytes."""
    phases = Phases()
    data = source_file.read_bytes()
    phases.mark("read")
    out.mkdir(parents=True, exist_ok=True)
    view = memoryview(data)
    with open(out / "floor.bin", "wb") as handle:
        left = size
        while left > 0:
            part = view[: min(left, len(view))]
            handle.write(part)
            left -= len(part)
    phases.mark("write")
    return {"rows": 0, "bodies": 0, "bytes": size, "total": None, **phases.report()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("route", choices=["project", "plain", "bare", "floor"])
    parser.add_argument("source", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--bytes", type=int, default=0, help="floor only: how many bytes to write")
    args = parser.parse_args(argv)
    if args.route == "project":
        result = project(args.source, args.out)
    elif args.route == "plain":
        result = plain(args.source, args.out)
    elif args.route == "bare":
        result = bare(args.source, args.out)
    else:
        result = floor(args.source, args.out, args.bytes)
    result["seconds_in_process"] = round(time.perf_counter() - STARTED, 4)
    result["peak_mb"] = own_peak_mb()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.exit(main())
