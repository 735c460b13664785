"""Operator commands: money (stake, claim, balance), tasks (list, show, cancel), doctor and audit.

Each command is a plain function `fn(cfg, ...) -> Report` over `node.config.Config`; node/cli/operator.py
registers them with `--json` and the general config flags. A Report prints as text for a person
or as JSON for a script, with amounts in RPT (decimal strings) and keys that name their unit.
"""
