"""``kleansync serve``: the always-on service (schedule, webhooks, jobs, HTTP)."""
