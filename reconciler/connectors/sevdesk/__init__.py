"""The sevDesk connector: a facade over api, customers, units, invoices, mapping.

May import: the connectors' base, http and listing, config, log, domain.
"""
