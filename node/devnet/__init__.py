"""`rollproof devnet` / `make devnet`: the whole network on one machine, through real settlement.

Anvil, the contracts, a local drand-compatible beacon, 1 proposer, N honest miners, cheating
miners (generate with a cheaper model, fill the logprobs in by prefill of the real one),
evaluators, honest validators, a lazy validator (passes everyone without auditing) and an
always-fail validator (fails everyone without auditing), each node a separate OS process (`python -m node.roles <role>`) talking
libp2p on 127.0.0.1. The orchestrator only deploys, funds, writes each node's settings and then
watches the chain like any outsider: a live view of tasks, miners, rollouts, audits, verdicts,
payouts and slashes; at the end a summary, a plot of the miners' learning curves, and every
balance reconciled against the chain. It exits non-zero when any of that fails.

Rooms: options.py (what it runs), processes.py (Anvil, beacon, node processes), view.py (the live
view), summary.py (reconciliation, summary, plot), command.py (`rollproof devnet`), beacon.py (the
devnet's drand-compatible beacon).
"""

from __future__ import annotations

import importlib
from typing import Any

# Imported on first use (PEP 562): `rollproof beacon` needs node.devnet.beacon only, and importing
# this package must not pull the devnet's torch-importing options and chain clients into it.
_EXPORTS = {
    "main": "command",
    "run": "command",
    "run_devnet": "command",
    "DevnetError": "errors",
    "RPT": "options",
    "DevnetOptions": "options",
    "options_from_config": "options",
    "units_to_rpt": "options",
    "PASSPHRASE": "processes",
    "REPO_ROOT": "processes",
    "Devnet": "processes",
    "NodeProc": "processes",
    "free_port": "processes",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'node.devnet' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"node.devnet.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "PASSPHRASE",
    "REPO_ROOT",
    "RPT",
    "Devnet",
    "DevnetError",
    "DevnetOptions",
    "NodeProc",
    "free_port",
    "main",
    "options_from_config",
    "run",
    "run_devnet",
    "units_to_rpt",
]
