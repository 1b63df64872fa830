"""`anycost overlaps`: the cost of a month that is also in another source or connection, or that
another party invoices, for each connection; nothing is sent."""

from anycost_pipeline.cli.common import (
    progress,
    require_connection,
    require_partition_months,
    say,
)
from anycost_pipeline.config import load_config
from anycost_pipeline.delivery import combined
from anycost_pipeline.months import Month
from anycost_pipeline.overlap import find_overlaps
from anycost_pipeline.sources.reads import without_read


def overlaps(months: list[str], connections: list[str]) -> int:
    """Print what each connection's month shares with other places, as its `no_double_count`
    check would see it (other connections as their sources hold the month now). Exit 0 when
    nothing is found, 2 when something is."""
    from anycost_pipeline.defs.in_memory import source_cbf

    config = load_config()
    for name in connections:
        require_connection(config, name)
    months = [str(Month.parse(m)) for m in months]
    require_partition_months(config, months)
    sending = [c for c in config.connections if config.sources_of(c)]
    chosen = connections or sending
    found_any = False
    for month in months:
        progress(f"{month}: reading sources and converting them to CBF")
        sources = sorted(s for c in sending for s in config.sources_of(c))
        frames = {s: without_read(f) for s, f in source_cbf(config, sources, month)[0].items()}
        by_connection = {c: {s: frames[s] for s in sorted(config.sources_of(c))} for c in sending}
        for connection in chosen:
            settings = config.overlap_of(connection)
            if settings.mode == "off":
                say(f"{month} {connection}: not looked at (overlap.mode: off)")
                continue
            others = {
                f"connection {c}": combined(own, list(own))
                for c, own in by_connection.items()
                if c != connection
            }
            found = find_overlaps(by_connection[connection], others, settings)
            if not found:
                say(f"{month} {connection}: no cost found anywhere else")
                continue
            found_any = True
            say(
                f"{month} {connection}: {len(found):,} possible double count(s) "
                f"(overlap.mode: {settings.mode})"
            )
            for overlap in found:
                say(f"  {overlap.line}")
    if found_any:
        say()
        say(
            "Remove the cost from one of the places, or list the pair under `overlap.allow` in "
            "anycost.yaml once you know it is not counted twice."
        )
    return 2 if found_any else 0
