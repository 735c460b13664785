"""`python -m node.roles <role> --config FILE`: run one role from a settings file (JSON or TOML).

This is how `node.devnet` starts each node as its own OS process. Problems the operator can fix are
printed as one sentence on stderr with exit code 2; nothing is half-done on chain because every
check (RPC, keys, stake, model, port) runs before the first transaction of a task.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m node.roles", description=__doc__)
    parser.add_argument("role", choices=["proposer", "miner", "evaluator", "validator"])
    parser.add_argument("--config", type=Path, required=True, help="settings file (.json or .toml)")
    args = parser.parse_args(argv)
    from chain.errors import ChainError
    from node.roles import RoleError, run_role
    from node.store import StoreError

    try:
        return run_role(args.role, args.config)
    except (RoleError, ChainError, StoreError) as exc:
        print(f"rollproof {args.role}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    from node.runtime.stop import exit_process

    exit_process(main())
