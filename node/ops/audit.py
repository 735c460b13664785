"""`rollproof audit TASK`: recompute a task's audit as a validator did and compare with the chain.

The challenge is re-derived from the task's challenge beacon (read from the DrandBeacon contract,
else fetched from a relay and BLS-verified against the deployment's key); each committed miner's
challenged openings come from this node's store (gossip it received, or its own rollouts) or from
peers over p2p; they are checked against the committed Merkle root and recomputed with the base
model and the miner's adapter by `verifier.verify.verify_rollouts`, the validators' own function.
The verdict is printed next to the outcome Settlement recorded; any difference exits 1.
"""

from __future__ import annotations

import copy
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.config import Config, UserError
from node.ops.common import Report, connect, when
from node.ops.tasks import STATUS_NAMES

OUTCOME_PASSED, OUTCOME_FAILED = "passed", "failed"
# How long an audit waits for its first peer connection before asking for openings.
CONNECT_WAIT_S = 20.0


@dataclass
class MinerAudit:
    miner: str
    source: str  # where the openings came from: store (gossip), store (own), peer, none
    passed: bool
    score: int
    audited: int
    failures: list[str] = field(default_factory=list)
    chain_outcome: str | None = None  # Settlement's outcome once the task is finalized
    chain_score: int | None = None
    agrees: bool | None = None  # None while the task is not settled


def beacon_randomness(cfg: Config, chain: Any, round_: int, what: str) -> bytes:
    """The randomness of `round_`: as recorded in the DrandBeacon contract, else from a relay."""
    recorded = chain.beacon.randomness(round_)
    if recorded is not None:
        return recorded
    if not cfg.beacon.urls:
        raise UserError(
            f"The {what} beacon (round {round_}) is not recorded on chain and no --beacon-url is configured "
            "to fetch it from."
        )
    from node.runtime.beacon_client import beacon_client
    from node.runtime.errors import RoleError

    try:
        client = beacon_client(list(cfg.beacon.urls), chain.deployment)
    except RoleError as exc:
        raise UserError(str(exc)) from None
    try:
        return client.get(round_).randomness
    except Exception as exc:  # noqa: BLE001 - BeaconUnavailable / BeaconError, as a sentence
        raise UserError(f"The {what} beacon of round {round_} cannot be fetched: {exc}") from None
    finally:
        client.close()


def store_openings(
    store: Any, task_id: int, miner: str, root: bytes, g_count: int, total: int, indices: list[int]
) -> tuple[list[Any], list[Any], str] | None:
    """The challenged rollouts with proofs from this node's store, when it holds all of `miner`'s
    rollouts and they hash to the committed root (gossip received, or a miner's own)."""
    from node.runtime.network import decode_rollout, from_wire
    from verifier.commitments import MerkleTree, leaf_hash

    candidates = [
        ("store (gossip)", [r.payload for r in store.received_rollouts(task_id) if r.miner == miner]),
        ("store (own)", [r.payload for r in store.own_rollouts(task_id) if r.payload]),
    ]
    for source, payloads in candidates:
        if len(payloads) != total:
            continue
        by_index = {}
        for payload in payloads:
            rollout = from_wire(decode_rollout(payload))
            if rollout.miner.lower() == miner.lower():
                by_index[rollout.p * g_count + rollout.g] = rollout
        if len(by_index) != total:
            continue
        ordered = [by_index[i] for i in range(total)]
        tree = MerkleTree.of([leaf_hash(r) for r in ordered])
        if tree.root != root:
            continue
        chosen = [ordered[i] for i in indices]
        return chosen, [tree.proof(leaf_hash(r)) for r in chosen], source
    return None


