"""The invoice export KleanApp -> sevDesk: choose, map, export, recover.

runner (one export run under its own run lock), export, mapping, recover
(its journal), result. May import: sync (the run lock and fence, sync.fence),
reporting, connectors, config, log, state, rules, domain.
"""
