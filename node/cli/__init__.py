"""`rollproof`: the command line of a Rollproof node.

Role commands (miner, validator, proposer, evaluator) and devnet take every config option as a
flag; the bodies live in `node.roles.<role>.run(config)` and `node.devnet.run(config)`, imported
only when the command runs, so a missing or broken module gives a sentence, not a broken CLI.
Sub-commands owned by other packages (keys, deploy, beacon) are forwarded the same lazy way.

Errors are sentences on stderr with a non-zero exit code: 1 for problems the user can fix,
2 for usage errors (from the argument parser), 70 for internal errors (traceback only with
ROLLPROOF_DEBUG=1).

The package: base.py (the app, errors, options as flags), preflight.py (checks, logging, locks),
roles.py, operator.py, config_cmds.py, forwarded.py (one module per command group, imported here
in the order their commands appear in `--help`).
"""

import importlib

from node.cli.base import EXIT_INTERNAL, EXIT_USER, app, fail, guarded, main
from node.cli.preflight import (
    check_deployment,
    check_model,
    check_port_free,
    check_rpc,
    import_entry,
    lock_data_dir,
    lock_keystore,
    p2p_listen_port,
    preflight,
    start_observability,
    unlock_account,
)
from node.cli.roles import run_role

# The other command groups register their commands on import, in the order `--help` lists them.
for _group in ("operator", "config_cmds", "forwarded"):
    importlib.import_module(f"node.cli.{_group}")

__all__ = [
    "EXIT_INTERNAL",
    "EXIT_USER",
    "app",
    "check_deployment",
    "check_model",
    "check_port_free",
    "check_rpc",
    "fail",
    "guarded",
    "import_entry",
    "lock_data_dir",
    "lock_keystore",
    "main",
    "p2p_listen_port",
    "preflight",
    "run_role",
    "start_observability",
    "unlock_account",
]
