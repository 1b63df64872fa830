"""Source tags to `resource/tag:<key>` columns, with keys CloudZero accepts."""

import json
import re
from dataclasses import dataclass, field

import polars as pl

from anycost_pipeline.cbf.columns import TAG_PREFIX
from anycost_pipeline.cbf.errors import MappingError, no_problems, problem_frame
from anycost_pipeline.cbf.options import TagsSpec

_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_.:/=+\-@]")


def sanitise_key(key: str) -> str:
    """The key with every character CloudZero does not allow replaced by `_`."""
    return _NOT_ALLOWED.sub("_", key)


@dataclass
class Tags:
    """Tag columns aligned with the source rows, the rows whose tags cannot be read, renamed keys."""

    columns: pl.DataFrame
    problems: pl.DataFrame
    renamed: dict[str, str] = field(default_factory=dict)


def _parse(text: str, spec: TagsSpec) -> dict[str, str] | None:
    """The tags in one cell, or None when it cannot be read."""
    if spec.format == "json":
        value = _json_object(text)
        if value is None:
            return None
        return {
            str(k): v if isinstance(v, str) else json.dumps(v)
            for k, v in value.items()
            if v is not None and v != ""
        }
    tags: dict[str, str] = {}
    for pair in text.split(spec.pair_separator):
        if not pair.strip():
            continue
        if spec.key_separator not in pair:
            return None
        key, value = pair.split(spec.key_separator, 1)
        if value.strip():
            tags[key.strip()] = value.strip()
    return tags


def _json_object(text: str) -> dict | None:
    """A JSON object of tags, with or without its braces (Azure EA and MCA exports write
    `"env": "prod","team": "data"`); None when the text is neither."""
    body = text.strip()
    candidates = [body] if body.startswith("{") else [body, "{" + body + "}"]
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def tag_columns(frame: pl.DataFrame, source: str, spec: TagsSpec) -> Tags:
    """The `resource/tag:*` columns for every row of `frame` (same order)."""
    named = {
        key: frame.get_column(column).cast(pl.String).str.strip_chars()
        for key, column in spec.columns.items()
    }
    problems = no_problems()
    parsed_keys: set[str] = set()
    lookup: pl.DataFrame | None = None
    if spec.column and spec.column in frame.columns:
        texts = frame.get_column(spec.column).cast(pl.String).str.strip_chars()
        values: dict[str, dict[str, str]] = {}
        unreadable: list[str] = []
        for text in texts.drop_nulls().unique().to_list():
            if text == "":
                continue
            tags = _parse(text, spec)
            if tags is None:
                unreadable.append(text)
            else:
                values[text] = tags
                parsed_keys.update(tags)
        if unreadable:
            what = (
                'a JSON object of tags ({"env": "prod"}, braces optional)'
                if spec.format == "json"
                else f"tags written as key{spec.key_separator}value{spec.pair_separator}..."
            )
            problems = problem_frame(
                frame,
                pl.col(spec.column).is_in(unreadable),
                spec.column,
                f"not {what}",
                pl.col(spec.column),
            )
        keys = sorted(parsed_keys)
        # Tag columns carry the tag prefix from here on, so that no tag key (say `_text`)
        # can be taken for the column the lookup is joined on.
        lookup = pl.DataFrame(
            {
                "_text": list(values),
                **{f"{TAG_PREFIX}{k}": [values[t].get(k) for t in values] for k in keys},
            },
            schema={"_text": pl.String, **{f"{TAG_PREFIX}{k}": pl.String for k in keys}},
        )

    renamed: dict[str, str] = {}
    owner: dict[str, str] = {}
    for key in [*named, *sorted(parsed_keys)]:
        clean = sanitise_key(key)
        if not key:
            raise MappingError(
                source, "a tag has an empty key; CloudZero needs a key for every tag"
            )
        if clean in owner and owner[clean] != key:
            raise MappingError(
                source,
                f"the tag keys {owner[clean]!r} and {key!r} both become {clean!r} once characters "
                "CloudZero does not allow (anything but letters, digits and _ . : / = + - @) are "
                "replaced by _; rename one of them in the source or in `tags`",
            )
        if key in named and key in parsed_keys:
            raise MappingError(
                source, f"the tag key {key!r} comes both from `tags.columns` and from `tags.column`"
            )
        owner[clean] = key
        if clean != key:
            renamed[key] = clean

    parts = (
        [pl.DataFrame([v.alias(f"{TAG_PREFIX}{sanitise_key(k)}") for k, v in named.items()])]
        if named
        else []
    )
    if lookup is not None and parsed_keys:
        joined = (
            frame.select(pl.col(spec.column).cast(pl.String).str.strip_chars().alias("_text"))  # type: ignore[arg-type]
            .join(lookup, on="_text", how="left", maintain_order="left")
            .drop("_text")
        )
        parts.append(
            joined.rename(
                {f"{TAG_PREFIX}{k}": f"{TAG_PREFIX}{sanitise_key(k)}" for k in parsed_keys}
            )
        )
    out = pl.concat(parts, how="horizontal") if parts else pl.DataFrame()
    # Empty text is no tag.
    out = out.with_columns(pl.when(pl.col(c) != "").then(pl.col(c)).alias(c) for c in out.columns)
    return Tags(out, problems, renamed)
