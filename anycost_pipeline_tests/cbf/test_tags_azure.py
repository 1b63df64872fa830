"""`format: json` reads Azure's brace-less tag objects exactly as the same object with braces."""

import json

import polars as pl
from hypothesis import example, given, settings, strategies as st

from anycost_pipeline.cbf.options import TagsSpec
from anycost_pipeline.cbf.tags import sanitise_key, tag_columns

KEYS = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12
).filter(lambda k: k.strip() == k and k)
VALUES = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


def _distinct_keys(rows: list[dict]) -> bool:
    # Keys that clean to the same CloudZero key are refused, with or without braces.
    keys = {k for tags in rows for k in tags}
    return len({sanitise_key(k) for k in keys}) == len(keys)


ROWS = st.lists(st.dictionaries(KEYS, VALUES, max_size=5), min_size=1, max_size=6).filter(
    _distinct_keys
)


def _read(texts: list[str]) -> tuple[list[dict], int]:
    frame = pl.DataFrame(
        {"Tags": texts, "_source_file": "usage.csv", "_source_row": list(range(2, len(texts) + 2))}
    )
    tags = tag_columns(frame, "azure", TagsSpec(column="Tags", format="json"))
    return tags.columns.to_dicts() if tags.columns.width else [{}] * len(
        texts
    ), tags.problems.height


@settings(max_examples=200, deadline=None)
@given(rows=ROWS, spaced=st.booleans())
@example(rows=[{"_text": "0"}], spaced=False)  # the name tags.py joined its lookup on
def test_braceless_tags_read_as_the_object_with_braces(rows: list[dict], spaced: bool) -> None:
    separators = (", ", ": ") if spaced else (",", ":")
    with_braces = [json.dumps(t, ensure_ascii=False, separators=separators) for t in rows]
    braceless = [text[1:-1] for text in with_braces]
    expected, refused = _read(with_braces)
    got, problems = _read(braceless)
    assert (got, problems) == (expected, refused) == (expected, 0)
    for row, tags in zip(got, rows):
        sent = {k.removeprefix("resource/tag:"): v for k, v in row.items() if v is not None}
        assert sent == {sanitise_key(k): v for k, v in tags.items() if v != ""}
