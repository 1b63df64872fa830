"""`anycost_here` (a command through `anycost`'s `main` in the test's process) says what the
`anycost` command says: the same exit codes and words, warnings that go through logging
included, for a month sent, found unchanged, and changed after it was final."""

import re
from pathlib import Path

from anycost_pipeline.cloudzero.sandbox import start_sandbox
from anycost_pipeline_tests.cli.live import KEY, anycost, anycost_here
from anycost_pipeline_tests.cli.test_months_over_time import words as said_by
from anycost_pipeline_tests.cli.test_settling import CORRECTED, INVOICED, export, project

COMMANDS = [("run", "2024-08"), ("run", "2024-08"), ("plan",), ("run", "2024-08")]


def _said(root: Path, command) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    """Each command's exit code and words, with what differs between two projects (their
    folder, times, drop ids) written alike."""
    config = project(root / "p", INVOICED, {"when": "bill/invoice_id"})
    said = []
    with start_sandbox(root / "cz", api_key=KEY) as server:
        for number, args in enumerate(COMMANDS):
            if number == 2:
                export(config, CORRECTED)  # a late change to the final month
            result = command(config, server.url, *args)
            words = said_by(result).replace(str(root), "<root>").replace(server.url, "<url>")
            words = re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+(\+00:00|Z)?", "<time>", words)
            words = re.sub(r"\b[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}\b", "<id>", words)
            words = re.sub(r"sandbox-[0-9a-f]+", "sandbox-<id>", words)
            said.append((result.returncode, words))
    return said


def test_anycost_here_says_what_the_anycost_command_says(tmp_path: Path) -> None:
    by_process = _said(tmp_path / "process", anycost)
    here = _said(tmp_path / "here", anycost_here)
    assert "LATE CHANGE" in by_process[-1][1]  # a warning the command logs
    assert here == by_process
