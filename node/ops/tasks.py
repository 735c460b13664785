"""`rollproof task list|show|cancel`: tasks as the chain sees them (not as a local store remembers)."""

from __future__ import annotations

from typing import Any

from node.config import Config, UserError
from node.ops.common import Report, connect, node_address, require_gas, rpt, rpt_text, unlock_account, when

STATUS_NAMES = {0: "none", 1: "open", 2: "cancelled", 3: "finalized"}


def task_phase(task: Any, now: int) -> str:
    """Where an open task stands by the chain's clock: join, commit, verdict, reveal, or settle."""
    status = int(task.status)
    if status != 1:
        return STATUS_NAMES.get(status, str(status))
    p = task.params
    for deadline, name in (
        (p.join_deadline, "join"),
        (p.commit_deadline, "commit"),
        (p.verdict_deadline, "verdict"),
        (p.verify_deadline, "reveal"),
    ):
        if now <= deadline:
            return name
    return "settle"


def _env_name(env_id: bytes) -> str:
    try:
        from node.tasks.view import env_name_of

        return env_name_of(env_id) or "0x" + env_id.hex()[:8]
    except Exception:  # noqa: BLE001 - an environment package missing must not hide the task
        return "0x" + env_id.hex()[:8]


def _summary(chain: Any, task: Any, now: int) -> dict[str, Any]:
    p = task.params
    settlement = chain.settlement.task_settlement(task.task_id)
    return {
        "task_id": task.task_id,
        "status": STATUS_NAMES.get(int(task.status), str(int(task.status))),
        "phase": task_phase(task, now),
        "proposer": task.proposer,
        "env": _env_name(p.env_id),
        "difficulty": p.difficulty,
        "reward_rpt": rpt_text(p.reward),
        "miners_joined": settlement.joined,
        "miners_committed": settlement.committed,
        "verdicts_revealed": settlement.revealed,
        "join_deadline": p.join_deadline,
        "commit_deadline": p.commit_deadline,
        "verdict_deadline": p.verdict_deadline,
        "verify_deadline": p.verify_deadline,
    }


def task_list(cfg: Config, mine: bool = False, status: str = "", limit: int = 20) -> Report:
    """The newest `limit` tasks on chain; --mine keeps this account's own posts."""
    if status and status not in STATUS_NAMES.values():
        raise UserError(f"Unknown status {status!r}; use one of: open, cancelled, finalized.")
    chain = connect(cfg)
    me = node_address(cfg) if mine else None
    now = chain.timestamp()
    rows = []
    for task_id in range(chain.board.task_count(), 0, -1):
        if len(rows) >= limit:
            break
        task = chain.board.get_task(task_id)
        if me is not None and task.proposer != me:
            continue
        row = _summary(chain, task, now)
        if status and row["status"] != status:
            continue
        rows.append(row)
    lines = [f"{'task':>5}  {'status':<9} {'phase':<8} {'reward':>12}  {'miners':>6}  proposer"]
    for r in rows:
        lines.append(
            f"{r['task_id']:>5}  {r['status']:<9} {r['phase']:<8} {r['reward_rpt'] + ' RPT':>12}  "
            f"{r['miners_joined']:>6}  {r['proposer']}"
        )
    if not rows:
        lines = ["No tasks" + (" posted by this account" if mine else "") + " on chain yet."]
    return Report({"chain_time": now, "tasks": rows}, lines)


def _get_task(chain: Any, task_id: int) -> Any:
    count = chain.board.task_count()
    if not 1 <= task_id <= count:
        have = f"tasks 1 to {count} exist" if count else "no task was posted yet"
        raise UserError(f"There is no task {task_id} on chain ({have}).")
    return chain.board.get_task(task_id)


