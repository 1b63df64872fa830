"""New export files' months are learnt in one pass over all of them: for any files, the months
(and problems) each file is found to hold, the index and the month read are those of reading
each file on its own."""

import json
import tempfile
from pathlib import Path

import polars as pl
import pytest
from hypothesis import example, given, settings, strategies as st

from anycost_pipeline.cbf.errors import SOURCE_FILE, SOURCE_ROW
from anycost_pipeline.months import Month
from anycost_pipeline.sources import index
from anycost_pipeline.sources.files import read_file
from anycost_pipeline.sources.watch import frame_months, frames_months
from anycost_pipeline_tests.sources.helpers import files_source

TIMES = [
    "2024-07-31T23:30:00",
    "2024-08-01",
    "2024-07-31 15:00:00+09:00",
    "2024-06-30T22:00:00Z",
    "2024-08-15T10:00:00.000Z",
    "2024-08-32",  # no such day: a problem of its file
    "soon",
    "",  # a blank time on a row that has a cost
]
SOURCES = {
    "utc": {},
    "tokyo": {"timezone": "Asia/Tokyo"},
    "new york": {"timezone": "America/New_York"},
    "spread": {"timezone": "Asia/Tokyo", "spread": {"over": "day"}},
}

rows = st.lists(st.tuples(st.sampled_from(TIMES), st.sampled_from(["1.00", "-0.50", ""])))
exports = st.lists(rows, min_size=1, max_size=6)


def write(folder: Path, files: list[list[tuple[str, str]]]) -> list[str]:
    paths = []
    for i, lines in enumerate(files):
        path = folder / f"day-{i:02d}.csv"
        path.write_text(
            "date,cost,service\n" + "".join(f"{t},{c},compute\n" for t, c in lines),
            encoding="utf-8",
        )
        paths.append(str(path))
    return paths


@settings(max_examples=150, deadline=None)
@given(files=exports, setting=st.sampled_from(sorted(SOURCES)))
# A Tokyo charge of local August 1st, spread over its day, is in July and August (UTC).
@example(files=[[("2024-08-01", "1.00")], [("2024-08-01", "1.00")]], setting="spread")
def test_each_files_months_are_those_it_holds_on_its_own(files, setting: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        source = files_source(f"{folder}/*.csv", **SOURCES[setting])
        frames = {path: read_file("s", source, path) for path in write(Path(folder), files)}
        assert frames_months("s", source, frames) == {
            path: frame_months("s", source, frame) for path, frame in frames.items()
        }


@settings(max_examples=60, deadline=None)
@given(files=exports, month=st.sampled_from(["2024-06", "2024-07", "2024-08"]))
def test_a_month_read_with_its_files_months_learnt_together_is_the_month_read_file_by_file(
    files, month: str
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "exports").mkdir()
        write(root / "exports", files)
        source = files_source(f"{folder}/exports/*.csv", timezone="Asia/Tokyo")
        outcomes = []
        for at_once in (1, index.NEW_ROWS_AT_ONCE):
            state = root / f"state-{at_once}"
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(index, "NEW_ROWS_AT_ONCE", at_once)
                try:
                    frame, every = index.read_month_files(
                        "s", source, source.path, state, Month.parse(month)
                    )
                except Exception as error:  # noqa: BLE001 - the same refusal either way
                    outcomes.append(("refused", type(error), str(error)))
                    continue
            kept = json.loads(index.index_file(state, "s").read_text())["files"]
            outcomes.append((frame.to_dicts(), every, kept))
        assert outcomes[0] == outcomes[1]


def test_files_that_disagree_on_a_columns_type_are_read_file_by_file(tmp_path: Path) -> None:
    source = files_source(f"{tmp_path}/*.csv")
    frames = {
        "a.csv": pl.DataFrame(
            {"date": ["2024-07-01"], "cost": ["1.00"], SOURCE_FILE: ["a.csv"], SOURCE_ROW: [1]}
        ),
        "b.csv": pl.DataFrame(
            {"date": ["2024-08-01"], "cost": [1.0], SOURCE_FILE: ["b.csv"], SOURCE_ROW: [1]}
        ),
    }
    found = frames_months("s", source, frames)
    assert {p: f.months for p, f in found.items()} == {"a.csv": ["2024-07"], "b.csv": ["2024-08"]}


@pytest.mark.parametrize(
    ("texts", "options"),
    [
        # A correction's billed month read from a column one file lacks (found in review).
        (
            ["date,cost,service,billed\n2024-06-30,1.00,compute,2024-06\n", "date,cost,service\n2024-07-01,2.00,compute\n"],
            {"corrections": {"policy": "book_forward", "billed_month_column": "billed", "detect": {"column": "cost", "values": ["-1"]}}},
        ),
        # A file of a header only, without the time column.
        (["date,cost,service\n2024-07-01,2.00,compute\n", "cost,service\n"], {}),
    ],
)  # fmt: skip
def test_a_file_that_lacks_a_column_another_file_has_keeps_its_own_problem(
    tmp_path: Path, texts: list[str], options: dict
) -> None:
    source = files_source(f"{tmp_path}/*.csv", **options)
    paths = []
    for i, text in enumerate(texts):
        (tmp_path / f"f{i}.csv").write_text(text, encoding="utf-8")
        paths.append(str(tmp_path / f"f{i}.csv"))
    frames = {path: read_file("s", source, path) for path in paths}
    alone = {path: frame_months("s", source, frame) for path, frame in frames.items()}
    assert any(found.problem for found in alone.values())
    assert frames_months("s", source, frames) == alone
