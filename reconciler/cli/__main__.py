"""``python -m reconciler.cli``: the same as the ``kleansync`` command."""

from reconciler.cli.app import main

main()
