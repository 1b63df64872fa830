"""Any anycost.yaml text either loads or is refused with a ConfigError that names the file and
the key (and its line where the loader knows lines); never another exception, never a
traceback. Texts are the example project's file with parts changed, dropped or added, and
text that is barely YAML at all."""

import copy
import datetime
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings, strategies as st

from anycost_pipeline.config import AnycostConfig, ConfigError, load_config

REPO = Path(__file__).resolve().parents[1]
BASE = yaml.safe_load((REPO / "anycost.yaml").read_text())

# Words the loader knows (and near misses), so that changed documents reach deep validators.
KEYS = [
    "storage", "state", "start_month", "cloudzero", "connections", "sources", "connection",
    "connection_id", "kind", "path", "format", "columns", "timezone", "time_format", "preset",
    "money_format", "symbols", "thousands", "decimal", "parentheses", "add", "subtract", "abs",
    "empty", "column", "map", "default", "value", "template", "tags", "rate_card", "rates",
    "quantity", "match", "currency", "spread", "over", "end", "target", "limits", "operation",
    "cost/cost", "time/usage_start", "cost/discounted_cost", "k8s/pod", "k8s/cluster",
    "resource/tag:team", "lineitem/type", "usage/amount", "charge_category", "null_values",
    "on_bad_rows", "exponent", "incremental", "key", "url", "query", "focus", "colums", "",
]  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(KEYS),
    st.text(max_size=12),
    st.dates(min_value=datetime.date(1, 1, 1)),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), SCALARS), inner, max_size=3),
    ),
    max_leaves=8,
)


def _paths(node: object, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside a document."""
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


@st.composite
def changed_documents(draw: st.DrawFn) -> str:
    """The example anycost.yaml with a few values replaced, keys dropped or keys added."""
    document = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(document)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "drop", "add"]))
        if not path:
            document = draw(VALUES) if action == "replace" else document
            continue
        parent = document
        for part in path[:-1]:
            parent = parent[part]
        if action == "replace":
            parent[path[-1]] = draw(VALUES)
        elif action == "drop" and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent[path[-1]], dict):
            parent[path[-1]][draw(st.sampled_from(KEYS))] = draw(VALUES)
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


RAW = st.one_of(
    st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!|>'\"#%@`,? \n\t.0\\")), max_size=60),
    st.text(max_size=40),
    st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
    # What YAML reads as a date or a time, valid or not (2024-13-01).
    st.from_regex(
        r"\Astart_month: [0-9]{4}-[0-9]{1,2}-[0-9]{1,2}( [0-9]{1,2}:[0-9]{2}:[0-9]{2})?\Z"
    ),
    # Keys that are lists or mappings.
    st.from_regex(r"\A\? [\[{][a-z, ]{0,6}[\]}]\n: [a-z0-9]{0,3}\Z"),
    # Nesting deeper than a parser's recursion.
    st.integers(min_value=1, max_value=600).map(lambda n: "a: " + "[" * n + "]" * n),
)


def _loads_or_names_the_key(tmp_path: Path, text: str | bytes) -> None:
    file = tmp_path / "anycost.yaml"
    if isinstance(text, bytes):
        file.write_bytes(text)
    else:
        file.write_text(text, encoding="utf-8")
    try:
        loaded = load_config(file)
    except ConfigError as error:
        message = str(error)
        assert message.startswith(f"{file}: "), message
        said = message.removeprefix(f"{file}: ")
        assert said.strip() and "Traceback" not in said
        if "YAML" in said or "UTF-8" in said:  # the parser knows where it stopped
            assert re.search(r"line \d+", said) or "nested too deeply" in said, said
        elif said.startswith(("the file is empty;", "expected keys at the top level")):
            assert "`start_month`" in said and "`sources`" in said, said  # what it needs
        else:  # the key path of each problem, after its line where the key is in the file
            assert re.match(r"^(line \d+: )?[^\s:][^:]*: \S", said), said
        return
    assert isinstance(loaded, AnycostConfig)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changed_documents())
def test_a_changed_anycost_yaml_loads_or_names_the_key(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    _loads_or_names_the_key(tmp_path_factory.mktemp("config"), text)


@settings(max_examples=300, deadline=None)
@given(RAW)
@example("start_month: 2024-13-01\n")
@example("? [a, b]\n: 1\n")
@example("a: " + "[" * 1000 + "]" * 1000)
def test_any_text_loads_or_is_refused_plainly(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    _loads_or_names_the_key(tmp_path_factory.mktemp("config"), text)


@given(st.binary(max_size=40))
def test_bytes_that_are_not_utf8_are_refused_plainly(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    _loads_or_names_the_key(tmp_path_factory.mktemp("config"), data)
