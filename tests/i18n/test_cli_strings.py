"""Every sentence the CLI shows a person is in the catalogue: found in the code, compared with it.

``test_catalogue`` checks the messages that are marked (``_()``, ``N_``,
``ngettext``); this test finds the ones that are not. It reads the source of
the CLI and of the modules whose messages the CLI prints (config errors,
plan refusals, the queue, status, summaries, progress, mail words) and
fails on a string literal or f-string with words in it that reaches a
person unmarked:

* an argument of ``echo``/``secho``/``print``/``fail``/``prompt``/``confirm``,
  of ``typer.BadParameter``, of an error class (``...Error(``,
  ``...Failed(``, ``...NotFound(``, ``InvalidValue(``) or of ``Check(``;
* a ``help=`` of a typer option, argument, command or group, whose help
  would otherwise be English whatever ``--lang`` says (a docstring used as
  help is caught by ``test_every_help_text_is_in_the_catalogue``);
* any such literal inside a function that builds lines for the terminal
  (``lines``, ``summary_lines``, ``status_lines``, ``*_line``, ...).

Machine output (``--json``, CSV, stored English) is allowed by name in
``ALLOWED`` below, each with its reason. Then the live command tree is
walked: every command, group and option help must be a catalogue message
with a German translation.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from reconciler.domain.i18n import LOCALE_DIR

ROOT = Path(__file__).resolve().parents[2]

#: The CLI and the modules whose messages it prints.
MODULES = sorted(
    {
        *(p.relative_to(ROOT).as_posix() for p in (ROOT / "reconciler" / "cli").glob("*.py")),
        "reconciler/config.py",
        "reconciler/domain/config_problems.py",
        "reconciler/domain/errors.py",
        "reconciler/sync/plan_file.py",
        "reconciler/sync/report.py",
        "reconciler/sync/resync_result.py",
        "reconciler/sync/engine.py",
        "reconciler/admin/queue.py",
        "reconciler/admin/values.py",
        "reconciler/admin/history.py",
        "reconciler/admin/status.py",
        "reconciler/invoices/result.py",
        "reconciler/reporting/news.py",
        "reconciler/reporting/mail.py",
        "reconciler/connectors/kleanapp/api.py",
        "state/db_errors.py",
        "state/database.py",
        "reconciler/service/settings.py",
        "reconciler/service/runner.py",
        "reconciler/invoices/runner.py",
        "reconciler/connectors/responses.py",
        "state/paths.py",
    }
)

#: (module, function, literal's first words) allowed unmarked, each with why.
ALLOWED: dict[tuple[str, str, str], str] = {
    ("reconciler/cli/app.py", "_print_version", "kleansync"): "program name and version number",
    ("reconciler/cli/demo.py", "_config_text", "# written by"): (
        "the demo's config.toml, a file (its comment is for the file, read with the config)"
    ),
    ("reconciler/cli/init.py", "_opt", ""): "passes a help id through (marked at the caller)",
    **{
        ("reconciler/connectors/kleanapp/api.py", function, ""): (
            "a per-record or protocol error of KleanApp: stored in the run and in sync --json "
            "(English, an API); only the base-URL check (wrong_base_url) ends a command"
        )
        for function in ("raise_for", "path_id", "decode", "read_all", "patch")
    },
    ("reconciler/connectors/responses.py", "json_body", ""): (
        "a protocol error of one request: stored in the run and in --json (English, an API)"
    ),
    ("reconciler/invoices/runner.py", "_connectors", ""): (
        "a programming error (TypeError), never shown to an admin"
    ),
}

#: Calls whose arguments a person reads.
_SHOWN_CALLS = {"echo", "secho", "print", "fail", "prompt", "confirm", "BadParameter", "Check"}
_ERROR_NAME = re.compile(r"(Error|Failed|NotFound|Refused|InvalidValue|Exception)$")
#: Functions that build terminal lines.
_LINE_FUNCTION = re.compile(r"^(lines|_?\w*_lines?|epilog)$")
#: Marked for the catalogue: nothing inside is bare.
_MARKERS = {"_", "N_", "ngettext", "gettext"}
#: Words that are not language: product and program names, config syntax.
_NOT_WORDS = {"KleanApp", "sevDesk", "kleansync", "UTC", "EUR", "ID", "pid", "s"}


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _has_words(text: str, *, nested: bool = False) -> bool:
    """Words a person reads; an option name, or one word passed on to a function, is data."""
    token = text.strip()
    if token.startswith("-") and " " not in token:
        return False
    if nested and re.fullmatch(r"[\w.:/]*", token):
        return False  # data.get("status"), label(x, "trigger")
    words = re.findall(r"[A-Za-zÄÖÜäöüß]{2,}", text)
    return any(w not in _NOT_WORDS for w in words)


def _literal_text(node: ast.AST) -> str | None:
    """The words a person would see of a literal (f-string: its fixed parts)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)
        )
    return None


def _bare(node: ast.AST, nested: bool = False):
    """String literals with words under ``node``, not inside a marker call, a key or a spec.

    ``nested``: inside the arguments of another function (``redact(f"...")``
    passes a sentence on; ``data.get("status")`` passes a key).
    """
    if isinstance(node, ast.Call) and _name(node.func) in _MARKERS:
        return
    text = _literal_text(node)
    if text is not None:
        if _has_words(text, nested=nested):
            yield node, text
        if isinstance(node, ast.JoinedStr):  # expressions inside an f-string
            for value in node.values:
                if isinstance(value, ast.FormattedValue):
                    yield from _bare(value.value, True)
        return
    if isinstance(node, ast.Subscript):  # data["key"]: a key is no sentence
        yield from _bare(node.value, nested)
        return
    if isinstance(node, ast.Dict):  # keys of a dict are data; its values may be shown
        for value in node.values:
            yield from _bare(value, nested)
        return
    if isinstance(node, ast.Call):
        # Only what is passed on as text: a method's object, its arguments.
        if isinstance(node.func, ast.Attribute):
            yield from _bare(node.func.value, True)
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            yield from _bare(arg, True)
        return
    if isinstance(node, ast.Compare):  # `x == "open"` compares data
        return
    for child in ast.iter_child_nodes(node):
        yield from _bare(child, nested)


