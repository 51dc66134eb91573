"""A tenant's tokens: from environment variables or a mounted secrets directory.

The registry row names each secret (``kleanapp_token_env``, ``sevdesk_token_env``);
the value never enters the database that every worker and every backup reads. Two
sources, as container platforms offer them:

* a **secrets directory** (``KLEANSYNC_SECRETS_DIR`` or ``kleansync worker
  --secrets-dir``): one file per secret, the file's name is the secret's name
  (Kubernetes and Docker mount secrets so; a file can be rotated without restarting
  the worker, since it is read each time a tenant's job starts); one trailing newline
  (what ``echo`` and editors leave) is not part of the token;
* the **environment** (``export KLEANAPP_TOKEN_GLANZ=…``), the single-company way.

A file in the directory wins over a variable of the same name: the directory is the
deliberate, rotatable source. A secret found in neither is ``MissingSecret``: one line
naming the tenant and the secret's name, never a value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from reconciler.domain.errors import ConfigError
from reconciler.domain.i18n import _
from reconciler.domain.secrets import register_secret

#: The environment variable naming the secrets directory.
SECRETS_DIR_ENV = "KLEANSYNC_SECRETS_DIR"


class MissingSecret(ConfigError):
    """A tenant's secret is in neither source; that tenant cannot run (the others can)."""

    def __init__(self, tenant: str, secret: str, directory: Path | None) -> None:
        where = (
            _("neither an environment variable nor a file in %(dir)s", dir=directory)
            if directory is not None
            else _("no environment variable of that name is set")
        )
        super().__init__(
            _(
                "tenant %(tenant)s: secret %(secret)s is missing (%(where)s); the tenant is "
                "skipped",
                tenant=tenant,
                secret=secret,
                where=where,
            )
        )
        self.tenant = tenant
        self.secret = secret


class Secrets:
    """Reads named secrets from ``directory`` (if any), else from ``environ``."""

    def __init__(
        self, directory: str | Path | None = None, environ: Mapping[str, str] | None = None
    ) -> None:
        self.environ = os.environ if environ is None else environ
        chosen = directory if directory is not None else self.environ.get(SECRETS_DIR_ENV)
        self.directory = Path(chosen) if chosen else None

    def get(self, name: str) -> str | None:
        """The secret ``name`` (registered for masking), or None if neither source has it."""
        value = self._from_file(name)
        if value is None:
            value = self.environ.get(name, "").strip() or None
        if value is not None:
            register_secret(value)
        return value

    def require(self, tenant: str, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise MissingSecret(tenant, name, self.directory)
        return value

    def _from_file(self, name: str) -> str | None:
        if self.directory is None or "/" in name or name.startswith("."):
            return None
        path = self.directory / name
        try:
            text = path.read_text(encoding="utf-8")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        except OSError as exc:
            raise ConfigError(
                _("secret file %(path)s cannot be read (%(why)s)", path=path, why=exc.strerror)
            ) from None
        value = text.removesuffix("\n").removesuffix("\r").strip()
        return value or None
