"""`anycost dry-run` and `anycost delete-month`: the exact requests, without sending or on purpose."""

import json
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from anycost_pipeline.cbf.bodies import REPLACE_DROP, month_bodies
from anycost_pipeline.cbf.columns import COST, USAGE_START
from anycost_pipeline.cli.common import (
    CliError,
    connection_id,
    open_client,
    progress,
    require_connection,
    say,
    where,
)
from anycost_pipeline.cloudzero.errors import MonthOverLimit
from anycost_pipeline.cloudzero.journal import CLEARED
from anycost_pipeline.cloudzero.submit import Limits, check_limits
from anycost_pipeline.config import load_config
from anycost_pipeline.connection_state import journal_of
from anycost_pipeline.defs.changes import stored_drop_path
from anycost_pipeline.defs.in_memory import month_from_sources
from anycost_pipeline.delivery import MonthRefused
from anycost_pipeline.figures import counted
from anycost_pipeline.months import Month

CONFIRM_FLAG = "--yes-delete-month"


def dry_run(month: str, out: str | None, connections: list[str], validate: bool | None) -> int:
    """Write, per connection, the request bodies a submission of the month would send.

    The bodies come from the same code path as drop/<connection> (the project's raw and cbf
    assets, combined per connection, cut by cbf.bodies.plan_bodies), so they are byte for byte
    what a real submission sends. With validation on (the default for the live target) each body
    is also checked by the target's validate endpoint, which stores nothing.
    """
    config = load_config()
    month = str(Month.parse(month))
    for name in connections:
        require_connection(config, name)
    chosen = connections or list(config.connections)
    folder = Path(out) if out else config.storage_path / "dry-run" / month
    validate = config.cloudzero.target == "live" if validate is None else validate
    limits = Limits(config.cloudzero.limits.rows_per_month, config.cloudzero.limits.bytes_per_month)
    invalid = refused = 0
    for number, connection in enumerate(chosen, start=1):
        progress(
            f"[{number}/{len(chosen)}] {connection}: reading sources and converting {month} to CBF"
        )
        target = folder / connection
        for stale in target.glob("body-*.json"):  # an earlier dry run's bodies are not these
            stale.unlink()
        try:
            # The same decision as drop/<connection>: what it would refuse, no body is written for.
            sending = month_from_sources(config, connection, month)
        except MonthRefused as refusal:
            say(f"{connection}: `anycost run {month}` would refuse this month: {refusal}")
            say(f"  No request body was written for {connection}.")
            refused += 1
            continue
        if sending.empty:
            say(
                f"{connection}: the sources hold no rows for {month}. `anycost run {month}` sends "
                "nothing unless this adaptor sent the month before, in which case it empties it "
                f"in CloudZero (`anycost plan {month}` says which)."
                + (
                    f" It would not: {sending.evidence.kept_because}"
                    if sending.evidence.kept_because
                    else ""
                )
            )
            say(f"  No request body was written for {connection}.")
            continue
        cbf, bodies = sending.cbf, sending.bodies
        cid = connection_id(config, connection)
        target.mkdir(parents=True, exist_ok=True)
        manifest = []
        for index, body in enumerate(bodies):  # built one at a time, written, let go
            name = f"body-{index + 1:03d}-{body.operation}.json"
            (target / name).write_bytes(body.payload)
            manifest.append(
                {
                    "file": name,
                    "operation": body.operation,
                    "rows": body.rows,
                    "bytes": len(body.payload),
                    "first_hour": body.first_hour,
                    "last_hour": body.last_hour,
                    "sha256": body.sha256,
                }
            )
        (target / "manifest.json").write_text(
            json.dumps(
                {
                    "connection": connection,
                    "connection_id": cid,
                    "month": month,
                    "rows": cbf.height,
                    "content_hash": bodies.content_hash,
                    "bodies": manifest,
                },
                indent=2,
            )
            + "\n"
        )
        say(
            f"{connection} ({cid}), {month}: {counted(cbf.height, 'row')} in {counted(len(bodies), 'body')} → {target}"
        )
        for entry in manifest:
            say(f"   {entry['file']:36} rows={entry['rows']:<8,} bytes={entry['bytes']:,}")
        try:  # the sources of a connection pass their own checks, yet may be too large together
            check_limits(month, cbf.height, bodies.bytes, limits)
        except MonthOverLimit as error:
            refused += 1
            say(f"   WOULD BE REFUSED: {error}")
            continue
        if validate:
            progress(
                f"asking {where(config)} to validate {counted(len(bodies), 'body')}; nothing is stored"
            )
            with open_client(config) as client:
                for entry, body in zip(manifest, bodies):
                    verdict = client.validate_billing_drop(body.payload)
                    if verdict.get("is_valid"):
                        say(f"   {entry['file']:36} valid")
                    else:
                        invalid += 1
                        errors = "; ".join(map(str, verdict.get("errors", [])))
                        say(f"   {entry['file']:36} INVALID: {errors}")
    written = sorted(folder.glob("*/body-*.json")) if folder.exists() else []
    say(
        "\nNothing was sent. "
        + (f"The bodies are in {folder}." if written else "No body was written.")
    )
    if refused:
        say(
            f"{counted(refused, 'connection')} would be refused (see above); a real run sends nothing "
            f"for {'it' if refused == 1 else 'them'}."
        )
    if invalid:
        say(
            f"{counted(invalid, 'body')} {'was' if invalid == 1 else 'were'} refused by the validate endpoint; fix the rows it names before sending."
        )
    return 1 if invalid or refused else 0


