"""Every concrete `anycost …` command written in README.md runs, in the order the README gives."""

import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from anycost_pipeline.cli import main
from anycost_pipeline_tests.conftest import REPO, Project
from anycost_pipeline_tests.servers import stop

ANYCOST = str(Path(sys.executable).parent / "anycost")
PLACEHOLDER = re.compile(r"\b[A-Z]{3,}\b|…|\[")


def readme_commands() -> list[str]:
    """`anycost` lines of bash blocks and inline code, without placeholders like MONTH."""
    text = (REPO / "README.md").read_text()
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        found += [
            line.split(" #")[0].strip()  # a comment after the command is the README's, not its
            for line in block.splitlines()
            if line.strip().startswith("anycost ")
        ]
    found += re.findall(r"`(anycost [^`]+)`", text)
    commands = []
    for command in found:
        if not PLACEHOLDER.search(command) and command not in commands:
            commands.append(command)
    return commands


def test_readme_lists_the_operator_commands() -> None:
    verbs = {shlex.split(c)[1] for c in readme_commands()}
    assert {
        "validate",
        "preview",
        "dry-run",
        "run",
        "sandbox",
        "show",
        "reconcile",
        "delete-month",
    } <= verbs


# What each placeholder of a command form in the README stands for, in the example project.
PLACEHOLDERS = {
    "MONTH": "2024-08",
    "YYYY-MM": "2024-08",
    "CONNECTION": "simple_cloud_main",
    "C": "simple_cloud_main",
    "SOURCE": "simple_cloud",
    "NAME": "one_day",
    "PATH": "sample_data/simple_cloud/simple_cloud_2024-08-01.csv",
    "EXPORT": "sample_data/simple_cloud/simple_cloud_2024-08-01.csv",
    "AMOUNT": "26.73",
    "N": "5",
    "DIR": "bodies",
}


def readme_command_forms() -> list[str]:
    """Every `anycost` command written in README.md, placeholders and all (an inline one may
    wrap across lines), except forms that elide their end with `…`."""
    text = (REPO / "README.md").read_text()
    found = [
        line.split(" #")[0].strip()
        for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S)
        for line in block.splitlines()
        if line.strip().startswith("anycost ")
    ]
    found += [" ".join(c.split()) for c in re.findall(r"`(anycost [^`]+)`", text)]
    return [c for c in dict.fromkeys(found) if "…" not in c]


def concrete(form: str) -> list[str]:
    """A command form's arguments with each placeholder replaced, optional parts `[...]`
    included and a repetition `...` written once."""
    words = shlex.split(form.replace("[", " ").replace("]", " "))[1:]
    return [PLACEHOLDERS.get(w, w) for w in words if w != "..."]


