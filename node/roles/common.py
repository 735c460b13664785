"""Wiring shared by the four roles: settings, store, chain, beacon, p2p, and the restart-safe helpers.

A role process is one loop: `sync_tasks` reads new chain events into the store, then the role's
`step` advances every active task by at most one state of its state machine (node/store/states.py).
Every transaction is journaled in the store before it is broadcast (`chain.tx.Sender` journal), and
every action first reads the chain (`chain.clients` returns None for an action already done), so a
node killed at any point and restarted resumes from the store and never sends an action twice.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import httpx

from chain.clients import Chain, Task
from chain.deploy import Deployment
from chain.errors import ChainError
from chain.events import ChainEvent
from chain.keys import identity_path_for, load_account, load_identity_secret, read_passphrase
from chain.tx import Sender, SenderConfig, SignedTx, make_web3, with_retries
from node.config import MAX_CONFIG_BYTES, option_default, rpt_to_units
from node.store import Role, Store, TxStatus, open_store
from node.store.database import default_store_url
from verifier.beacon import Beacon, ChainInfo, DrandClient
from verifier.params import ALL_POSITIONS, DEFAULT_AUDIT_ROLLOUTS
from verifier.rollout import TaskSpec

log = logging.getLogger("rollproof.roles")

ROLE_NAMES = ("proposer", "miner", "evaluator", "validator")
# A transaction must be mined this many seconds before a window closes; Anvil stamps blocks with
# the wall clock, so a safety margin absorbs the RPC round trip and clock granularity.
DEADLINE_MARGIN = 1.0
# finalize is permissionless; the proposer tries first, then validators, then miners, so the
# parties do not all race (and waste gas on reverts) at the same second.
FINALIZE_DELAY = {"proposer": 0, "validator": 3, "miner": 8}


class RoleError(Exception):
    """A problem a role reports to its operator as a sentence (and exits non-zero)."""


def _d(dotted: str) -> Any:
    """The default of a node.config option: RoleSettings has no defaults of its own."""
    return option_default(dotted)


@dataclass
class RoleSettings:
    """Everything one role process needs, flat. Built from the CLI's `node.config.Config` (every
    option of the role's command lands in a field here, see `_from_node_config`) or read from the
    JSON/TOML settings file that `node.devnet` writes. Defaults are node.config's, so `--help`,
    `rollproof config init`, the roles and the devnet agree; fields without an option are
    devnet/test knobs."""

    role: str
    data_dir: Path
    rpc_url: str
    deployment: Path
    keystore: Path
    passphrase_file: Path | None = None
    identity_key: Path | None = None  # libp2p identity; None: <keystore>.p2p.key beside the keystore
    beacon_urls: list[str] = field(default_factory=list)
    model: str = _d("model.model")  # "smollm2", "tiny" or a local model directory
    store_url: str | None = None
    log_level: str = _d("node.log_level")
    log_json: bool = _d("node.log_json")
    log_file: Path | None = None  # None: <data_dir>/node.log
    listen: str = _d("p2p.listen")
    bootstrap: list[str] = field(default_factory=list)
    announce: list[str] = field(default_factory=list)  # dialable addresses for our signed record
    eclipse_protection: bool = _d("p2p.eclipse_protection")
    stake_cache_seconds: float = _d("p2p.stake_cache_seconds")
    poll_interval: float = _d("chain.poll_interval")
    confirmations: int = _d("chain.confirmations")
    metrics_port: int = 0  # 0: no /metrics endpoint (the CLI serves /metrics itself)
    threads: int = _d("model.threads")  # torch threads
    max_tasks: int = 0  # stop after this many tasks reached a terminal state (0: run forever)
    exit_when_idle: float = _d("node.exit_when_idle")  # stop when idle this many seconds (0: never)
    crash_after: str = ""  # tests only: SIGKILL this process right after entering this task state
    stake: int = 0  # stake (base units) to add when below the role minimum; 0: never stake
    # miner
    cheat: bool = False  # devnet/tests only: generate with a cheaper model, prefill real logprobs
    cheap_model: str = "tiny:7"
    batch_size: int = _d("miner.batch_size")  # miner: decode batch; validator: prefill batch
    train: bool = _d("miner.train")
    lora_rank: int = _d("miner.lora_rank")
    local_rollouts: int = _d("miner.local_rollouts")  # I
    swarm_rollouts: int = _d("miner.swarm_rollouts")  # J
    learning_rate: float = _d("miner.learning_rate")
    adapter_dir: Path | None = None  # None: <data_dir>/adapters
    tensorboard_dir: Path | None = None  # None: <data_dir>/tensorboard
    # validator
    use_gossip: bool = (
        True  # take audited rollouts from gossip when complete (False: always request openings)
    )
    # What a proposer posts as the task's auditRollouts (m) and auditPositions (k, 0 = every
    # position); every other role reads them from the task (verifier.params holds the defaults).
    audit_count: int = DEFAULT_AUDIT_ROLLOUTS
    positions: int = ALL_POSITIONS
    finalize: bool = _d("validator.finalize")
    misbehave: str = (
        ""  # devnet/tests only: "lazy" (pass all unaudited) or "always-fail" (fail all unaudited)
    )
    # proposer
    tasks: int = _d("proposer.tasks")
    interval: float = _d("proposer.interval")
    env: str = _d("proposer.env")
    difficulty: int = _d("proposer.difficulty")
    num_problems: int = _d("proposer.num_problems")
    rollouts_per_problem: int = _d("proposer.rollouts_per_problem")
    max_tokens: int = _d("proposer.max_tokens")
    temperature_milli: int = round(_d("proposer.temperature") * 1000)
    reward: int = rpt_to_units(_d("proposer.reward"))
    join_window: int = _d("proposer.join_window")
    commit_window: int = _d("proposer.commit_window")
    verdict_window: int = _d("proposer.verdict_window")
    reveal_window: int = _d("proposer.verify_window")
    success_band: tuple[float, float] = (_d("proposer.success_low"), _d("proposer.success_high"))
    min_miners: int = 0  # wait for this many staked miners with a registered peer before the first post
    max_difficulty: int = 5

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> RoleSettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise RoleError(
                f"Unknown setting(s) {', '.join(unknown)}; valid ones are: {', '.join(sorted(known))}."
            )
        values = dict(data)
        for name in (
            "data_dir",
            "deployment",
            "keystore",
            "passphrase_file",
            "identity_key",
            "log_file",
            "adapter_dir",
            "tensorboard_dir",
        ):
            if values.get(name) is not None:
                values[name] = Path(values[name])
        if "success_band" in values:
            values["success_band"] = tuple(values["success_band"])
        settings = cls(**values)
        if settings.role not in ROLE_NAMES:
            raise RoleError(f"Unknown role {settings.role!r}; use one of {', '.join(ROLE_NAMES)}.")
        if settings.misbehave not in ("", "lazy", "always-fail"):
            raise RoleError(
                f"Unknown misbehave {settings.misbehave!r}; use lazy or always-fail (devnet only)."
            )
        return settings

    @classmethod
    def load(cls, path: Path) -> RoleSettings:
        """Read settings from a .json or .toml file."""
        if not path.is_file():
            raise RoleError(f"The config file {path} does not exist.")
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise RoleError(f"The config file {path} is larger than {MAX_CONFIG_BYTES} bytes.")
        text = path.read_text()
        try:
            if path.suffix == ".json":
                data = json.loads(text)
            else:
                import tomllib

                data = tomllib.loads(text)
        except (ValueError, json.JSONDecodeError) as exc:
            raise RoleError(f"The config file {path} cannot be parsed: {exc}.") from None
        return cls.from_mapping(data)

    def to_mapping(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            if value is not None:
                out[f.name] = value
        return out

    @property
    def adapter_path(self) -> Path:
        """Where this node writes and keeps adapters."""
        return self.adapter_dir or self.data_dir / "adapters"

    @property
    def tensorboard_path(self) -> Path:
        return self.tensorboard_dir or self.data_dir / "tensorboard"

    @property
    def identity_path(self) -> Path:
        """The libp2p identity key file: configured, else beside the keystore (chain.keys convention)."""
        return self.identity_key or identity_path_for(self.keystore)


def settings_from(config: Any, role: str) -> RoleSettings:
    """RoleSettings from RoleSettings, a mapping, a config file path, or a `node.config.Config`."""
    if isinstance(config, RoleSettings):
        return config
    if isinstance(config, str | Path):
        return RoleSettings.load(Path(config))
    if isinstance(config, dict):
        return RoleSettings.from_mapping({"role": role, **config})
    if hasattr(config, "chain") and hasattr(config, "node"):
        return _from_node_config(config, role)
    raise RoleError(f"Cannot read the {role} settings from a {type(config).__name__}.")


def _path_or_none(value: str) -> Path | None:
    return Path(value).expanduser() if value else None


def _from_node_config(config: Any, role: str) -> RoleSettings:
    """Translate the CLI's `node.config.Config` into the flat RoleSettings: every option of the
    role's command (`node.config.COMMAND_SECTIONS`) is read here or by the CLI itself (logging
    and /metrics: `node.cli.start_observability`); tests/node/test_options_reach_code.py holds
    one row per option and fails for an option that reaches nothing."""
    section = getattr(config, role)
    data_dir = Path(config.data_dir).expanduser()
    data: dict[str, Any] = {
        "role": role,
        "data_dir": data_dir,
        "rpc_url": config.chain.rpc_url,
        "deployment": Path(config.chain.deployment).expanduser(),
        "keystore": Path(config.chain.keystore or data_dir / "keystore.json").expanduser(),
        "passphrase_file": _path_or_none(config.chain.passphrase_file),
        "identity_key": _path_or_none(config.p2p.identity_key),
        "beacon_urls": list(config.beacon.urls),
        "model": config.model.model,
        "store_url": config.node.store_url or None,
        "log_level": config.node.log_level,
        "log_json": config.node.log_json,
        "log_file": _path_or_none(config.node.log_file),
        "listen": config.p2p.listen,
        "bootstrap": list(config.p2p.bootstrap),
        "announce": list(config.p2p.announce),
        "eclipse_protection": config.p2p.eclipse_protection,
        "stake_cache_seconds": config.p2p.stake_cache_seconds,
        "poll_interval": config.chain.poll_interval,
        "confirmations": config.chain.confirmations,
        "threads": config.model.threads,
        "exit_when_idle": config.node.exit_when_idle,
    }
    if role in ("miner", "validator", "evaluator"):
        data["stake"] = rpt_to_units(section.stake) if section.auto_stake else 0
    if role in ("miner", "validator"):
        data["max_tasks"] = section.max_tasks
        data["batch_size"] = section.batch_size
    if role == "miner":
        data.update(
            train=section.train,
            lora_rank=section.lora_rank,
            local_rollouts=section.local_rollouts,
            swarm_rollouts=section.swarm_rollouts,
            learning_rate=section.learning_rate,
            adapter_dir=config.adapter_dir,
            tensorboard_dir=config.tensorboard_dir,
        )
        if section.cheat_model:
            data["cheat"] = True
            data["cheap_model"] = section.cheat_model
    if role == "validator":
        data["finalize"] = section.finalize
    if role == "proposer":
        data.update(
            env=section.env,
            tasks=section.tasks,
            interval=section.interval,
            reward=rpt_to_units(section.reward),
            difficulty=section.difficulty,
            num_problems=section.num_problems,
            rollouts_per_problem=section.rollouts_per_problem,
            max_tokens=section.max_tokens,
            temperature_milli=int(round(section.temperature * 1000)),
            join_window=section.join_window,
            commit_window=section.commit_window,
            verdict_window=section.verdict_window,
            reveal_window=section.verify_window,
            success_band=(section.success_low, section.success_high),
        )
    return RoleSettings.from_mapping(data)


# ---- logging, stop signal, metrics -------------------------------------------------------------


class StopFlag:
    """Set by SIGTERM/SIGINT: the loop finishes its current step and exits cleanly."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.event.set())

    def __bool__(self) -> bool:
        return self.event.is_set()

    def sleep(self, seconds: float) -> None:
        self.event.wait(seconds)


