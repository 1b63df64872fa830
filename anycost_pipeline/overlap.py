"""The same cost counted twice: what a connection's month shares with its other sources or with
another connection's month, and the charges that another party invoices.

Four findings, each with its rows and exact cost on both sides:
- *same invoice*: one `bill/invoice_id` in two sources (or a source and another connection);
- *same resource hour*: one `resource/id` in one hour, in two places, at costs within 0.5 %;
- *invoiced by another party*: the invoice issuer is not the provider and the billed cost is
  not zero (FOCUS: the party that does not invoice a charge reports it at BilledCost 0, so
  a charge that is not probably sits on the issuer's bill too, e.g. a marketplace purchase);
- *native platform*: the issuer (or, without one, the provider) is a platform the user
  declared CloudZero already ingests natively (`overlap.native`).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

import polars as pl

from anycost_pipeline.cbf import decimals
from anycost_pipeline.cbf.columns import COST, RESOURCE_ID, USAGE_START
from anycost_pipeline.config.overlap import NATIVE_NAMES, OverlapConfig
from anycost_pipeline.config.sources import AnySource
from anycost_pipeline.figures import shown

INVOICE_ID = "bill/invoice_id"
CLOUD_PROVIDER = "lineitem/cloud_provider"
ISSUER = "_issuer"  # the row's invoice issuer, from the source's `issuer_column`
PROVIDER = "_provider"  # the row's provider, from the source's `provider_column`
CLOSE = Decimal("0.005")
ZERO = r"^-?0*\.?0*$"  # plain decimal text of zero: 0, 0.00, -0.0  # two costs of one resource hour this close are one charge twice

SAME_INVOICE = "same invoice"
SAME_RESOURCE_HOUR = "same resource hour"
OTHER_ISSUER = "invoiced by another party"
NATIVE = "native platform"


@dataclass(frozen=True)
class Overlap:
    """One finding: `first` (a source of the connection) shares `key` with `second` (another
    source, `connection NAME`, or who invoices it); rows and exact cost on each side."""

    kind: str
    first: str
    second: str
    key: str
    rows: tuple[int, int]
    cost: tuple[Decimal, Decimal]

    @property
    def line(self) -> str:
        """The finding in one sentence."""
        here = f"{self.rows[0]:,} row(s), cost {shown(self.cost[0])} in {self.first}"
        if self.kind in (OTHER_ISSUER, NATIVE):
            return f"{self.kind}: {self.first} has {self.key} ({here})"
        there = f"{self.rows[1]:,} row(s), cost {shown(self.cost[1])} in {self.second}"
        return f"{self.kind}: {self.first} and {self.second} share {self.key} ({here}; {there})"


def overlap_table(found: list[Overlap], limit: int = 50) -> str:
    """The findings as a markdown table (the first `limit`)."""
    lines = [
        "| finding | source | shared with | what | rows | cost | rows there | cost there |",
        "|---|---|---|---|---:|---:|---:|---:|",
    ]
    for f in found[:limit]:
        there = (
            ("", "") if f.kind in (OTHER_ISSUER, NATIVE) else (f"{f.rows[1]:,}", shown(f.cost[1]))
        )
        lines.append(
            f"| {f.kind} | {f.first} | {f.second} | {f.key} | {f.rows[0]:,} | "
            f"{shown(f.cost[0])} | {there[0]} | {there[1]} |"
        )
    if len(found) > limit:
        lines.append(f"\n_and {len(found) - limit:,} more_")
    return "\n".join(lines)


def with_parties(cbf: pl.DataFrame, raw: pl.DataFrame, source: AnySource) -> pl.DataFrame:
    """The CBF frame with each row's invoice issuer and provider (`_issuer`, `_provider`), read
    from the source's `issuer_column` and `provider_column` through the rows' lineage; the frame
    unchanged when the export has neither."""
    picked = {
        name: next((c for c in columns if c in raw.columns), None)
        for name, columns in ((ISSUER, source.issuer_column), (PROVIDER, source.provider_column))
    }
    chosen = {name: column for name, column in picked.items() if column is not None}
    lineage = ["_source_file", "_source_row"]
    if not chosen or cbf.is_empty() or not set(lineage) <= set(raw.columns) & set(cbf.columns):
        return cbf
    parties = raw.select(
        *lineage, *[pl.col(c).cast(pl.String).alias(name) for name, c in chosen.items()]
    )
    return cbf.join(parties, on=lineage, how="left", maintain_order="left")


def find_overlaps(
    own: Mapping[str, pl.DataFrame],
    others: Mapping[str, pl.DataFrame],
    settings: OverlapConfig,
) -> list[Overlap]:
    """What the month of a connection's sources (`own`, by source) shares with each other and
    with `others` (other places' frames of the month, by label, e.g. `connection NAME`), and
    its charges invoiced elsewhere; allowed overlaps left out."""
    if settings.mode == "off":
        return []
    places = {**own, **others}
    found = [
        *_shared(places, set(own), [INVOICE_ID], SAME_INVOICE, _invoice_key),
        *_shared(places, set(own), [RESOURCE_ID, USAGE_START], SAME_RESOURCE_HOUR, _hour_key),
    ]
    for name, frame in own.items():
        found += _invoiced_elsewhere(name, frame, settings.native)
    return [f for f in found if not _allowed(f, settings)]


def _costs() -> pl.Expr:
    """The cost column as plain decimal text (as CBF frames hold it), for exact sums."""
    return decimals.plain(pl.col(COST))


def _sums(keys: pl.DataFrame, costs: pl.Series) -> dict[tuple, tuple[int, Decimal]]:
    """(rows, exact cost) for each distinct row of `keys`."""
    joined = pl.Series(
        "key", ["\x1f".join(map(str, row)) for row in keys.iter_rows()], dtype=pl.String
    )
    return {
        tuple(str(key).split("\x1f")): (rows, total)
        for key, rows, total in decimals.exact_sums_by(joined, costs)
    }


def _shared(
    places: Mapping[str, pl.DataFrame],
    own: set[str],
    columns: list[str],
    kind: str,
    describe,  # type: ignore[no-untyped-def]
) -> list[Overlap]:
    """Keys (values of `columns`) found in two places, at least one of them the connection's."""
    present = {
        name: frame.filter(pl.all_horizontal(pl.col(c).is_not_null() for c in columns))
        for name, frame in places.items()
        if set(columns) <= set(frame.columns) and not frame.is_empty()
    }
    if len(present) < 2:
        return []
    # Only keys in two places are summed: a month of a million rows shares few, if any.
    seen = pl.concat(
        [
            f.select(columns).unique().with_columns(pl.lit(n).alias("_place"))
            for n, f in present.items()
        ]
    )
    twice = (
        seen.group_by(columns).agg(pl.col("_place").n_unique().alias("_n")).filter(pl.col("_n") > 1)
    )
    if twice.is_empty():
        return []
    sums: dict[str, dict[tuple, tuple[int, Decimal]]] = {}
    for name, frame in present.items():
        shared = frame.join(twice.select(columns), on=columns, how="semi")
        if shared.height:
            sums[name] = _sums(shared.select(columns), shared.select(_costs()).to_series())
    names = sorted(sums, key=lambda n: (n not in own, n))
    found = []
    for i, first in enumerate(names):
        if first not in own:
            continue
        for second in names[i + 1 :]:
            common = sorted(set(sums[first]) & set(sums[second]))
            if kind == SAME_RESOURCE_HOUR:
                common = [k for k in common if _close(sums[first][k][1], sums[second][k][1])]
            found += describe(first, second, common, sums[first], sums[second])
    return found


def _close(a: Decimal, b: Decimal) -> bool:
    """Two non-zero costs within 0.5 % of the larger: the same charge, twice."""
    if a == 0 or b == 0:
        return False
    return abs(a - b) <= CLOSE * max(abs(a), abs(b))


def _invoice_key(first: str, second: str, keys: list[tuple], a: dict, b: dict) -> list[Overlap]:
    return [
        Overlap(
            SAME_INVOICE,
            first,
            second,
            f"invoice {key[0]}",
            (a[key][0], b[key][0]),
            (a[key][1], b[key][1]),
        )
        for key in keys
    ]


def _hour_key(first: str, second: str, keys: list[tuple], a: dict, b: dict) -> list[Overlap]:
    """One finding per resource, over all the hours it is in both places."""
    by_resource: dict[str, list[tuple]] = {}
    for key in keys:
        by_resource.setdefault(key[0], []).append(key)
    return [
        Overlap(
            SAME_RESOURCE_HOUR,
            first,
            second,
            f"resource {resource} in {len(hours):,} hour(s) from {hours[0][1]}",
            (sum(a[k][0] for k in hours), sum(b[k][0] for k in hours)),
            (sum((a[k][1] for k in hours), Decimal(0)), sum((b[k][1] for k in hours), Decimal(0))),
        )
        for resource, hours in sorted(by_resource.items())
    ]


def _invoiced_elsewhere(name: str, frame: pl.DataFrame, native: list[str]) -> list[Overlap]:
    """The source's non-zero charges invoiced by another party than their provider, and those
    invoiced by (or, without an issuer, provided by) a platform declared native."""
    if frame.is_empty():
        return []
    issuer = pl.col(ISSUER) if ISSUER in frame.columns else pl.lit(None, dtype=pl.String)
    provider = next(
        (pl.col(c) for c in (PROVIDER, CLOUD_PROVIDER) if c in frame.columns),
        pl.lit(None, dtype=pl.String),
    )
    parties = frame.select(
        issuer.str.strip_chars().alias("issuer"),
        provider.str.strip_chars().alias("provider"),
        _costs().alias("cost"),
    ).filter(pl.col("cost").is_not_null())
    parties = parties.filter(~pl.col("cost").str.contains(ZERO))
    if parties.is_empty():
        return []
    found = []
    other = parties.filter(
        pl.col("issuer").is_not_null()
        & pl.col("provider").is_not_null()
        & (pl.col("issuer").str.to_lowercase() != pl.col("provider").str.to_lowercase())
    )
    if other.height:
        for (who, what), (rows, total) in _sums(
            other.select("issuer", "provider"), other.get_column("cost")
        ).items():
            found.append(
                Overlap(
                    OTHER_ISSUER,
                    name,
                    f"issuer {who}",
                    f"charges provided by {what!r} and invoiced by {who!r}",
                    (rows, 0),
                    (total, Decimal(0)),
                )
            )
    if native:
        billed = parties.select(pl.coalesce("issuer", "provider").alias("party"), "cost").filter(
            pl.col("party").is_not_null()
        )
        for (party,), (rows, total) in _sums(
            billed.select("party"), billed.get_column("cost")
        ).items():
            platform = native_platform(party, native)
            if platform is not None:
                found.append(
                    Overlap(
                        NATIVE,
                        name,
                        f"issuer {party}",
                        f"charges invoiced by {party!r}, which CloudZero ingests natively "
                        f"({platform})",
                        (rows, 0),
                        (total, Decimal(0)),
                    )
                )
    return found


def native_platform(party: str, native: list[str]) -> str | None:
    """The declared native platform `party` (an invoice issuer or provider) names, if any."""
    name = party.strip().lower()
    for platform in native:
        for spelling in NATIVE_NAMES[platform]:
            if name == spelling or (
                name.startswith(spelling) and not name[len(spelling)].isalnum()
            ):
                return platform
    return None


def _allowed(found: Overlap, settings: OverlapConfig) -> bool:
    """Whether an `allow:` entry acknowledges the finding."""
    second = found.second.removeprefix("connection ").removeprefix("issuer ")
    for allowed in settings.allow:
        if (
            allowed.sources
            and {found.first, second} == set(allowed.sources)
            and found.kind in (SAME_INVOICE, SAME_RESOURCE_HOUR)
        ):
            return True
        if (
            allowed.source == found.first
            and allowed.issuer is not None
            and found.kind in (OTHER_ISSUER, NATIVE)
            and allowed.issuer.strip().lower() == second.strip().lower()
        ):
            return True
    return False
