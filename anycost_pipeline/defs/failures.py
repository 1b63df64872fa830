"""The project's own errors as Dagster failures: the message for the user, no traceback.

Only these errors say what to fix. Anything else is a bug and keeps its traceback in the run
log, so it never reads like bad data.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from anycost_pipeline.cbf.errors import BadSourceData, MappingError
from anycost_pipeline.cloudzero.errors import CloudZeroError
from anycost_pipeline.cloudzero.submit import DeliveryFailed
from anycost_pipeline.config import ConfigError
from anycost_pipeline.config.loader import DEFAULT_CONFIG_NAME
from anycost_pipeline.defs.names import DELIVERY
from anycost_pipeline.delivery import MonthRefused
from anycost_pipeline.sources import SourceReadError

USER_ERRORS: tuple[type[Exception], ...] = (
    ConfigError,
    BadSourceData,
    MappingError,
    CloudZeroError,
    MonthRefused,
    *SourceReadError,
)


def failure(
    error: Exception, delivery: str | None = None, declared_in: str = DEFAULT_CONFIG_NAME
) -> dg.Failure:
    """A failure that shows the error's message; not retried, as a retry meets the same data.

    The plain modules' messages name the project's file `anycost.yaml`; a Dagster Component's
    project is declared in a defs.yaml, and its message names that file instead."""
    message = str(error).replace(DEFAULT_CONFIG_NAME, declared_in)
    metadata = {DELIVERY: delivery} if delivery else None
    return dg.Failure(description=message, allow_retries=False, metadata=metadata)


@contextmanager
def user_errors(
    delivery: str | None = None, declared_in: str = DEFAULT_CONFIG_NAME
) -> Iterator[None]:
    """Raise the project's own errors as failures. `delivery`, on a drop step, is what
    CloudZero holds of the month after such an error (a DeliveryFailed says it itself)."""
    try:
        yield
    except DeliveryFailed as error:
        raise failure(error, error.state, declared_in) from None
    except USER_ERRORS as error:
        raise failure(error, delivery, declared_in) from None
