"""Small state files written whole or not at all."""

import os
import uuid
from pathlib import Path


def write_text_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file and a rename, so a reader (or a
    concurrent writer) only ever sees a whole file: of several writers, the last one stays."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