def setup_role_logging(config: Any, settings: RoleSettings) -> None:
    """Logs of `python -m node.roles` / devnet nodes; the CLI set logging up already (same function,
    `node.logging.setup_logging`, from the same options)."""
    if isinstance(config, RoleSettings | str | Path | dict):
        from node.logging import setup_logging

        setup_logging(
            settings.log_level,
            json_lines=settings.log_json,
            log_file=settings.log_file or settings.data_dir / "node.log",
            node=settings.role,
        )


def event(logger: logging.Logger, msg: str, **fields_: Any) -> None:
    """An INFO log line with structured fields (they land in the JSON log)."""
    logger.info(msg, extra={"fields": fields_})


def start_metrics(ctx: NodeContext) -> None:
    """Prometheus /metrics on 127.0.0.1:<metrics_port> (0: off): the store's task states, audits and
    payouts (node.metrics.StoreCollector) and the p2p counters, from the default registry."""
    port = ctx.settings.metrics_port
    if not port:
        return
    from prometheus_client import REGISTRY

    from node.metrics import NodeMetrics, start_metrics_server

    try:
        metrics = NodeMetrics(registry=REGISTRY, store=ctx.store)
    except ValueError:  # already registered in this process
        return
    from node.config import UserError

    try:
        start_metrics_server(metrics, port, "127.0.0.1")
    except UserError as exc:
        raise RoleError(str(exc)) from None


