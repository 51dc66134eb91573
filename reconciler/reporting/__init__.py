"""Run reports for people (HTML, Markdown, e-mail), their retention, match evidence.

render works on plain dicts (a stored run renders as it did), mail sends them,
retention prunes, evidence says who a parked record is. May import: config,
log, state, rules, domain; never the sync, which writes the reports.
"""
