"""One campaign scenario, drawn from a seed: the same seed always draws the same scenario."""

import csv
import random
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import yaml

MONTH = "2024-08"
CONNECTION_ID = "conn-campaign"
OPERATIONS = ("replace_drop", "replace_hourly", "sum")
# Values that need JSON escaping, non-ASCII text and CSV quoting.
AWKWARD = ('svc "quoted"', "back\\slash", "tab\there", "naïve ünïcode", "emoji 💸", "comma, inside")
TIMEOUT_SECONDS = 1.0  # the client's (cloudzero.timeout_seconds)
FAULT_KINDS = ("error_rate", "lost_rate", "throttle_rate", "slow_rate", "read_error_rate")


@dataclass(frozen=True)
class Source:
    """One source of the connection: its rows as (hour, service, amount, account)."""

    name: str
    rows: tuple[tuple[int, str, str, str], ...]

    @property
    def total(self) -> Decimal:
        return sum((Decimal(r[2]) for r in self.rows), Decimal(0))


@dataclass(frozen=True)
class Scenario:
    """Everything one seed decides: the month, the connection, the faults and the kills."""

    seed: int
    operation: str
    body_bytes: int
    sources: tuple[Source, ...]
    faults: dict[str, float] = field(default_factory=dict)
    kill_after: int | None = None  # SIGKILL the first run once this many bodies are applied
    restart_after: int | None = None  # stop and restart the server once this many are applied
    bad_row: bool = False  # one value that cannot be read: nothing may be sent until it is fixed
    # One resource id CloudZero would cut to nothing: the month fails its blocking rows_valid
    # check, and neither the run nor the drop materialised alone may send it until it is fixed.
    bad_check: bool = False

    @property
    def rows(self) -> int:
        return sum(len(s.rows) for s in self.sources)

    def expected(self) -> list[dict]:
        """The CBF rows CloudZero must hold: written from the generator, not from cbf/."""
        return [
            {
                "time/usage_start": f"2024-08-{1 + hour // 24:02d}T{hour % 24:02d}:00:00Z",
                "resource/service": service,
                "cost/cost": amount,
                "lineitem/type": "Usage",
                **({"resource/account": account} if account else {}),
                **({"resource/id": "vm-1"} if self.bad_check else {}),
            }
            for source in self.sources
            for hour, service, amount, account in source.rows
        ]

    def describe(self) -> str:
        faults = ", ".join(f"{k}={v:g}" for k, v in self.faults.items() if v) or "no faults"
        extra = [f"kill after body {self.kill_after}"] if self.kill_after else []
        extra += [f"server restart after body {self.restart_after}"] if self.restart_after else []
        extra += ["one unreadable value"] if self.bad_row else []
        extra += ["one id that fails rows_valid"] if self.bad_check else []
        return (
            f"{self.rows:,} rows in {len(self.sources)} source(s), {self.operation}, bodies of "
            f"{self.body_bytes:,} B, {faults}" + "".join(f", {e}" for e in extra)
        )


def _amount(rng: random.Random) -> str:
    digits = rng.choice((0, 2, 2, 6, 12))
    whole = rng.choice((0, rng.randrange(10), rng.randrange(10**6)))
    fraction = rng.randrange(10**digits) if digits else 0
    sign = "-" if rng.random() < 0.1 and (whole or fraction) else ""
    if not digits:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{fraction:0{digits}d}"


def draw(seed: int) -> Scenario:
    """The scenario of a seed."""
    rng = random.Random(seed)
    operation = OPERATIONS[seed % 3] if seed < 3 else rng.choice(OPERATIONS)
    sources = []
    for index in range(rng.choice((1, 1, 2, 3))):
        size = (
            int(10 ** rng.uniform(0, 3.7)) if rng.random() < 0.97 else rng.randrange(20_000, 60_000)
        )
        hours = rng.randrange(1, 745)
        rows = tuple(
            (
                rng.randrange(hours),
                rng.choice(AWKWARD) if rng.random() < 0.2 else f"svc-{rng.randrange(20)}",
                _amount(rng),
                "" if rng.random() < 0.1 else f"acct-{rng.randrange(9)}",
            )
            for _ in range(size)
        )
        sources.append(Source(f"vendor_{index}", rows))
    rows = sum(len(s.rows) for s in sources)
    # About 1 to 40 bodies: small months get small bodies, so most scenarios have several.
    body_bytes = max(2_000, min(4_500_000, int(rows * 130 / rng.uniform(1, 40))))
    faults: dict[str, float] = {}
    for kind in FAULT_KINDS:
        if rng.random() < 0.4:
            faults[kind] = round(rng.uniform(0.02, 0.3 if kind != "lost_rate" else 0.1), 2)
    estimated_bodies = max(1, rows * 130 // body_bytes)
    kill_after = rng.randrange(1, estimated_bodies + 1) if rng.random() < 0.3 else None
    restart_after = rng.randrange(1, estimated_bodies + 1) if rng.random() < 0.2 else None
    return Scenario(
        seed, operation, body_bytes, tuple(sources), faults, kill_after, restart_after,
        bad_row=rng.random() < 0.08,
        # Drawn last, so every earlier draw of a seed stays what it was.
        bad_check=rng.random() < 0.08,
    )  # fmt: skip


def write_project(
    scenario: Scenario, root: Path, *, with_bad_row: bool, with_bad_check: bool = False
) -> Path:
    """The scenario as a user's project: one CSV export per source and its anycost.yaml."""
    sources = {}
    for source in scenario.sources:
        folder = root / "exports" / source.name
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "month.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["time", "service", "amount", "account", "rid"])
            for number, (hour, service, amount, account) in enumerate(source.rows):
                first = source is scenario.sources[0] and number == 0
                if with_bad_row and first:
                    amount = "12,50"  # a decimal comma: a value the mapping cannot read
                rid = "arn:" if with_bad_check and first else "vm-1"
                time = f"2024-08-{1 + hour // 24:02d}T{hour % 24:02d}:00:00Z"
                writer.writerow([time, service, amount, account, rid])
        sources[source.name] = {
            "connection": "main",
            "kind": "files",
            "path": f"exports/{source.name}/*.csv",
            "format": "csv",
            "columns": {
                "time/usage_start": "time",
                "cost/cost": "amount",
                "resource/service": "service",
                "resource/account": "account",
                **({"resource/id": "rid"} if scenario.bad_check else {}),
            },
            **({"resource_id_encoding": "none"} if scenario.bad_check else {}),
        }
    config = {
        "storage": ".anycost",
        "start_month": "2024-01",
        "cloudzero": {
            "target": "live",
            "limits": {"body_bytes": scenario.body_bytes},
            # Slow answers take 2.2 s: the client gives up after 1 s and must wait them out
            # before it sends the write again (it waits one timeout more, then reads).
            "timeout_seconds": TIMEOUT_SECONDS,
            "request_budget_seconds": 120.0,
        },
        "connections": {"main": {"connection_id": CONNECTION_ID, "operation": scenario.operation}},
        "sources": sources,
    }
    path = root / "anycost.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path
