"""The KleanApp connector: a facade (connector) over api, customers, units, invoices, wire."""
