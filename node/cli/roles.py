"""The role commands (miner, validator, proposer, evaluator) and `rollproof devnet`."""

from __future__ import annotations

import typer

from node.cli.base import (
    EXIT_USER,
    config_command,
)
from node.cli.preflight import (
    check_model,
    import_entry,
    lock_data_dir,
    lock_keystore,
    preflight,
    start_observability,
)
from node.config import (
    COMMAND_SECTIONS,
    Config,
    UserError,
)


def run_role(cfg: Config, role: str) -> None:
    lock = lock_data_dir(cfg.data_dir)
    key_lock = None
    try:
        key_lock = lock_keystore(cfg.chain.keystore, cfg.data_dir)
        _run_role_locked(cfg, role)
    finally:
        if key_lock is not None:
            key_lock.close()
        lock.close()


def check_proposer_target(cfg: Config) -> None:
    """`--tasks N` counts every task this data dir's proposer posted and settled; when N are settled
    already there is nothing to do, which is said rather than exiting 0 having posted nothing."""
    target = cfg.proposer.tasks
    if not target:
        return
    from node.store import open_store
    from node.store.states import ProposerState, Role

    store = open_store(cfg.store_url)
    try:
        settled = len(store.tasks_in_state(Role.PROPOSER, [ProposerState.CLAIMED]))
    finally:
        store.close()
    if settled >= target:
        raise UserError(
            f"The proposer of the data dir {cfg.data_dir} has already posted and settled {settled} task(s), and "
            f"--tasks {target} counts every task of this data dir, so there is nothing left to post; pass "
            f"--tasks {settled + target} to post {target} more, or --tasks 0 to keep posting."
        )


def _run_role_locked(cfg: Config, role: str) -> None:
    preflight(cfg, needs_p2p="p2p" in COMMAND_SECTIONS[role], role=role)
    if role == "proposer":
        check_proposer_target(cfg)
    run = import_entry(f"node.roles.{role}", "run", f"The {role} role")
    server = start_observability(cfg, role)
    try:
        result = run(cfg)
    finally:
        if server is not None:
            server.shutdown()
    if isinstance(result, int) and result != 0:
        raise typer.Exit(code=result)


ROLE_HELP = {
    "miner": "Run a miner: stake, join tasks with your adapter, generate rollouts with the verifiable "
    "sampler, gossip them, commit the Merkle root, serve openings, train between tasks, claim rewards.",
    "validator": "Run a validator: after each commit deadline, audit a beacon-sampled subset of every "
    "miner's rollouts with the committed model, commit and reveal verdicts, finalize.",
    "proposer": "Run a proposer: fund and post tasks, and adapt their difficulty to the swarm's success rate.",
    "evaluator": "Run an evaluator: re-score gossiped rollouts with the environment's verifier and gossip signed scores.",
}


def _register_role(role: str) -> None:
    @config_command(role, COMMAND_SECTIONS[role], ROLE_HELP[role], "Roles")
    def _role(cfg: Config) -> None:
        run_role(cfg, role)


for _role_name in ("miner", "validator", "proposer", "evaluator"):
    _register_role(_role_name)


@config_command(
    "devnet",
    COMMAND_SECTIONS["devnet"],
    "Run a whole network on this machine: Anvil, the contracts, a local drand beacon, a proposer, "
    "honest and cheating miners, an evaluator, honest, lazy and always-fail validators as separate processes, "
    "through settlement. Prints a summary (--json for JSON) and exits non-zero unless honest miners and "
    "validators were paid, the cheater was slashed, both deviating validators lost money and no honest "
    "party lost stake.",
    "Roles",
)
def devnet_command(cfg: Config) -> None:
    check_model(cfg)
    run = import_entry("node.devnet", "run", "The devnet")
    result = run(cfg)
    if isinstance(result, int) and result != 0:
        raise typer.Exit(code=result)
    if result is False:
        raise typer.Exit(code=EXIT_USER)
