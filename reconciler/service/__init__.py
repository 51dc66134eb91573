"""``kleansync serve``: the always-on service, as parts handed to each other.

runner (Service: builds the parts, life cycle, ``serve``), settings, jobs
(sync runs and exports, one at a time), inbox (durable webhook inbox),
registration, http (Starlette app), health, metrics, schedule, webhooks
(signature and event parsing). May import: everything below it, not the cli.
"""
