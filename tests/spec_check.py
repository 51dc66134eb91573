"""Validate every HTTP response an emulator gives against the service's OpenAPI file.

Generic over services: the sevDesk and KleanApp tests both use it. Plug it
into an ``httpx.AsyncClient`` as a response hook::

    checker = SpecChecker(SPEC, server_url="http://sevdesk.test/api/v1", overlay=fix_spec)
    httpx.AsyncClient(..., event_hooks={"response": [checker.hook]})

and a response that does not match the spec (status code not declared, body
of the wrong shape) fails the test with an ``AssertionError`` naming the
request and the schema errors. ``.covered`` collects the (METHOD, path
template) pairs that were validated, so a test can prove coverage; requests
to paths or methods the spec does not have are recorded in ``.unspecified``
instead of failing (the emulator may serve undocumented endpoints on purpose).

``overlay`` is a function that edits a deep copy of the loaded spec dict in
place before it is compiled. It is how known, documented differences between
a vendored spec and the real service are applied without ever editing the
vendored file. ``server_url`` is added to the spec's ``servers`` so requests
to the emulator's host match.

Parsing and compiling a large spec takes a while, so both are cached per
process (``lru_cache``): the raw YAML per file, the compiled spec per
(file, server URL, overlay).
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml  # type: ignore[import-untyped]
from openapi_core import Config, OpenAPI
from openapi_core.exceptions import OpenAPIError
from openapi_core.templating.paths.exceptions import PathError
from openapi_core.templating.paths.finders import APICallPathFinder
from openapi_core.testing import MockRequest, MockResponse

Overlay = Callable[[dict[str, Any]], None]
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.lru_cache(maxsize=4)
def _raw_spec(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_Loader)  # noqa: S506 - safe loader


@functools.lru_cache(maxsize=8)
def compiled_spec(
    path: str, server_url: str, overlay: Overlay | None = None
) -> tuple[OpenAPI, dict[str, Any]]:
    """The spec at ``path`` with ``overlay`` applied and ``server_url`` added, compiled.

    Spec validation is switched off: vendored specs often break it in
    harmless ways (sevDesk's has a ``default: null`` on a non-nullable string).
    """
    spec = copy.deepcopy(_raw_spec(path))
    if overlay is not None:
        overlay(spec)
    spec["servers"] = [*spec.get("servers", []), {"url": server_url}]
    return OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None)), spec


class SpecChecker:
    """Validates responses against a spec (+ overlay) and records coverage."""

    def __init__(
        self,
        spec_path: str | Path,
        *,
        server_url: str,
        overlay: Overlay | None = None,
    ) -> None:
        self.server_url = server_url.rstrip("/")
        self.openapi, self.spec = compiled_spec(str(spec_path), self.server_url, overlay)
        self._finder = APICallPathFinder(self.openapi.spec)
        parts = urlsplit(self.server_url)
        self._host_url = f"{parts.scheme}://{parts.netloc}"
        #: (METHOD, path template) pairs whose responses were validated.
        self.covered: set[tuple[str, str]] = set()
        #: (METHOD, path template, status) triples validated (finer coverage).
        self.statuses: set[tuple[str, str, int]] = set()
        #: (METHOD, path) requests the spec has no operation for.
        self.unspecified: set[tuple[str, str]] = set()

    def operations(self) -> set[tuple[str, str]]:
        """Every (METHOD, path template) of the spec, overlay included."""
        methods = ("get", "post", "put", "patch", "delete")
        return {
            (method.upper(), path)
            for path, item in self.spec.get("paths", {}).items()
            for method in item
            if method in methods
        }

    async def hook(self, response: httpx.Response) -> None:
        """httpx response event hook: read the body, then ``check`` it."""
        await response.aread()
        self.check(response)

    def check(self, response: httpx.Response) -> None:
        """Raise ``AssertionError`` unless ``response`` matches the spec."""
        request = response.request
        method = request.method.upper()
        url = str(request.url.copy_with(query=None, fragment=None))
        if not url.startswith(self.server_url + "/"):
            self.unspecified.add((method, request.url.path))
            return
        try:
            found = self._finder.find(method.lower(), url)
        except PathError:
            self.unspecified.add((method, url[len(self.server_url) :]))
            return
        template = found.path_result.pattern
        mock_request = MockRequest(
            self._host_url,
            method,
            request.url.path,
            args=dict(request.url.params),
            headers={k: v for k, v in request.headers.items() if k.lower() != "authorization"},
            data=request.content or None,
            content_type=request.headers.get("content-type", "application/json"),
        )
        mock_response = MockResponse(
            response.content,
            status_code=response.status_code,
            headers=dict(response.headers),
            content_type=response.headers.get("content-type", ""),
        )
        try:
            self.openapi.validate_response(mock_request, mock_response)
        except OpenAPIError as exc:
            raise AssertionError(
                f"{method} {template} -> {response.status_code} does not match the spec: "
                f"{_describe(exc)}\nbody: {_excerpt(response.content)}"
            ) from exc
        self.covered.add((method, template))
        self.statuses.add((method, template, response.status_code))


def _describe(exc: BaseException) -> str:
    """The schema errors behind an openapi-core exception, one per line."""
    lines = [type(exc).__name__]
    node: BaseException | None = exc
    while node is not None:
        errors = getattr(node, "schema_errors", None)
        if errors:
            for err in list(errors)[:10]:
                lines.append(_schema_error(err))
                lines.extend(_schema_error(sub, "    ") for sub in getattr(err, "context", [])[:5])
        elif node is not exc:
            lines.append(f"  {type(node).__name__}: {str(node)[:300]}")
        node = node.__cause__
    if len(lines) == 1:
        lines.append(f"  {str(exc)[:300]}")
    return "\n".join(lines)


def _schema_error(err: Any, indent: str = "  ") -> str:
    where = "/".join(str(p) for p in getattr(err, "absolute_path", []))
    return f"{indent}at /{where}: {str(getattr(err, 'message', err))[:300]}"


def _excerpt(content: bytes, limit: int = 600) -> str:
    try:
        text = json.dumps(json.loads(content), ensure_ascii=False)
    except ValueError:
        text = content.decode("utf-8", "replace")
    return text if len(text) <= limit else text[:limit] + "…"
