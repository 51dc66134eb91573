"""The report and the console render through one Jinja2 setup (``reporting.templating``): the
same autoescape, catalogue and filters, so a value, a time or a record reads the same on both.
A second ``jinja2.Environment`` would drift (the console had its own copy of the settings)."""

from __future__ import annotations

import re
from pathlib import Path

from reconciler.console import render as console_render
from reconciler.reporting import render as report_render
from reconciler.reporting.templating import FILTERS

ROOT = Path(__file__).resolve().parents[1]


def test_only_reporting_templating_builds_a_jinja_environment():
    builders = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "reconciler").rglob("*.py"))
        if re.search(r"jinja2\.Environment\(|\bEnvironment\(", path.read_text(encoding="utf-8"))
    ]
    assert builders == ["reconciler/reporting/templating.py"]


def test_console_and_report_share_the_filters_and_the_catalogue():
    envs = (console_render._env, report_render._env)
    for name, function in FILTERS.items():
        assert all(env.filters[name] is function for env in envs), name
    assert all("jinja2.ext.InternationalizationExtension" in env.extensions for env in envs)
    assert len({env.globals["gettext"].__code__ for env in envs}) == 1
