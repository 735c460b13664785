"""Expected profit per task of every strategy under the Settlement v2 rules (issue 11).

Each simulated task draws a committee by stake (the contract's seats formula with a random
challenge randomness), forced errors (the contract's draw on a random secret and seed), honest
miners' scores and the challenge's audited rollouts, lets every party act, and settles the task
with `bench.settlement_rules.settle_task` (the contract's arithmetic, cross-checked on Anvil by
tests/economics/test_differential.py). A deviating party is compared with the same party acting
honestly in the same task (common random numbers), so the confidence interval is that of the
paired difference.

Detection follows docs/PROTOCOL.md §9.3/9.4: every validator audits the same m of a miner's N
rollouts (the challenge is a function of the beacon) and a cheated rollout is caught when it is
audited (d = 1). Costs that are not on chain are model parameters: a miner's generation cost per
task, and an audit's cost as a fraction of the generation of the audited rollouts (§9.6).

    python -m bench.economics            # or: rollproof bench economics

Over 400 lines for a reason: one simulation (a task's draws, every strategy, the paired
comparison and its report); the contract arithmetic it runs on is bench/settlement_rules.py.
"""

from __future__ import annotations

import argparse
import functools
import math
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from bench.settlement_rules import (
    SCORE_ONE,
    TOKEN,
    Check,
    MinerInput,
    Params,
    Ruling,
    TaskResult,
    Treasury,
    ValidatorInput,
    Vote,
    contested,
    is_forced,
    miner_lock,
    resolve_dispute,
    settle_task,
)


@dataclass(frozen=True)
class World:
    """The task and cost model (what is not a contract parameter)."""

    params: Params = field(default_factory=Params)
    reward: int = 1_000 * TOKEN
    max_miners: int = 8
    miners: int = 8  # miners that join and commit
    rollouts: int = 64  # N = P * G
    audited: int = 4  # m (PROTOCOL §7.1 default)
    validators: int = 12  # honest validators besides the party under study
    validator_stake: int = 1_000 * TOKEN  # each, and the party's own stake
    gen_cost: int = 40 * TOKEN  # a miner's cost of generating N rollouts
    audit_ratio_milli: int = 310  # audit cost / generation cost of the same rollouts (§9.6, b8)
    treasury_start: int = 0

    @property
    def audit_cost(self) -> int:
        """Cost of auditing one miner: m rollouts at the audit/generation ratio."""
        return self.gen_cost * self.audited * self.audit_ratio_milli // (self.rollouts * 1000)


@dataclass
class Identity:
    address: str
    stake: int
    behaviour: str  # "honest", "lazy", "fail", "unavailable", "collude"
    party: bool  # counted in the profit of the party under study


@dataclass
class Draw:
    """The random part of one task, shared by every strategy and its honest twin."""

    seed: bytes
    forced: list[bool]
    scores: list[int]
    audit_sets: list[frozenset[int]]
    cheat_sets: dict[int, frozenset[int]]  # by cheated count c
    lot_seed: int  # the committee lots of this task (see `seats_of`)


