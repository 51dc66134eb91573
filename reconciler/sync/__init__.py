"""One sync run and what keeps it safe, a module per step (``engine`` orchestrates).

fence (run lock, heartbeat, write guard) > recovery (what a killed run left) >
snapshot > plan (+ plan_model, plan_units, plan_writes) > brake > apply (the
journaled writes) > bookkeeping (admin queues, report) > report (RunResult);
stable_ids, number_swaps and resync (rebuild links from both sides).
May import: reporting, connectors, config, log, state, rules, domain.
"""
