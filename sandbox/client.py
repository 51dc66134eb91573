"""A plain HTTP client of the emulators that waits out their 429 like a well-behaved client.

The demo's own edits and the crash tests' reads go straight to the emulators
(not through kleansync's connectors, whose pacing they must not share).
KleanApp's emulator limits requests per token, so without waiting out its
``Retry-After`` they would fail at random on a busy machine.
"""

from __future__ import annotations

import time

import httpx


class PoliteTransport(httpx.HTTPTransport):
    """Sends a request again after ``Retry-After`` seconds while the answer is 429."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        while True:
            response = super().handle_request(request)
            if response.status_code != 429:
                return response
            response.close()
            time.sleep(float(response.headers.get("Retry-After", "1")))


def polite_client(base_url: str, authorization: str, *, timeout: float = 5.0) -> httpx.Client:
    """A client of one emulator's API (``base_url`` ending in ``/api/v1``)."""
    return httpx.Client(
        base_url=base_url + "/",
        headers={"Authorization": authorization},
        transport=PoliteTransport(),
        timeout=timeout,
    )
