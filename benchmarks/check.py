"""The exactness check: two sets of request bodies hold the same rows and the same cost, exactly.

Rows are compared as multisets: every row is reduced to a 16-byte digest of its sorted
(column, value) pairs, and the sorted digests of both sides must be equal. Costs are summed as
`decimal.Decimal`, never as floats. A row holding an empty value is a problem: CloudZero's
amount pattern refuses `""`, so bodies leave empty values out.
"""

import hashlib
import json
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

BODY_LIMIT = 4_500_000


@dataclass
class Fingerprint:
    """What one side's bodies hold."""

    rows: int = 0
    total: Decimal = Decimal(0)
    digests: bytes = b""  # sorted 16-byte row digests
    problems: list[str] = field(default_factory=list)


def fingerprint(folder: Path, month: str) -> Fingerprint:
    """Read every body in `folder` (in name order) and summarise its rows exactly."""
    found = Fingerprint()
    digests: list[bytes] = []
    seen_hours: dict[str, int] = {}
    empty = 0  # rows with an empty value, which CloudZero refuses (bodies leave them out)
    paths = sorted(folder.glob("body-*.json"))
    if not paths:
        found.problems.append(f"no bodies in {folder}")
    for index, path in enumerate(paths):
        payload = path.read_bytes()
        if len(payload) > BODY_LIMIT:
            found.problems.append(f"{path.name} is {len(payload):,} bytes, over {BODY_LIMIT:,}")
        body = json.loads(payload)
        operation = body.get("operation")
        allowed = ("replace_drop",) if index == 0 else ("replace_hourly", "sum")
        if body.get("month") != month or operation not in allowed:
            found.problems.append(
                f"{path.name}: month {body.get('month')!r}, operation {operation!r}"
            )
        for row in body["data"]:
            hour = row.get("time/usage_start", "")
            if operation != "sum" and seen_hours.setdefault(hour, index) != index:
                found.problems.append(
                    f"hour {hour} is split between bodies {seen_hours[hour]} and {index}"
                )
            empty += any(value in ("", None) for value in row.values())
            found.total += Decimal(row["cost/cost"])
            digests.append(
                hashlib.blake2b(repr(sorted(row.items())).encode(), digest_size=16).digest()
            )
        found.rows += len(body["data"])
    if empty:
        found.problems.append(f"{empty:,} rows hold an empty value")
    digests.sort()
    found.digests = b"".join(digests)
    found.problems = found.problems[:10]
    return found


@dataclass(frozen=True)
class Verdict:
    """The outcome of comparing the adaptor's bodies with the baseline's and the source."""

    passed: bool
    lines: list[str]


def compare(
    project: Path,
    baseline: Path,
    month: str,
    source_rows: int,
    source_total: Decimal,
    names: tuple[str, str] = ("(a)", "(b)"),
) -> Verdict:
    """Both sides must hold the source's rows and total, and exactly the same multiset of rows.
    `names` label the two sides in the verdict."""
    with ProcessPoolExecutor(max_workers=2) as pool:
        a_job, b_job = (
            pool.submit(fingerprint, project, month),
            pool.submit(fingerprint, baseline, month),
        )
        a, b = a_job.result(), b_job.result()
    lines: list[str] = []
    ok = True
    for name, side in zip(names, (a, b)):
        for problem in side.problems:
            ok = False
            lines.append(f"{name}: {problem}")
        if side.rows != source_rows or side.total != source_total:
            ok = False
            lines.append(
                f"{name}: {side.rows:,} rows, total {side.total}; the source has {source_rows:,} rows, total {source_total}"
            )
    if a.digests != b.digests:
        ok = False
        split = lambda blob: Counter(blob[i : i + 16] for i in range(0, len(blob), 16))  # noqa: E731
        only_a, only_b = split(a.digests) - split(b.digests), split(b.digests) - split(a.digests)
        lines.append(
            f"rows differ: {sum(only_a.values()):,} only in {names[0]}, {sum(only_b.values()):,} only in {names[1]}"
        )
    lines.insert(
        0,
        f"exactness: {'PASS' if ok else 'FAIL'}: {names[0]} and {names[1]} hold {a.rows:,} and {b.rows:,} rows, "
        f"totals {a.total} and {b.total}; source {source_rows:,} rows, total {source_total}; "
        f"row multisets {'identical' if a.digests == b.digests else 'DIFFERENT'}",
    )
    return Verdict(ok, lines)
