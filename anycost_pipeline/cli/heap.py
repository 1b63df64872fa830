"""The collector in a process that runs one `anycost` command and ends.

Python's collector walks every tracked object at each full collection and once more as the
process exits. After Dagster, its storage, polars and the definitions are imported, that is
over 200,000 objects that live as long as the process: walking them took about 0.4 s of a
250-row month's run and 0.8 s at exit (benchmarks/README.md). Frozen, they are left out of
every later collection; what the command makes afterwards is collected as usual.

So the `anycost` command collects nothing while it imports (a few collections of a growing
heap, 0.3 s), then freezes what it imported and collects as usual. Only in a process of its
own: a test calling `main` in process would keep its garbage for good.
"""

import gc

_own_process = False


def own_process() -> None:
    """This process runs one command and ends (the `anycost` console command): nothing is
    collected until `imports_done`."""
    global _own_process
    _own_process = True
    gc.disable()


def imports_done() -> None:
    """The command's long-lived objects exist now: leave them out of later collections, and
    collect what comes after."""
    if _own_process:
        gc.freeze()
        gc.enable()


def ending() -> None:
    """The command is over: nothing need be collected before the process exits.

    So nothing the command leaves behind may rely on the collector to finish it at exit (a
    finalizer of an object in a cycle, a file written but never closed): close files with
    `with`, and clean up with context managers or `weakref.finalize`, which still run.
    """
    if _own_process:
        gc.freeze()
