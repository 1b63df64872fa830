"""`anycost sandbox serve|show`: run the local sandbox, look at what it holds."""

import time
from decimal import Decimal

from anycost_pipeline.cli.common import CliError, require_connection, say
from anycost_pipeline.config import load_config
from anycost_pipeline.months import Month


def serve(port: int) -> int:
    """Run the sandbox on 127.0.0.1 over the project's sandbox state until Ctrl-C."""
    from anycost_pipeline.cloudzero.sandbox import start_sandbox

    config = load_config()
    try:
        server = start_sandbox(config.storage_path / "sandbox", port=port)
    except OSError as error:
        raise CliError(
            f"cannot listen on 127.0.0.1:{port} ({error.strerror}); choose another --port."
        ) from None
    say(
        f"CloudZero sandbox listening on {server.url} (state in {server.store.path}); Ctrl-C stops it."
    )
    say(
        f"Try: curl -H 'Authorization: any-key' {server.url}/v2/connections/billing/anycost/<connection id>/billing_drops"
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.close()
    return 0


def show(connection: str, month: str) -> int:
    """Print what the sandbox holds for a connection and month, totalled by line item type."""
    from anycost_pipeline.cbf.columns import COST, LINE_ITEM_TYPE
    from anycost_pipeline.cbf.decimals import EXACT
    from anycost_pipeline.cloudzero.sandbox import SandboxStore

    config = load_config()
    require_connection(config, connection)
    month = str(Month.parse(month))
    cid = config.connections[connection].resolve_id(connection, sandbox=True)
    store = SandboxStore(config.storage_path / "sandbox")
    rows = store.month_rows(cid, month)
    totals: dict[str, Decimal] = {}
    for row in rows:
        kind = row.get(LINE_ITEM_TYPE) or "Usage"
        totals[kind] = EXACT.add(totals.get(kind, Decimal(0)), Decimal(row.get(COST) or 0))
    say(f"Sandbox, connection {connection} ({cid}), {month}: {len(rows):,} rows")
    for kind, total in sorted(totals.items()):
        say(f"  {kind:12} {total}")
    grand = Decimal(0)
    for total in totals.values():
        grand = EXACT.add(grand, total)
    say(f"  {'total':12} {grand}")
    return 0
