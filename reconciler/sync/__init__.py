"""One sync run: snapshot -> plan -> apply -> report, and what keeps it safe (lock, brake)."""
