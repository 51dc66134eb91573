"""The emulators of KleanApp (``sandbox.kleanapp``) and sevDesk (``sandbox.sevdesk``).

In-memory stand-ins for the two services, served by ``sandbox.serve``, with
``/_sandbox/`` controls (``sandbox.common``) and realistic data (``sandbox.seed``).
May import: nothing of reconciler, rules or state; its errors are its own
(``sandbox.errors``), which the CLI maps.
"""
