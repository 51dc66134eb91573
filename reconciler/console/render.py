"""The console's pages: Jinja2 templates (autoescaped) with the report's filters and words.

Why the report's filters: the console shows the same records, fields and
values as the HTML report (``reconciler.reporting.render``), so it names
them the same way, in the reader's language, through the same catalogue.
Autoescape is on for every template: a customer called ``<script>`` is text.
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

import jinja2
from starlette.responses import HTMLResponse, Response

from reconciler.domain.i18n import current_language, gettext, ngettext, translations
from reconciler.log import redact
from reconciler.reporting.render import template_filters

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

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("reconciler.console", "templates"),
    autoescape=True,
    extensions=["jinja2.ext.i18n"],
    undefined=jinja2.ChainableUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.install_gettext_callables(  # type: ignore[attr-defined]
    gettext,
    lambda one, many, n: translations(current_language()).ngettext(one, many, n),
    newstyle=True,
)
_env.filters.update(template_filters())


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
