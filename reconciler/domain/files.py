"""Writing a file so that nobody ever reads half of it.

A report that an admin's browser (or a web server) opens while it is being
written, or a config overwritten by ``kleansync init --force`` when the disk
fills up, must be either the old file or the new one. So the text goes to a
temporary file beside the target, which then replaces it in one rename.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, text: str, *, newline: str = "") -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and a rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
