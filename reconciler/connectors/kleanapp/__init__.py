"""The KleanApp connector: HTTP side (connector) and wire translation (wire).

May import: the connectors' base, http and listing, config, log, domain.
"""