# ---- the node context ---------------------------------------------------------------------------


@dataclass
class NodeContext:
    settings: RoleSettings
    role: Role
    store: Store
    chain: Chain
    address: str
    account_key: bytes
    identity_secret: bytes
    deployment: Deployment
    beacon: DrandClient | None
    stop: StopFlag
    p2p: Any = None  # node.p2p.P2PNode when the role gossips

    def close(self) -> None:
        if self.p2p is not None:
            try:
                self.p2p.stop()
            except Exception:  # noqa: BLE001 - shutting down anyway
                log.debug("p2p stop failed", exc_info=True)
        if self.beacon is not None:
            self.beacon.close()
        self.store.close()


def check_rpc(rpc_url: str) -> int:
    """The chain id at `rpc_url`, or a sentence that says what to do."""
    w3 = make_web3(rpc_url, timeout=5.0)
    from chain.tx import RetryPolicy

    try:
        return int(with_retries(lambda: w3.eth.chain_id, RetryPolicy(attempts=3), f"connecting to {rpc_url}"))
    except ChainError as exc:
        raise RoleError(
            f"The chain RPC at {rpc_url} is unreachable ({exc}); start the node (e.g. anvil) or fix --rpc-url."
        ) from None


def load_keys(settings: RoleSettings) -> tuple[Any, bytes]:
    """(account, identity secret) from the keystore; a wrong passphrase is a sentence, not a traceback."""
    from chain.keys import KeyFileError

    try:
        passphrase = read_passphrase(settings.passphrase_file, prompt=None)
        account = load_account(settings.keystore, passphrase)
        identity = load_identity_secret(settings.identity_path)
    except KeyFileError as exc:
        raise RoleError(str(exc)) from None
    return account, identity


def load_keys_identity(settings: RoleSettings) -> bytes:
    from chain.keys import KeyFileError

    try:
        return load_identity_secret(settings.identity_path)
    except KeyFileError as exc:
        raise RoleError(str(exc)) from None


def beacon_client(urls: list[str], deployment: Deployment) -> DrandClient:
    """A drand client whose trust root is the beacon key the deployed DrandBeacon contract verifies.

    The relay's /info is fetched once and accepted only if its public key, genesis and period are
    the contract's, so a relay can never introduce its own key.
    """
    if not urls:
        raise RoleError("No beacon URL is configured; pass --beacon-url (a drand HTTP relay).")
    want = deployment.beacon
    problems = []
    for url in urls:
        try:
            reply = httpx.get(url.rstrip("/") + "/info", timeout=5.0)
            reply.raise_for_status()
            info = ChainInfo.from_json(reply.json())
        except (httpx.HTTPError, ValueError) as exc:
            problems.append(f"{url}: {exc}")
            continue
        if (info.public_key, info.genesis_time, info.period) != (want.public_key, want.genesis, want.period):
            problems.append(f"{url}: serves another beacon chain than the deployed DrandBeacon")
            continue
        return DrandClient(urls, info=info, retries=2, backoff=0.2)
    raise RoleError("No beacon relay could be used: " + "; ".join(problems) + ".")


def open_context(
    settings: RoleSettings, role: Role, stop: StopFlag | None = None, account: Any = None
) -> NodeContext:
    """Check the RPC, unlock the keys, open (and migrate) the store, connect the chain and beacon.

    `account` is an already decrypted LocalAccount (the CLI asks for the passphrase itself)."""
    stop = stop or StopFlag()
    deployment = _load_deployment(settings.deployment)
    chain_id = check_rpc(settings.rpc_url)
    if chain_id != deployment.chain_id:
        raise RoleError(
            f"The RPC at {settings.rpc_url} serves chain {chain_id} but the deployment {settings.deployment} "
            f"is for chain {deployment.chain_id}; point the node at the right RPC or deployment file."
        )
    warn_reorg_protection_off(settings, chain_id)
    if account is None:
        account, identity = load_keys(settings)
    else:
        identity = load_keys_identity(settings)
    store = open_store(settings.store_url or default_store_url(settings.data_dir))
    w3 = make_web3(settings.rpc_url)
    sender = Sender(w3, account, SenderConfig.default(), journal=_journal(store, account.address, chain_id))
    chain = Chain(w3, deployment, sender)
    beacon = beacon_client(settings.beacon_urls, deployment) if settings.beacon_urls else None
    ctx = NodeContext(
        settings=settings,
        role=role,
        store=store,
        chain=chain,
        address=account.address,
        account_key=bytes(account.key),
        identity_secret=identity,
        deployment=deployment,
        beacon=beacon,
        stop=stop,
    )
    resume_transactions(ctx)
    return ctx


