"""The sevDesk connector: a facade over api, customers, units, invoices, mapping."""
