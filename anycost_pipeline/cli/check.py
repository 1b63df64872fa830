"""`anycost check`: does the configured key reach each connection? Reads only, sends nothing."""

from anycost_pipeline.cli.common import connection_id, open_client, progress, say, where
from anycost_pipeline.cloudzero.check import ConnectionCheck, check_connection
from anycost_pipeline.config import ConfigError, load_config
from anycost_pipeline.figures import counted


def check() -> int:
    """One drop-list read per connection with the configured key; exit 1 when any fails."""
    config = load_config()
    say(
        f"Checking {counted(len(config.connections), 'connection')} at {where(config)}: one read of each "
        "drop list; nothing is sent."
    )
    verdicts: list[ConnectionCheck] = []
    for name in config.connections:
        progress(f"asking about connection {name}")
        try:
            cid = connection_id(config, name)
        except ConfigError as error:
            verdicts.append(ConnectionCheck(name, False, f"{error}."))
        else:
            with open_client(config, cid) as client:
                verdicts.append(check_connection(client, name, cid))
        say(f"  {name}: {verdicts[-1].text}")
    failed = [v for v in verdicts if not v.ok]
    if failed:
        say(f"\n{len(failed)} of {counted(len(verdicts), 'connection')} failed the check.")
        return 1
    say(
        f"\nAll {counted(len(verdicts), 'connection')} OK."
        if len(verdicts) > 1
        else "\nThe connection is OK."
    )
    return 0
