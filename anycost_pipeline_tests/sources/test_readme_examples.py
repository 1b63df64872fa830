"""Every source example in the README is a valid anycost.yaml fragment."""

import re
from pathlib import Path

import pytest
import yaml

from anycost_pipeline.config import AnycostConfig, FilesSource, HttpSource, SqlSource

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS = [
    b
    for b in re.findall(r"```yaml\n(.*?)```", README.read_text(), re.S)
    if b.startswith("sources:")
]


def test_the_readme_has_an_example_of_every_kind() -> None:
    kinds = {type(s) for block in BLOCKS for s in _load(block).sources.values()}
    assert kinds == {FilesSource, HttpSource, SqlSource}


@pytest.mark.parametrize("block", BLOCKS)
def test_readme_source_example_loads(block: str) -> None:
    config = _load(block)
    assert config.sources


def _load(block: str) -> AnycostConfig:
    data = yaml.safe_load(block)
    return AnycostConfig.model_validate(
        {"start_month": "2024-01", "connections": {"main": {"connection_id": "x"}}, **data}
    )