def _load_deployment(path: Path) -> Deployment:
    try:
        return Deployment.load(path)
    except ChainError as exc:
        raise RoleError(str(exc)) from None


def _journal(store: Store, sender: str, chain_id: int) -> Callable[[SignedTx], None]:
    """Journal every signed transaction under a unique intent (its description, or description#nonce)."""

    def journal(signed: SignedTx) -> None:
        intent = signed.description[:150]
        old = store.tx_by_intent(intent)
        if old is not None and old.tx_hash != signed.tx_hash:
            intent = f"{intent}#{signed.nonce}"
        store.record_signed_tx(
            intent,
            sender=sender,
            nonce=signed.nonce,
            tx_hash=signed.tx_hash,
            raw_tx=signed.raw,
            chain_id=chain_id,
        )

    return journal


def resume_transactions(ctx: NodeContext) -> int:
    """After a restart: re-broadcast every journaled but unconfirmed transaction (same bytes, same
    nonce) and record its receipt, before anything new is sent. Returns how many were resumed."""
    sender = ctx.chain.sender
    assert sender is not None
    resumed = 0
    for row in ctx.store.unfinished_txs(ctx.address):
        signed = SignedTx(row.nonce, row.tx_hash, bytes(row.raw_tx or b""), row.intent)
        try:
            receipt = sender.rebroadcast(signed)
            ctx.store.set_tx_status(row.intent, TxStatus.MINED, block_number=receipt.block_number)
        except ChainError as exc:
            # The nonce was taken by another transaction, or it reverted: it will never be mined as is.
            status = TxStatus.REVERTED if "revert" in str(exc).lower() else TxStatus.DROPPED
            ctx.store.set_tx_status(row.intent, status, error=str(exc)[:500])
        resumed += 1
        event(log, f"resumed journaled transaction {row.intent!r}", intent=row.intent, tx=row.tx_hash)
    sender.reset_nonce()
    return resumed


def confirm_transactions(ctx: NodeContext) -> None:
    """Record receipts of journaled transactions (the Sender waited for them; the store learns it here)."""
    w3 = ctx.chain.w3
    for row in ctx.store.unfinished_txs(ctx.address):
        try:
            receipt = w3.eth.get_transaction_receipt(row.tx_hash)
        except Exception:  # noqa: BLE001 - not mined yet (TransactionNotFound) or RPC hiccup
            continue
        status = TxStatus.MINED if int(receipt["status"]) == 1 else TxStatus.REVERTED
        ctx.store.set_tx_status(row.intent, status, block_number=int(receipt["blockNumber"]))


# ---- tasks ----------------------------------------------------------------------------------------


def task_params_dict(task: Task) -> dict[str, Any]:
    p = task.params
    return {
        "env_id": "0x" + p.env_id.hex(),
        "difficulty": p.difficulty,
        "num_problems": p.num_problems,
        "rollouts_per_problem": p.rollouts_per_problem,
        "max_tokens": p.max_tokens,
        "temperature_milli": p.temperature_milli,
        "base_model_hash": "0x" + p.base_model_hash.hex(),
        "tokenizer_hash": "0x" + p.tokenizer_hash.hex(),
        "reward": str(p.reward),
        "join_deadline": p.join_deadline,
        "commit_deadline": p.commit_deadline,
        "verdict_deadline": p.verdict_deadline,
        "verify_deadline": p.verify_deadline,
        "posted_at": task.posted_at,
        # The audit parameters (issue 14): node/roles/audit.py reads them into the verifier's AuditParams.
        "audit_rollouts": p.audit_rollouts,
        "audit_positions": p.audit_positions,
        "logprob_tol_nano": p.logprob_tol_nano,
        "edge_slack_nano": p.edge_slack_nano,
        "dtype": int(p.dtype),
    }


def env_names() -> tuple[str, ...]:
    from node.envs import ENV_NAMES
    from node.roles.testenv import NAME as TEST_ENV

    return (*ENV_NAMES, TEST_ENV)


def get_env(name: str) -> Any:
    """The environment `name`: reasoning-gym ones from node.envs, plus the devnet test environment."""
    from node.roles.testenv import NAME as TEST_ENV
    from node.roles.testenv import LettersEnv

    if name == TEST_ENV:
        return LettersEnv()
    from node.envs import get_env as get_reasoning_env

    return get_reasoning_env(name)


def env_name_of(env_id: bytes) -> str | None:
    from node.envs import env_id as env_id_of

    for name in env_names():
        if env_id_of(name) == env_id:
            return name
    return None


def record_task(
    ctx: NodeContext, task_id: int, block: int | None = None, track: Callable[[Task], bool] | None = None
) -> Task:
    """Read a task from the TaskBoard into the store and start tracking it for this role
    (only when `track(task)` says so, e.g. a proposer tracks its own tasks)."""
    task = ctx.chain.board.get_task(task_id)
    with ctx.store.transaction() as s:
        ctx.store.upsert_task(
            task_id,
            proposer=task.proposer,
            env_id=task.params.env_id,
            env_name=env_name_of(task.params.env_id),
            params=task_params_dict(task),
            seed_round=task.seed_round,
            challenge_round=task.challenge_round,
            posted_block=block,
            session=s,
        )
        if track is None or track(task):
            ctx.store.track_task(task_id, ctx.role, session=s)
    return task


def sync_tasks(
    ctx: NodeContext,
    on_event: Callable[[ChainEvent], None] | None = None,
    track: Callable[[Task], bool] | None = None,
) -> int:
    """Read new chain events (cursor in the store); every posted task is recorded and tracked."""
    follower = ctx.chain.follower(
        ctx.store.cursors, key=f"{ctx.role.value}-events", confirmations=ctx.settings.confirmations
    )

    def handle(ev: ChainEvent) -> None:
        if ev.name == "TaskPosted":
            record_task(ctx, int(ev.args["taskId"]), ev.block_number, track)
        if on_event is not None:
            on_event(ev)

    return follower.poll(handle)


