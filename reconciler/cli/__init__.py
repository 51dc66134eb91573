"""The ``kleansync`` command line: thin commands, each calling one function."""
