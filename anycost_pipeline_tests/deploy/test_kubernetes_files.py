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

import pytest
import yaml

from anycost_pipeline.cli.home import ready_instance
from anycost_pipeline.config import CONFIG_ENV_VAR, load_config
from anycost_pipeline.defs.pools import pool_name
from anycost_pipeline_tests.conftest import REPO
from anycost_pipeline_tests.servers import free_port, stop

VALUES = yaml.safe_load((REPO / "deploy" / "helm" / "values.yaml").read_text())
INSTANCE = yaml.safe_load((REPO / "deploy" / "dagster.postgres.yaml").read_text())
# Logical lines: an instruction continued with a trailing backslash is one line.
DOCKERFILE = (REPO / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
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


def test_the_code_server_starts_with_the_values_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`dagster code-server start` with the chart's arguments loads the project's jobs."""
    port = free_port()
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, CONFIG_ENV_VAR: str(REPO / "anycost.yaml"), "DAGSTER_HOME": str(tmp_path)}
    # The storage exists before the server and `dagster job list` open it at the same moment
    # (each would create it: "more than one head"), as a deployment's instance already does.
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))  # the settings written locate it so
    ready_instance(tmp_path)
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
        output = stop(server)
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


STORAGE_FILE = REPO / "deploy" / "kubernetes" / "storage.yaml"
README = (REPO / "README.md").read_text()
LAUNCHER = VALUES["runLauncher"]["config"]["k8sRunLauncher"]
_SUFFIXES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 10**3, "M": 10**6, "G": 10**9}


def _bytes(quantity: str) -> int:
    """A Kubernetes quantity such as 512Mi or 1G, in bytes."""
    for suffix, factor in sorted(_SUFFIXES.items(), key=lambda kv: -len(kv[0])):
        if str(quantity).endswith(suffix):
            return int(str(quantity).removesuffix(suffix)) * factor
    return int(quantity)


def _image_user() -> int:
    (user,) = _instructions("USER")
    uid = user.split(":")[0]
    assert uid.isdigit(), f"USER {user}: a numeric uid lets Kubernetes check runAsNonRoot"
    return int(uid)


def test_the_image_declares_a_production_deployment() -> None:
    envs = dict(env.split("=", 1) for env in _instructions("ENV"))
    assert envs["ANYCOST_DEPLOYMENT"] == "production"


def _readme_quickstart_commands() -> list[str]:
    quickstart = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks = quickstart.split("```bash\n")[1:]
    return [block.split("```", 1)[0].strip() for block in blocks]


def test_the_readmes_fresh_machine_commands_are_not_a_production_deployment() -> None:
    commands = _readme_quickstart_commands()
    assert any("anycost run" in c for c in commands)
    assert any("pytest" in c for c in commands)
    for command in commands:
        assert "ANYCOST_DEPLOYMENT" not in command, command


def test_the_image_runs_as_an_unprivileged_user_that_owns_the_storage_mount() -> None:
    uid = _image_user()
    assert uid != 0
    (mount,) = {m["mountPath"] for m in DEPLOYMENT["volumeMounts"]}
    owning = [run for run in _instructions("RUN") if "chown" in run]
    text = "\n".join(DOCKERFILE)
    assert owning and f"chown {uid}:{uid}" in text and mount in text


def test_every_pod_runs_as_the_images_user_with_the_volume_writable() -> None:
    uid = _image_user()
    for pod in (
        DEPLOYMENT["podSecurityContext"],
        LAUNCHER["runK8sConfig"]["podSpecConfig"]["securityContext"],
    ):
        assert pod["runAsNonRoot"] is True
        assert pod["runAsUser"] == uid
        assert pod["fsGroup"] == uid  # the volume's files are group-writable by the image's user
    for container in (DEPLOYMENT["securityContext"], LAUNCHER["securityContext"]):
        assert container["runAsNonRoot"] is True
        assert container["runAsUser"] == uid
        assert container["allowPrivilegeEscalation"] is False


def test_the_claim_the_values_mount_is_created_by_the_storage_file() -> None:
    assert STORAGE_FILE.is_file(), "nothing creates the volume claim the values mount"
    STORAGE = yaml.safe_load(STORAGE_FILE.read_text())  # noqa: N806 - the file, as a constant
    assert STORAGE["kind"] == "PersistentVolumeClaim"
    assert STORAGE["spec"]["accessModes"] == ["ReadWriteMany"]
    assert _bytes(STORAGE["spec"]["resources"]["requests"]["storage"]) > 0
    for volumes in (DEPLOYMENT["volumes"], LAUNCHER["volumes"]):
        claims = {v["persistentVolumeClaim"]["claimName"] for v in volumes}
        assert claims == {STORAGE["metadata"]["name"]}
    # The README applies it before installing the chart, in the same block of commands.
    (block,) = [b for b in README.split("```bash\n") if "helm upgrade --install" in b]
    block = block.split("```", 1)[0]
    assert "kubectl apply -f deploy/kubernetes/storage.yaml" in block
    assert block.index("kubectl apply -f deploy/kubernetes/storage.yaml") < block.index(
        "helm upgrade"
    )


def test_code_and_run_pods_request_disk_for_a_large_months_bodies() -> None:
    """A 1,000,000-row month keeps about 340 MB of request bodies in the pod's /tmp (README,
    'Memory and disk for a large month'), which Kubernetes counts as ephemeral storage."""
    assert "340 MB" in README
    for resources in (DEPLOYMENT["resources"], LAUNCHER["resources"]):
        request = _bytes(resources["requests"]["ephemeral-storage"])
        limit = _bytes(resources["limits"]["ephemeral-storage"])
        assert request >= 340 * 10**6 * 2  # the bodies, with room for logs and a second copy
        assert limit >= request
        assert _bytes(resources["limits"]["memory"]) >= 500 * 10**6  # the month's peak


def test_run_monitoring_matches_the_instance_file_and_frees_a_killed_runs_slot() -> None:
    monitoring = VALUES["dagsterDaemon"]["runMonitoring"]
    instance = INSTANCE["run_monitoring"]
    assert monitoring["enabled"] is instance["enabled"] is True
    assert monitoring["startTimeoutSeconds"] == instance["start_timeout_seconds"]
    assert monitoring["maxResumeRunAttempts"] == instance["max_resume_run_attempts"]
    assert monitoring["pollIntervalSeconds"] == instance["poll_interval_seconds"]
    assert (
        monitoring["freeSlotsAfterRunEndSeconds"]
        == instance["free_slots_after_run_end_seconds"]
        == 60
    )
