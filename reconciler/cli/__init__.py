"""The ``kleansync`` command line: thin commands, each calling one function.

app (the typer app, ``guarded``), one module per command group, demo.
May import: every package, and ``sandbox`` (the ``sandbox`` and ``demo``
commands); commands import their work lazily to keep start-up fast.
"""
