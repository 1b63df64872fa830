"""The allocator setting reaches polars in every process that imports the project first,
including one started by a process that had loaded polars (and so inherited polars' value)."""

import os
import subprocess
import sys

import pytest

from anycost_pipeline.allocator import CHOICE_ENV_VAR, ENV_VAR, SETTING

SHOW = "import anycost_pipeline, polars, os; print(os.environ['_RJEM_MALLOC_CONF'])"


def _conf_in_new_process(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in (ENV_VAR, CHOICE_ENV_VAR)}
    done = subprocess.run(
        [sys.executable, "-c", SHOW],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.mark.parametrize(
    "inherited",
    [
        None,  # a fresh shell
        "dirty_decay_ms:500,muzzy_decay_ms:1000",  # started by a process that had loaded polars
        f"dirty_decay_ms:500,muzzy_decay_ms:1000,{SETTING}",  # ... by one that imported us first
    ],
)
def test_the_setting_is_the_last_word_jemalloc_reads(inherited: str | None) -> None:
    conf = _conf_in_new_process(**({ENV_VAR: inherited} if inherited else {}))
    assert conf.endswith(SETTING)  # jemalloc takes the last value of each option
    assert conf.count(SETTING) == 1


def test_anycost_malloc_conf_replaces_the_setting_and_empty_adds_nothing() -> None:
    assert _conf_in_new_process(**{CHOICE_ENV_VAR: "dirty_decay_ms:0"}).endswith(
        ",dirty_decay_ms:0"
    )
    assert SETTING not in _conf_in_new_process(**{CHOICE_ENV_VAR: ""})
