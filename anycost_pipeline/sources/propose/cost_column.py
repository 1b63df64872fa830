"""The billed-cost column, with the runner-up and each one's total over the sample.

A column is money when its name says so and every value is a number. Among those, the billed,
extended amount wins: net over gross, total over subtotal, amount over unit price or rate. A
column whose name says identifier (cost center, id, code, number) or whose values are labels
(leading zeros, long whole numbers) is never money. When the best two are alike and their
totals differ, the user is asked to choose; `--total` (the invoice's total) settles it.
Amounts written as money (`$1,234.56`, `1.234,56`) are read by the one format that reads every
value alike (money_readings.py); a column that reads two ways is never read silently.
"""

from decimal import Decimal

import polars as pl

from anycost_pipeline.cbf.money import MoneyFormat
from anycost_pipeline.sources.propose.choices import Candidate, Choice, exact_total, exact_values
from anycost_pipeline.sources.propose.evidence import (
    column_values,
    data_columns,
    decimal_style,
    probe_values,
    words_of,
)
from anycost_pipeline.sources.propose.money_readings import Reading, readings
from anycost_pipeline.sources.propose.sample import ProposalError

COST_CBF = "cost/cost"

# Words that make a name money at all.
_MONEY = {"cost", "costs", "amount", "amt", "charge", "charges", "spend", "total", "price", "fee"}
_MONEY |= {"billed", "net", "gross", "subtotal", "due", "value"}
# Words of the amount that is billed: after discounts, after tax, the whole line.
_BILLED = {"net", "billed", "unblended", "total", "extended", "due", "charged", "invoiced"}
_BILLED |= {"final", "payable"}
# Words of an amount before something the bill takes off or adds: not the bill, but close.
_BEFORE = {"gross", "subtotal", "list", "retail", "public", "undiscounted", "pretax", "original"}
_BEFORE |= {"estimated", "before"}
# Words of a number that is not a billed amount: a rate, a quantity, a part of the bill.
_PART = {"unit", "units", "rate", "per", "quantity", "qty", "discount", "discounts", "credit"}
_PART |= {"credits", "currency", "percent", "pct", "ratio", "count", "tax", "vat", "savings"}
_PART_TEXT = (
    "usageamount",
    "normalized",
    "contracted",
    "commitment",
    "reservation",
    "reserved",
    "savingsplan",
    "upfront",
    "recurring",
    "exchangerate",
)
# Words of an identifier: such a column is a label even when every value is a number.
_IDENTIFIER = {"id", "center", "centre", "code", "number", "num", "no", "nr", "zip", "key"}
_IDENTIFIER |= {"ref", "index", "phone"}
_INCLUDING = {"incl", "including", "inc", "after", "with", "plus", "gross"}
# Within a tier, the names that say it most plainly come first.
_ORDER = ("billedcost", "unblendedcost", "costinbillingcurrency", "net", "total", "cost", "amount")


def money_tier(name: str) -> tuple[int, str] | None:
    """3 billed, 2 plain money, 1 before discounts or tax, 0 named like money but not the bill;
    None when the name says nothing of money; with why."""
    words = words_of(name)
    joined = "".join(words)
    billing_currency = "inbillingcurrency" in joined
    if not set(words) & _MONEY and not any(w.endswith(("cost", "amount")) for w in words):
        return None
    ident = sorted(set(words) & _IDENTIFIER)
    if ident:
        return 0, f"never money: its name says identifier ({', '.join(ident)})"
    if "blended" in joined and "unblended" not in joined:
        return 0, "not the bill: a blended cost (averaged across accounts)"
    including = bool(set(words) & _INCLUDING)
    if any(t in joined for t in ("amortized", "amortised", "effective")):
        return 0, "not the bill: an amortised cost (purchases spread over the usage they cover)"
    others = ("usageamount", "normalized", "exchangerate")
    commitment = [t for t in _PART_TEXT if t in joined and t not in others]
    if commitment:
        return 0, f"not the bill: a commitment, reservation or contract figure ({commitment[0]})"
    part = sorted(
        (set(words) & _PART)
        - ({"tax", "vat"} if including else set())
        - ({"currency"} if billing_currency else set())
    )
    part += [t for t in others if t in joined]
    if part:
        return 0, f"not the bill: a rate, quantity or part of it ({', '.join(part)})"
    if "subtotal" in joined or "pretax" in joined:
        return 1, "its name (subtotal) says the amount before tax"
    if "ondemand" in joined or set(words) & {"list", "public", "retail", "payg"}:
        return 1, "its name (list or on-demand) says prices before discounts"
    before = sorted(set(words) & _BEFORE)
    if before:
        return 1, f"its name ({before[0]}) says the amount before discounts or credits"
    if billing_currency:
        return 3, "its name (cost in billing currency) says the amount billed"
    billed = sorted(set(words) & _BILLED)
    if billed:
        return 3, f"its name ({billed[0]}) says the amount billed"
    said = next(w for w in words if w in _MONEY or w.endswith(("cost", "amount")))
    if set(words) & _MONEY == {"price"}:
        return 1, "its name (price) says a price, often per unit, not the line's amount"
    return 2, f"its name ({said}) says an amount"


