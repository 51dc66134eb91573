"""Pure reconciliation rules: normalisation, three-way diff, conflict rules, unit matching.

Nothing in this package does I/O; the engine feeds it records and applies
what it returns. May import: reconciler.domain only.
"""

from rules.diff import merge, merge_records
from rules.merge_result import MergeResult
from rules.normalize import normalize_customer, normalize_record, normalize_unit
from rules.policies import RULES, Decision, RuleSet, SideValue, get_rule, rule
from rules.units import UnitMatch, match_units, resolve_unit, unit_key

__all__ = [
    "RULES",
    "Decision",
    "MergeResult",
    "RuleSet",
    "SideValue",
    "UnitMatch",
    "get_rule",
    "match_units",
    "merge",
    "merge_records",
    "normalize_customer",
    "normalize_record",
    "normalize_unit",
    "resolve_unit",
    "rule",
    "unit_key",
]
