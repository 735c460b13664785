"""What a devnet runs: `DevnetOptions` (node.config's defaults unless a comment says why not)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verifier.params import ALL_POSITIONS, DEFAULT_AUDIT_ROLLOUTS

RPT = 10**18


def _d(dotted: str) -> Any:
    from node.config import option_default

    return option_default(dotted)


@dataclass
class DevnetOptions:
    """What the devnet runs. Defaults: `make devnet` (SmolLM2, 3 tasks); tests pass the tiny model.

    Values are node.config's defaults unless a comment says why the devnet differs."""

    model: str = _d("model.model")
    tasks: int = _d("devnet.tasks")
    honest_miners: int = _d("devnet.honest_miners")
    cheaters: int = _d("devnet.cheaters")
    validators: int = _d("devnet.validators")
    # The deviating validators whose losses the devnet's checks demand (issue 11); not options.
    lazy_validators: int = 1  # vote PASS on every miner without auditing
    failing_validators: int = 1  # vote FAIL on every miner without auditing
    evaluators: int = _d("devnet.evaluators")
    out_dir: Path = Path(_d("devnet.out_dir"))
    timeout: float = _d("devnet.timeout")
    json: bool = _d("devnet.json")
    live: bool = True
    env: str = _d("proposer.env")
    difficulty: int = _d("proposer.difficulty")
    num_problems: int = _d("proposer.num_problems")
    rollouts_per_problem: int = _d("proposer.rollouts_per_problem")
    max_tokens: int = 40  # devnet: shorter rollouts, so a task fits the windows on busy CPUs
    temperature_milli: int = round(_d("proposer.temperature") * 1000)
    reward: int = 100 * RPT  # devnet: a reward large enough that payouts show in the summary
    beacon_period: int = 2
    # Devnet windows: shorter than a real network's, long enough for SmolLM2 on a laptop's CPU.
    join_window: int = 20  # a miner's training step between tasks takes ~10 s on busy cores
    commit_window: int = 75
    verdict_window: int = 50
    reveal_window: int = 12
    audit_count: int = DEFAULT_AUDIT_ROLLOUTS  # m, posted by the devnet's proposer (verifier.params)
    positions: int = ALL_POSITIONS  # k, 0 = every position
    cheap_model: str = "tiny:7"
    train: bool = _d("miner.train")
    threads: int = _d("model.threads")
    poll_interval: float = 0.5  # devnet: react within the short windows
    # Protections that 127.0.0.1 cannot satisfy, switched off here and only here: eclipse protection
    # wants mesh peers on >= 3 distinct IPs, and every devnet peer is 127.0.0.1. Each node logs a
    # warning that it is off.
    eclipse_protection: bool = False
    # Nodes stake seconds before the first task; a 30 s cache of "not staked" would drop their
    # first gossip within the devnet's short windows.
    stake_cache_seconds: float = 5.0
    offline_validators: list[int] = field(default_factory=list)  # validator indexes never started
    # Settlement parameters of the devnet (deploy-time; docs/SECURITY.md has the defaults' arithmetic).
    # With a handful of miners per task the devnet raises the forced-error odds (F = 4 instead of 8) so
    # forced errors, and the lazy validator passing them, show up within a few tasks; it keeps the
    # jackpot (per caught forced miner, split by seats) small against the bond (per seat) so that, with
    # only two honest miners, failing everyone cannot pay off through jackpots on tasks where both happen
    # to be forced; and it draws 32 seats so the deviating validators (1 x the minimum stake against 3 x
    # for honest ones) sit on nearly every committee.
    forced_error_odds: int = 4
    committee_seats: int = 32
    validator_bond: int = 5 * RPT  # per seat: 32 seats x 5 RPT fits a lone 300 RPT honest validator
    jackpot: int = 5 * RPT  # per caught forced miner
    treasury_seed: int = 200 * RPT  # funds jackpots from the first task
    min_audit_time: int = 20  # verdict window after the challenge round, enforced by postTask
    honest_validator_stake: int = 3  # honest validators stake this many times the minimum

    @classmethod
    def tiny(cls, **overrides: Any) -> DevnetOptions:
        """The test profile: the tiny model, short windows, few tokens."""
        base: dict[str, Any] = dict(
            model="tiny",
            tasks=2,
            num_problems=2,
            rollouts_per_problem=2,
            max_tokens=12,
            beacon_period=1,
            # Every node must see the task and join: 8 s was missed at load 16 (two cores, three test workers).
            join_window=20,
            commit_window=26,  # the seed round comes BEACON_LAG (12 s) after the join deadline
            # The challenge round comes BEACON_LAG (12 s) after the commit deadline: ~27 s of audit, which
            # three honest audits need on two cores shared with other test workers (13 s was missed at load 14-20).
            verdict_window=40,
            reveal_window=12,  # TaskBoard.MIN_REVEAL_WINDOW: one 12 s block slot
            audit_count=2,
            positions=0,
            cheap_model="tiny:7",
            env="devnet_letters",
            live=False,
            min_audit_time=8,
        )
        base.update(overrides)
        return cls(**base)


def options_from_config(config: Any) -> DevnetOptions:
    """DevnetOptions from `rollproof devnet`'s node.config.Config: its [devnet] and [model] options."""
    d = config.devnet
    chosen: dict[str, Any] = dict(
        tasks=d.tasks,
        honest_miners=d.honest_miners,
        cheaters=d.cheaters,
        validators=d.validators,
        evaluators=d.evaluators,
        out_dir=Path(d.out_dir),
        timeout=d.timeout,
        json=d.json,
        live=not d.json,
        threads=config.model.threads,
    )
    if config.model.model == "tiny":
        # The tiny profile is quiet for tests (DevnetOptions.tiny), but the command shows its
        # start-up steps and live view in a terminal like any other model.
        return DevnetOptions.tiny(**chosen)
    return DevnetOptions(model=config.model.model, **chosen)


def units_to_rpt(units: int) -> str:
    """Base units as the RPT amount text the stake and reward options take (exact, no exponent)."""
    from decimal import Decimal

    return format(Decimal(units).scaleb(-18).normalize(), "f")