def test_every_command_form_in_the_readme_is_one_the_cli_reads(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`anycost reconcile CONNECTION MONTH` was in the Troubleshooting table, and the CLI
    refused it: every form the README shows, placeholders filled in, must parse."""
    from anycost_pipeline.cli import parser

    refused = []
    for form in readme_command_forms():
        try:
            parser().parse_args(concrete(form))
        except SystemExit:
            refused.append(f"{form}: {capsys.readouterr().err.strip().splitlines()[-1]}")
    assert not refused, "\n".join(refused)
    assert "anycost reconcile MONTH --connection CONNECTION --contents" in readme_command_forms()


def walkthrough_export(root: Path) -> Path:
    """The vendor export of the README's ten-minute walkthrough, written where it says."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Connect a vendor's CSV in ten minutes") :]
    path = re.search(r"e\.g\. `(exports/[^`]+\.csv)`", section).group(1)  # type: ignore[union-attr]
    (export,) = re.findall(r"```csv\n(.*?)```", section[: section.index("\n## ")], flags=re.S)
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(export)
    return target


def test_every_readme_command_succeeds(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(project.root)
    walkthrough_export(project.root)  # step 1 of the walkthrough: the user's own file
    monkeypatch.setenv("DAGSTER_HOME", str(project.root / "dagster_home"))
    # delete-month last: a month re-sent unchanged right after it would reuse the same idempotency
    # keys, which CloudZero (and the sandbox) answer from memory without applying them again.
    commands = sorted(readme_commands(), key=lambda c: c.startswith("anycost delete-month"))
    for command in commands:
        args = shlex.split(command)[1:]
        if args[:2] == ["sandbox", "serve"]:
            continue  # runs until stopped: tested below as a process
        if "--vendor" in args:
            continue  # needs a vendor's key and API: cli/test_add_vendor.py runs it on a stand-in
        code = main(args)
        output = capsys.readouterr()
        # `anycost plan` exits 2 when months are to be sent or cleared, as the README says.
        allowed = (0, 2) if args[0] == "plan" else (0,)
        assert code in allowed, f"{command}\n{output.out}\n{output.err}"


def test_sandbox_serve_answers_on_127_0_0_1(project: Project) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert any(c.startswith("anycost sandbox serve") for c in readme_commands())
    server = subprocess.Popen(
        [ANYCOST, "sandbox", "serve", "--port", str(port)],
        cwd=project.root,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert "CloudZero sandbox listening on http://127.0.0.1:" in (
            server.stdout.readline() if server.stdout else ""
        )
        answer = None
        for _ in range(50):  # bounded: the line above is printed once the socket listens
            try:
                answer = requests.get(
                    f"http://127.0.0.1:{port}/v2/connections/billing/anycost/c1/billing_drops",
                    headers={"Authorization": "k"},
                    timeout=5,
                )
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        assert answer is not None and answer.json() == {"billing_drops": []}
    finally:
        stop(server)


DAGSTER_COMMAND = re.compile(
    r"(?:DAGSTER_HOME=\S+ )?(?:dg|dagster|dagster-daemon|dagster-webserver)(?: [^`#\n]*)?"
)
# Shown in the README but not run by a test as written: a form Dagster refuses (the README says
# so), the production servers, and the per-connection step whose name is a placeholder (the
# queued-backfill test runs it for its own connections).
NOT_RUN = {
    "dg launch --partition-range",
    "dagster-webserver",
    "dagster code-server",
    "dagster code-server start -m anycost_pipeline.definitions",
    "dagster instance concurrency set cloudzero_<connection> 1",
}


def readme_dagster_commands() -> set[str]:
    """`dg` and `dagster` commands of bash blocks and inline code, whitespace collapsed."""
    text = (REPO / "README.md").read_text()
    found = [
        line.strip()
        for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S)
        for line in block.splitlines()
        if DAGSTER_COMMAND.fullmatch(line.split("#")[0].strip())
    ]
    found += re.findall(rf"`({DAGSTER_COMMAND.pattern.replace('#', '#`')})`", text)
    return {" ".join(c.split("#")[0].split()) for c in found}


def test_every_dagster_command_in_the_readme_is_run_by_a_test() -> None:
    from anycost_pipeline_tests.cli.test_readme_dagster_commands import DEV, LAUNCH
    from anycost_pipeline_tests.deploy.test_readme_backfill import readme_backfill
    from anycost_pipeline_tests.test_component import COMMANDS

    run = {DEV, LAUNCH, readme_backfill(), *COMMANDS}
    # Named in the prose; run as part of the commands above (the backfill test starts the
    # daemon from the project folder, as the README says).
    run |= {"dg dev", "dagster-daemon run"}
    assert readme_dagster_commands() - NOT_RUN == run


def test_the_walkthrough_gives_the_figures_it_states(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Steps 2 to 4 of the walkthrough as written, with the path edited as step 3 says."""
    monkeypatch.chdir(project.root)
    monkeypatch.setenv("DAGSTER_HOME", str(project.root / "dagster_home"))
    export = walkthrough_export(project.root)
    relative = str(export.relative_to(project.root))
    assert main(["add-source", relative, "--name", "acme"]) == 0
    proposed = capsys.readouterr().out
    assert "Total: 66.85" in proposed and "rows_valid passed" in proposed
    assert "acme" not in project.config()["sources"]  # nothing written without --write
    assert main(["add-source", relative, "--name", "acme", "--write"]) == 0
    config = project.config()
    config["sources"]["acme"]["path"] = "exports/acme/*.csv"
    project.write_config(config)
    assert main(["validate"]) == 0 and main(["preview", "acme", "2024-08"]) == 0
    capsys.readouterr()
    assert main(["run", "2024-08"]) == 0
    said = capsys.readouterr().out
    lines = [" ".join(line.split()) for line in said.splitlines()]
    assert "raw/acme rows=5 cost=66.85" in lines and "cbf/acme rows=5 cost=66.85" in lines
    assert any(line.startswith("drop/simple_cloud_main rows=255 cost=1100.36") for line in lines)
    assert "2024-08: sent" in lines
