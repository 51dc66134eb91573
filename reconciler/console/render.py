"""The console's pages: Jinja2 templates (autoescaped) in the report's environment.

Why the report's: the console shows the same records, fields and values as
the HTML report, so its templates get the very same Jinja2 settings, gettext
and filters (``reconciler.reporting.templating.environment``), only their own
folder. Autoescape is on for every template: a customer called ``<script>`` is text.
Every page passes through ``redact``, so a registered secret (an API token)
can never be shown, whatever a service echoed into an error.

The CSS is the report's own (``reporting/templates/report.css``), served as a
file, plus a few lines for the console's navigation and buttons. The page's
Content-Security-Policy allows scripts and styles only from the console itself
(htmx, vendored as ``static/htmx.min.js``), no inline script at all.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from starlette.responses import HTMLResponse, Response

from reconciler.domain.i18n import current_language, ngettext
from reconciler.log import redact
from reconciler.reporting.templating import environment

#: Only the console itself: its own scripts and styles, no inline script, no frames.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

_env = environment("reconciler.console")


def page(name: str, *, status: int = 200, **context: Any) -> Response:
    """A console page as an HTML response with the console's security headers."""
    text = _env.get_template(name).render(lang=current_language(), **context)
    return HTMLResponse(redact(text), status_code=status, headers=SECURITY_HEADERS)


def plain(text: str, *, status: int) -> Response:
    """A short answer for htmx and API calls (401, 403), with the same headers."""
    return Response(text, status_code=status, media_type="text/plain", headers=SECURITY_HEADERS)


_STATIC = {
    "htmx.min.js": ("reconciler.console", "static/htmx.min.js", "text/javascript"),
    "console.css": ("reconciler.console", "static/console.css", "text/css"),
    "report.css": ("reconciler.reporting", "templates/report.css", "text/css"),
}


def static(name: str) -> Response:
    """htmx and the stylesheets (no session needed: they hold nothing of anyone's)."""
    if name not in _STATIC:
        return plain("not found", status=404)
    package, path, media = _STATIC[name]
    body = resources.files(package).joinpath(path).read_bytes()
    headers = {**SECURITY_HEADERS, "Cache-Control": "public, max-age=3600"}
    return Response(body, media_type=media, headers=headers)


__all__ = ["CSP", "ngettext", "page", "plain", "static"]
