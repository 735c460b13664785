"""The audit parameters of a task (PROTOCOL.md §7.1, §9): fields of the on-chain TaskParams.

Every node reads them from the task it audits, never from its own settings, so two validators of
one task draw the same sample and apply the same tolerances.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

NANO = 1_000_000_000  # tolerances are on chain as integers in 1e-9 units

DTYPE_FP32 = 0
DTYPE_BF16 = 1
DTYPE_NAMES = {DTYPE_FP32: "fp32", DTYPE_BF16: "bf16"}
TORCH_DTYPES = {DTYPE_FP32: torch.float32, DTYPE_BF16: torch.bfloat16}
# bf16 has no check with 0 honest false rejections that still catches 1e-3 weight noise (§9.7):
# the verifier refuses to audit it rather than pass or fail honest work at random.
VERIFIABLE_DTYPES = frozenset({DTYPE_FP32})

ALL_POSITIONS = 0  # auditPositions k = 0: every generated token of an audited rollout
MAX_TOLERANCE_NANO = 1_000_000_000  # 1 nat / a whole unit of probability: anything looser is no check

DEFAULT_AUDIT_ROLLOUTS = 3  # m: 3 of the default 16 rollouts keeps the audit at 4.1 % of generation (§9.6)
DEFAULT_LOGPROB_TOL_NANO = 150_000  # 1.5e-4 nats: §9.2 (2.2x the worst honest fp32 deviation seen)
DEFAULT_EDGE_SLACK_NANO = 10_000  # 1.0e-5: §9.2 (3.7x the largest honest interval-edge movement measured)


class AuditParamsError(ValueError):
    """A task's audit parameters are outside what the protocol allows."""


@dataclass(frozen=True)
class AuditParams:
    """TaskParams.{auditRollouts, auditPositions, logprobTolNano, edgeSlackNano, dtype}."""

    rollouts: int = DEFAULT_AUDIT_ROLLOUTS  # m: audited rollouts per miner
    positions: int = ALL_POSITIONS  # k: audited positions per rollout, 0 = all
    logprob_tol_nano: int = DEFAULT_LOGPROB_TOL_NANO
    edge_slack_nano: int = DEFAULT_EDGE_SLACK_NANO
    dtype: int = DTYPE_FP32

    def __post_init__(self) -> None:
        for name in ("rollouts", "positions", "logprob_tol_nano", "edge_slack_nano", "dtype"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise AuditParamsError(f"audit parameter {name} must be an integer, got {value!r}")
        if self.rollouts < 1:
            raise AuditParamsError("auditRollouts (m) must be at least 1")
        if self.positions < 0:
            raise AuditParamsError("auditPositions (k) must be 0 (every position) or positive")
        if not 0 < self.logprob_tol_nano <= MAX_TOLERANCE_NANO:
            raise AuditParamsError(f"logprobTolNano must be in 1..{MAX_TOLERANCE_NANO}")
        if not 0 <= self.edge_slack_nano <= MAX_TOLERANCE_NANO:
            raise AuditParamsError(f"edgeSlackNano must be in 0..{MAX_TOLERANCE_NANO}")
        if self.dtype not in DTYPE_NAMES:
            raise AuditParamsError(f"dtype {self.dtype} is not one of {sorted(DTYPE_NAMES)} (0 fp32, 1 bf16)")

    @property
    def logprob_tol(self) -> float:
        """Max |claimed − recomputed| T-scaled logprob, in nats."""
        return self.logprob_tol_nano / NANO

    @property
    def edge_slack(self) -> float:
        """How far `u · c[V-1]` may sit outside the claimed token's CDF interval."""
        return self.edge_slack_nano / NANO

    @property
    def dtype_name(self) -> str:
        return DTYPE_NAMES[self.dtype]

    @property
    def torch_dtype(self) -> torch.dtype:
        return TORCH_DTYPES[self.dtype]

    @property
    def every_position(self) -> bool:
        return self.positions == ALL_POSITIONS

    def audited_count(self, total_rollouts: int) -> int:
        return min(self.rollouts, total_rollouts)

    @classmethod
    def of_tolerances(cls, logprob: float, edge: float, **fields: int) -> AuditParams:
        """From tolerances in nats (calibration and benches), rounded to the chain's 1e-9 grid."""
        return cls(logprob_tol_nano=round(logprob * NANO), edge_slack_nano=round(edge * NANO), **fields)

    def to_mapping(self) -> dict[str, int]:
        """The on-chain field names and values (the node's task record, the docs)."""
        return {
            "audit_rollouts": self.rollouts,
            "audit_positions": self.positions,
            "logprob_tol_nano": self.logprob_tol_nano,
            "edge_slack_nano": self.edge_slack_nano,
            "dtype": self.dtype,
        }

    @classmethod
    def from_mapping(cls, data: dict[str, object]) -> AuditParams:
        """From a task record (`to_mapping`'s names); missing fields take the protocol defaults."""
        default = cls()
        try:
            return cls(
                rollouts=int(data.get("audit_rollouts", default.rollouts)),  # type: ignore[call-overload]
                positions=int(data.get("audit_positions", default.positions)),  # type: ignore[call-overload]
                logprob_tol_nano=int(data.get("logprob_tol_nano", default.logprob_tol_nano)),  # type: ignore[call-overload]
                edge_slack_nano=int(data.get("edge_slack_nano", default.edge_slack_nano)),  # type: ignore[call-overload]
                dtype=int(data.get("dtype", default.dtype)),  # type: ignore[call-overload]
            )
        except (TypeError, ValueError) as exc:
            if isinstance(exc, AuditParamsError):
                raise
            raise AuditParamsError(f"malformed audit parameters: {exc}") from None
