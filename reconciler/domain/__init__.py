"""The records and errors every other package speaks in; imports nothing else of ours."""
