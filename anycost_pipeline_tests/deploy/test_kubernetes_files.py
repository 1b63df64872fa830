"""The Dockerfile and the Helm values name modules, files, extras, pools and variables that exist.

No image is built and no cluster is started here (this machine has neither a registry for base
images nor Kubernetes); what can be checked is checked for real: the code server starts with the
values' arguments and answers Dagster's health check, and every name the files rely on is one the
project defines.
"""

import json
import os
import shlex
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import yaml

from anycost_pipeline.config import CONFIG_ENV_VAR, load_config
from anycost_pipeline.defs.pools import pool_name
from anycost_pipeline_tests.conftest import REPO
from anycost_pipeline_tests.servers import free_port

VALUES = yaml.safe_load((REPO / "deploy" / "helm" / "values.yaml").read_text())
INSTANCE = yaml.safe_load((REPO / "deploy" / "dagster.postgres.yaml").read_text())
DOCKERFILE = (REPO / "Dockerfile").read_text().splitlines()
(DEPLOYMENT,) = VALUES["dagster-user-deployments"]["deployments"]


def _instructions(name: str) -> list[str]:
    return [line.split(None, 1)[1] for line in DOCKERFILE if line.startswith(f"{name} ")]


def test_the_dockerfile_copies_files_that_exist_and_installs_extras_that_exist() -> None:
    for copy in _instructions("COPY"):
        *sources, _ = copy.split()
        for source in sources:
            assert (REPO / source).exists(), f"Dockerfile copies {source}, which is not in the repo"
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    (install,) = [run for run in _instructions("RUN") if "pip install" in run]
    (wanted,) = [
        word.strip("\"'") for word in shlex.split(install) if word.startswith((".[", '".['))
    ]
    for extra in wanted.removeprefix(".[").removesuffix("]").split(","):
        assert extra in extras, f"Dockerfile installs the extra {extra!r}, not in pyproject.toml"
    assert {"postgres", "k8s"} <= set(wanted.removeprefix(".[").removesuffix("]").split(","))


def test_the_image_serves_what_the_values_ask_for() -> None:
    (command,) = _instructions("CMD")
    argv = json.loads(command)
    assert argv[:3] == ["dagster", "code-server", "start"]
    module_args = argv[argv.index("-m") :]
    assert module_args == DEPLOYMENT["codeServerArgs"]
    assert f"{argv[argv.index('-p') + 1]}" == str(DEPLOYMENT["port"])
    (config_env,) = [env for env in _instructions("ENV") if env.startswith(f"{CONFIG_ENV_VAR}=")]
    assert DEPLOYMENT["env"][CONFIG_ENV_VAR] == config_env.split("=", 1)[1]
    # The storage volume is mounted where anycost.yaml's storage resolves inside the image.
    workdir = Path(_instructions("WORKDIR")[-1])
    storage = load_config(REPO / "anycost.yaml").storage
    mounts = {m["mountPath"] for m in DEPLOYMENT["volumeMounts"]}
    assert str(workdir / storage) in mounts
    launcher = VALUES["runLauncher"]["config"]["k8sRunLauncher"]
    assert {m["mountPath"] for m in launcher["volumeMounts"]} == mounts


def test_the_code_server_starts_with_the_values_arguments(tmp_path: Path) -> None:
    """`dagster code-server start` with the chart's arguments loads the project's jobs."""
    port = free_port()
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, CONFIG_ENV_VAR: str(REPO / "anycost.yaml"), "DAGSTER_HOME": str(tmp_path)}
    server = subprocess.Popen(
        [str(bin_dir / "dagster"), "code-server", "start", "-h", "127.0.0.1", "-p", str(port)]
        + DEPLOYMENT["codeServerArgs"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    ask = [str(bin_dir / "dagster"), "job", "list", "--grpc-host", "127.0.0.1", "--grpc-port"]
    try:
        listed = None
        deadline = time.monotonic() + 120  # a safety net only: loading takes a few seconds
        while time.monotonic() < deadline and server.poll() is None:
            listed = subprocess.run(ask + [str(port)], env=env, capture_output=True, text=True)
            if listed.returncode == 0:
                break
            time.sleep(1)
    finally:
        server.terminate()
        output = server.communicate(timeout=60)[0]
    # The server answers with the project's job, not a load error (which it would also serve).
    assert listed is not None and "Job: submit_month" in listed.stdout, (
        (listed.stdout + listed.stderr if listed else "") + output
    )[-3000:]


def test_limits_and_pools_match_the_instance_file() -> None:
    concurrency = VALUES["concurrency"]
    assert concurrency["enabled"] is True
    assert concurrency["pools"]["defaultLimit"] == INSTANCE["concurrency"]["pools"]["default_limit"]
    assert (
        concurrency["runs"]["maxConcurrentRuns"]
        == INSTANCE["concurrency"]["runs"]["max_concurrent_runs"]
    )
    assert VALUES["runLauncher"]["type"] == "K8sRunLauncher"
    # The pool the values' comment names is the one each drop step is in.
    assert "cloudzero_<connection>" in (REPO / "deploy" / "helm" / "values.yaml").read_text()
    assert pool_name("x") == "cloudzero_x"


def test_the_secret_holds_every_variable_the_project_reads() -> None:
    """The values' comments name the variables the secret must hold; each is one the project reads
    (the API key) or one that anycost.yaml's connections name with env:."""
    text = (REPO / "deploy" / "helm" / "values.yaml").read_text()
    secret = {s["name"] for s in DEPLOYMENT["envSecrets"]}
    assert secret == {
        s["name"] for s in VALUES["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"]
    }
    config = load_config(REPO / "anycost.yaml")
    wanted = {"CLOUDZERO_API_KEY"} | {
        c.connection_id.removeprefix("env:")
        for c in config.connections.values()
        if c.connection_id.startswith("env:")
    }
    for name in wanted:
        assert f"--from-literal={name}=" in text, (
            f"values.yaml does not say to put {name} in the secret"
        )
    resources = (REPO / "anycost_pipeline" / "defs" / "resources.py").read_text()
    assert 'dg.EnvVar("CLOUDZERO_API_KEY")' in resources
