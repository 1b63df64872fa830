"""Connecting a vendor from scratch with the README's commands only: `anycost add-source
--vendor openai --write` in an empty folder writes anycost.yaml with the key's variable named,
previews the month pulled from the vendor (a stand-in on 127.0.0.1), and `anycost run` sends
it to the sandbox to the last digit."""

import re
import shlex
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from anycost_pipeline.cli import main
from anycost_pipeline.cloudzero.sandbox import SandboxStore
from anycost_pipeline_tests.conftest import REPO, printed_words
from anycost_pipeline_tests.vendors.openai_api import august_ledger, openai_api

KEY = "sk-admin-stand-in-add-vendor"
AUGUST, SEPTEMBER = 1722470400, 1725148800


@pytest.fixture
def empty_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for variable in ("ANYCOST_CONFIG", "DAGSTER_HOME", "OPENAI_ADMIN_KEY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def readme_vendor_commands() -> list[list[str]]:
    """The commands of the README's "Connecting a vendor in one command", as arguments."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("**Connecting a vendor in one command**") :]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S).group(1)  # type: ignore[union-attr]
    lines = [line.split(" #")[0].strip() for line in block.splitlines()]
    return [shlex.split(line)[1:] for line in lines if line.startswith("anycost ")]


def test_the_readme_s_commands_connect_a_vendor_from_scratch(
    empty_folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's commands as written, with `--base-url` (the README's option for a test
    server) pointing add-source at the stand-in."""
    ledger = august_ledger()
    august = sum(
        (Decimal(c.value) for c in ledger if AUGUST <= c.day_start < SEPTEMBER), Decimal(0)
    )
    add, run = readme_vendor_commands()
    assert add[:3] == ["add-source", "--vendor", "openai"] and run[0] == "run"
    monkeypatch.setenv("OPENAI_ADMIN_KEY", KEY)
    with openai_api(KEY, ledger) as api:
        assert main([*add, "--base-url", api.url]) == 0
        said = printed_words(capsys)
        assert "Added source 'openai'" in said and f"Total: {august}" in said, said
        assert main(run) == 0
        assert "2024-08: sent" in printed_words(capsys)
    rows = SandboxStore(empty_folder / ".anycost" / "sandbox").month_rows("main", "2024-08")
    assert sum((Decimal(r["cost/cost"]) for r in rows), Decimal(0)) == august


def test_a_vendor_connected_from_scratch_previews_and_sends_its_month(
    empty_folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = august_ledger()
    august = sum(
        (Decimal(c.value) for c in ledger if AUGUST <= c.day_start < SEPTEMBER), Decimal(0)
    )
    with openai_api(KEY, ledger) as api:
        # Without the key: the block is written and names the variable to set; nothing pulled.
        command = ["add-source", "--vendor", "openai", "--base-url", api.url, "--month", "2024-08"]
        assert main([*command, "--write"]) == 1
        said = printed_words(capsys)
        assert "Added source 'openai' (connection 'main')" in said
        assert "Its key is read from OPENAI_ADMIN_KEY: an OpenAI Admin key is needed" in said
        assert (
            "Set OPENAI_ADMIN_KEY in the environment, then preview a month from the vendor: "
            "anycost preview openai 2024-08" in said
        )
        assert api.seen == []
        written = yaml.safe_load((empty_folder / "anycost.yaml").read_text())
        assert written["sources"] == {
            "openai": {"connection": "main", "preset": "openai", "base_url": api.url}
        }
        assert written["start_month"] == "2024-08"

        monkeypatch.setenv("OPENAI_ADMIN_KEY", KEY)
        # With the key, the one command previews the month from the vendor (printed only).
        assert main([*command, "--name", "openai_2"]) == 0
        said = printed_words(capsys)
        assert "Proposed source 'openai_2'" in said and f"Total: {august}" in said, said
        assert "openai_2" not in (empty_folder / "anycost.yaml").read_text()

        assert main(["preview", "openai", "2024-08"]) == 0
        said = printed_words(capsys)
        assert f"Total: {august}" in said, said
        assert KEY not in said

        assert main(["run", "2024-08"]) == 0
        assert "2024-08: sent" in printed_words(capsys)
    rows = SandboxStore(empty_folder / ".anycost" / "sandbox").month_rows("main", "2024-08")
    assert sum((Decimal(r["cost/cost"]) for r in rows), Decimal(0)) == august


def test_add_source_vendor_refuses_an_unknown_vendor_and_a_name_taken(
    empty_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["add-source", "--vendor", "nosuch"]) == 1
    assert "--vendor 'nosuch' is not a ready-made connector; use one of: " in printed_words(capsys)
    assert main(["add-source", "--vendor", "openai", "--write"]) == 1  # no key: preview waits
    capsys.readouterr()
    assert main(["add-source", "--vendor", "openai"]) == 1
    assert "already has a source 'openai'; choose another name with --name NAME" in (
        printed_words(capsys)
    )
    assert main(["add-source"]) == 1
    assert "give a sample export (anycost add-source PATH) or a ready-made connector" in (
        printed_words(capsys)
    )
