"""CLOUDZERO_API_URL as users write it: with `/v2` (the version the reference's paths start
with), which the adaptor used to prefix again and CloudZero answered 404 "connection id not
found"; and a URL holding more of the API's path, refused before anything is sent."""

from pathlib import Path

import pytest

from anycost_pipeline.cloudzero.sandbox import start_sandbox
from anycost_pipeline_tests.cli.live import KEY, anycost, one_csv_project

CSV = "time,service,amount,account\n2024-08-01T00:00:00Z,vm,1.00,a\n"


def _live(root: Path) -> Path:
    return one_csv_project(root, CSV, connection_id="c-main", cloudzero={"target": "live"})


@pytest.mark.parametrize("suffix", ["/v2", "/v2/", "/"])
def test_an_api_url_ending_in_v2_reaches_the_connection(tmp_path: Path, suffix: str) -> None:
    config = _live(tmp_path / "p")
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        checked = anycost(config, server.url + suffix, "check")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "main: OK" in checked.stdout
        sent = anycost(config, server.url + suffix, "run", "2024-08")
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert len(server.store.month_rows("c-main", "2024-08")) == 1


def test_an_api_url_holding_an_api_path_is_refused_saying_what_to_write(tmp_path: Path) -> None:
    config = _live(tmp_path / "p")
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        url = server.url + "/v2/connections/billing/anycost"
        validated = anycost(config, url, "validate")
        assert validated.returncode == 1 and "CLOUDZERO_API_URL" in validated.stdout
        done = anycost(config, url, "run", "2024-08")
        assert done.returncode == 1
        assert "CLOUDZERO_API_URL" in done.stderr + done.stdout
        assert f"Set it to {server.url} (the adaptor adds /v2/" in done.stderr + done.stdout
        assert server.stats()["requests"] == 0  # refused before anything was sent


def test_the_base_url_is_the_same_however_it_is_written() -> None:
    from anycost_pipeline.cloudzero.client import api_base_url

    base = "https://api.cloudzero.com"
    assert {api_base_url(base + s) for s in ("", "/", "/v2", "/v2/", " /v2 ".strip())} == {base}
    assert api_base_url("https://proxy.example/cloudzero/v2") == "https://proxy.example/cloudzero"
