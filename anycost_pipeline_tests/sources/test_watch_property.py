"""An invariant of the files sensor's decision (`look`), over any sequence of edits, reverts,
deletions and ticks, some of which Dagster does not save: after a tick that is saved and has
read every file, no month holds files other than those its last run read, and Dagster's rule
(a run key seen before is never started again) is applied to every request. A tick after a
saved, finished one in which nothing changed starts no run."""

import os
from pathlib import Path

from hypothesis import example, given, settings, strategies as st

from anycost_pipeline.config import FilesSource
from anycost_pipeline.sources.watch import look
from anycost_pipeline.sources.watch_state import Token, WatchState

MONTHS = ["2024-06", "2024-07", "2024-08"]
HEADER = "date,amount\n"
VARIANTS = {  # content, months it holds
    "july": (HEADER + "2024-07-10,1.00\n", {"2024-07"}),
    "july2": (HEADER + "2024-07-11,3.00\n", {"2024-07"}),
    "august": (HEADER + "2024-08-10,2.00\n", {"2024-08"}),
    "bad": (HEADER + "2024-07-05,4.00\n2024-08-32,5.00\n", {"2024-07"}),  # a row in no month
}
FILES = ["a.csv", "b.csv", "c.csv"]
SOURCE = FilesSource(
    connection="main",
    path="*.csv",
    columns={"time/usage_start": "date", "cost/cost": "amount"},
    on_bad_rows="reject",
)

steps = st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.sampled_from(FILES), st.sampled_from(sorted(VARIANTS))),
        st.tuples(st.just("delete"), st.sampled_from(FILES), st.none()),
        st.tuples(
            st.just("tick"),
            st.sampled_from(["saved", "lost", "runs only"]),  # what Dagster keeps of it
            st.sampled_from([None, 1]),  # files read per tick
        ),
    ),
    max_size=25,
)


def _holding(contents: dict[str, str], month: str) -> dict[str, str]:
    return {f: v for f, v in contents.items() if month in VARIANTS[v][1]}


@settings(max_examples=60, deadline=None)
@given(steps=steps)
# Found by Hypothesis: August was run while b.csv was listed but not yet read; b.csv was then
# deleted, or rewritten to hold July, before the sensor read it: August was never run again and
# kept b.csv's rows.
@example(
    steps=[
        ("write", "a.csv", "august"),
        ("write", "b.csv", "august"),
        ("tick", "saved", 1),
        ("delete", "b.csv", None),
    ]
)
@example(
    steps=[
        ("write", "a.csv", "august"),
        ("write", "b.csv", "august"),
        ("tick", "saved", 1),
        ("write", "b.csv", "bad"),
    ]
)
def test_every_month_whose_files_changed_is_run_again(tmp_path_factory, steps) -> None:
    folder: Path = tmp_path_factory.mktemp("exports")
    contents: dict[str, str] = {}  # file → variant, as the folder holds them
    last_run: dict[str, dict[str, str]] = {m: {} for m in MONTHS}  # what each month's run read
    seen_keys: set[str] = set()  # Dagster: a run key is started once in the sensor's life
    state: WatchState | None = None
    cursor: Token | None = None
    quiet = False  # the last tick was saved and finished, and nothing changed since
    for action, first, second in [*steps, ("tick", "saved", None)]:
        if action == "write":
            text, _ = VARIANTS[second]
            path = folder / first
            path.write_text(text)
            # A restore from a backup: the same content has the same modification time.
            stamp = 1_700_000_000 + sorted(VARIANTS).index(second)
            os.utime(path, (stamp, stamp))
            quiet = quiet and contents.get(first) == second
            contents[first] = second
            continue
        if action == "delete":
            if first in contents:
                (folder / first).unlink()
                del contents[first]
                quiet = False
            continue
        found = look("s", SOURCE, str(folder / "*.csv"), state, cursor, MONTHS, 60.0, second)
        state = found.state
        started = set()
        if first != "lost":  # the daemon submitted the requests
            for month in found.requests:
                key = found.run_key("s", month)
                if key not in seen_keys:
                    seen_keys.add(key)
                    started.add(month)
                    last_run[month] = _holding(contents, month)
        if first == "saved":
            cursor = Token(found.state.epoch, found.state.sequence)
        if quiet:
            assert not started, (steps, started)
        if first == "saved" and not found.unfinished:
            for month in MONTHS:
                assert last_run[month] == _holding(contents, month), (month, steps)
        quiet = first == "saved" and not found.unfinished
