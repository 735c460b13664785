"""This node on the libp2p network: its host started from the settings, the staker index that
decides whose gossip is accepted, the task topics it joins and leaves, and rollouts as gossip
messages (node/p2p is the network layer itself and knows nothing of roles)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chain.events import ChainEvent
from node.runtime.errors import RoleError
from node.runtime.observe import event

if TYPE_CHECKING:
    from node.runtime.context import NodeContext
    from node.runtime.settings import RoleSettings

log = logging.getLogger("rollproof.roles")


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

    bootstrap = list(dict.fromkeys([*settings.bootstrap, *deployment_bootstrap(settings.deployment)]))
    return P2PConfig(
        identity_path=settings.identity_path,
        listen_addr=settings.listen,
        bootstrap=bootstrap,
        announce=list(settings.announce),
        eclipse_protection=settings.eclipse_protection,
        stake_cache_seconds=settings.stake_cache_seconds,
        relay_hop=settings.relay_hop,
        relay_via=list(settings.relay_via),
        # A circuit address (bootstrap, or a peer record naming a relay) is dialled through its relay.
        relay_client=settings.relay_client or any("/p2p-circuit" in a for a in bootstrap),
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


def join_task_topics(
    ctx: NodeContext,
    joined: set[int],
    task_id: int,
    on_rollout: Callable[[Any], None],
    on_evaluation: Callable[[Any], None] | None = None,
) -> None:
    """Follow a task's gossiped rollouts (and evaluators' scores when `on_evaluation` is given),
    once per task (`joined` holds the tasks followed); nothing without a p2p host."""
    from node.p2p import evaluations_topic, rollouts_topic

    if task_id in joined or ctx.p2p is None:
        return
    joined.add(task_id)
    ctx.p2p.subscribe(rollouts_topic(task_id), on_rollout)
    if on_evaluation is not None:
        ctx.p2p.subscribe(evaluations_topic(task_id), on_evaluation)


def keep_gossiped_rollout(ctx: NodeContext, received: Any, with_leaf: bool = True) -> None:
    """Store a gossiped rollout as it came (first copy wins), with its Merkle leaf hash when the role
    checks it against a commitment."""
    from verifier.commitments import leaf_hash

    msg = received.payload
    ctx.store.add_received_rollout(
        msg.task_id,
        msg.miner,
        msg.p,
        msg.g,
        encode_rollout(msg),
        leaf=leaf_hash(from_wire(msg)) if with_leaf else None,
        sender_peer=received.origin or None,
    )


def received_openings(ctx: NodeContext, task_id: int, miner: str, pairs: list[tuple[int, int]]) -> list[Any]:
    """Openings of another miner's rollouts as received by gossip: served to any peer that asks
    (a validator whose miner is down), with proofs from the tree over all P*G received rollouts.
    The asker checks every proof against the root the miner committed, so a partial or forged
    set here can only be ignored, never blamed on the miner."""
    from node.p2p.reqresp import FrameError
    from verifier.commitments import MerkleTree, leaf_hash

    task = ctx.store.get_task(task_id)
    if task is None:
        raise FrameError(f"task {task_id} is unknown here")
    p_count, g_count = int(task.params["num_problems"]), int(task.params["rollouts_per_problem"])
    by_index: dict[int, Any] = {}
    for row in ctx.store.received_rollouts(task_id, miner):
        msg = decode_rollout(row.payload)
        by_index[msg.p * g_count + msg.g] = msg
    total = p_count * g_count
    if len(by_index) != total or set(by_index) != set(range(total)):
        raise FrameError(f"this node holds {len(by_index)} of the {total} rollouts of {miner}")
    leaves = [leaf_hash(from_wire(by_index[i])) for i in range(total)]
    tree = MerkleTree.of(leaves)
    out = []
    for p, g in pairs:
        if not (0 <= p < p_count and 0 <= g < g_count):
            raise FrameError(f"rollout ({p}, {g}) is outside the task")
        i = p * g_count + g
        out.append((by_index[i], tree.proof(leaves[i])))
    return out


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