@dataclass(frozen=True)
class TaskView:
    """A stored task's parameters as plain values (what the roles act on)."""

    task_id: int
    env_name: str | None
    difficulty: int
    num_problems: int
    rollouts_per_problem: int
    max_tokens: int
    temperature_milli: int
    base_model_hash: bytes
    reward: int
    join_deadline: int
    commit_deadline: int
    verdict_deadline: int
    verify_deadline: int
    seed_round: int
    challenge_round: int
    proposer: str

    def spec(self, seed_randomness: bytes) -> TaskSpec:
        return TaskSpec(
            task_id=self.task_id,
            difficulty=self.difficulty,
            num_problems=self.num_problems,
            rollouts_per_problem=self.rollouts_per_problem,
            max_tokens=self.max_tokens,
            temperature_milli=self.temperature_milli,
            seed_randomness=seed_randomness,
        )


def task_view(ctx: NodeContext, task_id: int) -> TaskView:
    row = ctx.store.get_task(task_id)
    if row is None:
        raise RoleError(f"Task {task_id} is not in the store.")
    p = row.params
    return TaskView(
        task_id=task_id,
        env_name=row.env_name,
        difficulty=int(p["difficulty"]),
        num_problems=int(p["num_problems"]),
        rollouts_per_problem=int(p["rollouts_per_problem"]),
        max_tokens=int(p["max_tokens"]),
        temperature_milli=int(p["temperature_milli"]),
        base_model_hash=bytes.fromhex(p["base_model_hash"][2:]),
        reward=int(p["reward"]),
        join_deadline=int(p["join_deadline"]),
        commit_deadline=int(p["commit_deadline"]),
        verdict_deadline=int(p["verdict_deadline"]),
        verify_deadline=int(p["verify_deadline"]),
        seed_round=int(row.seed_round or 0),
        challenge_round=int(row.challenge_round or 0),
        proposer=str(row.proposer),
    )


def chain_now(ctx: NodeContext) -> int:
    """The latest block's timestamp: what a transaction's gas estimate sees. A window that opens
    *after* a deadline is entered only once the chain itself is past it; windows that *close* are
    checked against the wall clock with DEADLINE_MARGIN to spare."""
    return ctx.chain.timestamp()


def beacon_if_due(ctx: NodeContext, round_: int) -> Beacon | None:
    """The verified beacon of `round_` once its time has come, else None (never blocks long)."""
    if ctx.beacon is None:
        raise RoleError("This role needs a beacon URL (--beacon-url) to read drand rounds.")
    info = ctx.beacon.info()
    if time.time() < info.time_of_round(round_):
        return None
    try:
        return ctx.beacon.get(round_)
    except Exception as exc:  # noqa: BLE001 - BeaconUnavailable or a network error: try next loop
        log.warning("beacon round %d not available yet: %s", round_, exc)
        return None


def task_randomness(ctx: NodeContext, task_id: int, which: str) -> bytes | None:
    """The verified seed or challenge randomness of a task (stored once known)."""
    row = ctx.store.get_task(task_id)
    assert row is not None
    stored = row.seed_randomness if which == "seed" else row.challenge_randomness
    if stored is not None:
        return bytes.fromhex(stored[2:])
    round_ = row.seed_round if which == "seed" else row.challenge_round
    beacon = beacon_if_due(ctx, int(round_ or 0))
    if beacon is None:
        return None
    ctx.store.set_task_randomness(task_id, **{which: beacon.randomness})
    return beacon.randomness


def record_beacon_on_chain(ctx: NodeContext, round_: int) -> bool:
    """Make sure the beacon of `round_` is recorded in the DrandBeacon contract (anyone may)."""
    if ctx.chain.beacon.randomness(round_) is not None:
        return True
    beacon = beacon_if_due(ctx, round_)
    if beacon is None:
        return False
    r, sig, point = beacon.onchain_args()
    try:
        ctx.chain.beacon.record_beacon(r, sig, point)
    except ChainError as exc:
        if ctx.chain.beacon.randomness(round_) is None:
            raise
        log.info("beacon %d was recorded by someone else first (%s)", round_, exc)
    return True


# ---- Settlement v2 obligations (PROTOCOL.md §2.5-2.9): read from the chain, never from settings ------

# A forced miner's prescribed wrong commitment: its honest tokens with every committed logprob
# shifted by this many nats, far beyond any task's logprob tolerance (docs/PROTOCOL.md §9.2).
FORCED_LOGPROB_SHIFT = 0.01


def settlement_params(ctx: NodeContext) -> Any:
    """The Settlement deploy parameters (immutable, so read once per process)."""
    cached = getattr(ctx, "_settlement_params", None)
    if cached is None:
        cached = ctx.chain.settlement.params()
        object.__setattr__(ctx, "_settlement_params", cached)
    return cached


def forced_error_secret(ctx: NodeContext, task_id: int) -> bytes:
    """The miner's per-task forced-error secret, derived from its key: a restart recovers it."""
    from chain.clients import derive_forced_error_secret

    return derive_forced_error_secret(ctx.account_key, task_id)


def forced_on_task(ctx: NodeContext, task_id: int) -> bool | None:
    """Whether this miner must commit the prescribed wrong commitment (None before the seed beacon)."""
    from chain.clients import is_forced

    seed = task_randomness(ctx, task_id, "seed")
    if seed is None:
        return None
    odds = settlement_params(ctx).forced_error_odds
    return is_forced(forced_error_secret(ctx, task_id), seed, odds)


def forced_error_rollouts(rollouts: list[Any]) -> list[Any]:
    """The prescribed wrong commitment: the same tokens and rewards, every logprob shifted (float32)."""
    import dataclasses

    import numpy as np

    out = []
    for r in rollouts:
        shifted = tuple(float(np.float32(lp) + np.float32(FORCED_LOGPROB_SHIFT)) for lp in r.logprobs)
        out.append(dataclasses.replace(r, logprobs=shifted))
    return out


