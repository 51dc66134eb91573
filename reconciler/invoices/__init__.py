"""The invoice export KleanApp -> sevDesk: choose, map, export, recover."""
