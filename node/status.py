"""`rollproof status`: this node's stake, peers, current tasks, rewards and slashes.

Chain figures (stake, claimable credit, token balance) come from the deployed contracts; history
(tasks and their states, outcomes, peers, unfinished transactions) comes from the local store.
The account address is read from the keystore without its passphrase.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from node.config import Config, UserError

ROLE_NAMES = ("miner", "validator", "evaluator")
DECIMALS = 18


def format_rpt(amount: int) -> str:
    """Base units to RPT text without float rounding (e.g. 1500000000000000000 -> "1.5")."""
    whole, frac = divmod(int(amount), 10**DECIMALS)
    text = f"{frac:018d}".rstrip("0")
    return f"{whole}.{text}" if text else str(whole)


@dataclass
class StakeLine:
    role: str
    active: int
    cooling: int
    minimum: int
    staked: bool


@dataclass
class TaskLine:
    task_id: int
    role: str
    state: str  # this node's state machine (the store)
    note: str | None
    updated_at: float
    chain_status: str | None = None  # open / cancelled / finalized, read from the TaskBoard
    phase: str | None = None  # join / commit / verdict / reveal / settle by the chain's clock
    outcome: str | None = None  # this account's outcome in Settlement, once settled


@dataclass
class NodeStatus:
    address: str | None
    store_url: str
    store_exists: bool
    chain_id: int | None = None
    block: int | None = None
    token_balance: int | None = None
    claimable: int | None = None
    stakes: list[StakeLine] = field(default_factory=list)
    peer_id: str | None = None
    peers: list[dict[str, Any]] = field(default_factory=list)
    peers_connected: int | None = None  # from the running node's /metrics; None when it is not running
    peers_registered: int | None = None  # accounts with a peer id bound on chain
    tasks: list[TaskLine] = field(default_factory=list)
    rewards_paid: int = 0
    slashed: int = 0
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    unfinished_txs: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """JSON-safe dict; amounts as decimal strings of base units (uint256 exceeds JSON numbers)."""
        data = asdict(self)
        for key in ("token_balance", "claimable", "rewards_paid", "slashed"):
            if data[key] is not None:
                data[key] = str(data[key])
        for s in data["stakes"]:
            for key in ("active", "cooling", "minimum"):
                s[key] = str(s[key])
        for o in data["outcomes"]:
            for key in ("paid", "slashed"):
                o[key] = str(o[key])
        return data


def node_address(cfg: Config) -> str | None:
    """The keystore's address (no passphrase needed), or None without a keystore."""
    if not cfg.chain.keystore:
        return None
    from chain.keys import keystore_address

    return keystore_address(cfg.chain.keystore)


def _sqlite_path(url: str) -> Path | None:
    if not url.startswith("sqlite"):
        return None
    from sqlalchemy.engine import make_url

    db = make_url(url).database
    return Path(db) if db else None


def collect_store_status(cfg: Config, status: NodeStatus) -> None:
    """Fill tasks, peers, outcomes and unfinished transactions from the store (if it exists)."""
    from node.store import TxStatus, is_terminal, open_store

    path = _sqlite_path(cfg.store_url)
    if path is not None and not path.exists():
        status.store_exists = False
        status.notes.append(f"No store at {path} yet: this node has not run with this data dir.")
        return
    store = open_store(cfg.store_url)
    try:
        for row in store.task_states(limit=200):
            if not is_terminal(row.role, row.state):
                status.tasks.append(TaskLine(row.task_id, row.role, row.state, row.note, row.updated_at))
        status.peers = [
            {"peer_id": p.peer_id, "address": p.address, "roles": list(p.roles), "last_seen": p.last_seen}
            for p in store.peers()
        ]
        mine = store.outcomes(status.address) if status.address else store.outcomes()
        status.outcomes = [
            {
                "task_id": o.task_id,
                "address": o.address,
                "role": o.role,
                "outcome": o.outcome,
                "score": o.score,
                "paid": o.paid,
                "slashed": o.slashed,
            }
            for o in mine
        ]
        status.rewards_paid = sum(o.paid for o in mine)
        status.slashed = sum(o.slashed for o in mine)
        status.unfinished_txs = [
            {"intent": t.intent, "nonce": t.nonce, "tx_hash": t.tx_hash, "status": t.status}
            for t in store.unfinished_txs()
            if t.status in TxStatus.UNFINISHED
        ]
    finally:
        store.close()


def collect_chain_status(cfg: Config, status: NodeStatus) -> None:
    """Fill stake, balance, claimable credit and the registered peer id from the contracts."""
    try:
        from chain.clients import Chain
    except ImportError as exc:
        raise UserError(f"The chain package is not available ({exc}); reinstall Rollproof.") from None
    chain = Chain.connect(cfg.chain.rpc_url, cfg.chain.deployment)
    status.chain_id = int(chain.w3.eth.chain_id)
    status.block = chain.block_number()
    if status.address is None:
        status.notes.append("No keystore configured, so no account to show stake or rewards for.")
        return
    who = status.address
    status.token_balance = chain.token.balance_of(who)
    status.claimable = chain.settlement.claimable(who)
    for index, name in enumerate(ROLE_NAMES):
        info = chain.stakes.stake_info(who, index)
        status.stakes.append(
            StakeLine(
                role=name,
                active=int(info.active),
                cooling=int(info.cooling),
                minimum=int(chain.stakes.min_stake(index)),
                staked=bool(chain.stakes.is_staked(who, index)),
            )
        )
    peer = chain.stakes.peer_id_of(who)
    if peer:
        import base58  # shipped with libp2p

        status.peer_id = base58.b58encode(bytes(peer)).decode()
    status.peers_registered = len(registered_peers(chain))