def committee_seats(ctx: NodeContext, task_id: int) -> int | None:
    """This validator's seats on the task's committee, from the chain (None before the challenge
    beacon is recorded there: the committee does not exist yet)."""
    from chain.errors import ChainRevert

    try:
        return ctx.chain.settlement.committee_seats(task_id, ctx.address)
    except ChainRevert as exc:
        if exc.name == "ChallengeBeaconMissing":
            return None
        raise


def free_stake(ctx: NodeContext, chain_role: int) -> int:
    """Active stake not locked by open tasks (what a join lock or a verdict bond can take)."""
    return ctx.chain.stakes.free_stake(ctx.address, chain_role)


# ---- p2p --------------------------------------------------------------------------------------------


def check_listen_port(listen: str) -> None:
    """Fail early, with a sentence, when the p2p listen port is taken (before any model or transaction)."""
    import re
    import socket

    match = re.match(r"^/ip4/([0-9.]+)/tcp/(\d+)", listen)
    if match is None or match.group(2) == "0":
        return
    with socket.socket() as probe:
        # SO_REUSEADDR: connections of a killed predecessor in TIME_WAIT do not block the port (the
        # libp2p listener sets it too); a live listener still does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((match.group(1), int(match.group(2))))
        except OSError as exc:
            raise RoleError(
                f"Cannot listen on {listen}: {exc.strerror} (is the port in use?); pick another --listen address."
            ) from None


def p2p_config(settings: RoleSettings) -> Any:
    """The libp2p configuration of this node: the [p2p] options, everything else P2PConfig's defaults.
    Bootstrap peers: the settings' list plus the deployment file's `extra.bootstrap`; everything else
    is found by peer exchange."""
    from node.p2p import deployment_bootstrap
    from node.p2p.config import P2PConfig

    return P2PConfig(
        identity_path=settings.identity_path,
        listen_addr=settings.listen,
        bootstrap=list(dict.fromkeys([*settings.bootstrap, *deployment_bootstrap(settings.deployment)])),
        announce=list(settings.announce),
        eclipse_protection=settings.eclipse_protection,
        stake_cache_seconds=settings.stake_cache_seconds,
    )


def warn_protections_off(settings: RoleSettings) -> list[str]:
    """Log a warning for each protection switched off (only a devnet on 127.0.0.1 should); returns them."""
    off = []
    if not settings.eclipse_protection:
        off.append("eclipse_protection")
        log.warning(
            "p2p eclipse protection is OFF: one host could surround this node with its own peers. "
            "Only a devnet whose peers all run on 127.0.0.1 may turn it off ([p2p] eclipse_protection).",
            extra={"fields": {"protection": "eclipse_protection"}},
        )
    return off


# Anvil and Hardhat: development chains that never reorganize, where 0 confirmations is safe.
DEV_CHAIN_IDS = frozenset({31337})


def warn_reorg_protection_off(settings: RoleSettings, chain_id: int) -> bool:
    """Log a warning when events are acted on at the chain head of a chain that can reorganize."""
    if settings.confirmations > 0 or chain_id in DEV_CHAIN_IDS:
        return False
    log.warning(
        "reorg protection is OFF: events are acted on at the chain head of chain %d, where a reorg "
        "can undo them; set [chain] confirmations (--confirmations) to a few blocks.",
        chain_id,
        extra={"fields": {"protection": "confirmations"}},
    )
    return True


def start_p2p(ctx: NodeContext) -> Any:
    """Start the libp2p host with this node's identity; gossip is accepted from staked signers only.

    Bootstrap peers: the settings' list plus the deployment file's `extra.bootstrap`; everything
    else is found by peer exchange. Who may gossip (stakes), each task's limits and its joined
    miners come from chain events (`follow_stakers`), never from a chain call per message.
    """
    from node.p2p import P2PError, P2PNode

    stakers = follow_stakers(ctx)
    config = p2p_config(ctx.settings)
    warn_protections_off(ctx.settings)
    node = P2PNode(
        config,
        ctx.account_key,
        stakers,
        identity_secret=ctx.identity_secret,
        task_rules=task_rules_of(ctx, stakers),
    )
    node.stakers = stakers
    try:
        node.start()
    except P2PError as exc:
        raise RoleError(f"{exc}; is the port in use? Pick another --listen address.") from None
    if not node.listen_addrs:
        # py-libp2p reports a failed listener only on stderr; a host without listeners is useless.
        node.stop()
        raise RoleError(
            f"The p2p host could not listen on {ctx.settings.listen} (is the port in use?); "
            "pick another --listen address."
        )
    ctx.p2p = node
    from node.metrics import watch_p2p

    watch_p2p(node)  # rollproof_peers and the gossip counters on /metrics
    (ctx.settings.data_dir / "p2p.json").write_text(
        json.dumps(
            {"peer_id": node.peer_id.to_base58(), "listen": node.listen_addrs, "advertised": node.advertised}
        )
        + "\n"
    )
    event(
        log,
        "p2p host listening",
        listen=node.listen_addrs,
        advertised=node.advertised,
        peer_id=node.peer_id.to_base58(),
    )
    return node


STAKER_EVENTS = (
    "Staked",
    "UnstakeRequested",
    "Slashed",
    "Withdrawn",
    "PeerRegistered",
    "PeerReleased",
    "TaskPosted",
    "Joined",
)


