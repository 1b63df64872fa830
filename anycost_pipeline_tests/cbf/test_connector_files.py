"""The vendor connector files read the same with the fast YAML parser as with PyYAML's own."""

import yaml

from anycost_pipeline.cbf.presets import CONNECTORS, LOADER, PRESETS


def test_every_connector_file_reads_as_pyyamls_safe_parser_reads_it() -> None:
    files = sorted(CONNECTORS.glob("*.yaml"))
    assert len(files) >= 10
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert yaml.load(text, Loader=LOADER) == yaml.safe_load(text), path.name  # noqa: S506
        assert PRESETS[path.stem] == yaml.safe_load(text), path.name
