"""Whether the configured key reaches each connection: one read of its drop list, nothing sent.

What each answer means is decided here, so `anycost check` and any other caller say the same.
"""

import dataclasses
from dataclasses import dataclass

from anycost_pipeline.cloudzero.client import AnyCostClient
from anycost_pipeline.cloudzero.errors import (
    ANYCOST_SCOPES,
    CloudZeroError,
    Forbidden,
    NotFound,
    UnexpectedAnswer,
)
from anycost_pipeline.figures import counted

# A check should answer in seconds: one retry of a call that got no answer, not a run's five.
CHECK_RETRIES = 1


@dataclass(frozen=True)
class ConnectionCheck:
    """The verdict on one connection, as one line for the person running the check."""

    connection: str
    ok: bool
    text: str


def check_connection(client: AnyCostClient, connection: str, connection_id: str) -> ConnectionCheck:
    """Read the connection's drop list with the client's key and say what the answer means."""
    client.policy = dataclasses.replace(client.policy, retries=CHECK_RETRIES)
    try:
        drops = client.list_billing_drops(connection_id)
    except Forbidden as error:
        return ConnectionCheck(connection, False, refused_text(error))
    except NotFound as error:
        return ConnectionCheck(
            connection,
            False,
            f"connection id not found (404): CloudZero has no connection {connection_id!r} "
            f"({error.server_message}); copy the Connection ID from Settings > Cloud Connections "
            "in CloudZero.",
        )
    except UnexpectedAnswer as error:
        # Something answered, but not as the API does (a portal, a proxy's page): say what.
        return ConnectionCheck(connection, False, str(error))
    except CloudZeroError as error:
        if error.status is None:
            return ConnectionCheck(
                connection,
                False,
                f"cannot reach {error.host or 'CloudZero'}: {error.server_message}. {error.advice}",
            )
        return ConnectionCheck(connection, False, str(error))
    count = len(drops) if isinstance(drops, list) else 0
    return ConnectionCheck(
        connection,
        True,
        f"OK: the key reads the drop list of connection {connection_id} ({counted(count, 'drop')} listed)",
    )


def refused_text(error: CloudZeroError) -> str:
    return (
        f"key refused (403): CloudZero answered {error.server_message!r}. The key needs these "
        f"scopes (CloudZero's AnyCost Stream guide): {', '.join(ANYCOST_SCOPES)}; a key is "
        "edited under Settings > API Keys, and it must belong to the organisation that holds "
        "the connection."
    )
