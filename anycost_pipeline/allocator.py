"""How polars' memory allocator hands freed memory back to the system, set before polars loads.

Polars allocates with jemalloc, which keeps freed pages for a while to reuse them (polars sets
0.5 s for dirty pages, 1 s more before they leave the process). A run's steps each read a
month, convert it and let it go: pages one step freed are still counted against the process
(and a pod's memory limit) while the next step allocates its own. For a 1,000,000-row month the
run held at most about 460 MB at once but peaked at 575-634 MB; with a background thread
returning pages unused for 100 ms it peaks at 481-514 MB, for a fraction of a second of CPU
(benchmarks/README.md). Returning them at once (`dirty_decay_ms:0`) gives 462 MB for about 2 s
more CPU.

jemalloc reads `_RJEM_MALLOC_CONF` once, as polars loads, and takes the last value of each
option. Polars puts its own values first and keeps what the variable already holds after them,
and a process started by one that loaded polars inherits the variable: so the setting is added
at the end unless it is there already. `ANYCOST_MALLOC_CONF` replaces it (empty: add nothing).
"""

import os

ENV_VAR = "_RJEM_MALLOC_CONF"
CHOICE_ENV_VAR = "ANYCOST_MALLOC_CONF"
SETTING = "background_thread:true,dirty_decay_ms:100,muzzy_decay_ms:0"


def return_freed_memory_promptly() -> None:
    """Ask polars' allocator to return freed memory within 100 ms, or as ANYCOST_MALLOC_CONF says."""
    wanted = os.environ.get(CHOICE_ENV_VAR, SETTING)
    current = os.environ.get(ENV_VAR, "")
    if wanted and not current.endswith(wanted):
        os.environ[ENV_VAR] = f"{current},{wanted}" if current else wanted