def follow_stakers(ctx: NodeContext) -> Any:
    """A StakerIndex filled from the chain's events now (from the deploy block), then kept current by
    a daemon thread: one stake read per stake event, one task read per posted task."""
    from chain.events import InMemoryCursorStore
    from node.p2p import StakerIndex

    index = StakerIndex()
    follower = ctx.chain.follower(InMemoryCursorStore(), key="stakers", names=list(STAKER_EVENTS))

    def apply(ev: ChainEvent) -> None:
        args = ev.args
        if ev.name in ("Staked", "UnstakeRequested", "Slashed", "Withdrawn"):
            role = int(args["role"])
            index.set_staked(args["who"], role, ctx.chain.stakes.is_staked(args["who"], role))
        elif ev.name == "PeerRegistered":
            from libp2p.peer.id import ID

            index.set_peer(args["who"], ID(bytes(args["peerId"])).to_base58())
        elif ev.name == "PeerReleased":
            index.set_peer(args["who"], None)
        elif ev.name == "TaskPosted":
            p = ctx.chain.board.get_task(int(args["taskId"])).params
            index.add_task(int(args["taskId"]), p.num_problems, p.rollouts_per_problem, p.max_tokens)
        elif ev.name == "Joined":
            index.add_joined(int(args["taskId"]), [args["miner"]])

    follower.poll(apply)

    def run() -> None:
        while not ctx.stop:
            try:
                follower.poll(apply)
            except Exception as exc:  # noqa: BLE001 - an RPC hiccup: the next poll resumes at the cursor
                log.debug("staker index poll failed: %r", exc)
            ctx.stop.sleep(ctx.settings.poll_interval)

    threading.Thread(target=run, name="staker-index", daemon=True).start()
    return index


def task_rules_of(ctx: NodeContext, stakers: Any) -> Callable[[int], Any]:
    """The gossip validator's task rules: the index's, or, while its thread has not yet seen a task
    this role already subscribed to, the task's parameters from the store (only subscribed topics
    are validated, so junk task ids never reach the store)."""

    def rules(task_id: int) -> Any:
        found = stakers.rules(task_id)
        if found is None:
            row = ctx.store.get_task(task_id)
            if row is None:
                return None
            p = row.params
            stakers.add_task(
                task_id, int(p["num_problems"]), int(p["rollouts_per_problem"]), int(p["max_tokens"])
            )
            found = stakers.rules(task_id)
        return found

    return rules


def catch_up_task(ctx: NodeContext, task_id: int) -> int:
    """Repair before an audit: fetch the task's rollouts that gossip did not bring from every
    connected peer's history (each envelope re-validated); returns how many were new."""
    from node.p2p import rollouts_topic

    if ctx.p2p is None or not hasattr(ctx.p2p, "catch_up"):
        return 0
    try:
        new = ctx.p2p.catch_up(rollouts_topic(task_id))
    except Exception as exc:  # noqa: BLE001 - the audit falls back to the miner's openings
        log.warning("task %d: catch-up before the audit failed: %s", task_id, exc)
        return 0
    if new:
        ctx.p2p.wait_dispatched(30.0)  # the handlers have stored them before the audit reads the store
        event(log, "caught up missing gossip", task=task_id, rollouts=new)
    return new


def leave_task(ctx: NodeContext, task_id: int) -> None:
    """Unsubscribe from a settled task's topics: long-running nodes keep no history of old tasks."""
    from node.p2p import evaluations_topic, rollouts_topic

    if ctx.p2p is None or not hasattr(ctx.p2p, "unsubscribe"):
        return
    for topic in (rollouts_topic(task_id), evaluations_topic(task_id)):
        if topic in ctx.p2p.handlers:
            try:
                ctx.p2p.unsubscribe(topic)
            except Exception:  # noqa: BLE001 - best effort; the node works on without it
                log.debug("unsubscribe from %s failed", topic, exc_info=True)


def peer_id_of(ctx: NodeContext, address: str) -> str | None:
    """The base58 libp2p peer id bound on chain to `address` (proof of possession checked there)."""
    from libp2p.peer.id import ID

    raw = ctx.chain.stakes.peer_id_of(address)
    return ID(raw).to_base58() if raw else None


def ensure_peer_registered(ctx: NodeContext) -> None:
    ctx.chain.stakes.register_peer(ctx.identity_secret)


def check_stake(ctx: NodeContext, role: int) -> int:
    """Before anything is sent: the RPT (base units) to add so the stake reaches `settings.stake`
    (0 when it is there already); a sentence when the target is below the role minimum or the
    account cannot pay, so a bad start leaves nothing half-done."""
    from chain.errors import format_rpt
    from node.config import UserError
    from node.ops.money import stake_to_add

    stakes = ctx.chain.stakes
    name = ("miner", "validator", "evaluator")[role]
    active, minimum = stakes.active_stake(ctx.address, role), stakes.min_stake(role)
    if ctx.settings.stake <= 0:
        if active >= minimum:
            return 0
        have = f"has no {name} stake" if active == 0 else f"has {format_rpt(active)} staked as {name}, below"
        raise RoleError(
            f"{ctx.address} {have} (minimum {format_rpt(minimum)}); stake with "
            f"`rollproof stake add AMOUNT --role {name}` or pass --stake, then start again."
        )
    try:
        missing = stake_to_add(ctx.settings.stake, active, minimum, name)
    except UserError as exc:
        raise RoleError(str(exc)) from None
    balance = ctx.chain.token.balance_of(ctx.address)
    if balance < missing:
        raise RoleError(
            f"{ctx.address} holds {format_rpt(balance)}, less than the {format_rpt(missing)} missing from its "
            f"{name} stake; fund the account first."
        )
    return missing


def ensure_staked(ctx: NodeContext, role: int) -> None:
    """Stake what is missing up to `settings.stake` (check_stake ran before)."""
    from chain.errors import format_rpt

    missing = check_stake(ctx, role)
    if missing:
        ctx.chain.stakes.stake(role, missing)
        name = ("miner", "validator", "evaluator")[role]
        event(log, f"staked {format_rpt(missing)} as {name}", role=name, amount_rpt=format_rpt(missing))


def crash_point(ctx: NodeContext, state: Any) -> None:
    """Tests only: die by SIGKILL right after `state` was persisted (no cleanup, like a power cut)."""
    if ctx.settings.crash_after and ctx.settings.crash_after == str(state):
        log.warning("crash_after=%s: killing this process now", state)
        logging.shutdown()
        os.kill(os.getpid(), signal.SIGKILL)