def _label_like(values: pl.Series) -> bool:
    """Numbers that are labels: a leading zero (0042), or long whole numbers (account ids)."""
    if values.str.contains(r"^0\d").any():
        return True
    return bool(values.str.contains(r"^\d{9,}$").all())


def _order(column: str) -> int:
    joined = "".join(words_of(column))
    return next((i for i, n in enumerate(_ORDER) if n in joined), len(_ORDER))


def money_candidates(
    frame: pl.DataFrame, refused: list[Candidate] | None = None, invoice: Decimal | None = None
) -> list[tuple[int, Candidate, str]]:
    """Every column that could be the bill, best first: (tier, candidate, decimal style).
    Numeric columns named like money that cannot be the bill go to `refused`, with why. A
    money column that reads two ways has no total, unless one reading's is `invoice`."""
    found = []
    for index, column in enumerate(data_columns(frame)):
        ranked = money_tier(column)
        if ranked is None:
            continue
        values = probe_values(frame, column)
        style = decimal_style(values)
        if style not in ("plain", "exponent"):
            if not readings(values):
                continue
            style = "money"
        tier, why = ranked
        if tier and _label_like(values):
            tier, why = 0, "never money: its numbers are labels (leading zeros or long ids)"
        if tier == 0:
            quantity = {"quantity", "qty", "count", "units"} & set(words_of(column))
            if quantity or "usageamount" in "".join(words_of(column)):
                continue  # a quantity: not worth showing as the bill's runner-up
            if refused is not None and style in ("plain", "exponent"):
                refused.append(Candidate(column, why, exact_total(frame, column)))
            continue
        total = exact_total(frame, column) if style in ("plain", "exponent") else None
        if style == "money":
            ways = _readings(frame, column, invoice)
            total = ways[0].total if len(ways) == 1 else None
        why = f"{why}; {'an amount' if style == 'money' else 'a number'} on every row"
        found.append(((-tier, _order(column), index), Candidate(column, why, total), style))
    found.sort(key=lambda f: f[0])
    return [(-key[0], candidate, style) for key, candidate, style in found]


def _relation(frame: pl.DataFrame, chosen: str, others: list[str]) -> str:
    """How the chosen column follows from two others on every row (net = gross − discount,
    total = subtotal + tax), when it does."""
    numbers = {c: exact_values(frame, c) for c in [chosen, *others]}
    target = numbers[chosen]
    for a in others:
        for b in others:
            if a == b:
                continue
            pairs = list(zip(target, numbers[a], numbers[b]))
            if not pairs or any(None in p for p in pairs):
                continue
            if all(t == x - abs(y) for t, x, y in pairs) and any(y for _, _, y in pairs):
                return f"{chosen} = {a} − {b} on every row"
            if all(t == x + y for t, x, y in pairs) and any(y for _, _, y in pairs):
                return f"{chosen} = {a} + {b} on every row"
    return ""


def choose_cost(
    frame: pl.DataFrame, invoice: Decimal | None = None
) -> tuple[Choice, str | MoneyFormat]:
    """The billed cost column (with its runner-up) and how it writes numbers: `plain`,
    `exponent`, or the money format that reads every value alike.

    With `invoice` (the invoice's total), the column whose total is exactly that is chosen; a
    ProposalError says so when no column's total is.
    """
    choice, style = _choose_cost(frame, invoice)
    if style != "money":
        return choice, style
    return choice, _money_format(frame, choice.chosen.column, invoice)


