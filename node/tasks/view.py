"""The chain's tasks as this node sees them: read from the TaskBoard into the store, tracked per
role, and handed to the roles as plain `TaskView`s; the environments tasks name; chain time."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from chain.clients import Task, TaskParams
from chain.events import ChainEvent
from node.runtime.errors import RoleError
from verifier.rollout import TaskSpec

if TYPE_CHECKING:
    from node.runtime.context import NodeContext

log = logging.getLogger("rollproof.roles")


# A transaction must be mined this many seconds before a window closes; Anvil stamps blocks with
# the wall clock, so a safety margin absorbs the RPC round trip and clock granularity.
DEADLINE_MARGIN = 1.0

# finalize is permissionless; the proposer tries first, then validators, then miners, so the
# parties do not all race (and waste gas on reverts) at the same second.
FINALIZE_DELAY = {"proposer": 0, "validator": 3, "miner": 8}


# TaskParams fields stored as 0x-hex (bytes) or as a decimal string (a uint256 beyond JSON's doubles).
_HEX_FIELDS = ("env_id", "base_model_hash", "tokenizer_hash")
_DECIMAL_FIELDS = ("reward",)


def task_params_dict(task: Task) -> dict[str, Any]:
    """A task's TaskParams as the store keeps them (JSON), plus when it was posted."""
    stored: dict[str, Any] = {}
    for f in fields(TaskParams):
        value = getattr(task.params, f.name)
        if f.name in _HEX_FIELDS:
            value = "0x" + value.hex()
        elif f.name in _DECIMAL_FIELDS:
            value = str(value)
        stored[f.name] = int(value) if isinstance(value, int) else value
    stored["posted_at"] = task.posted_at
    return stored


def task_params_of(stored: dict[str, Any]) -> TaskParams:
    """The TaskParams of task_params_dict's form (fields a store from before them lacks keep their defaults;
    a task recorded before tokenizerHash existed names none, zero, which the roles refuse: PROTOCOL §5)."""
    values: dict[str, Any] = {"tokenizer_hash": bytes(32)}
    for f in fields(TaskParams):
        if f.name not in stored:
            continue
        raw = stored[f.name]
        values[f.name] = bytes.fromhex(raw.removeprefix("0x")) if f.name in _HEX_FIELDS else int(raw)
    return TaskParams(**values)


def env_names() -> tuple[str, ...]:
    from node.envs import ENV_NAMES
    from node.envs.letters import NAME as TEST_ENV

    return (*ENV_NAMES, TEST_ENV)


def get_env(name: str) -> Any:
    """The environment `name`: reasoning-gym ones from node.envs, plus the devnet test environment."""
    from node.envs.letters import NAME as TEST_ENV
    from node.envs.letters import LettersEnv

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
    """A stored task as the roles act on it: its TaskParams as posted, the environment's name and
    the beacon rounds the chain derived for it."""

    task_id: int
    params: TaskParams
    env_name: str | None
    seed_round: int
    challenge_round: int

    def spec(self, seed_randomness: bytes) -> TaskSpec:
        p = self.params
        return TaskSpec(
            task_id=self.task_id,
            difficulty=p.difficulty,
            num_problems=p.num_problems,
            rollouts_per_problem=p.rollouts_per_problem,
            max_tokens=p.max_tokens,
            temperature_milli=p.temperature_milli,
            seed_randomness=seed_randomness,
        )


def task_view(ctx: NodeContext, task_id: int) -> TaskView:
    row = ctx.store.get_task(task_id)
    if row is None:
        raise RoleError(f"Task {task_id} is not in the store.")
    return TaskView(
        task_id=task_id,
        params=task_params_of(row.params),
        env_name=row.env_name,
        seed_round=int(row.seed_round or 0),
        challenge_round=int(row.challenge_round or 0),
    )


def chain_now(ctx: NodeContext) -> int:
    """The latest block's timestamp: what a transaction's gas estimate sees. A window that opens
    *after* a deadline is entered only once the chain itself is past it; windows that *close* are
    checked against the wall clock with DEADLINE_MARGIN to spare."""
    return ctx.chain.timestamp()
