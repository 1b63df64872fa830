"""Files spelled once, as `os.path.realpath` spells them, however a listing names them."""

import os
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from anycost_pipeline.sources.shared_files import same_files

SPELLINGS = [
    "real/a.csv",
    "real/b.csv",
    "./real/../real/a.csv",
    "real//a.csv",
    "folder_link/a.csv",
    "folder_link/file_link.csv",
    "real/file_link.csv",
    "real/chain.csv",
    "real/broken.csv",
    "real/missing.csv",
    "loop.csv",
    "real",
    "real/",
    "real/.",
    "real/..",
    "folder_link",
    ".",
    "",
    "a.csv",
    "s3://bucket/real/a.csv",
    "memory://exports/../a.csv",
]


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("same")
    (root / "real").mkdir()
    (root / "real" / "a.csv").write_text("x")
    (root / "real" / "b.csv").write_text("y")
    (root / "folder_link").symlink_to(root / "real")
    (root / "real" / "file_link.csv").symlink_to("a.csv")
    (root / "real" / "chain.csv").symlink_to("file_link.csv")
    (root / "real" / "broken.csv").symlink_to("gone.csv")
    (root / "loop.csv").symlink_to(root / "loop.csv")
    return root


@settings(max_examples=200, deadline=None)
@given(chosen=st.lists(st.sampled_from(SPELLINGS), max_size=8), absolute=st.booleans())
def test_files_are_spelled_as_realpath_spells_them(
    tree: Path, chosen: list[str], absolute: bool
) -> None:
    here = os.getcwd()
    os.chdir(tree)
    try:
        paths = [f"{tree}/{p}" if absolute and "://" not in p else p for p in chosen]
        expected = {p if "://" in p else os.path.realpath(p) for p in paths}
        assert same_files(paths) == expected
    finally:
        os.chdir(here)
