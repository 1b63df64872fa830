"""The `anycost` command leaves its imports out of the collector's walks; `main` called in a
process that goes on (a test, a notebook) changes nothing of the collector's."""

import gc
import json
import subprocess
import sys

from anycost_pipeline.cli import main
from anycost_pipeline_tests.conftest import Project

PROBE = """
import gc, json, sys
from anycost_pipeline.cli import heap, run
seen = []
real = heap.imports_done
def imports_done():
    seen.append(gc.isenabled())  # collection is off while the command imports
    real()
    seen.append((gc.isenabled(), gc.get_freeze_count() > 100_000))
heap.imports_done = imports_done
run.heap = heap
sys.argv = ["anycost", "run", "2024-08"]
from anycost_pipeline.cli import entry
try:
    entry()
except SystemExit as end:
    print(json.dumps({"seen": seen, "code": end.code}))
"""


def test_the_command_freezes_its_imports_and_collects_after(project: Project) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=project.root, capture_output=True, text=True, timeout=300
    )
    said = json.loads(done.stdout.strip().splitlines()[-1])
    assert said == {"seen": [False, [True, True]], "code": 0}, done.stderr[-2000:]


def test_main_in_process_leaves_the_collector_as_it_was(project: Project) -> None:
    frozen = gc.get_freeze_count()
    assert main(["validate"]) in (0, 1)
    assert gc.isenabled() and gc.get_freeze_count() == frozen
