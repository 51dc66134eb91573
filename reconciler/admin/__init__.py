"""What waits for a person: the resolution queue, run history and status."""