def draw_task(rng: random.Random, world: World) -> Draw:
    """One task's beacons, miners' secrets and scores, audited and cheated rollouts."""
    seed = rng.randbytes(32)
    n = world.rollouts
    odds = world.params.forced_error_odds
    return Draw(
        seed=seed,
        forced=[is_forced(rng.randbytes(32), seed, odds) for _ in range(world.miners)],
        scores=[rng.randrange(SCORE_ONE + 1) for _ in range(world.miners)],
        audit_sets=[frozenset(rng.sample(range(n), world.audited)) for _ in range(world.miners)],
        cheat_sets={c: frozenset(rng.sample(range(n), c)) for c in {1, max(1, n // 8), n}},
        lot_seed=rng.getrandbits(64),
    )


def seats_of(draw: Draw, roster: list[Identity], seats: int) -> dict[str, int]:
    """Committee seats: C lots per identity, a lot is won when uniform(0, T) < stake.

    This is the contract's formula with keccak256 taken as a random oracle (the lots of
    `committee_seats` are independent uniforms mod T); the exact keccak draw is checked against
    the contract in tests/economics/test_differential.py.
    """
    total = sum(i.stake for i in roster)
    rng = random.Random(draw.lot_seed)
    return {i.address: sum(rng.random() * total < i.stake for _ in range(seats)) for i in roster}


# ---- rosters ------------------------------------------------------------------------------------


@functools.cache
def _addr(tag: str, i: int) -> str:
    from eth_utils import keccak, to_checksum_address

    return to_checksum_address(keccak(f"{tag}-{i}".encode())[-20:])


def base_roster(world: World, party: Sequence[tuple[int, str]] = ()) -> list[Identity]:
    """`world.validators` honest validators plus the party's identities (stake, behaviour)."""
    out = [
        Identity(_addr("honest", i), world.validator_stake, "honest", False) for i in range(world.validators)
    ]
    out += [Identity(_addr("party", i), s, b, True) for i, (s, b) in enumerate(party)]
    return out


def coalition_roster(world: World, share_bps: int, members: int = 3) -> list[Identity]:
    """Honest validators plus a coalition holding `share_bps` of all validator stake."""
    honest_total = world.validators * world.validator_stake
    total = honest_total * 10_000 // (10_000 - share_bps)
    each = (total - honest_total) // members
    return base_roster(world, [(each, "collude")] * members)


@dataclass
class Play:
    """The party's behaviour switches in one task."""

    miner_cheats: int = 0  # rollouts miner 0 (the party's, if any) fakes
    miner_is_party: bool = False
    shirk_when_forced: bool = False  # miner 0 skips generation on forced tasks
    ignore_forced: bool = False  # miner 0 commits honestly when forced and never reveals
    withhold: bool = False  # miner 0 commits a root over nothing and serves no opening
    collude_pass_miner0: bool = False  # colluding validators pass miner 0 unaudited
    collude_fail_all: bool = False  # colluding validators fail everyone unaudited
    collude_frame_miner0: bool = False  # colluding validators fail honest miner 0 and uphold it on a jury
    cheater_disputes: bool = False  # the party's cheating miner 0 disputes whenever the votes contest it
    sybil_shared_audit: bool = True  # one audit serves all of the party's identities


def audited_vote(fails: bool, score: int, obeyed_forced: bool) -> tuple[Vote, int, Check]:
    """An auditor's verdict: an obeyed forced error shows only as LOGPROB (its tokens are honest and
    scored); anything else that fails (a faked rollout, garbage) as a TOKEN FAIL."""
    if not fails:
        return Vote.PASS, score, Check.NONE
    return (Vote.FAIL, score, Check.LOGPROB) if obeyed_forced else (Vote.FAIL, score, Check.TOKEN)


def play_task(
    world: World, roster: list[Identity], seats: dict[str, int], draw: Draw, play: Play, treasury: Treasury
) -> int:
    """Settle one task (updating `treasury`); return the party's profit in wei."""
    miner_addrs = [_addr("miner", i) for i in range(world.miners)]
    forced = draw.forced
    # What an auditor finds on each miner: does it fail, and the recomputed score.
    truth: list[tuple[bool, int]] = []
    obeyed_forced: list[bool] = []
    for i in range(world.miners):
        cheated = draw.cheat_sets[play.miner_cheats] if (i == 0 and play.miner_cheats) else frozenset()
        caught = bool(cheated & draw.audit_sets[i])
        obeys = forced[i] and not (i == 0 and play.ignore_forced)
        truth.append((obeys or caught, draw.scores[i]))
        # Only an obeyed forced error with honest tokens shows as LOGPROB alone; garbage served by a
        # miner that shirked, or a caught faked rollout, fails the token check first.
        shirked = i == 0 and forced[i] and play.shirk_when_forced
        obeyed_forced.append(obeys and not caught and not shirked)
    miners = [
        MinerInput(a, committed=True, forced=truth[i][0] and forced[i]) for i, a in enumerate(miner_addrs)
    ]
    validators: list[ValidatorInput] = []
    party_audits = 0
    for ident in roster:
        won = seats[ident.address]
        if won == 0:
            continue
        votes: dict[str, tuple[Vote, int, Check]] = {}
        audits = 0
        for i, a in enumerate(miner_addrs):
            fails, score = truth[i]
            b = ident.behaviour
            if i == 0 and play.withhold and b not in ("lazy", "fail"):
                votes[a] = (Vote.UNAVAILABLE, 0, Check.NONE)  # openings not obtainable: never a slash
                audits += 1
            elif b == "lazy":
                votes[a] = (Vote.PASS, SCORE_ONE, Check.NONE)
            elif b == "fail" or (b == "collude" and play.collude_fail_all):
                # Blind FAILs name LOGPROB: the one check that could win a forced error's jackpot.
                votes[a] = (Vote.FAIL, 0, Check.LOGPROB)
            elif b == "unavailable":
                votes[a] = (Vote.UNAVAILABLE, 0, Check.NONE)
            elif b == "collude" and play.collude_pass_miner0 and i == 0:
                votes[a] = (Vote.PASS, SCORE_ONE, Check.NONE)
            elif b == "collude" and play.collude_frame_miner0 and i == 0:
                votes[a] = (Vote.FAIL, 0, Check.TOKEN)
            else:
                audits += 1
                votes[a] = audited_vote(fails, score, obeyed_forced[i])
        if ident.party:
            party_audits = max(party_audits, audits) if play.sybil_shared_audit else party_audits + audits
        validators.append(ValidatorInput(ident.address, won, True, votes))
    # Disputes (PROTOCOL §2.10): an honest miner the votes contest (FAILED, or UNDECIDED with a FAIL)
    # re-audits the named evidence, which passes, and disputes; so does the party's cheater when the play says
    # so (its shield hopes to overturn). A jury of 2C lots from all validator stake rules. A miner that serves no
    # openings would lose its dispute, so it does not dispute.
    revealed = sum(v.seats for v in validators)
    party_jury = 0
    for i, a in enumerate(miner_addrs):
        fail_seats = sum(v.seats for v in validators if v.votes.get(a, (Vote.NONE,))[0] == Vote.FAIL)
        pass_seats = sum(v.seats for v in validators if v.votes.get(a, (Vote.NONE,))[0] == Vote.PASS)
        cheater = i == 0 and play.cheater_disputes and truth[i][0] and not miners[i].forced
        if (truth[i][0] and not cheater) or (i == 0 and play.withhold):
            continue
        if not contested(fail_seats, pass_seats, revealed, world.params):
            continue
        ruling, delta, audited, deposit_back = jury(world, roster, draw, i, not truth[i][0], play, treasury)
        party_jury += delta
        party_audits += audited
        if cheater and play.miner_is_party:
            party_jury += deposit_back - miner_lock(world.reward, world.max_miners, world.params)
        miners[i] = replace(miners[i], ruling=ruling, ruling_score=truth[i][1])
    result = settle_task(world.params, world.reward, world.max_miners, miners, validators, treasury)
    profit = -party_audits * world.audit_cost + party_jury
    for ident in roster:
        if ident.party and ident.address in result.validators:
            v = result.validators[ident.address]
            profit += v.fee + v.jackpot - v.forfeited
    if play.miner_is_party:
        profit += miner_profit(world, result, miner_addrs[0], play, forced[0])
    return profit


def jury(
    world: World,
    roster: list[Identity],
    draw: Draw,
    miner: int,
    evidence_passes: bool,
    play: Play,
    treasury: Treasury,
) -> tuple[Ruling, int, int, int]:
    """The jury of `miner`'s dispute: 2C lots per validator identity, weighted by stake among all of them
    (`Disputes._seatsOf`, keccak as a random oracle; the first committee's members sit whatever they voted).
    Honest jurors re-audit and overturn exactly when the named evidence passes; framing colluders and
    always-fail identities uphold; shielding colluders (who PASSed their cheater) and lazy ones overturn
    blindly; unavailable ones never reveal. Returns the ruling, the party's juror result (fees less forfeited
    bonds), how many re-audits the party ran and what of the deposit comes back to the miner; the deposit's
    and bonds' treasury parts go to `treasury`."""
    total = sum(i.stake for i in roster)
    rng = random.Random(draw.lot_seed * 1_000_003 + miner)
    lots = 2 * world.params.committee_seats
    jurors: list[tuple[str, int, bool | None]] = []
    party = {}
    audited = 0  # the party's identities share one re-audit
    for ident in roster:
        won = sum(rng.random() * total < ident.stake for _ in range(lots)) if total else 0
        if won == 0:
            continue
        b = ident.behaviour
        vote: bool | None = evidence_passes
        if b == "fail" or (b == "collude" and play.collude_frame_miner0):
            vote = False
        elif b == "lazy" or (b == "collude" and play.collude_pass_miner0):
            vote = True
        elif b == "unavailable":
            vote = None
        jurors.append((ident.address, won, vote))
        if ident.party:
            party[ident.address] = world.params.validator_bond * won
            audited = 1 if b == "honest" else audited
    deposit = miner_lock(world.reward, world.max_miners, world.params)
    result = resolve_dispute(deposit, jurors, world.params)
    treasury.balance += result.to_treasury + result.forfeited
    delta = sum(result.jurors[a] - bond for a, bond in party.items())
    return result.ruling, delta, audited, result.returned


def miner_profit(world: World, result: TaskResult, addr: str, play: Play, forced: bool) -> int:
    r = result.miners[addr]
    generated = world.rollouts - play.miner_cheats
    if (forced and play.shirk_when_forced) or play.withhold:
        generated = 0
    return r.paid - r.slashed - world.gen_cost * generated // world.rollouts


# ---- strategies ---------------------------------------------------------------------------------


def strategies(world: World) -> list[tuple[str, str, Callable[[World], list[Identity]], Play, Play]]:
    """(name, what it does, roster, deviation, honest twin)."""
    n = world.rollouts
    honest_party = [(world.validator_stake, "honest")]
    out = [
        (
            "honest miner",
            "generates and commits every rollout honestly",
            base_roster,
            Play(miner_is_party=True),
            Play(miner_is_party=True),
        ),
    ]
    for c in sorted({1, max(1, n // 8), n}):
        out.append(
            (
                f"miner cheats {c}/{n}",
                f"fakes {c} of its {n} rollouts (saves their generation cost)",
                base_roster,
                Play(miner_is_party=True, miner_cheats=c),
                Play(miner_is_party=True),
            )
        )
    out.append(
        (
            "miner shirks when forced",
            "skips generation on forced tasks and serves garbage (auditors' FAILs name TOKEN, not LOGPROB)",
            base_roster,
            Play(miner_is_party=True, shirk_when_forced=True),
            Play(miner_is_party=True),
        )
    )
    out.append(
        (
            "miner withholds openings",
            "commits a root over nothing, serves no opening (validators vote UNAVAILABLE)",
            base_roster,
            Play(miner_is_party=True, withhold=True),
            Play(miner_is_party=True),
        )
    )
    out.append(
        (
            "miner ignores forced errors",
            "commits honestly on forced tasks and never reveals the secret",
            base_roster,
            Play(miner_is_party=True, ignore_forced=True),
            Play(miner_is_party=True),
        )
    )
    out.append(
        (
            "honest validator",
            "audits every committed miner when seated",
            lambda w: base_roster(w, honest_party),
            Play(),
            Play(),
        )
    )
    out.append(
        (
            "lazy validator",
            "votes pass on everyone without auditing",
            lambda w: base_roster(w, [(w.validator_stake, "lazy")]),
            Play(),
            None,
        )
    )
    out.append(
        (
            "always-unavailable validator",
            "votes UNAVAILABLE on everyone (never audits, never risks its bond)",
            lambda w: base_roster(w, [(w.validator_stake, "unavailable")]),
            Play(),
            None,
        )
    )
    out.append(
        (
            "always-fail validator",
            "votes fail on everyone without auditing",
            lambda w: base_roster(w, [(w.validator_stake, "fail")]),
            Play(),
            None,
        )
    )
    for k in (4, 16):
        out.append(
            (
                f"sybil set k={k}",
                f"one validator stake split in {k} identities (one shared audit)",
                lambda w, k=k: base_roster(w, [(w.validator_stake // k, "honest")] * k),
                Play(),
                None,
            )
        )
    for share in (1_000, 3_300, 5_000):
        pct = share // 100
        out.append(
            (
                f"coalition {pct}% passes its cheater",
                f"{pct}% of validator stake passes its own miner, who fakes all {n} rollouts",
                lambda w, s=share: coalition_roster(w, s),
                Play(miner_is_party=True, miner_cheats=n, collude_pass_miner0=True),
                Play(miner_is_party=True),
            )
        )
        out.append(
            (
                f"coalition {pct}% passes its cheater, which disputes",
                "as above, and the cheater disputes whenever contested; the coalition overturns on the jury",
                lambda w, s=share: coalition_roster(w, s),
                Play(miner_is_party=True, miner_cheats=n, collude_pass_miner0=True, cheater_disputes=True),
                Play(miner_is_party=True),
            )
        )
        out.append(
            (
                f"coalition {pct}% fails everyone",
                f"{pct}% of validator stake votes fail on every miner without auditing",
                lambda w, s=share: coalition_roster(w, s),
                Play(collude_fail_all=True),
                Play(),
            )
        )
    # Framing: whether its FAILs reach the supermajority (FAILED) or only block it (UNDECIDED), the honest
    # miner disputes and the jury (2C lots from all validator stake) rules.
    for share in (3_300, 5_000, 7_000):
        pct = share // 100
        beyond = f" {BEYOND}" if share > ASSUMPTION_BPS else ""
        out.append(
            (
                f"coalition {pct}% frames an honest miner{beyond}",
                f"{pct}% of validator stake fails honest miner 0 (naming a TOKEN check) and upholds it on the "
                "jury of its dispute",
                lambda w, s=share: coalition_roster(w, s),
                Play(collude_frame_miner0=True),
                Play(),
            )
        )
    # The same frame by a coalition split into 48 identities (a jury drawn from the first committee's undrawn
    # identities alone would be the coalition's; SECURITY.md §4).
    for share in (3_300, 5_000):
        pct = share // 100
        out.append(
            (
                f"coalition {pct}% in 48 identities frames an honest miner",
                f"{pct}% of validator stake in 48 identities fails honest miner 0 and upholds it on the jury",
                lambda w, s=share: coalition_roster(w, s, members=48),
                Play(collude_frame_miner0=True),
                Play(),
            )
        )
    return out


# The trust assumption (SECURITY.md §2): colluders hold at most half of the validator stake. A row beyond it is
# measured and printed, not counted as a deviation that must lose: a coalition holding more than two thirds of
# the stake holds the supermajority of every committee and every jury, so no vote can rule against it.
ASSUMPTION_BPS = 5_000
BEYOND = "(beyond the assumption)"


@dataclass
class Row:
    name: str
    describe: str
    honest_mean: float
    deviant_mean: float
    diff_mean: float
    diff_ci: float
    tasks: int

    @property
    def verdict(self) -> str:
        if self.name.startswith("honest"):
            return "baseline"
        if self.diff_mean + self.diff_ci < 0:
            return "loses"
        if self.diff_mean - self.diff_ci > 0:
            return "gains, beyond the assumption" if BEYOND in self.name else "GAINS"
        return "no gain (within CI)"


def honest_twin(roster: list[Identity]) -> list[Identity]:
    return [replace(i, behaviour="honest") for i in roster]


def run_strategy(
    world: World, draws: list[Draw], name: str, describe: str, roster_fn, play: Play, twin: Play | None
) -> Row:
    roster = roster_fn(world)
    twin_play = twin if twin is not None else Play()
    # The honest twin: the same party with the same stake acting honestly (sybils: one identity).
    if name.startswith("sybil"):
        twin_roster = base_roster(world, [(world.validator_stake, "honest")])
    else:
        twin_roster = honest_twin(roster)
    c = world.params.committee_seats
    t_dev = Treasury(world.treasury_start)
    t_hon = Treasury(world.treasury_start)
    diffs: list[int] = []
    hon: list[int] = []
    dev: list[int] = []
    for draw in draws:
        seats = seats_of(draw, roster, c)
        twin_seats = (
            seats
            if twin_roster is not None and len(twin_roster) == len(roster)
            else seats_of(draw, twin_roster, c)
        )
        d = play_task(world, roster, seats, draw, play, t_dev)
        h = play_task(world, twin_roster, twin_seats, draw, twin_play, t_hon)
        dev.append(d)
        hon.append(h)
        diffs.append(d - h)
    n = len(draws)
    sd = statistics.pstdev(diffs) / TOKEN
    return Row(
        name,
        describe,
        statistics.fmean(hon) / TOKEN,
        statistics.fmean(dev) / TOKEN,
        statistics.fmean(diffs) / TOKEN,
        1.96 * sd / math.sqrt(n),
        n,
    )


def run(
    world: World, tasks: int, seed: int, out: Callable[[str], None] = print, only: str | None = None
) -> list[Row]:
    rng = random.Random(seed)
    draws = [draw_task(rng, world) for _ in range(tasks)]
    rows = []
    for name, describe, roster_fn, play, twin in strategies(world):
        if only and only not in name:
            continue
        rows.append(run_strategy(world, draws, name, describe, roster_fn, play, twin))
    print_table(world, rows, tasks, out)
    return rows


def print_table(world: World, rows: list[Row], tasks: int, out: Callable[[str], None]) -> None:
    p = world.params
    out(
        f"Settlement v2 economics: {tasks:,} simulated tasks per strategy; reward {world.reward / TOKEN:g} RPT, "
        f"{world.miners} miners (maxMiners {world.max_miners}), N = {world.rollouts}, m = {world.audited}, "
        f"{world.validators} honest validators of {world.validator_stake / TOKEN:g} RPT"
    )
    out(
        f"Params: C = {p.committee_seats}, quorum {p.quorum_bps} bps, supermajority {p.supermajority_bps} bps, "
        f"fee {p.validator_fee_bps} bps, base share {p.base_share_bps} bps, deterrence {p.deterrence_bps} bps, "
        f"bond {p.validator_bond / TOKEN:g} RPT, F = {p.forced_error_odds}, jackpot {p.jackpot / TOKEN:g} RPT"
    )
    out(
        f"Costs: generation {world.gen_cost / TOKEN:g} RPT per miner-task, audit {world.audit_cost / TOKEN:.3f} RPT "
        f"per audited miner; treasury starts at {world.treasury_start / TOKEN:g} RPT"
    )
    out("")
    out("| strategy | honest twin (RPT/task) | strategy (RPT/task) | difference ± 95% CI | result |")
    out("|---|---|---|---|---|")
    for r in rows:
        out(
            f"| {r.name} | {r.honest_mean:.3f} | {r.deviant_mean:.3f} | {r.diff_mean:+.3f} ± {r.diff_ci:.3f} | {r.verdict} |"
        )
    gains = [r for r in rows if r.verdict == "GAINS"]
    beyond = [r for r in rows if BEYOND in r.name and r.diff_mean > 0]
    out("")
    if beyond:
        out(
            f"Beyond the trust assumption (colluders above {ASSUMPTION_BPS // 100}% of validator stake): "
            + ", ".join(f"{r.name} {r.diff_mean:+.3f}" for r in beyond)
            + " RPT per task; such a coalition holds every committee and jury."
        )
    if gains:
        out(
            "Deviations that earn more than honest at these parameters: "
            + ", ".join(r.name for r in gains)
            + "."
        )
    else:
        out("Every deviation earns less than (or, for sybils, the same as) honest at these parameters.")


def world_from_args(args: argparse.Namespace) -> World:
    params = Params(
        committee_seats=args.committee_seats,
        quorum_bps=args.quorum_bps,
        supermajority_bps=args.supermajority_bps,
        validator_fee_bps=args.validator_fee_bps,
        forced_error_odds=args.forced_error_odds,
        validator_bond=int(args.bond * TOKEN),
        jackpot=int(args.jackpot * TOKEN),
        base_share_bps=args.base_share_bps,
        deterrence_bps=args.deterrence_bps,
    )
    return World(
        params=params,
        reward=int(args.reward * TOKEN),
        gen_cost=int(args.gen_cost * TOKEN),
        treasury_start=int(args.treasury * TOKEN),
    )


def parser(prog: str = "python -m bench.economics") -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    d = Params()
    w = World()
    ap.add_argument("--tasks", type=int, default=10_000, help="simulated tasks per strategy (default 10,000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", default=None, help="run the strategies whose name contains this")
    ap.add_argument("--committee-seats", type=int, default=d.committee_seats)
    ap.add_argument("--quorum-bps", type=int, default=d.quorum_bps)
    ap.add_argument("--supermajority-bps", type=int, default=d.supermajority_bps)
    ap.add_argument("--validator-fee-bps", type=int, default=d.validator_fee_bps)
    ap.add_argument("--forced-error-odds", type=int, default=d.forced_error_odds)
    ap.add_argument("--bond", type=float, default=d.validator_bond / TOKEN, help="validator bond, RPT")
    ap.add_argument("--jackpot", type=float, default=d.jackpot / TOKEN, help="jackpot per seat, RPT")
    ap.add_argument("--base-share-bps", type=int, default=d.base_share_bps)
    ap.add_argument("--deterrence-bps", type=int, default=d.deterrence_bps)
    ap.add_argument("--reward", type=float, default=w.reward / TOKEN, help="task reward, RPT")
    ap.add_argument(
        "--gen-cost", type=float, default=w.gen_cost / TOKEN, help="a miner's generation cost per task, RPT"
    )
    ap.add_argument(
        "--treasury", type=float, default=w.treasury_start / TOKEN, help="treasury balance at the start, RPT"
    )
    return ap


def main(argv: Sequence[str] | None = None, prog: str = "python -m bench.economics") -> int:
    args = parser(prog).parse_args(argv)
    if args.tasks < 1:
        raise SystemExit("--tasks must be at least 1")
    run(world_from_args(args), args.tasks, args.seed, only=args.only)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