def _money_format(frame: pl.DataFrame, column: str, invoice: Decimal | None) -> MoneyFormat:
    """The one reading of a money column, or the one whose total is the invoice's; else a
    ProposalError that names each reading with its total."""
    found = _readings(frame, column, invoice)
    if len(found) == 1:
        return found[0].format
    if not found:  # the first values fit a format, a later one fits none
        raise ProposalError(
            f"the cost column {column!r} writes amounts as money, but no one money format "
            "reads every value of the file (symbols, thousands and decimal separators must be "
            "the same on every row); declare its money_format by hand (see Money in the "
            "README). Nothing was written"
        )
    ways = "; or ".join(r.describe() for r in found)
    raise ProposalError(
        f"the cost column {column!r} reads two ways: {ways}. The sample cannot tell which "
        "(no value is written so that only one fits), so add-source does not choose: give "
        "the invoice's total with --total AMOUNT, or declare the column's money_format by "
        "hand (see Money in the README). Nothing was written"
    )


def _readings(frame: pl.DataFrame, column: str, invoice: Decimal | None) -> list[Reading]:
    """The column's money readings; only the one whose total is `invoice` when there is one."""
    found = readings(column_values(frame, column))
    return [r for r in found if r.total == invoice] or found


def _choose_cost(frame: pl.DataFrame, invoice: Decimal | None) -> tuple[Choice, str]:
    refused: list[Candidate] = []
    ranked = money_candidates(frame, refused, invoice)
    if not ranked:
        raise ProposalError(
            "no column reads as the billed cost (a name such as cost, amount or billed_cost, "
            "with a number on every row); map cost/cost by hand"
        )
    styles = {c.column: s for _, c, s in ranked}
    if invoice is not None:
        choice = _matching_invoice(ranked, refused, invoice)
        return choice, styles[choice.chosen.column]
    (tier, first, _), rest = ranked[0], ranked[1:]
    second = rest[0][1] if rest else (refused[0] if refused else None)
    named = [c.column for _, c, _ in rest] + [c.column for c in refused]
    relation = _relation(frame, first.column, named[:8])
    if relation:
        first = Candidate(first.column, f"{first.why}; {relation}", first.total)
    close = bool(rest and rest[0][0] == tier and second is not None and second.total != first.total)
    note = ""
    if rest and rest[0][0] == tier and second is not None and second.total == first.total:
        note = f"{second.column} has the same total"
    if close:
        note = "give the invoice's total with --total AMOUNT to settle it"
    return Choice(COST_CBF, first, second, close=close, note=note), styles[first.column]


def _matching_invoice(
    ranked: list[tuple[int, Candidate, str]], refused: list[Candidate], invoice: Decimal
) -> Choice:
    matching = [c for _, c, _ in ranked if c.total is not None and c.total == invoice]
    if not matching:
        totals = "; ".join(f"{c.column} {c.total}" for _, c, _ in ranked)
        other = next((c for c in refused if c.total == invoice), None)
        if other is not None:
            raise ProposalError(
                f"no column that reads as the bill adds up to the invoice total {invoice} "
                f"(their totals: {totals}); {other.column} does, but it was set aside "
                f"({other.why}). If the invoice really is {other.column}, map cost/cost: "
                f"{other.column} by hand"
            )
        raise ProposalError(
            f"no column adds up to the invoice total {invoice} (the candidates' totals: "
            f"{totals}). Check that the sample holds the whole invoice and nothing more, or "
            "map cost/cost by hand"
        )
    chosen = matching[0]
    best = ranked[0][1]
    note = (
        ""
        if chosen.column == best.column
        else f"{best.column} would have been proposed from its name, but its total is "
        f"{best.total}, not the invoice's {invoice}"
    )
    chosen = Candidate(
        chosen.column, f"{chosen.why}; its total is the invoice's total, {invoice}", chosen.total
    )
    others = [c for _, c, _ in ranked if c.column != chosen.column]
    return Choice(COST_CBF, chosen, others[0] if others else None, note=note)