def step_tasks(ctx: NodeContext, task_ids: list[int], advance: Callable[[int], bool]) -> bool:
    """Advance each task one step; a failure in one task is logged and retried next loop, the others go on."""
    from chain.errors import ChainRevert

    busy = False
    for task_id in task_ids:
        if ctx.stop:
            break
        try:
            busy |= advance(task_id)
        except ChainRevert as exc:
            log.warning("task %d: %s", task_id, exc)
        except RoleError:
            raise
        except Exception:  # noqa: BLE001 - keep serving the other tasks; the traceback is logged
            log.exception("task %d: step failed; retrying on the next loop", task_id)
    return busy


def run_staked_role(
    config: Any,
    name: str,
    role: Role,
    chain_role: int,
    make_node: Callable[[NodeContext], Any],
    start_network: Callable[[Any], Any] | None = None,
    ready_fields: Callable[[RoleSettings], dict[str, Any]] = lambda settings: {},
) -> int:
    """Start-up shared by the staked roles (miner, validator, evaluator), then their loop.

    Every check that can fail (port, stake, model) runs before the first transaction, so a bad
    start leaves nothing half-done on chain. `make_node(ctx)` builds the role object (`step`,
    optionally `done`); `start_network(node)` defaults to a plain `start_p2p(ctx)`.
    """
    settings = settings_from(config, name)
    setup_role_logging(config, settings)
    set_threads(settings.threads)
    check_listen_port(settings.listen)
    ctx = open_context(settings, role, account=getattr(config, "account", None))
    try:
        ctx.stop.install()
        check_stake(ctx, chain_role)
        node = make_node(ctx)
        start_metrics(ctx)
        if start_network is None:
            start_p2p(ctx)
        else:
            start_network(node)
        ensure_staked(ctx, chain_role)
        ensure_peer_registered(ctx)
        event(
            logging.getLogger(f"rollproof.{name}"),
            f"{name} ready",
            address=ctx.address,
            **ready_fields(settings),
        )
        return run_loop(ctx, node.step, getattr(node, "done", None))
    finally:
        ctx.close()


def run_loop(ctx: NodeContext, step: Callable[[], bool], done: Callable[[], bool] | None = None) -> int:
    """Call `step` every poll interval until stopped; `step` returns True when it did something."""
    idle_since = time.monotonic()
    while not ctx.stop:
        busy = step()
        confirm_transactions(ctx)
        if busy:
            idle_since = time.monotonic()
        if done is not None and done():
            return 0
        if ctx.settings.exit_when_idle and time.monotonic() - idle_since > ctx.settings.exit_when_idle:
            log.info("idle for %.0f s; exiting", ctx.settings.exit_when_idle)
            return 0
        if not busy:
            ctx.stop.sleep(ctx.settings.poll_interval)
    return 0


def set_threads(n: int) -> None:
    import torch

    torch.set_num_threads(max(1, n))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def load_model_spec(spec: str):
    """(model, tokenizer) for "smollm2", "tiny", "tiny:<seed>" or a directory."""
    from verifier.models import ModelError, load_model, tiny_model

    try:
        if spec.startswith("tiny:"):
            return tiny_model(seed=int(spec.split(":", 1)[1]))
        return load_model(spec)
    except (ModelError, ValueError) as exc:
        raise RoleError(f"Cannot load the model {spec!r}: {exc}") from None


# ---- rollouts on the wire and adapters by hash ---------------------------------------------------


def to_wire(rollout: Any) -> Any:
    """A verifier Rollout as the gossip RolloutMsg (the same fields, minus the decoded text)."""
    from eth_utils import to_checksum_address

    from node.p2p import RolloutMsg

    return RolloutMsg(
        task_id=rollout.task_id,
        miner=to_checksum_address(rollout.miner),
        p=rollout.p,
        g=rollout.g,
        prompt_ids=tuple(rollout.prompt_ids),
        tokens=tuple(rollout.tokens),
        logprobs=tuple(rollout.logprobs),
        claimed_reward=rollout.claimed_reward,
    )


def from_wire(msg: Any) -> Any:
    """A gossiped or served RolloutMsg as a verifier Rollout."""
    from verifier.rollout import Rollout

    return Rollout(
        msg.task_id,
        msg.miner,
        msg.p,
        msg.g,
        tuple(msg.prompt_ids),
        tuple(msg.tokens),
        tuple(msg.logprobs),
        msg.claimed_reward,
    )


def encode_rollout(msg: Any) -> bytes:
    from node.p2p.wire import encode_payload

    return encode_payload(msg)


def decode_rollout(body: bytes, max_tokens: int = 16384) -> Any:
    from node.p2p.wire import KIND_ROLLOUT, decode_payload

    return decode_payload(KIND_ROLLOUT, body, max_tokens)


ADAPTER_BLOB_LIMIT = 64 * 1024 * 1024


def fetch_adapter_blob(p2p: Any, peer: str, adapter_hash: bytes, dest_dir: Path) -> Path:
    """Download an adapter blob by its content hash (resumable chunks, `P2PNode.fetch_adapter`) and
    unpack it into `dest_dir/0x<hash>/`.

    The protocol's adapter hash (`verifier.models.adapter_hash`, what `join` puts on chain) is a
    canonical hash of the LoRA config and tensors, not keccak of the file, so the download is
    checked by parsing the blob and recomputing that hash.
    """
    from verifier.models import ModelError, adapter_from_blob, adapter_from_bytes

    def canonical_hash_matches(path: Path, expected: bytes) -> bool:
        if path.stat().st_size > ADAPTER_BLOB_LIMIT:
            return False
        try:
            return adapter_from_blob(path.read_bytes())[2] == bytes(expected)
        except ModelError:
            return False

    dest_dir.mkdir(parents=True, exist_ok=True)
    blob = dest_dir / ("0x" + bytes(adapter_hash).hex() + ".bin")
    p2p.fetch_adapter(peer, bytes(adapter_hash), blob, verify=canonical_hash_matches)
    directory = dest_dir / ("0x" + bytes(adapter_hash).hex())
    adapter_from_bytes(blob.read_bytes(), directory, expected_hash=bytes(adapter_hash))
    return directory
