"""A request budget shared beyond one process: what the HTTP client asks, and its key.

Here, in the domain, because both sides of it must agree and neither may import the other:
the connectors (``reconciler.connectors.http``) consult a ``Limiter`` before each request,
and the state store keeps the budget (``state.rate_bucket``) under the key ``rate_key``
makes. The key is a digest of the service and the token, so the token itself is never
handed on, stored or logged.
"""

from __future__ import annotations

import hashlib
from typing import Protocol


class Limiter(Protocol):
    """What ``HttpClient`` consults before each request (``limiter=``)."""

    def acquire(self, key: str) -> float:
        """Take one request's slot for ``key``; seconds to wait before sending it."""
        ...


def rate_key(service: str, token: str) -> str:
    """The budget's key for ``token`` at ``service``: a sha256 digest, never the token."""
    return hashlib.sha256(f"kleansync-rate\0{service}\0{token}".encode()).hexdigest()
