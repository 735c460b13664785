"""Who may gossip, known ahead of time from chain events, never looked up per message.

An unstaked flood signs with fresh keys; if every unknown signer cost a chain call, the flood
would exhaust the RPC and slow the network thread. The node instead keeps this index, fed by
its chain event follower (Staked / UnstakeRequested / Slashed / Withdrawn: one stake read per
event; Joined: the task's miners; TaskPosted: the task's limits). Validation is then a set
lookup, whatever the flood.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from .validation import TaskRules

GOSSIP_ROLES = (0, 2)  # miners publish rollouts, evaluators publish scores
EVALUATOR_ROLE = 2


class StakerIndex:
    """Thread-safe, local: staked addresses per role, each task's joined miners and limits."""

    local = True  # GossipValidator asks it directly (no cache, no rate limit needed)

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.roles: dict[str, set[int]] = {}
        self.joined: dict[int, set[str]] = {}
        self.limits: dict[int, tuple[int, int, int]] = {}  # task -> (P, G, max tokens)
        self.peers: dict[str, str] = {}  # address -> base58 peer id bound on chain

    def __call__(self, address: str) -> bool:
        """Staked in a role that gossips (the P2PNode's `is_staked`)."""
        with self.lock:
            return bool(self.roles.get(address, set()) & set(GOSSIP_ROLES))

    def is_staked(self, address: str, role: int) -> bool:
        with self.lock:
            return role in self.roles.get(address, ())

    def set_staked(self, address: str, role: int, staked: bool) -> None:
        with self.lock:
            roles = self.roles.setdefault(address, set())
            if staked:
                roles.add(role)
            else:
                roles.discard(role)
                if not roles:
                    self.roles.pop(address, None)

    def staked(self, role: int) -> list[str]:
        with self.lock:
            return sorted(a for a, roles in self.roles.items() if role in roles)

    def add_task(self, task_id: int, num_problems: int, rollouts_per_problem: int, max_tokens: int) -> None:
        with self.lock:
            self.limits[task_id] = (num_problems, rollouts_per_problem, max_tokens)
            self.joined.setdefault(task_id, set())

    def add_joined(self, task_id: int, miners: Iterable[str]) -> None:
        with self.lock:
            self.joined.setdefault(task_id, set()).update(miners)

    def has_joined(self, task_id: int, miner: str) -> bool:
        with self.lock:
            return miner in self.joined.get(task_id, ())

    def forget_task(self, task_id: int) -> None:
        with self.lock:
            self.joined.pop(task_id, None)
            self.limits.pop(task_id, None)

    def set_peer(self, address: str, peer_id: str | None) -> None:
        with self.lock:
            if peer_id:
                self.peers[address] = peer_id
            else:
                self.peers.pop(address, None)

    def peer_of(self, address: str) -> str | None:
        with self.lock:
            return self.peers.get(address)

    def rules(self, task_id: int) -> TaskRules | None:
        """The GossipValidator's `task_rules`: None (unknown_task) until TaskPosted was seen."""
        with self.lock:
            limits = self.limits.get(task_id)
        if limits is None:
            return None
        return TaskRules(
            num_problems=limits[0],
            rollouts_per_problem=limits[1],
            max_tokens=limits[2],
            is_miner=lambda miner: self.has_joined(task_id, miner),
            is_evaluator=lambda address: self.is_staked(address, EVALUATOR_ROLE),
        )
