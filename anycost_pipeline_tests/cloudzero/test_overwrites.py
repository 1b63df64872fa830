"""The words of a send over rows this adaptor had not left: said for another sender's rows or
a lost journal, never for this adaptor's own interrupted or unconfirmed submission (second
review, finding 7)."""

from decimal import Decimal

from anycost_pipeline.cloudzero.journal import Entry
from anycost_pipeline.cloudzero.month_state import SEND, Held, Now, judge_month

NOW = Now(10, Decimal("100"), "h2")


def test_another_senders_rows_are_named_as_overwritten() -> None:
    state = judge_month("2024-07", "replace_drop", NOW, None, Held(1, "theirs", Decimal("2000")))
    assert state.verdict == SEND
    assert state.overwrites is not None and "1 row, cost 2000.00" in state.overwrites


def test_a_newer_drop_on_top_of_this_adaptors_is_named_as_overwritten() -> None:
    record = Entry({"state": "confirmed", "content_hash": "h1", "drop_ids": ["ours"], "rows": 1})
    state = judge_month("2024-07", "replace_drop", NOW, record, Held(2, "theirs"))
    assert state.verdict == SEND and state.overwrites is not None


def test_this_adaptors_own_stopped_submission_is_not_someone_elses() -> None:
    record = Entry(
        {
            "state": "stopped",
            "content_hash": "h1",
            "planned": [{"operation": "replace_drop", "rows": 5}, {"operation": "sum", "rows": 5}],
            "acknowledged": [
                {
                    "index": 0,
                    "operation": "replace_drop",
                    "drop_id": "d1",
                    "rows": 5,
                    "bytes": 1,
                    "key": "k",
                }
            ],
            "rows": 10,
        }
    )
    state = judge_month("2024-07", "replace_drop", NOW, record, Held(5, "d1", Decimal("50")))
    assert state.verdict == SEND and state.overwrites is None, state


def test_this_adaptors_own_unconfirmed_submission_is_not_someone_elses() -> None:
    record = Entry({"state": "unconfirmed", "content_hash": "h1", "drop_ids": ["d9"], "rows": 9})
    state = judge_month("2024-07", "replace_drop", NOW, record, Held(10, "d9"))
    assert state.verdict == SEND and state.overwrites is None, state
