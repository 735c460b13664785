"""The audit challenge: which rollouts of a miner are audited, and at which positions (PROTOCOL.md §7).

Derived from the challenge beacon, produced after the commit deadline, so the miner could not know
it when it committed. Positions depend on each rollout's length, which is only known once the
rollout is fetched, so the challenge carries a per-rollout key and positions are derived from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from verifier.params import ALL_POSITIONS, AuditParams
from verifier.prf import H, address_bytes, sample_indices


@dataclass(frozen=True)
class AuditItem:
    """One audited rollout: its commit index (p * G + g) and the key its positions derive from."""

    index: int
    position_key: bytes

    def positions(self, length: int, k: int) -> list[int]:
        """k distinct positions of a completion of `length` tokens, ascending; every position when
        k = 0 (ALL_POSITIONS) or k >= length."""
        if k == ALL_POSITIONS or k >= length:
            return list(range(length))
        return sorted(sample_indices(self.position_key, length, k))


@dataclass(frozen=True)
class Challenge:
    task_id: int
    miner: str
    k: int  # audited positions per rollout; 0 = every position
    items: tuple[AuditItem, ...]

    @property
    def indices(self) -> list[int]:
        return [item.index for item in self.items]


def audit_key(challenge_randomness: bytes, task_id: int, miner: str | bytes) -> bytes:
    """`H("audit", challengeRandomness, taskId, miner)`: the key of the audited-rollout sample."""
    return H("audit", challenge_randomness, task_id, address_bytes(miner))


def position_key(challenge_randomness: bytes, task_id: int, miner: str | bytes, index: int) -> bytes:
    """`H("positions", challengeRandomness, taskId, miner, index)`."""
    return H("positions", challenge_randomness, task_id, address_bytes(miner), index)


def get_challenge(
    challenge_randomness: bytes,
    task_id: int,
    miner: str | bytes,
    total_rollouts: int,
    params: AuditParams,
) -> Challenge:
    """Audit `min(m, total)` rollouts, `sample_indices(audit_key, total, m)`, at k positions each
    (every position when k = 0). m and k are the task's (`params`), never a node's settings."""
    if len(challenge_randomness) != 32:
        raise ValueError("challenge randomness must be 32 bytes")
    if total_rollouts <= 0:
        raise ValueError("total_rollouts must be positive")
    if not isinstance(params, AuditParams):
        raise TypeError("get_challenge takes the task's AuditParams")
    key = audit_key(challenge_randomness, task_id, miner)
    indices = sample_indices(key, total_rollouts, params.rollouts)
    items = tuple(AuditItem(i, position_key(challenge_randomness, task_id, miner, i)) for i in indices)
    return Challenge(task_id, "0x" + address_bytes(miner).hex(), params.positions, items)