def task_show(cfg: Config, task_id: int) -> Report:
    """One task: parameters, deadlines, every miner's state and outcome, validators, settlement."""
    chain = connect(cfg)
    task = _get_task(chain, task_id)
    now = chain.timestamp()
    data = _summary(chain, task, now)
    p = task.params
    data.update(
        num_problems=p.num_problems,
        rollouts_per_problem=p.rollouts_per_problem,
        max_tokens=p.max_tokens,
        temperature=p.temperature_milli / 1000,
        base_model_hash="0x" + p.base_model_hash.hex(),
        tokenizer_hash="0x" + p.tokenizer_hash.hex(),
        seed_round=task.seed_round,
        challenge_round=task.challenge_round,
    )
    miners = []
    for miner in chain.settlement.miners(task_id):
        st = chain.settlement.miner_state(task_id, miner)
        miners.append(
            {
                "miner": miner,
                "committed": st.committed,
                "rollouts": st.count,
                "outcome": st.outcome.name.lower(),
                "score": st.score / 1e6,
                "paid_rpt": rpt_text(st.paid),
                "slashed_rpt": rpt_text(st.slashed),
            }
        )
    validators = []
    for validator in chain.settlement.validators(task_id):
        vs = chain.settlement.validator_state(task_id, validator)
        validators.append(
            {
                "validator": validator,
                "revealed": vs.revealed,
                "seats": vs.seats,
                "settled": vs.settled,
                "paid_rpt": rpt_text(vs.paid),
            }
        )
    settlement = chain.settlement.task_settlement(task_id)
    data.update(
        miners=miners,
        validators=validators,
        finalized=settlement.finalized,
        escrow_rpt=rpt_text(settlement.escrow),
        slashed_rpt=rpt_text(settlement.slashed),
        refund_rpt=rpt_text(settlement.refund),
    )
    lines = [
        f"task {task_id}: {data['status']} ({data['phase']}), env {data['env']}, difficulty {p.difficulty}, "
        f"reward {rpt(p.reward)}",
        f"proposer  {task.proposer}",
        f"shape     {p.num_problems} problems x {p.rollouts_per_problem} rollouts, {p.max_tokens} tokens, "
        f"T={p.temperature_milli / 1000}",
        f"join      {when(p.join_deadline, now)}",
        f"commit    {when(p.commit_deadline, now)}",
        f"verdict   {when(p.verdict_deadline, now)}",
        f"verify    {when(p.verify_deadline, now)}",
        f"beacon    seed round {task.seed_round}, challenge round {task.challenge_round}",
    ]
    for m in miners:
        lines.append(
            f"miner     {m['miner']}: {m['outcome']}, {m['rollouts']} rollouts, score {m['score']:.3f}, "
            f"paid {m['paid_rpt']} RPT, slashed {m['slashed_rpt']} RPT"
        )
    for v in validators:
        lines.append(
            f"validator {v['validator']}: {'revealed' if v['revealed'] else 'not revealed'}"
            + (f", {v['seats']} committee seat(s)" if v["seats"] is not None else "")
            + f", paid {v['paid_rpt']} RPT"
        )
    if settlement.finalized:
        lines.append(
            f"settled   slashed {rpt(settlement.slashed)}, refunded {rpt(settlement.refund)} to the proposer"
        )
    return Report(data, lines)


def task_cancel(cfg: Config, task_id: int) -> Report:
    """Cancel an own open task: before anyone joined, or once its commit window closed empty."""
    account = unlock_account(cfg)
    chain = connect(cfg, account)
    task = _get_task(chain, task_id)
    who = account.address
    if task.proposer != who:
        raise UserError(
            f"Task {task_id} was posted by {task.proposer}; only its proposer ({who} is not) can cancel it."
        )
    if int(task.status) != 1:
        raise UserError(
            f"Task {task_id} is {STATUS_NAMES.get(int(task.status))}; only an open task can be cancelled."
        )
    settlement = chain.settlement.task_settlement(task_id)
    now = chain.timestamp()
    if settlement.committed:
        raise UserError(
            f"Task {task_id} has {settlement.committed} commitment(s); it is settled, not cancelled."
        )
    if settlement.joined and now <= task.params.commit_deadline:
        raise UserError(
            f"{settlement.joined} miner(s) joined task {task_id} and may be generating; it can be cancelled once "
            f"its commit window closes empty ({when(task.params.commit_deadline, now)})."
        )
    require_gas(chain, who, "cancelling")
    escrow = chain.board.escrow_of(task_id)
    receipt = chain.board.cancel_task(task_id)
    return Report(
        {"task_id": task_id, "refunded_rpt": rpt_text(escrow), "tx": receipt.tx_hash},
        [f"Cancelled task {task_id}; {rpt(escrow)} refunded to {who}, tx {receipt.tx_hash}."],
    )
