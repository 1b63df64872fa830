"""Every `anycost …` command the product's own words advise (errors, verdicts, checks) is one
the command line reads: the advice `anycost reconcile CONNECTION MONTH --contents` was given in
eight messages, and the CLI refused it (review of the connection over time, finding 6)."""

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from anycost_pipeline_tests.cli.test_readme_commands import PLACEHOLDERS, concrete
from anycost_pipeline_tests.conftest import REPO

COMMAND = re.compile(r"`(anycost [^`]+)`")


def _stand_in(value: ast.FormattedValue) -> str:
    """What an f-string's `{…}` stands for in an advised command, from its expression."""
    said = ast.unparse(value.value).lower()
    if "month" in said:
        return "2024-08"
    if "connection" in said or "cid" in said:
        return PLACEHOLDERS["CONNECTION"]
    return "x"


def _text(node: ast.AST) -> str | None:
    """A string literal, f-string (each `{…}` stood in for) or `+` of them, as one text."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            _stand_in(v) if isinstance(v, ast.FormattedValue) else str(v.value)  # type: ignore[attr-defined]
            for v in node.values
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _text(node.left), _text(node.right)
        if left is not None and right is not None:
            return left + right
    return None


def advised() -> Iterator[tuple[str, str]]:
    """(where, command form) for each `anycost …` in a text of the package's code."""
    for path in sorted((REPO / "anycost_pipeline").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            text = _text(node)
            for form in COMMAND.findall(text or ""):
                where = f"{path.relative_to(REPO)}:{node.lineno}"  # type: ignore[attr-defined]
                yield where, " ".join(form.split())


def test_the_package_advises_commands() -> None:
    assert len({form for _, form in advised()}) > 20


def test_every_command_the_package_advises_is_one_the_cli_reads(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from anycost_pipeline.cli import parser

    refused = []
    for where, form in advised():
        if "…" in form or "|" in form or len(form.split()) == 2:
            continue  # an elided form, alternatives, or a command's name alone
        try:
            parser().parse_args(concrete(form))
        except SystemExit:
            error = capsys.readouterr().err.strip().splitlines()[-1]
            refused.append(f"{where}: `{form}`: {error}")
    assert not refused, "\n".join(refused)


def test_a_refused_form_is_found(tmp_path: Path) -> None:
    """The collector sees advice split over literals and f-strings, as messages are written."""
    code = (
        'x = ("look: `anycost reconcile " "CONNECTION MONTH --contents`")\n'
        'y = f"`anycost run {state.month} --force`"\n'
        'z = "`anycost plan " + "MONTH`"\n'
    )
    found = {
        form for node in ast.walk(ast.parse(code)) for form in COMMAND.findall(_text(node) or "")
    }
    assert found == {
        "anycost reconcile CONNECTION MONTH --contents",
        "anycost run 2024-08 --force",
        "anycost plan MONTH",
    }