def registered_peers(chain: Any) -> set[str]:
    """Accounts that bound a libp2p peer id on chain (PeerRegistered events since the deployment)."""
    contract = chain.stakes.contract
    logs = contract.events.PeerRegistered().get_logs(from_block=chain.deployment.deploy_block)
    return {str(log["args"]["who"]) for log in logs}


def collect_status(cfg: Config, *, chain: bool = True) -> NodeStatus:
    status = NodeStatus(address=node_address(cfg), store_url=_redact(cfg.store_url), store_exists=True)
    if chain:
        collect_chain_status(cfg, status)
    collect_store_status(cfg, status)
    collect_live_peers(cfg, status)
    if chain:
        collect_chain_tasks(cfg, status)
    return status


def collect_live_peers(cfg: Config, status: NodeStatus) -> None:
    """Connected peers as the running node reports them on its /metrics (the store only knows
    peers it recorded, not who is connected now)."""
    if not cfg.node.metrics_port:
        status.notes.append("Metrics are off (--metrics-port 0), so connected peers cannot be read.")
        return
    import httpx

    url = f"http://{cfg.node.metrics_host}:{cfg.node.metrics_port}/metrics"
    try:
        text = httpx.get(url, timeout=2.0).text
    except httpx.HTTPError:
        status.notes.append(f"No node answers at {url}: it is not running, so no peers are connected.")
        return
    for line in text.splitlines():
        if line.startswith("rollproof_peers "):
            status.peers_connected = int(float(line.split()[1]))
            return


def collect_chain_tasks(cfg: Config, status: NodeStatus) -> None:
    """Each current task's status and phase from the TaskBoard, and this account's outcome from
    Settlement: a task the chain finalized shows as finalized even before the node processed it."""
    from chain.clients import Chain
    from node.ops.tasks import STATUS_NAMES, task_phase

    if not status.tasks:
        return
    chain = Chain.connect(cfg.chain.rpc_url, cfg.chain.deployment)
    now = chain.timestamp()
    for line in status.tasks:
        task = chain.board.get_task(line.task_id)
        line.chain_status = STATUS_NAMES.get(int(task.status), str(int(task.status)))
        line.phase = task_phase(task, now)
        if status.address and line.role == "miner":
            outcome = chain.settlement.miner_state(line.task_id, status.address).outcome
            line.outcome = outcome.name.lower() if int(outcome) else None


def _redact(url: str) -> str:
    from node.store.database import redact_url

    return redact_url(url)


def render_status(status: NodeStatus, console: Console) -> None:
    """Rich tables of a NodeStatus."""
    head = Table.grid(padding=(0, 2))
    head.add_row("account", status.address or "-")
    if status.chain_id is not None:
        head.add_row("chain", f"id {status.chain_id}, block {status.block}")
    if status.token_balance is not None:
        head.add_row("RPT balance", f"{format_rpt(status.token_balance)} RPT")
    if status.claimable is not None:
        head.add_row("claimable", f"{format_rpt(status.claimable)} RPT (withdraw with claim())")
    head.add_row("paid by settlement", f"{format_rpt(status.rewards_paid)} RPT")
    head.add_row("slashed", f"{format_rpt(status.slashed)} RPT")
    head.add_row("peer id", status.peer_id or "not registered")
    head.add_row("store", status.store_url)
    console.print(head)
    if status.stakes:
        t = Table(title="Stake")
        for col in ("role", "active RPT", "cooling RPT", "minimum RPT", "staked"):
            t.add_column(col)
        for s in status.stakes:
            t.add_row(
                s.role,
                format_rpt(s.active),
                format_rpt(s.cooling),
                format_rpt(s.minimum),
                "yes" if s.staked else "no",
            )
        console.print(t)
    t = Table(title=f"Current tasks ({len(status.tasks)})")
    for col in ("task", "role", "on chain", "phase", "outcome", "this node", "note"):
        t.add_column(col)
    for line in status.tasks:
        t.add_row(
            str(line.task_id),
            line.role,
            line.chain_status or "?",
            line.phase or "?",
            line.outcome or "",
            line.state,
            line.note or "",
        )
    console.print(t)
    if status.outcomes:
        t = Table(title="Settled tasks")
        for col in ("task", "role", "outcome", "paid RPT", "slashed RPT"):
            t.add_column(col)
        for o in status.outcomes[-20:]:
            t.add_row(
                str(o["task_id"]), o["role"], o["outcome"], format_rpt(o["paid"]), format_rpt(o["slashed"])
            )
        console.print(t)
    connected = "node not running" if status.peers_connected is None else str(status.peers_connected)
    registered = (
        "" if status.peers_registered is None else f", registered on chain: {status.peers_registered}"
    )
    console.print(f"Peers connected: {connected}, recorded by this node: {len(status.peers)}{registered}")
    if status.unfinished_txs:
        console.print(f"Transactions awaiting a receipt: {len(status.unfinished_txs)}")
    for note in status.notes:
        console.print(f"[yellow]{note}[/yellow]")
