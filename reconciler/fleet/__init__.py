"""The worker fleet of a multi-company installation (issue 20), on procrastinate.

Many companies (tenants, ``state.tenant_tables``) share one PostgreSQL database; any
number of ``kleansync worker`` processes on any number of machines run their jobs:
each tenant's sync, its invoice exports (on save and backfills) and the drain of its
webhook inbox. The pieces:

* ``secrets``: a tenant's tokens, read from environment variables or a mounted secrets
  directory (never from the database);
* ``runtime``: what the engine needs to run one tenant (its ``Config``, tokens, store),
  built from the tenant's registry row;
* ``app``: the procrastinate ``App`` on the fleet's database and its schema;
* ``tasks`` and ``jobs``: the job kinds and how to enqueue them (``jobs.defer_*`` is the
  API for other parts: the fleet-mode webhook receiver, the CLI, the benchmark);
* ``schedule``: the one periodic "tick" that fires every tenant's own cron;
* ``worker``: one worker process (graceful stop, stalled-job recovery).

May import the service, the invoice export, the sync engine and everything below them;
only ``reconciler.cli`` imports it.
"""
