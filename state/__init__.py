"""kleansync's memory between runs: links, agreed bases, cursors, runs, journal."""

from state.store import Store

__all__ = ["Store"]
