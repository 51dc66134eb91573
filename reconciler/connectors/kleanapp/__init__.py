"""The KleanApp connector: HTTP side (connector) and wire translation (wire)."""