def _findings(path: str, source: str) -> list[tuple[str, str, int, str]]:
    tree = ast.parse(source)
    found: list[tuple[str, str, int, str]] = []
    parents: dict[ast.AST, ast.AST] = {}
    for parent in ast.walk(tree):
        for child in ast.iter_child_nodes(parent):
            parents[child] = parent

    def function_of(node: ast.AST) -> str:
        while node in parents:
            node = parents[node]
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                return node.name
        return ""

    def add(node: ast.AST, text: str) -> None:
        found.append((path, function_of(node), getattr(node, "lineno", 0), text))

    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):  # pybabel does not look inside an f-string
            for inner in ast.walk(node):
                if isinstance(inner, ast.Call) and _name(inner.func) in _MARKERS:
                    arg = inner.args[0] if inner.args else None
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        add(inner, f"{arg.value} (marked inside an f-string: not extracted)")
        if isinstance(node, ast.Call):
            name = _name(node.func)
            if name in _SHOWN_CALLS or _ERROR_NAME.search(name):
                if name == "print" and any(k.arg == "file" for k in node.keywords):
                    pass  # progress lines: checked as a line function below
                for arg in [*node.args, *(k.value for k in node.keywords if k.arg != "err")]:
                    for lit, text in _bare(arg):
                        add(lit, text)
            for keyword in node.keywords:
                if keyword.arg in ("help", "prompt", "short_help", "epilog"):
                    for lit, text in _bare(keyword.value):
                        add(lit, text)
        if isinstance(node, ast.FunctionDef) and _LINE_FUNCTION.match(node.name):
            for stmt in node.body:
                if (
                    isinstance(stmt, ast.Expr)
                    and isinstance(stmt.value, ast.Constant)
                    and isinstance(stmt.value.value, str)
                ):
                    continue  # the docstring
                for lit, text in _bare(stmt):
                    add(lit, text)
    seen, unique = set(), []
    for item in found:
        if item[:3] not in seen:
            seen.add(item[:3])
            unique.append(item)
    return unique


def _allowed(path: str, function: str, text: str) -> bool:
    return any(
        path == p and function == f and text.strip().startswith(start) for (p, f, start) in ALLOWED
    )


def _unmarked() -> list[str]:
    problems = []
    for path in MODULES:
        source = (ROOT / path).read_text(encoding="utf-8")
        for where, function, line, text in _findings(path, source):
            if not _allowed(where, function, text):
                problems.append(f"{where}:{line} ({function or 'module'}): {text.strip()!r}")
    return problems


def test_every_sentence_the_cli_shows_is_marked_for_the_catalogue():
    problems = _unmarked()
    assert not problems, (
        f"{len(problems)} sentence(s) a person reads are not in the catalogue; wrap them in _() "
        "(or N_ for help texts), see reconciler/domain/i18n.py:\n  " + "\n  ".join(problems)
    )


def test_the_scan_finds_what_it_is_for():
    """The check itself: each way a bare sentence reaches a person is caught, marked ones not."""
    source = """
import typer
def cmd(x):
    typer.echo(f"wrote {x} records")
    typer.echo(_("wrote %(n)s records", n=x))
    raise ConfigError(f"--from {x}: not a date")
    raise ConfigError(_("--from %(x)s: not a date", x=x))
    fail("demo failed")
    print(data["status"], file=sys.stderr)
    typer.Option("--all", help="Also the closed ones.")
    typer.Option("--all", help=N_("Also the closed ones."))
def summary_lines(self):
    lines = [f"  skipped {n}"]
    lines.append("  " + _("skipped %(n)s", n=n))
    lines.append(f"  {_('held'):<9} {n}")
    return lines + [f"{x:<6} {y}"]
"""
    texts = sorted(text for *_where, text in _findings("x.py", source))
    assert texts == sorted(
        [
            "wrote  records",
            "--from : not a date",
            "demo failed",
            "Also the closed ones.",
            "  skipped ",
            "held (marked inside an f-string: not extracted)",
        ]
    )


def _catalog(lang: str):
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "kleansync.po").open("rb") as fh:
        return read_po(fh, locale=lang)


def _help_texts():
    """(where, help text) of every command, group, option and argument of ``kleansync``."""
    import typer

    from reconciler.cli.app import app

    def walk(command, path):
        for attr in ("help", "short_help"):
            text = getattr(command, f"_kleansync_msgid_{attr}", getattr(command, attr, None))
            if text:
                yield path, text
        for param in command.params:
            text = getattr(param, "_kleansync_msgid_help", param.help)
            if text:
                yield f"{path} {param.opts[0] if param.opts else param.name}", text
        for name, sub in (getattr(command, "commands", None) or {}).items():
            yield from walk(sub, f"{path} {name}")

    yield from walk(typer.main.get_command(app), "kleansync")


@pytest.mark.parametrize("lang", ["de"])
def test_every_help_text_is_in_the_catalogue(lang):
    """Help comes from N_ ids, not docstrings: each is a message, translated into German."""
    catalog = _catalog(lang)
    missing = []
    for where, text in _help_texts():
        message = catalog.get(text)
        if message is None or not message.string:
            missing.append(f"{where}: {text!r}")
    assert not missing, "help texts not in the German catalogue:\n  " + "\n  ".join(missing)
