"""The KleanApp connector: a facade (connector) over api, customers, units, invoices, wire.

May import: the connectors' base, http and listing, config, log, domain.
"""
