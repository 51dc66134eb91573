"""What every ``kleansync`` command shares: its common options and ``guarded``.

Its own module so the command modules (``admin``, ``init``, ``invoices``,
``resync``, ``serve``) import it at the top while ``reconciler.cli.app``
imports them to register their commands: no import cycle to step around.
Every ``KleansyncError`` becomes one line on stderr and its exit code (2 for
config/usage, 1 otherwise); anything unexpected becomes one line too, with
the traceback only under ``-v``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import select
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar, cast

import typer

from reconciler.domain.errors import ConfigError, KleansyncError
from reconciler.domain.i18n import N_, _
from reconciler.log import redact
from sandbox.errors import SandboxError

if TYPE_CHECKING:
    from sqlalchemy.exc import SQLAlchemyError

F = TypeVar("F", bound=Callable[..., Any])

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help=N_("Config file (default: ./config.toml or $KLEANSYNC_CONFIG).")
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help=N_("Print one JSON object to stdout (English: an API)."))
]
NewStoreOption = Annotated[
    bool,
    typer.Option(
        "--new-store",
        help=N_(
            "Start over if the state store file exists but is empty (0 bytes); "
            "without it such a store is refused."
        ),
    ),
]

#: Set by the main callback (``-v``): ``guarded`` then prints the traceback too.
STATE: dict[str, Any] = {"verbose": 0, "quiet": False}
#: Exit code of a command whose reader went away (``kleansync status | head``): what
#: a shell reports for coreutils, which die of SIGPIPE (128 + 13).
BROKEN_PIPE_EXIT = 141


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one redacted line to stderr and exit with ``code``."""
    typer.echo(f"kleansync: {redact(message)}", err=True)
    raise typer.Exit(code)


def quiet_broken_pipe() -> NoReturn:
    """The reader of stdout went away: stop quietly, as ``head`` expects, not with a traceback.

    Python ignores SIGPIPE, so a write to a closed pipe raises instead of
    ending the process. The rest of stdout goes to /dev/null, or the flush at
    exit would raise once more.
    """
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    raise SystemExit(BROKEN_PIPE_EXIT)


def stdout_gone() -> bool:
    """True when stdout is a pipe nobody reads any more (``poll`` reports an error on it).

    Where ``poll`` is missing (Windows), every broken pipe is taken for stdout's.
    """
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(event & (select.POLLERR | select.POLLHUP) for _fd, event in poller.poll(0))
    except (AttributeError, OSError, ValueError):
        return True


def guarded(func: F) -> F:
    """Turn every error of a command into one line and an exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except KleansyncError as exc:
            fail(str(exc), exc.exit_code)
        except SandboxError as exc:  # the emulators' own errors: a setup problem, like config
            fail(str(exc), ConfigError.exit_code)
        except Exception as exc:  # noqa: BLE001 - the last line of defence
            if isinstance(exc, BrokenPipeError) and stdout_gone():
                quiet_broken_pipe()  # `kleansync status | head`; another pipe is an error
            if type(exc).__module__.startswith("sqlalchemy"):
                # Statement and parameters (customer data) never reach the terminal.
                # Imported only here: the state store is not loaded at every start.
                from state.db_errors import describe_db_error

                fail(describe_db_error(cast("SQLAlchemyError", exc)), 1)
            if STATE["verbose"]:
                typer.echo(redact(traceback.format_exc()), err=True)
            fail(
                _(
                    "internal error: %(kind)s: %(error)s (run with -v for details)",
                    kind=type(exc).__name__,
                    error=exc,
                ),
                1,
            )

    return wrapper  # type: ignore[return-value]


#: Exit code after Ctrl-C, as shells report a process ended by SIGINT (128 + 2).
INTERRUPTED_EXIT = 130


def interrupted(config: Any) -> NoReturn:
    """After Ctrl-C: the one line the interrupted run left in the run history, exit 130.

    The engine records how far the run got (``outcome = interrupted``, the
    counts of what was written); this prints that same line, so terminal and
    ``kleansync status`` agree.
    """
    from reconciler.reporting.words import label
    from state import Store

    line = _("interrupted before anything was written; the next run starts afresh")
    with contextlib.suppress(Exception):  # the store itself may be what was interrupted
        store = Store(config.state.url, pool=config.state.pool)
        try:
            mine = [r for r in store.runs(5) if r.pid == os.getpid()]
            if mine and mine[0].outcome == "interrupted" and mine[0].error:
                line = mine[0].error
            elif mine:  # Ctrl-C while the report was written: the run itself had ended
                line = _(
                    "interrupted when run %(run)s had already ended (%(outcome)s)",
                    run=mine[0].id,
                    outcome=label(mine[0].outcome, "outcome"),
                )
        finally:
            store.close()
    fail(line, INTERRUPTED_EXIT)


def emit_json(data: Any) -> None:
    """The one JSON object a ``--json`` command prints to stdout."""
    sys.stdout.write(redact(json.dumps(data, indent=2, default=str, ensure_ascii=False)) + "\n")
