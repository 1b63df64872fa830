"""Months whose request bodies are kept as fixtures (`fixtures/bodies/expected.json`), so that any
change to how bodies are written shows up as a changed byte.

The months hold values that need JSON escaping, hours larger than a body, rows out of time
order, a null hour, empty and absent values, a categorical column and lineage columns; each is
cut with several operations and body sizes. `python -m anycost_pipeline_tests.cbf.body_months`
writes the fixture from the bodies the installed code makes.
"""

import hashlib
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path

import polars as pl

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "bodies" / "expected.json"
MONTH = "2024-08"
# Bodies of months smaller than this are kept whole in the fixture (for a readable diff); of
# larger months only their size and SHA-256.
KEEP_BYTES = 20_000

TRICKY = [
    'a "quoted" \\ back',
    "new\nline\ttab\r",
    "\x01\x1f control \x7f",
    "é ü 😀 \u2028 \u2029",
    "",
    None,
    "x/y:z",
    "</script>",
    "\\",
    '"',
]


def _hour(h: int) -> str:
    return f"2024-08-{1 + h // 24:02d}T{h % 24:02d}:00:00Z"


def escapes() -> pl.DataFrame:
    """30 hours of 7 rows (hour 3: 40), values needing escapes in text and tags, reversed."""
    rows = [
        (_hour(h), f"{i}.5", TRICKY[i % len(TRICKY)], TRICKY[(i * 3) % len(TRICKY)])
        for h in range(30)
        for i in range(h * 7, h * 7 + (40 if h == 3 else 7))
    ]
    start, cost, text, tag = zip(*rows)
    return pl.DataFrame(
        {
            "time/usage_start": start,
            "cost/cost": cost,
            "lineitem/description": text,
            "resource/id": [f"r/{i}" for i in range(len(start))],
            "resource/tag:owner": tag,
            "_source_file": ["export.csv"] * len(start),
            "_source_row": list(range(2, len(start) + 2)),
        }
    ).reverse()


def big_hours() -> pl.DataFrame:
    """A first hour and a middle hour each far larger than the small bodies they are cut into."""
    counts = [120, 3, 5, 200, 1, 9]
    rows = [
        (_hour(h), f"-{h}.{i:03d}", f"svc-{i % 4}") for h, n in enumerate(counts) for i in range(n)
    ]
    start, cost, service = zip(*rows)
    return pl.DataFrame(
        {"time/usage_start": start, "cost/cost": cost, "resource/service": service}
    ).with_columns(pl.col("resource/service").cast(pl.Categorical))


def sparse() -> pl.DataFrame:
    """FOCUS-like: amounts and tags absent (null or "") on some rows, a null hour, shuffled."""
    generator = random.Random(18)
    n = 400
    hours = [None if i % 97 == 0 else _hour(generator.randrange(48)) for i in range(n)]
    return pl.DataFrame(
        {
            "time/usage_start": hours,
            "cost/cost": [f"{generator.randrange(-500, 5000) / 100:.2f}" for _ in range(n)],
            "usage/amount": [
                generator.choice(["", None, "1", "0.000001", "12.5"]) for _ in range(n)
            ],
            "lineitem/type": [generator.choice(["Usage", "Tax", "Credit"]) for _ in range(n)],
            "resource/tag:env": [generator.choice(TRICKY) for _ in range(n)],
            "resource/id": [f"acct/{i % 13}" for i in range(n)],
        }
    )


def large() -> pl.DataFrame:
    """45,000 rows over 60 hours (hours of ~750 rows; one of 20,000): several default-size
    bodies, rows' JSON built over more than one chunk, and values needing escapes."""
    generator = random.Random(7)
    counts = [750] * 60
    counts[17] = 20_000
    rows = []
    for h, n in enumerate(counts):
        for i in range(n):
            rows.append(
                (
                    _hour(h),
                    f"{generator.randrange(10**9) / 10**6:.6f}",
                    f"svc-{i % 50}",
                    f"acct-{i % 200:04d}",
                    TRICKY[i % len(TRICKY)] if i % 5 == 0 else f"team-{i % 12}",
                )
            )
    start, cost, service, account, team = zip(*rows)
    return pl.DataFrame(
        {
            "time/usage_start": start,
            "cost/cost": cost,
            "resource/service": service,
            "resource/account": account,
            "resource/id": [f"{a}/{s}" for a, s in zip(account, service)],
            "resource/tag:team": team,
            "lineitem/description": [
                f"line {i} of a long description " * 3 for i in range(len(start))
            ],
        }
    )


def empty() -> pl.DataFrame:
    return pl.DataFrame(schema={"time/usage_start": pl.String, "cost/cost": pl.String})


MONTHS: dict[str, Callable[[], pl.DataFrame]] = {
    "escapes": escapes,
    "big_hours": big_hours,
    "sparse": sparse,
    "large": large,
    "empty": empty,
}
# (month, operation, target body size)
CASES = [
    (name, operation, target)
    for name in ("escapes", "big_hours", "sparse")
    for operation, target in [
        ("replace_drop", 5_000_000),
        ("replace_drop", 2_000),
        ("replace_hourly", 1_500),
        ("sum", 900),
        ("replace_drop", 700),
    ]
] + [
    ("large", "replace_drop", 4_500_000),
    ("large", "replace_hourly", 1_000_000),
    ("large", "sum", 250_000),
    ("empty", "replace_drop", 4_500_000),
]


def case_id(name: str, operation: str, target: int) -> str:
    return f"{name}-{operation}-{target}"


def described(bodies: list, keep: bool) -> dict:
    """What the fixture keeps of a month's bodies: every body's operation, rows, hours, size
    and SHA-256, the payloads themselves for small months, and the month's content hash."""
    digest = hashlib.sha256()
    listed = []
    for body in bodies:
        digest.update(body.payload)
        entry = {
            "operation": body.operation,
            "rows": body.rows,
            "first_hour": body.first_hour,
            "last_hour": body.last_hour,
            "bytes": len(body.payload),
            "sha256": hashlib.sha256(body.payload).hexdigest(),
        }
        if keep:
            entry["payload"] = body.payload.decode("utf-8")
        listed.append(entry)
    return {"bodies": listed, "content_hash": digest.hexdigest()}


def main() -> None:
    from anycost_pipeline.cbf.bodies import month_bodies

    expected = {}
    for name, operation, target in CASES:
        bodies = month_bodies(MONTHS[name](), MONTH, operation=operation, target_bytes=target)
        keep = sum(len(b.payload) for b in bodies) <= KEEP_BYTES
        expected[case_id(name, operation, target)] = described(list(bodies), keep)
    FIXTURE.write_text(json.dumps(expected, indent=1, ensure_ascii=True) + "\n")
    print(f"wrote {len(expected)} months' bodies to {FIXTURE}", file=sys.stderr)


if __name__ == "__main__":
    main()
