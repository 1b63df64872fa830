"""Small state files written whole or not at all."""

import os
import uuid
from pathlib import Path


def write_text_atomically(path: Path, text: str, *, durable: bool = False) -> None:
    """Write `text` to `path` through a temporary file and a rename, so a reader (or a
    concurrent writer) only ever sees a whole file: of several writers, the last one stays.

    `durable`: also sync the file and its folder to disk before returning, so the new content
    survives a crash of the machine (the submission journal needs that; a cache does not).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(text)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(temporary, path)
    if durable:
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself survives a crash
        finally:
            os.close(directory)
