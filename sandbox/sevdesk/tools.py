"""``GET /Tools/bookkeepingSystemVersion``: which sevDesk bookkeeping system the account runs.

sevDesk moved accounts from bookkeeping system 1.0 to "sevdesk-Update 2.0"
(tax rules instead of tax types, status changes only through their
endpoints). An account still on 1.0 refuses what kleansync's invoice export
sends, so ``kleansync doctor`` asks. The answer is the spec's own example,
``{"objects": {"version": "2.0"}}`` (``openapi.yaml``, operation
``bookkeepingSystemVersion``; the version is a string, ``"1.0"`` or ``"2.0"``).
An emulated account can be started on 1.0 (``create_app(bookkeeping_version="1.0")``,
``kleansync sandbox --sevdesk-bookkeeping-version 1.0``) to see what a user on
an old account meets.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sandbox.errors import SandboxError

#: The versions the spec's enum allows.
VERSIONS = ("1.0", "2.0")


def checked_version(version: str) -> str:
    """``version`` if sevDesk can answer it; a ``SandboxError`` naming the choices otherwise."""
    if version not in VERSIONS:
        raise SandboxError(
            f"sevDesk bookkeeping system version {version!r}: must be one of {', '.join(VERSIONS)}"
        )
    return version


def tools_routes(version: str) -> list[Route]:
    """The ``/Tools`` endpoints of an account on bookkeeping system ``version``."""
    answer = {"objects": {"version": checked_version(version)}}

    async def bookkeeping_system_version(request: Request) -> JSONResponse:
        return JSONResponse(answer)

    return [Route("/Tools/bookkeepingSystemVersion", bookkeeping_system_version, methods=["GET"])]
