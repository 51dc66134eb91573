"""kleansync, the application: keeps KleanApp and sevDesk in agreement.

Packages, each importing only those below it (contracts in pyproject.toml,
checked by ``lint-imports``): ``cli`` > ``service`` > ``invoices`` > ``sync``,
``admin`` > ``reporting``, ``connectors`` > ``config``, ``log`` > the top-level
``state`` and ``rules`` > ``domain``. ``sandbox/`` (the emulators) imports none of it.
"""
