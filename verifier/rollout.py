"""The Rollout record and the task parameters the verifier needs (PROTOCOL.md §5, §6).

A rollout is what a miner commits to (through its leaf) and what a validator audits. Rewards
are fixed point with 6 decimals everywhere (`1.0` = `1_000_000`), like on chain, so the leaf
and the reward check never depend on float formatting.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any

from verifier.params import AuditParams
from verifier.prf import address_bytes

REWARD_SCALE = 1_000_000
MAX_SEQUENCE_TOKENS = 16_384  # hard cap on prompt or completion length accepted from the network
MAX_COMPLETION_CHARS = 262_144
MAX_VOCAB_ID = (1 << 32) - 1  # tokens are committed as uint32


def reward_to_micro(reward: float) -> int:
    """A reward in [0, 1] as 6-decimal fixed point, rounded half to even (Python `round`)."""
    if not math.isfinite(reward):
        raise ValueError(f"reward {reward!r} is not finite")
    return int(round(reward * REWARD_SCALE))


def to_float32(x: float) -> float:
    """The nearest float32 value of x, as a Python float (logprobs are committed as float32)."""
    return struct.unpack(">f", struct.pack(">f", x))[0]


def normalize_address(miner: str | bytes) -> str:
    """An address as lowercase 0x-hex (validated to be 20 bytes)."""
    return "0x" + address_bytes(miner).hex()


@dataclass(frozen=True)
class TaskSpec:
    """What the verifier needs from an on-chain task (TaskBoard.TaskParams plus its seed beacon)."""

    task_id: int
    difficulty: int
    num_problems: int  # P
    rollouts_per_problem: int  # G
    max_tokens: int
    temperature_milli: int  # T * 1000
    seed_randomness: bytes  # the verified randomness of the task's seed round, 32 bytes
    audit: AuditParams = field(default_factory=AuditParams)  # the task's audit parameters (§7.1)
    base_model_hash: bytes | None = None  # TaskParams.baseModelHash, when the caller knows it
    tokenizer_hash: bytes | None = None  # TaskParams.tokenizerHash, when the task names one (§5)

    def __post_init__(self) -> None:
        if len(self.seed_randomness) != 32:
            raise ValueError("seed_randomness must be 32 bytes")
        if self.num_problems <= 0 or self.rollouts_per_problem <= 0:
            raise ValueError("a task needs at least one problem and one rollout per problem")
        if not 0 < self.max_tokens <= MAX_SEQUENCE_TOKENS:
            raise ValueError(f"max_tokens must be in 1..{MAX_SEQUENCE_TOKENS}")
        if self.temperature_milli <= 0:
            raise ValueError("temperature must be positive (greedy decoding is not verifiable)")
        if not isinstance(self.audit, AuditParams):
            raise ValueError("audit must be the task's AuditParams")
        if self.base_model_hash is not None and len(self.base_model_hash) != 32:
            raise ValueError("base_model_hash must be 32 bytes")
        if self.tokenizer_hash is not None and len(self.tokenizer_hash) != 32:
            raise ValueError("tokenizer_hash must be 32 bytes")

    @property
    def temperature(self) -> float:
        return self.temperature_milli / 1000.0

    @property
    def total_rollouts(self) -> int:
        return self.num_problems * self.rollouts_per_problem

    def rollout_index(self, p: int, g: int) -> int:
        """Commit order: index = p * G + g."""
        return p * self.rollouts_per_problem + g

    def problem_and_rollout(self, index: int) -> tuple[int, int]:
        """Inverse of rollout_index: (p, g)."""
        return divmod(index, self.rollouts_per_problem)


@dataclass(frozen=True)
class Rollout:
    """One rollout: completion `tokens` generated for problem p, rollout g, of task `task_id` by `miner`.

    `logprobs[i]` is the temperature-scaled log-probability of `tokens[i]` (float32 values).
    `prompt_ids` and `completion` are conveniences: the validator recomputes the prompt from the
    task and decodes the completion from `tokens` itself; neither enters the leaf.
    """

    task_id: int
    miner: str
    p: int
    g: int
    prompt_ids: tuple[int, ...]
    tokens: tuple[int, ...]
    logprobs: tuple[float, ...]
    claimed_reward: int  # 6-decimal fixed point
    completion: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "miner", normalize_address(self.miner))
        object.__setattr__(self, "prompt_ids", tuple(int(x) for x in self.prompt_ids))
        object.__setattr__(self, "tokens", tuple(int(x) for x in self.tokens))
        object.__setattr__(self, "logprobs", tuple(to_float32(float(x)) for x in self.logprobs))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (for gossip and the store)."""
        return {
            "task_id": self.task_id,
            "miner": self.miner,
            "p": self.p,
            "g": self.g,
            "prompt_ids": list(self.prompt_ids),
            "tokens": list(self.tokens),
            "logprobs": list(self.logprobs),
            "claimed_reward": self.claimed_reward,
            "completion": self.completion,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Rollout:
        """Parse untrusted input; raises ValueError with a sentence on anything malformed."""
        if not isinstance(data, dict):
            raise ValueError("a rollout must be a JSON object")
        try:
            task_id = _uint(data["task_id"], "task_id", 256)
            p = _uint(data["p"], "p", 32)
            g = _uint(data["g"], "g", 32)
            claimed = _uint(data["claimed_reward"], "claimed_reward", 64)
            prompt_ids = _int_list(data["prompt_ids"], "prompt_ids")
            tokens = _int_list(data["tokens"], "tokens")
            logprobs = data["logprobs"]
            miner = data["miner"]
            completion = data.get("completion", "")
        except KeyError as exc:
            raise ValueError(f"rollout is missing the field {exc.args[0]!r}") from None
        if not isinstance(logprobs, list) or len(logprobs) > MAX_SEQUENCE_TOKENS:
            raise ValueError("logprobs must be a list of at most 16384 numbers")
        if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in logprobs):
            raise ValueError("logprobs must be numbers")
        if not isinstance(miner, str):
            raise ValueError("miner must be a 0x-hex address")
        if not isinstance(completion, str) or len(completion) > MAX_COMPLETION_CHARS:
            raise ValueError("completion must be a string of at most 262144 characters")
        return cls(
            task_id, miner, p, g, tuple(prompt_ids), tuple(tokens), tuple(logprobs), claimed, completion
        )


def _uint(value: Any, name: str, bits: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < (1 << bits):
        raise ValueError(f"{name} must be an integer in [0, 2^{bits})")
    return value


def _int_list(value: Any, name: str) -> list[int]:
    if not isinstance(value, list) or len(value) > MAX_SEQUENCE_TOKENS:
        raise ValueError(f"{name} must be a list of at most {MAX_SEQUENCE_TOKENS} token ids")
    for x in value:
        if not isinstance(x, int) or isinstance(x, bool) or not 0 <= x <= MAX_VOCAB_ID:
            raise ValueError(f"{name} must hold token ids in [0, 2^32)")
    return value
