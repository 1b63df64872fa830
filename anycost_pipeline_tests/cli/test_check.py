"""`anycost check`: one drop-list read per connection with the configured key, against the
sandbox over HTTP on 127.0.0.1, a port where nothing listens, and host names that resolve nowhere."""

import http.server
import subprocess
import threading
from pathlib import Path

import yaml

from anycost_pipeline.cloudzero.check import ANYCOST_SCOPES
from anycost_pipeline.cloudzero.sandbox import start_sandbox
from anycost_pipeline_tests.cli.live import ANYCOST, KEY, anycost, environment, one_csv_project
from anycost_pipeline_tests.servers import free_port

CSV = "time,service,amount,account\n2024-08-01T00:00:00Z,vm,1.00,a\n"


def _live_project(root: Path, *, second: str | None = None) -> Path:
    config = one_csv_project(root, CSV, connection_id="c-main", cloudzero={"target": "live"})
    if second is not None:
        data = yaml.safe_load(config.read_text())
        data["connections"]["other"] = {"connection_id": second}
        data["sources"]["other_vendor"] = {**data["sources"]["vendor"], "connection": "other"}
        config.write_text(yaml.safe_dump(data, sort_keys=False))
    return config


def test_the_configured_key_reads_each_connection_and_check_says_ok(tmp_path: Path) -> None:
    config = _live_project(tmp_path / "p", second="c-other")
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        done = anycost(config, server.url, "check")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "main: OK" in done.stdout and "other: OK" in done.stdout
        assert server.stats()["requests"] == 2  # one read per connection
        assert server.store.month_rows("c-main", "2024-08") == []  # nothing sent


def test_a_wrong_key_is_refused_with_the_scopes_it_needs(tmp_path: Path) -> None:
    config = _live_project(tmp_path / "p")
    with start_sandbox(tmp_path / "cz", api_key="the-right-key") as server:
        done = anycost(config, server.url, "check")
    assert done.returncode == 1
    line = next(x for x in done.stdout.splitlines() if x.strip().startswith("main:"))
    assert "key refused (403)" in line
    assert all(scope in line for scope in ANYCOST_SCOPES)
    assert KEY not in done.stdout + done.stderr  # the key itself is never printed


def test_an_unset_connection_id_fails_that_connection_only(tmp_path: Path) -> None:
    config = _live_project(tmp_path / "p", second="env:OTHER_CONNECTION_ID")
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        done = anycost(config, server.url, "check")
    assert done.returncode == 1
    assert "main: OK" in done.stdout
    assert "other: connections.other.connection_id: environment variable OTHER_CONNECTION_ID" in (
        done.stdout
    )
    assert "1 of 2 connections failed" in done.stdout


def test_a_port_where_nothing_listens_is_named_with_its_cause(tmp_path: Path) -> None:
    config = _live_project(tmp_path / "p")
    port = free_port()
    done = anycost(config, f"http://127.0.0.1:{port}", "check")
    assert done.returncode == 1
    assert f"cannot reach 127.0.0.1:{port}" in done.stdout
    assert "connection refused" in done.stdout


def test_a_host_name_that_resolves_nowhere_gets_the_dns_hint(tmp_path: Path) -> None:
    config = _live_project(tmp_path / "p")
    env = environment(config, "https://anycost-check.invalid")
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        env.pop(proxy, None)
    done = subprocess.run(
        [ANYCOST, "check"], cwd=config.parent, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    assert "cannot reach anycost-check.invalid" in done.stdout
    assert "did not resolve" in done.stdout and "DNS" in done.stdout


def test_a_proxy_that_answers_nothing_gets_the_proxy_hint(tmp_path: Path) -> None:
    config = _live_project(tmp_path / "p")
    # `environment` sets HTTPS_PROXY to a port of 127.0.0.1 where nothing listens.
    done = anycost(config, "https://anycost-check.invalid", "check")
    assert done.returncode == 1
    assert "cannot reach anycost-check.invalid" in done.stdout
    assert "proxy" in done.stdout and "HTTPS_PROXY" in done.stdout


class _Portal(http.server.BaseHTTPRequestHandler):
    """A sign-in page standing where the API should be: 200 with HTML to every request."""

    def do_GET(self) -> None:
        page = b"<html><body>Sign in to continue</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_page_that_is_not_the_api_is_named_as_an_unexpected_answer(tmp_path: Path) -> None:
    """A proxy or portal answering in CloudZero's place is reached: check says what came back
    and what to check, not that CloudZero cannot be reached (and does not fail itself)."""
    config = _live_project(tmp_path / "p")
    portal = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Portal)
    threading.Thread(target=portal.serve_forever, daemon=True).start()
    try:
        done = anycost(config, f"http://127.0.0.1:{portal.server_port}", "check")
    finally:
        portal.shutdown()
        portal.server_close()
    assert done.returncode == 1, done.stdout + done.stderr
    line = next(x for x in done.stdout.splitlines() if x.strip().startswith("main:"))
    assert "unexpected answer" in line and "is not JSON" in line, line
    assert "CLOUDZERO_API_URL" in line and "cannot reach" not in line, line
    assert "Traceback" not in done.stderr, done.stderr
