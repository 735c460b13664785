"""Per-round training metrics: the four curves RL Swarm shows (reward, correctness, format
reward, completion length) plus the loss, as TensorBoard scalars and a PNG plot."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from node.train.grpo import Group

CURVES = ("reward", "correct", "format", "loss", "completion_len")


@dataclass(frozen=True)
class RoundMetrics:
    round: int
    reward: float  # mean reward of the miner's own (local) completions this round
    correct: float
    format: float
    loss: float
    completion_len: float  # mean completion length in tokens
    groups_trained: int = 0
    groups_dropped: int = 0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def round_metrics(round_index: int, local_groups: Sequence[Group], loss: float, trained: int) -> RoundMetrics:
    """Metrics of one round from the miner's own groups and its step's loss."""
    completions = [c for g in local_groups for c in g.completions]
    n = max(1, len(completions))
    return RoundMetrics(
        round=round_index,
        reward=sum(c.reward for c in completions) / n,
        correct=sum(c.correct for c in completions) / n,
        format=sum(c.formatted for c in completions) / n,
        loss=loss,
        completion_len=sum(len(c.tokens) for c in completions) / n,
        groups_trained=trained,
        groups_dropped=sum(1 for g in local_groups if not g.has_signal()),
    )


class MetricsWriter:
    """TensorBoard scalars under `logdir/<run>` (one run per miner or setting)."""

    def __init__(self, logdir: str | Path, run: str):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(Path(logdir) / run))

    def write(self, metrics: RoundMetrics) -> None:
        for name in CURVES:
            self.writer.add_scalar(f"train/{name}", getattr(metrics, name), metrics.round)
        self.writer.add_scalar("train/groups_trained", metrics.groups_trained, metrics.round)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def plot_curves(series: Mapping[str, Sequence[RoundMetrics]], path: str | Path, title: str = "") -> Path:
    """One panel per curve, one line per series (e.g. 'isolated', 'swarm'); writes a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(CURVES), figsize=(4 * len(CURVES), 3.2))
    for ax, name in zip(axes, CURVES, strict=True):
        for label, rounds in series.items():
            ax.plot(
                [m.round for m in rounds], [getattr(m, name) for m in rounds], marker="o", ms=3, label=label
            )
        ax.set_title(name)
        ax.set_xlabel("round")
    axes[0].legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
