"""KleanApp sandbox emulator: the shared contract (../shared/kleanapp/openapi.yaml)
served in memory under /api/v1, plus /_sandbox/ controls. See ``app.py``."""

from sandbox.kleanapp.app import KleanappSandbox, create_app

__all__ = ["KleanappSandbox", "create_app"]
