"""What waits for a person: the resolution queue, run history and status.

May import: reporting, connectors, config, log, state, rules, domain; not the
sync (the queue is filled by the sync's bookkeeping and read by the CLI).
"""
