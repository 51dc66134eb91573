"""The NUL character (U+0000) removed from what either service sends: one rule for every store.

A NUL is never text a person typed: it arrives from a broken import or a
script, and no screen shows it. PostgreSQL cannot keep it in any text
column (psycopg refuses the whole statement with ``DataError``), while
SQLite stores it, so one record holding a NUL made every PostgreSQL sync
fail and every SQLite sync succeed. It is removed where an answer is
decoded (``reconciler.connectors.responses.without_nul``, the webhook
parser), before the record becomes canonical, so both stores see the same
text and both directions write the same value; the log says where (JSON
paths), never the value. Other control characters are not removed: a record
holding one is still quarantined (``rules.unfit``), because what they meant
cannot be told.
"""

from __future__ import annotations

from typing import Any

__all__ = ["NUL", "strip_nul"]

NUL = "\x00"


def strip_nul(value: Any, path: str = "") -> tuple[Any, list[str]]:
    """``value`` (decoded JSON) without NUL in any string or key, and the paths that held one."""
    found: list[str] = []
    return _strip(value, path, found), found


def _strip(value: Any, path: str, found: list[str]) -> Any:
    if isinstance(value, str):
        if NUL in value:
            found.append(path or "(body)")
            return value.replace(NUL, "")
        return value
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            name = key.replace(NUL, "") if isinstance(key, str) else key
            where = f"{path}.{name}" if path else str(name)
            if name != key:
                found.append(f"{where} (key)")
            out[name] = _strip(item, where, found)
        return out
    if isinstance(value, list):
        return [_strip(item, f"{path}[{i}]", found) for i, item in enumerate(value)]
    return value
