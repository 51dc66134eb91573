"""The adversarial suite (issue 14): real processes, public APIs, counted on both sides.

``audit.py`` is the shared referee: it reads both services on its own (plain
HTTP, none of kleansync's code) and reports duplicates and lost edits.
"""
