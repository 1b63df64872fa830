"""How figures print to people, the same in the CLI, the logs and the UI."""

from decimal import Decimal

from anycost_pipeline.cbf.decimals import EXACT

_PLURALS = {"body": "bodies", "hour": "hours", "row": "rows", "file": "files", "month": "months"}


def shown(value: Decimal | str) -> str:
    """A cost as people read it: at least two decimal places, never fewer digits than it has
    (`-25` → `-25.00`, `97.8` → `97.80`, `0.000123` stays as it is)."""
    value = Decimal(value)
    places = max(2, -int(value.as_tuple().exponent)) if value.is_finite() else 2
    return format(value.quantize(Decimal(1).scaleb(-places), context=EXACT), "f")


def signed(value: Decimal | str) -> str:
    """A change of cost as people read it: `+100.00`, `-25.00`, `0.00`."""
    text = shown(value)
    return f"+{text}" if Decimal(value) > 0 else text


def counted(count: int, noun: str) -> str:
    """`1 row`, `1,250 rows`, `2 bodies`."""
    return f"{count:,} {noun if count == 1 else _PLURALS.get(noun, noun + 's')}"