class PeerFetcher:
    """An ephemeral libp2p host (random identity, no stake needed to ask) dialling --bootstrap."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.node: Any = None
        self.last_error = ""

    def start(self) -> Any:
        if self.node is None and self.cfg.p2p.bootstrap:
            from node.p2p import P2PConfig, P2PNode

            config = P2PConfig(
                listen_addr="/ip4/127.0.0.1/tcp/0",
                bootstrap=list(self.cfg.p2p.bootstrap),
                eclipse_protection=False,
            )
            self.node = P2PNode(
                config, secrets.token_bytes(32), lambda _a: False, identity_secret=secrets.token_bytes(32)
            )
            self.node.start()
            # Dialling the bootstrap peers runs in the background; ask nobody before one answers.
            deadline = time.monotonic() + CONNECT_WAIT_S
            while not self.node.connected_peers() and time.monotonic() < deadline:
                time.sleep(0.1)
        return self.node

    def stop(self) -> None:
        if self.node is not None:
            self.node.stop()


def peer_openings(
    fetcher: PeerFetcher, chain: Any, task_id: int, miner: str, g_count: int, indices: list[int]
) -> tuple[list[Any], list[Any]] | None:
    from libp2p.peer.id import ID

    from node.runtime.network import from_wire

    raw = chain.stakes.peer_id_of(miner)
    node = fetcher.start()
    if not raw or node is None:
        return None
    try:
        served = node.fetch_openings(
            ID(raw).to_base58(), task_id, miner, [divmod(i, g_count) for i in indices]
        )
    except Exception as exc:  # noqa: BLE001 - the peer did not serve: the audit says so
        fetcher.last_error = f"{type(exc).__name__}: {exc}"[:300]
        return None
    rollouts: list[Any] = [None] * len(indices)
    proofs: list[Any] = [None] * len(indices)
    for slot, (msg, proof) in enumerate(served[: len(indices)]):
        rollouts[slot], proofs[slot] = from_wire(msg), proof
    return rollouts, proofs


def policy_for(
    cfg: Config, model: Any, adapter_hash: bytes, fetcher: PeerFetcher, chain: Any, miner: str
) -> Any:
    """Base model + the adapter the miner joined with: from <data_dir>/adapters, else from the miner's peer
    or any connected peer holding it (content-addressed: any holder's copy is checked against the hash)."""
    from verifier.models import load_adapter

    adapters = Path(cfg.data_dir) / "adapters"
    directory = adapters / ("0x" + adapter_hash.hex())
    if not directory.exists():
        from libp2p.peer.id import ID

        from node.model import fetch_adapter_blob

        raw = chain.stakes.peer_id_of(miner)
        node = fetcher.start()
        if not raw or node is None:
            return None
        own = ID(raw).to_base58()
        try:
            peers = [own, *(p for p in node.connected_peers() if p != own)]
            fetch_adapter_blob(node, peers, adapter_hash, adapters)
        except Exception:  # noqa: BLE001 - not served: nothing can be verified
            return None
    policy = load_adapter(copy.deepcopy(model), directory, expected_hash=adapter_hash)
    policy.eval()
    return policy


def audit(cfg: Config, task_id: int, only_miner: str | None = None) -> Report:
    from node.model import load_model_spec, set_threads
    from node.roles.audit import UNNAMED_TOKENIZER, audit_challenge, task_audit_params, task_tokenizer_hash
    from node.store import open_store
    from node.tasks.view import env_name_of, get_env
    from verifier.models import model_hash
    from verifier.rollout import TaskSpec
    from verifier.tokenizer import tokenizer_hash
    from verifier.verify import verify_rollouts

    chain = connect(cfg)
    count = chain.board.task_count()
    if not 1 <= task_id <= count:
        have = f"tasks 1 to {count} exist" if count else "no task was posted yet"
        raise UserError(f"There is no task {task_id} on chain ({have}).")
    task = chain.board.get_task(task_id)
    p = task.params
    now = chain.timestamp()
    if now <= p.commit_deadline:
        raise UserError(
            f"Task {task_id} is still in its commit window (until {when(p.commit_deadline, now)}); its audit "
            "challenge does not exist yet."
        )
    settlement = chain.settlement.task_settlement(task_id)
    miners = [
        m for m in chain.settlement.miners(task_id) if chain.settlement.miner_state(task_id, m).committed
    ]
    if only_miner:
        miners = [m for m in miners if m.lower() == only_miner.lower()]
        if not miners:
            raise UserError(f"{only_miner} did not commit to task {task_id}; nothing to audit.")
    env_name = env_name_of(p.env_id)
    if env_name is None:
        raise UserError(f"Task {task_id} uses environment 0x{p.env_id.hex()}, which this node does not know.")
    seed = beacon_randomness(cfg, chain, task.seed_round, "seed")
    challenge_randomness = beacon_randomness(cfg, chain, task.challenge_round, "challenge")
    set_threads(cfg.model.threads)
    try:
        model, tokenizer = load_model_spec(cfg.model.model)
    except Exception as exc:  # noqa: BLE001 - RoleError: the model cannot be loaded
        raise UserError(str(exc)) from None
    if model_hash(model) != p.base_model_hash:
        raise UserError(
            f"The model {cfg.model.model!r} is not task {task_id}'s base model (hash 0x{p.base_model_hash.hex()[:16]}...); "
            "pass the --model the task was posted with."
        )
    named_tokenizer = task_tokenizer_hash(vars(p))
    if named_tokenizer is None:
        # The TaskBoard refuses such a task since issue 14; one posted before is audited by no validator.
        raise UserError(f"Task {task_id} cannot be audited: {UNNAMED_TOKENIZER}.")
    if tokenizer_hash(tokenizer) != named_tokenizer:
        raise UserError(
            f"The tokenizer of {cfg.model.model!r} is not task {task_id}'s tokenizer (hash "
            f"0x{named_tokenizer.hex()[:16]}...); pass the --model the task was posted with."
        )
    # The task's own audit parameters (m rollouts, k positions with 0 = every one, tolerances, dtype),
    # exactly as every validator of the task read them.
    try:
        audit_params = task_audit_params(vars(p))
    except ValueError as exc:
        raise UserError(f"Task {task_id} cannot be audited: {exc}.") from None
    spec = TaskSpec(
        task_id=task_id,
        difficulty=p.difficulty,
        num_problems=p.num_problems,
        rollouts_per_problem=p.rollouts_per_problem,
        max_tokens=p.max_tokens,
        temperature_milli=p.temperature_milli,
        seed_randomness=seed,
        base_model_hash=p.base_model_hash,
        tokenizer_hash=named_tokenizer,
        audit=audit_params,
    )
    env = get_env(env_name)
    total = spec.total_rollouts
    store = open_store(cfg.store_url) if _store_exists(cfg.store_url) else None
    fetcher = PeerFetcher(cfg)
    results: list[MinerAudit] = []
    try:
        for miner in miners:
            state = chain.settlement.miner_state(task_id, miner)
            challenge = audit_challenge(challenge_randomness, spec, miner)
            found = None
            if store is not None:
                found = store_openings(
                    store, task_id, miner, state.root, p.rollouts_per_problem, total, challenge.indices
                )
            source = "none"
            if found is not None:
                rollouts, proofs, source = found
            else:
                fetched = peer_openings(
                    fetcher, chain, task_id, miner, p.rollouts_per_problem, challenge.indices
                )
                if fetched is not None:
                    (rollouts, proofs), source = fetched, "peer"
                else:
                    rollouts, proofs = [None] * len(challenge.indices), [None] * len(challenge.indices)
                    if fetcher.last_error:
                        source = f"none (peer: {fetcher.last_error})"
            policy = policy_for(cfg, model, state.adapter_hash, fetcher, chain, miner)
            if policy is None:
                rollouts, policy = [None] * len(challenge.indices), model  # the adapter is not served
            verdict = verify_rollouts(policy, tokenizer, env, spec, state.root, rollouts, proofs, challenge)
            line = MinerAudit(
                miner=miner,
                source=source,
                passed=verdict.passed,
                score=verdict.score,
                audited=verdict.audited,
                failures=[f"rollout {f.index}: {f.check}: {f.detail}" for f in verdict.failures][:20],
            )
            if settlement.finalized:
                outcome = state.outcome.name.lower()
                line.chain_outcome, line.chain_score = outcome, state.score
                if outcome in (OUTCOME_PASSED, OUTCOME_FAILED):
                    # The verdict is pass or fail; the settled score aggregates every validator's, so
                    # a different score is shown, not counted as a different verdict.
                    line.agrees = (outcome == OUTCOME_PASSED) == verdict.passed
            results.append(line)
    finally:
        fetcher.stop()
        if store is not None:
            store.close()
    return _report(task_id, STATUS_NAMES.get(int(task.status), "?"), settlement.finalized, results)


def _store_exists(url: str) -> bool:
    if not url.startswith("sqlite"):
        return True
    from sqlalchemy.engine import make_url

    db = make_url(url).database
    return bool(db) and Path(db).is_file()


def _report(task_id: int, status: str, finalized: bool, results: list[MinerAudit]) -> Report:
    from dataclasses import asdict

    differ = [r for r in results if r.agrees is False]
    lines = [f"task {task_id} ({status}): {len(results)} committed miner(s) audited"]
    for r in results:
        mine = f"{'pass' if r.passed else 'FAIL'} score {r.score / 1e6:.3f} ({r.audited} audited, openings from {r.source})"
        if r.agrees is None:
            chain_text = "not settled on chain" if not finalized else f"chain: {r.chain_outcome}"
        else:
            chain_text = f"chain: {r.chain_outcome} score {(r.chain_score or 0) / 1e6:.3f}" + (
                " - agrees" if r.agrees else " - DIFFERS"
            )
        lines.append(f"{r.miner}  {mine}; {chain_text}")
        lines.extend(f"    {f}" for f in r.failures)
    if differ:
        lines.append(f"{len(differ)} verdict(s) differ from the chain's outcome.")
    elif finalized:
        lines.append("Every verdict matches the outcome settled on chain.")
    data = {
        "task_id": task_id,
        "status": status,
        "finalized": finalized,
        "miners": [asdict(r) for r in results],
    }
    return Report(data, lines, ok=not differ)
