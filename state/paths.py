"""Where an SQLite state store lives, and why this process may not be able to write it.

Why: SQLite's own words for a store it cannot write are "unable to open
database file" and "attempt to write a readonly database", naming neither
the file nor the reason. An admin who deployed kleansync with a read-only
folder (a container's read-only mount, systemd's ``ProtectSystem``, a folder
owned by another user) needs both: which path, and that it is read-only.
``write_problem`` answers that without writing anything (``os.access`` and
``statvfs``), so ``kleansync doctor`` can ask it too. SQLite in WAL mode
writes ``-wal`` and ``-shm`` files beside the store, so the folder must be
writable as well as the file.

``remember`` notes each store this process opened, so an error met later
(``state.db_errors``) can name the store it happened to.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import make_url

#: The SQLite files this process opened as its state store (newest last).
_OPENED: list[Path] = []


def sqlite_file(url: str) -> Path | None:
    """The absolute path of an SQLite store's file; None for memory, URIs and other databases."""
    if not url.startswith("sqlite"):
        return None
    try:
        database = make_url(url).database
    except Exception:  # noqa: BLE001 - a bad URL is reported when the engine is made
        return None
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).absolute()


def _why(path: Path) -> str:
    try:
        on_read_only_fs = bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # AttributeError: no statvfs (Windows)
        on_read_only_fs = False
    if on_read_only_fs:
        return "read-only (a read-only file system)"
    return "read-only for this user (no write permission)"


def write_problem(url: str) -> str | None:
    """Why the state store at ``url`` cannot be written, naming the path; None if it can.

    Looks only (no file is created or changed). Not for PostgreSQL or an
    in-memory store: those answer for themselves when opened.
    """
    path = sqlite_file(url)
    if path is None:
        return None
    folder = path.parent
    if not folder.is_dir():
        return f"the folder {folder} for the state store {path.name} does not exist"
    if not os.access(folder, os.W_OK | os.X_OK):
        return (
            f"the folder {folder} is {_why(folder)}, so the state store {path.name} "
            "cannot be written"
        )
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return f"the state store {path} is {_why(path)}"
    return None


def remember(url: str) -> None:
    path = sqlite_file(url)
    if path is not None and path not in _OPENED:
        _OPENED.append(path)


def opened_problem() -> str | None:
    """``write_problem`` of the newest store this process opened that has one."""
    for path in reversed(_OPENED):
        problem = write_problem(f"sqlite:///{path}")
        if problem:
            return problem
    return None
