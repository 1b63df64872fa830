"""anycost_pipeline: get any cost source into CloudZero through AnyCost Stream.

`anycost_pipeline.AnycostComponent` is the Dagster Component (imported on first use, so the
`anycost` command starts without loading Dagster).
"""

from typing import Any

from anycost_pipeline.allocator import return_freed_memory_promptly

# Before anything imports polars: its allocator reads the setting once, as it loads.
return_freed_memory_promptly()

__all__ = ["AnycostComponent"]


def __getattr__(name: str) -> Any:
    if name == "AnycostComponent":
        from anycost_pipeline.component import AnycostComponent

        return AnycostComponent
    raise AttributeError(f"module 'anycost_pipeline' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