def delete_month(connection: str, month: str, confirmed: bool) -> int:
    """Empty a month in CloudZero with an empty `replace_drop`, only when explicitly confirmed."""
    config = load_config()
    require_connection(config, connection)
    month = str(Month.parse(month))
    cid = connection_id(config, connection)
    with open_client(config, cid) as client:
        held = client.month_drops(cid, month).ours
        rows = held.row_count if held else 0
        if not confirmed:
            raise CliError(
                f"refusing to empty {month} on connection {connection} ({cid}) in {where(config)}, "
                f"which holds {rows:,} rows; run again with {CONFIRM_FLAG} if that is what you want."
            )
        # The month as last sent goes first: it is what gone rows are carried forward from
        # (`gone_rows`), and the month is to hold only what the sources hold from now on.
        # Should the emptying fail, no copy tells which rows came from gone files: a run then
        # keeps a month that would hold fewer rows than CloudZero does (`gone_rows`).
        stored_drop_path(config, connection, month).unlink(missing_ok=True)
        empty = pl.DataFrame(schema={USAGE_START: pl.String, COST: pl.String})
        (body,) = month_bodies(empty, month, operation=REPLACE_DROP)
        progress(f"sending an empty replace_drop for {month} to {where(config)}")
        receipt = client.submit_month(cid, month, [(body.operation, body.payload, 0)])
        after = client.month_drops(cid, month, receipt.bodies[0].drop_id).ours
        left = after.row_count if after else 0
        # The month's earlier submissions end here: the next run sends the whole month anew
        # (new idempotency keys), never continues one whose bodies CloudZero no longer holds.
        journal = journal_of(config, cid)
        journal.journal.record(
            journal.destination,
            cid,
            month,
            {
                "state": CLEARED,
                "content_hash": "",
                "operation": REPLACE_DROP,
                "rows": 0,
                "acknowledged": [],
                "drop_ids": [receipt.bodies[0].drop_id],
                "reported_rows": left,
                "sent_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "by": "anycost delete-month",
            },
        )
    say(
        f"{month} on connection {connection} ({cid}) emptied: {counted(rows, 'row')} before, {left:,} now "
        f"(drop {receipt.bodies[0].drop_id})."
    )
    say(
        "The adaptor's journal records the month as emptied: the next `anycost run` of the month "
        "sends it whole again if the sources hold rows for it (`anycost plan` shows what it "
        "would do), and the reconciliation check on drop/"
        + connection
        + " reports the difference until then."
    )
    return 0 if left == 0 else 1
