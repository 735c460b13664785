// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {SettlementBase} from "./utils/SettlementBase.sol";
import {Log} from "./utils/Vm.sol";
import {DrandBeacon} from "../src/DrandBeacon.sol";
import {ISettlement} from "../src/interfaces/ISettlement.sol";
import {IDisputes} from "../src/interfaces/IDisputes.sol";
import {ITaskBoard} from "../src/interfaces/ITaskBoard.sol";

/// @dev Red team of Settlement v2 (issue 11). Each test replays one attack and asserts the SAFE behaviour: it
/// passes when the contracts resist and fails while the hole exists (the failing assertion names the loss).
/// Resisted attacks stay as regression tests. Numbers are at the Fixture defaults (reward 1,000 RPT,
/// maxMiners 8: cap 112.5 RPT, lock 225 RPT, base share 22.5 RPT; C = 64, bond 2.5 RPT and jackpot 5 RPT
/// per seat, F = 8).
contract RedTeamTest is SettlementBase {
    /// @dev The forced miner's prescribed logprob shift (node/tasks/obligations.py FORCED_LOGPROB_SHIFT, 0.01 nats).
    uint64 internal constant FORCED_SHIFT_NANO = 10_000_000;
    /// @dev The worst honest fp32 logprob deviation measured (PROTOCOL.md 9.1: 6.84e-5 nats).
    uint64 internal constant HONEST_DEVIATION_NANO = 68_400;
    /// @dev How long after its timestamp a block may be sealed: one 12 s slot (builders' timing games).
    uint256 internal constant BLOCK_LATENESS = 12;

    // ======================================================================================= holes (fail)

    /// H1. A miner commits a junk root and never serves an opening. Honest validators cannot obtain openings,
    /// so (node/roles/validator.py) they vote UNAVAILABLE; the miner is UNDECIDED and paid the base share,
    /// for no work and at no risk. Safe: a miner whose work no committee member verified is paid nothing.
    function test_redteam_unservedJunkMinerIsNotPaid() public {
        _allCommit(); // m0's root is junk; it serves nothing
        address v = _validator("honest", 0, 1000e18);
        _run(_one(v), _lists1(_three(_unavailable(m[0]), _pass(m[1], 600_000), _pass(m[2], 400_000))));
        uint256 paid = settlement.claimable(m[0]);
        Log.log("H1 junk miner that served nothing is paid (wei)", paid);
        assertEq(stakes.activeStake(m[0], MINER), MINER_STAKE, "and it keeps its whole stake");
        assertEq(paid, 0, "H1: a miner nobody could verify is paid for serving nothing");
    }

    /// H16. NO_QUORUM farming: a miner commits a junk root on tasks the committee does not attend (too small
    /// to be worth auditing, or a third of the stake simply abstains: abstaining costs nothing, since only a
    /// committed verdict locks a bond) and is paid the base share, with its lock released. Over every task
    /// where P(no quorum) > base / (base + lock) = 1/11 at the defaults, junk beats an empty slot.
    /// Safe: a miner whose work nobody verified is paid nothing (the proposer still gains nothing: the
    /// remainder is burned).
    function test_redteam_junkMinerIsNotPaidWithoutAQuorum() public {
        _allCommit(); // m0 junk
        _validator("absent", 0, 1000e18); // holds every seat, never commits
        _toFinalize(taskId);
        settlement.finalize(taskId);
        uint256 paid = settlement.claimable(m[0]);
        Log.log("H16 junk miner paid without a quorum (wei)", paid);
        assertEq(uint256(_outcome(m[0])), uint256(ISettlement.Outcome.NO_QUORUM), "no quorum");
        assertEq(paid, 0, "H16: junk is paid the base share when no committee shows up");
    }

    /// H2. Slot squatting (issue 11's attack 1, replayed on miners): sybils take every miner slot at the
    /// post, never commit, and are released at finalize with nothing lost. The honest miner gets TaskFull.
    /// Safe: blocking a slot without committing costs the squatter something.
    function test_redteam_minerSlotSquattingCostsTheSquatters() public {
        address[] memory sq = new address[](MAX_MINERS);
        for (uint256 i = 0; i < MAX_MINERS; ++i) {
            sq[i] = _actor("squatter", i);
            _stake(sq[i], MINER, LOCK);
            _join(taskId, sq[i]);
        }
        vm.prank(m[0]);
        (bool ok,) = address(settlement)
            .call(abi.encodeCall(settlement.join, (taskId, bytes32(0), keccak256("honest secret"))));
        assertTrue(!ok, "the honest miner is locked out (TaskFull)");
        _toFinalize(taskId);
        settlement.finalize(taskId);
        uint256 kept;
        for (uint256 i = 0; i < MAX_MINERS; ++i) {
            kept += stakes.activeStake(sq[i], MINER);
            assertEq(stakes.lockedStake(sq[i], MINER), 0, "squatter unlocked");
        }
        Log.log("H2 squatters' stake before (wei)", uint256(MAX_MINERS) * LOCK);
        Log.log("H2 squatters' stake after (wei)", kept);
        assertEq(settlement.claimable(proposer), REWARD, "the proposer got nothing done");
        assertTrue(kept < uint256(MAX_MINERS) * LOCK, "H2: squatting every slot of a task is free");
    }

    /// H3. A forced miner's outcome is FORCED whatever it committed: join (free), learn after the seed beacon
    /// that you are forced, commit junk without generating, reveal the secret. The committee FAILs the junk
    /// (TOKEN, score 0) and the miner is paid the base share plus the obedience jackpot; when not forced it
    /// just never commits (NO_COMMIT costs nothing). Safe: junk is never paid, forced or not.
    function test_redteam_forcedMinerIsNotPaidForJunk() public {
        _fundTreasury(1000e18);
        bytes32 secret = _secretWith(taskId, true);
        _joinWithSecret(taskId, m[0], secret); // a junk root: no rollout generated
        _joinAndCommit(taskId, m[1]);
        _joinAndCommit(taskId, m[2]);
        address v = _validator("honest", 0, 1000e18);
        ISettlement.Verdict[] memory list = _three(_fail(m[0]), _pass(m[1], 600_000), _pass(m[2], 400_000));
        _toVerdictWindow(taskId);
        _commitVerdict(taskId, v, list);
        _toRevealWindow(taskId);
        vm.prank(m[0]);
        settlement.revealForcedError(taskId, secret);
        _reveal(taskId, v, list);
        _toFinalize(taskId);
        settlement.finalize(taskId);
        settlement.settleValidator(taskId, v);
        uint256 paid = settlement.claimable(m[0]);
        Log.log("H3 forced junk miner paid (wei)", paid);
        Log.log("H3 of which base share (wei)", _baseShare());
        assertEq(stakes.activeStake(m[0], MINER), MINER_STAKE, "the junk miner keeps its stake");
        assertEq(paid, 0, "H3: a forced miner is paid for junk");
    }

    /// H4a (resisted). A forced miner that does NOT inject its error, with a friend voting FAIL on it with
    /// fewer than a third of the seats: the honest PASS voters keep their bonds (not "caught").
    function test_redteam_forcedFriendUnderAThirdCannotPenalizeHonestPassVoters() public {
        (address honest, address friend) = _forcedFriendScenario();
        assertTrue(!settlement.validatorState(taskId, honest).penalized, "honest PASS voter not penalized");
        assertEq(stakes.activeStake(honest, VALIDATOR), 9000e18, "honest keeps its stake");
        assertEq(uint256(_outcome(m[0])), uint256(ISettlement.Outcome.FORCED), "forced");
        assertGt(settlement.validatorState(taskId, friend).seats, 0, "the friend sat");
    }

    /// H4b. Same scenario: the friend's lone FAIL vote (score 1.0) sets the forced miner's score, so the miner
    /// is paid the whole cap instead of its audited score 0.4, and the friend wins jackpot x seats from the
    /// treasury for a FAIL the committee did not uphold (not caught), without auditing anything.
    /// Safe: an uncaught forced miner is scored by the PASS votes and its FAIL voters win no jackpot.
    function test_redteam_forcedFriendCannotSetTheScoreOrWinAJackpot() public {
        (, address friend) = _forcedFriendScenario();
        uint256 paid = settlement.claimable(m[0]);
        uint256 won = settlement.validatorState(taskId, friend).jackpot;
        Log.log("H4 forced miner paid (wei)", paid);
        Log.log("H4 paid for its audited score 0.4 (wei)", _payFor(400_000));
        Log.log("H4 friend's jackpot (wei)", won);
        Log.log("H4 friend's seats", settlement.validatorState(taskId, friend).seats);
        assertEq(paid, _payFor(400_000), "H4: a 1-seat friend sets the forced miner's score");
        assertEq(won, 0, "H4: a FAIL the committee did not uphold wins a jackpot");
    }

    /// H5. Treasury drain through a 1-wei task (P = G = 1, one token: nothing to generate). The attacker posts
    /// it (cap = lock = 0), joins all 128 slots with sybil miners (min stake, never locked, reused for every
    /// task), commits only from the sybils the seed beacon made forced (NO_COMMIT is free) and FAILs them from
    /// its own validator (10% of the stake). FORCED needs no quorum and the attacker's seats alone "catch" it,
    /// so each forced sybil earns the obedience bonus and the validator its seats' share of the jackpot, from
    /// the shared treasury (seeded with 10,000 RPT, e.g. past slashes), with no inflow. Repeatable every task.
    /// (With honest members auditing it too, they are paid the rest of each jackpot: the treasury loses
    /// J + J/C per forced sybil.) Safe: the attacker nets <= 0 from its own 1-wei task.
    function test_redteam_tinyTaskCannotDrainTheTreasury() public {
        _fundTreasury(10_000e18);
        _validator("honest", 0, 9000e18); // honest validators hold 90% and ignore a 1-wei task
        address atk = _validator("attacker", 0, 1000e18);
        ITaskBoard.TaskParams memory p = _params(1);
        p.maxMiners = 128;
        (p.numProblems, p.rolloutsPerProblem, p.maxTokens, p.auditRollouts) = (1, 1, 1, 1); // trivial to generate
        uint256 tiny = _post(p); // proposer = the attacker
        address[] memory sybil = new address[](128);
        for (uint256 i = 0; i < 128; ++i) {
            sybil[i] = _actor("sybilMiner", i);
            _stake(sybil[i], MINER, MIN_MINER);
            vm.prank(sybil[i]);
            settlement.join(tiny, bytes32(0), keccak256(abi.encode(tiny, sybil[i], _sybilSecret(i))));
        }
        assertEq(stakes.lockedStake(sybil[0], MINER), 0, "a 1-wei task locks nothing");
        // After the seed beacon each sybil knows whether it is forced; only those commit.
        _toCommitWindow(tiny);
        _ensureRound(_task(tiny).seedRound);
        bytes32 seed = beacon.randomness(_task(tiny).seedRound);
        uint256 forced;
        for (uint256 i = 0; i < 128; ++i) {
            if (!settlement.isForced(_sybilSecret(i), seed)) continue;
            ++forced;
            vm.prank(sybil[i]);
            settlement.commit(tiny, keccak256(abi.encode("junk", i)), 1);
        }
        assertGt(forced, 0, "some sybil is forced");
        ISettlement.Verdict[] memory list = new ISettlement.Verdict[](forced);
        uint256 k;
        for (uint256 i = 0; i < 128; ++i) {
            if (settlement.minerState(tiny, sybil[i]).committed) {
                list[k++] = _failCheck(sybil[i], ISettlement.Check.LOGPROB);
            }
        }
        _toVerdictWindow(tiny);
        uint16 seats = settlement.committeeSeats(tiny, atk);
        assertGt(seats, 0, "the attacker's 10% drew seats");
        _commitVerdict(tiny, atk, list);
        _toRevealWindow(tiny);
        for (uint256 i = 0; i < 128; ++i) {
            if (!settlement.minerState(tiny, sybil[i]).committed) continue;
            vm.prank(sybil[i]);
            settlement.revealForcedError(tiny, _sybilSecret(i));
        }
        _reveal(tiny, atk, list);
        _toFinalize(tiny);
        settlement.finalize(tiny);
        settlement.settleValidator(tiny, atk);

        uint256 gained = settlement.claimable(atk) + settlement.claimable(proposer);
        for (uint256 i = 0; i < 128; ++i) {
            gained += settlement.claimable(sybil[i]);
            assertEq(stakes.activeStake(sybil[i], MINER), MIN_MINER, "no sybil lost stake");
        }
        assertEq(stakes.activeStake(atk, VALIDATOR), 1000e18, "the attacker's validator lost nothing");
        Log.log("H5 forced sybils", forced);
        Log.log("H5 attacker seats", seats);
        Log.log("H5 attacker credited for a 1-wei task (wei)", gained);
        Log.log("H5 treasury left of 10,000 RPT (wei)", settlement.treasury());
        assertLe(gained, 1, "H5: the treasury pays an attacker for its own 1-wei task");
    }

    /// H6. Stake grinding at the sortition boundary. Stake is read at commitDeadline (inclusive) and the
    /// challenge round is the next drand round, published as little as 1 s later (period 3). A block stamped
    /// commitDeadline is routinely sealed seconds after its timestamp (builders' timing games, up to a 12 s
    /// slot; L2 sequencers set timestamps), so its builder knows r and can stake from addresses ground against
    /// it. The attacker holds 10% of the validator stake as 10 minimum stakes, each address the best of 150
    /// tries (expected 6.4 seats in all), then votes FAIL on every honest miner; FAIL on an UNDECIDED miner is
    /// never penalized, so the block is free. Safe: the honest miners pass (or the snapshot lies at least one
    /// slot before the challenge round).
    function test_redteam_stakeAtTheCommitDeadlineCannotBeGroundAgainstTheChallenge() public {
        _allCommit();
        address honest = _validator("honest", 0, 9000e18);
        ITaskBoard.Task memory t = _task(taskId);
        uint64 deadline = t.params.commitDeadline;
        uint256 gap = board.roundTime(t.challengeRound) - deadline;
        Log.log("H6 seconds from the sortition snapshot to the challenge round", gap);
        if (gap > BLOCK_LATENESS) return; // r cannot be out before the snapshot block is sealed
        bytes32 r = _offchainRandomness(t.challengeRound);
        vm.warp(deadline); // the block stamped commitDeadline, sealed after r was out
        uint256 total = stakes.totalValidatorStakeAt(uint48(deadline)) + 10 * MIN_VALIDATOR;
        address[] memory vals = new address[](11);
        vals[10] = honest;
        for (uint256 k = 0; k < 10; ++k) {
            uint256 bestSeats;
            for (uint256 i = 0; i < 150; ++i) {
                address a = address(uint160(uint256(keccak256(abi.encode("grind", k, i)))));
                uint256 s;
                for (uint256 j = 0; j < SEATS; ++j) {
                    if (uint256(keccak256(abi.encode(r, taskId, a, j))) % total < MIN_VALIDATOR) ++s;
                }
                if (s > bestSeats || vals[k] == address(0)) (vals[k], bestSeats) = (a, s);
            }
            _stake(vals[k], VALIDATOR, MIN_VALIDATOR);
        }
        ISettlement.Verdict[][] memory lists = new ISettlement.Verdict[][](11);
        for (uint256 k = 0; k < 10; ++k) {
            lists[k] = _allFail();
        }
        lists[10] = _allPass();
        _run(vals, lists);
        uint256 got;
        for (uint256 k = 0; k < 10; ++k) {
            got += _seats(vals[k]);
            assertEq(stakes.activeStake(vals[k], VALIDATOR), MIN_VALIDATOR, "the blockers lose nothing");
        }
        uint256 honestSeats = _seats(honest);
        Log.log("H6 seats of 10 ground sybils (10% of stake)", got);
        Log.log("H6 seats of the honest 90%", honestSeats);
        Log.log("H6 sybils' share of the committee (bps)", got * 10_000 / (got + honestSeats));
        Log.log("H6 honest miner m0 paid (wei)", settlement.claimable(m[0]));
        Log.log("H6 m0 paid had it passed at 0.8 (wei)", _payFor(800_000));
        assertEq(
            uint256(_outcome(m[0])),
            uint256(ISettlement.Outcome.PASSED),
            "H6: 10% of stake ground at commitDeadline blocks every honest pass"
        );
    }

    /// H11. The same boundary for forced errors: the seed round can be out 1-3 s after joinDeadline, so a join
    /// in the block stamped joinDeadline can grind its forced-error secret and choose to be forced (immune to
    /// slashing, paid; see H3 and H13). Safe: a miner cannot choose its forced status.
    function test_redteam_joinAtTheJoinDeadlineCannotChooseToBeForced() public {
        ITaskBoard.Task memory t = _task(taskId);
        uint64 deadline = t.params.joinDeadline;
        uint256 gap = board.roundTime(t.seedRound) - deadline;
        Log.log("H11 seconds from the join deadline to the seed round", gap);
        if (gap > BLOCK_LATENESS) return;
        bytes32 seed = _offchainRandomness(t.seedRound);
        vm.warp(deadline);
        bytes32 secret;
        uint256 tries;
        for (; tries < 1000; ++tries) {
            secret = keccak256(abi.encode("grind secret", tries));
            if (settlement.isForced(secret, seed)) break;
        }
        bytes32 commitment = settlement.forcedErrorCommitment(taskId, m[0], secret);
        vm.prank(m[0]);
        settlement.join(taskId, bytes32(0), commitment);
        _ensureRound(t.seedRound);
        bool forced = settlement.isForced(secret, beacon.randomness(t.seedRound));
        Log.log("H11 secrets tried before a forced one", tries + 1);
        assertTrue(!forced, "H11: a join at joinDeadline chose to be forced");
    }

    /// H12. The same boundary for commitments: ChallengeKnown only sees a beacon recorded on chain, so a commit
    /// in the block stamped commitDeadline, sealed after the challenge round was out, is accepted although its
    /// author could shape the root around the audit sample. Safe: refused (or impossible by the timing).
    function test_redteam_commitAtTheCommitDeadlineAfterTheChallengeIsRefused() public {
        _join(taskId, m[0]);
        ITaskBoard.Task memory t = _task(taskId);
        uint64 deadline = t.params.commitDeadline;
        uint256 gap = board.roundTime(t.challengeRound) - deadline;
        if (gap > BLOCK_LATENESS) return;
        _offchainRandomness(t.challengeRound); // the committer has read the audit sample
        vm.warp(deadline);
        vm.prank(m[0]);
        (bool ok,) = address(settlement).call(abi.encodeCall(settlement.commit, (taskId, _root(m[0]), P * G)));
        Log.log(
            "H12 seconds the challenge was out before the commit block sealed (at most)", BLOCK_LATENESS - gap
        );
        assertTrue(!ok, "H12: a commit shaped by a published challenge is accepted");
    }

    /// H18. The same boundary for disputes: the jury's round was the first after disputeDeadline, out 1-3 s
    /// after it, so a FAILED miner disputing in the block stamped disputeDeadline, sealed after that round was
    /// out, could read its jury draw first and dispute only when the draw favours it (its coalition holding the
    /// jury). Safe: the jury round comes after disputeDeadline + BEACON_LAG, once any block stamped at the
    /// deadline is sealed.
    function test_redteam_disputeAtTheDisputeDeadlineCannotSeeItsJury() public {
        IDisputes.Windows memory w = disputes.windows(taskId);
        uint256 gap = board.roundTime(w.round) - w.disputeDeadline;
        Log.log("H18 seconds from the dispute deadline to the jury round", gap);
        assertGt(
            gap, BLOCK_LATENESS, "H18: the jury round can be out before a dispute at the deadline is sealed"
        );
        // The jurors still have their audit time after the round, inside the commit window.
        assertGe(w.commitDeadline, board.roundTime(w.round) + MIN_AUDIT, "the jury has no audit time left");
    }

    /// H13. A forced miner frames honest validators. It commits honestly (no injected error) and serves
    /// openings with broken Merkle proofs to some honest members (they FAIL it, STRUCTURE) and valid ones to
    /// the others (they PASS it, correctly). Once the FAIL side has more than a third of the seats the forced
    /// error counts as caught, so the honest PASS voters forfeit their bonds, while the miner (FORCED: never
    /// slashed) earns the obedience bonus. Safe: a validator that audited correct openings keeps its bond.
    function test_redteam_forcedMinerCannotFrameHonestPassVoters() public {
        _fundTreasury(1000e18);
        bytes32 secret = _secretWith(taskId, true);
        _joinWithSecret(taskId, m[0], secret);
        _joinAndCommit(taskId, m[1]);
        _joinAndCommit(taskId, m[2]);
        address a = _validator("honestA", 0, 4500e18); // served broken proofs
        address b = _validator("honestB", 0, 5500e18); // served valid openings
        ISettlement.Verdict[] memory brokenList =
            _three(_failCheck(m[0], ISettlement.Check.STRUCTURE), _pass(m[1], 600_000), _pass(m[2], 400_000));
        ISettlement.Verdict[] memory validList =
            _three(_pass(m[0], 500_000), _pass(m[1], 600_000), _pass(m[2], 400_000));
        address[] memory vals = _pair(a, b);
        ISettlement.Verdict[][] memory lists = _lists2(brokenList, validList);
        _toVerdictWindow(taskId);
        _commitAll(vals, lists);
        _toRevealWindow(taskId);
        vm.prank(m[0]);
        settlement.revealForcedError(taskId, secret);
        _revealAll(vals, lists);
        _toFinalize(taskId);
        settlement.finalize(taskId);
        _settleAll(vals);
        uint16 sa = _seats(a);
        uint16 sb = _seats(b);
        Log.log("H13 seats served broken proofs", sa);
        Log.log("H13 seats served valid openings", sb);
        Log.log("H13 honest B's stake after (wei)", stakes.activeStake(b, VALIDATOR));
        Log.log("H13 forced miner credited (wei)", settlement.claimable(m[0]));
        assertTrue(sa * 3 > sa + sb, "the broken-proof side holds more than a third");
        assertEq(
            stakes.activeStake(b, VALIDATOR), 5500e18, "H13: an honest PASS on correct openings is slashed"
        );
    }

    /// H7. A proposer may post a reveal window of 1 s (verifyDeadline = verdictDeadline + 1): an honest
    /// committee member whose reveal lands in the next block (12 s slots) forfeits its whole bond, and a forced
    /// miner cannot prove its forced error. Safe: postTask refuses it (or the member keeps its bond).
    function test_redteam_revealWindowLeavesTimeToReveal() public {
        ITaskBoard.TaskParams memory p = _params(REWARD);
        p.verifyDeadline = p.verdictDeadline + 1;
        (bool ok, uint256 id) = _tryPost(p);
        if (!ok) return; // refused at post: safe
        taskId = id;
        _allCommit();
        address v = _validator("honest", 0, 1000e18);
        _toVerdictWindow(taskId);
        _commitVerdict(taskId, v, _allPass());
        uint16 seats = _seats(v);
        vm.warp(p.verdictDeadline + 12); // the next 12 s slot
        vm.prank(v);
        (bool revealed,) =
            address(settlement).call(abi.encodeCall(settlement.revealVerdict, (taskId, _allPass(), _salt(v))));
        assertTrue(!revealed, "the reveal missed a 1 s window");
        settlement.finalize(taskId);
        settlement.settleValidator(taskId, v);
        Log.log("H7 honest bond forfeited (wei)", BOND * seats);
        assertEq(stakes.activeStake(v, VALIDATOR), 1000e18, "H7: a 1 s reveal window takes honest bonds");
    }

    /// H8. Audit tolerances are the proposer's choice, bounded only by > 0 and < 1e9. At or below the honest fp32
    /// deviation (6.84e-5 nats, PROTOCOL.md 9.1) honest miners FAIL and are slashed while the proposer is
    /// refunded their caps; at or above the forced miners' 0.01-nat shift a forced error passes every audit, so
    /// lazy validators are never caught on that task. Safe: postTask refuses both.
    function test_redteam_postTaskRefusesTolerancesThatBreakAudits() public {
        ITaskBoard.TaskParams memory p = _params(REWARD);
        p.logprobTolNano = HONEST_DEVIATION_NANO;
        (bool tight,) = _tryPost(p);
        p = _params(REWARD);
        p.logprobTolNano = FORCED_SHIFT_NANO;
        (bool loose,) = _tryPost(p);
        p = _params(REWARD);
        p.edgeSlackNano = 0; // PROTOCOL.md 9.2: honest prefills moved an interval edge by up to 2.7e-6
        (bool noSlack,) = _tryPost(p);
        Log.log("H8 accepted logprobTolNano = 68,400 (1 = yes)", tight ? 1 : 0);
        Log.log("H8 accepted logprobTolNano = forced shift (1 = yes)", loose ? 1 : 0);
        Log.log("H8 accepted edgeSlackNano = 0 (1 = yes)", noSlack ? 1 : 0);
        assertTrue(!tight, "H8: a tolerance at the worst honest noise is accepted");
        assertTrue(!loose, "H8: a tolerance that hides forced errors is accepted");
        assertTrue(!noSlack, "H8: an edge slack of 0 is accepted");
    }

    /// H9. Rounding dust of the validator pool stays in feeReserve forever: no path moves it out.
    /// Safe: once every member is settled, nothing of the task is left in feeReserve.
    function test_redteam_feeDustIsNotStranded() public {
        ITaskBoard.TaskParams memory p = _params(1000e18 - 1); // validator pool 1e20 - 1, odd
        taskId = _post(p);
        _allCommit();
        address a = _validator("honest", 0, 3000e18);
        address b = _validator("honest", 1, 1000e18);
        _run(_pair(a, b), _lists2(_allPass(), _allPass()));
        Log.log("H9 feeReserve after every member settled (wei)", settlement.feeReserve());
        assertEq(settlement.feeReserve(), 0, "H9: fee dust stranded in feeReserve");
    }

    /// H10. Payment arithmetic overflows on a large cap: pay = cap x (baseShareBps x 1e6 + ...) overflows for
    /// cap > 2^256 / 1e10 (~1.2e67 wei), though join (cap x deterrenceBps) accepted it. finalize then reverts
    /// forever: the escrow and every lock of the task are stuck. Safe: finalize settles or postTask refuses.
    function test_redteam_finalizeCannotOverflowOnALargeReward() public {
        ITaskBoard.TaskParams memory p = _params(1e68);
        p.maxMiners = 1;
        (bool posted, uint256 id) = _tryPost(p);
        if (!posted) return;
        taskId = id;
        address whale = _actor("whale", 0);
        _stake(whale, MINER, 2e68);
        vm.prank(whale);
        (bool joined,) = address(settlement)
            .call(
                abi.encodeCall(
                    settlement.join, (id, bytes32(0), keccak256(abi.encode(id, whale, bytes32(0))))
                )
            );
        if (!joined) return;
        vm.prank(whale);
        settlement.commit(id, _root(whale), P * G);
        address v = _validator("honest", 0, 1000e18);
        _toVerdictWindow(id);
        _commitVerdict(id, v, _one(_pass(whale, 500_000)));
        _toRevealWindow(id);
        _reveal(id, v, _one(_pass(whale, 500_000)));
        _toFinalize(id);
        (bool finalized,) = address(settlement).call(abi.encodeCall(settlement.finalize, (id)));
        Log.log("H10 whale lock stuck (wei)", stakes.lockedStake(whale, MINER));
        assertTrue(finalized, "H10: finalize overflows; escrow and locks stuck");
    }

    /// H15. Score shaving by the proposer. The score of a PASSED miner is the seat-weighted MEAN of the PASS
    /// votes' scores, and a PASS with a wrong score is never penalized. The proposer stakes 30% of the validator
    /// stake (under a third) and, whenever it sits on a committee, PASSes every honest miner with score 0: the
    /// miners pass, its member keeps its bond and fee, and each miner's pay drops by its seat share of the
    /// score part, refunded to the proposer. Safe: a minority cannot move an honest miner's pay (e.g. the
    /// seat-weighted majority score, and a PASS whose score differs from it penalized).
    function test_redteam_proposerValidatorCannotShaveScores() public {
        _allCommit();
        address honest = _validator("honest", 0, 7000e18);
        address shaver = _validator("proposerShaver", 0, 3000e18);
        ISettlement.Verdict[] memory zero = _three(_pass(m[0], 0), _pass(m[1], 0), _pass(m[2], 0));
        _run(_pair(honest, shaver), _lists2(_allPass(), zero));
        uint16 hs = _seats(honest);
        uint16 ss = _seats(shaver);
        uint256 owed = _payFor(800_000) + _payFor(600_000) + _payFor(400_000);
        uint256 paid = settlement.claimable(m[0]) + settlement.claimable(m[1]) + settlement.claimable(m[2]);
        Log.log("H15 shaver's seats (30% of stake)", ss);
        Log.log("H15 honest seats", hs);
        Log.log("H15 honest miners owed for their audited scores (wei)", owed);
        Log.log("H15 honest miners paid (wei)", paid);
        Log.log("H15 shaver's fee kept (wei)", settlement.claimable(shaver));
        assertTrue(!settlement.validatorState(taskId, shaver).penalized, "the shaver is not penalized");
        assertEq(uint256(_outcome(m[0])), uint256(ISettlement.Outcome.PASSED), "passed");
        assertEq(paid, owed, "H15: a 30% proposer-validator shaves the honest miners' pay into its refund");
    }

    /// H14. Fraud proofs frame honest auditors. On a 1-wei task (lock 0: a slash costs nothing) the attacker's
    /// miner commits a tree whose sampled leaves are honest plus one extra leaf with p >= P that no audit
    /// samples. The honest committee audits the sample and votes PASS; after the reveals the attacker proves
    /// its own fraud: the miner is FAILED "whatever the votes", and every honest PASS on it forfeits its bond.
    /// Safe: a member that PASSed the leaves it was asked to audit keeps its bond.
    function test_redteam_fraudProofCannotFrameHonestPassVoters() public {
        address honest = _validator("honest", 0, 1000e18);
        ITaskBoard.TaskParams memory p = _params(1);
        taskId = _post(p);
        address atk = _actor("framer", 0);
        _stake(atk, MINER, MIN_MINER);
        ISettlement.Leaf memory good = _leafOf(atk, 0, 0);
        ISettlement.Leaf memory bad = _leafOf(atk, P, 0); // p >= P: never in the audit sample
        bytes32 a = disputes.leafHash(good);
        bytes32 b = disputes.leafHash(bad);
        bytes32 root = a < b ? keccak256(abi.encodePacked(a, b)) : keccak256(abi.encodePacked(b, a));
        _join(taskId, atk);
        vm.prank(atk);
        settlement.commit(taskId, root, P * G);
        assertEq(stakes.lockedStake(atk, MINER), 0, "nothing at stake on a 1-wei task");
        ISettlement.Verdict[] memory list = _one(_pass(atk, 1e6));
        _toVerdictWindow(taskId);
        _commitVerdict(taskId, honest, list);
        _toRevealWindow(taskId);
        _reveal(taskId, honest, list);
        bytes32[] memory proof = new bytes32[](1);
        proof[0] = a;
        vm.prank(atk);
        disputes.proveFraud(taskId, atk, bad, proof);
        _toFinalize(taskId);
        settlement.finalize(taskId);
        settlement.settleValidator(taskId, honest);
        uint16 seats = settlement.validatorState(taskId, honest).seats;
        Log.log("H14 framer's stake lost (wei)", MIN_MINER - stakes.activeStake(atk, MINER));
        Log.log("H14 honest member's bond forfeited (wei)", 1000e18 - stakes.activeStake(honest, VALIDATOR));
        Log.log("H14 honest member's seats", seats);
        assertEq(
            stakes.activeStake(honest, VALIDATOR),
            1000e18,
            "H14: an honest PASS on the audited sample is slashed"
        );
    }

    /// H17. Obeying a forced error is only better than ignoring it while the treasury holds funds: the bonus
    /// (jackpot / C = 0.3125 RPT) is paid from the treasury alone, which H5 empties at will and which nothing
    /// refills in an honest network. With it empty, an obedient forced miner earns exactly what ignoring the
    /// forced error earns, so a lazy committee's smallest bribe buys its silence (the lazy members would each
    /// pay up to bond x seats). Safe (SECURITY.md 3.1): obeying earns strictly more than ignoring.
    function test_redteam_obeyingAForcedErrorPaysMoreThanIgnoringIt() public {
        bytes32 secret = _secretWith(taskId, true);
        _joinWithSecret(taskId, m[0], secret);
        _joinAndCommit(taskId, m[1]);
        _joinAndCommit(taskId, m[2]);
        address v = _validator("honest", 0, 1000e18);
        ISettlement.Verdict memory caught = _failCheck(m[0], ISettlement.Check.LOGPROB);
        caught.score = 700_000;
        ISettlement.Verdict[] memory list = _three(caught, _pass(m[1], 600_000), _pass(m[2], 400_000));
        _toVerdictWindow(taskId);
        _commitVerdict(taskId, v, list);
        _toRevealWindow(taskId);
        vm.prank(m[0]);
        settlement.revealForcedError(taskId, secret);
        _reveal(taskId, v, list);
        _toFinalize(taskId);
        settlement.finalize(taskId);
        Log.log("H17 treasury (wei)", settlement.treasury());
        Log.log("H17 obedient forced miner paid (wei)", settlement.claimable(m[0]));
        Log.log("H17 paid had it ignored the forced error and passed (wei)", _payFor(700_000));
        assertGt(settlement.claimable(m[0]), _payFor(700_000), "H17: obeying pays no more than ignoring");
    }

    // ================================================================================ resisted (pass)

    /// R1. Registering (or topping up) validator stake after the commit deadline, having seen the beacon,
    /// draws no seat: the snapshot is at commitDeadline.
    function test_redteam_validatorStakingAfterTheSnapshotDrawsNoSeat() public {
        _allCommit();
        _validator("honest", 0, 1000e18);
        vm.warp(_task(taskId).params.commitDeadline + 1);
        address late = _validator("late", 0, 1_000_000e18);
        _toVerdictWindow(taskId);
        assertEq(_seats(late), 0, "no seat for stake placed after the snapshot");
        vm.prank(late);
        (bool ok,) =
            address(settlement).call(abi.encodeCall(settlement.commitVerdict, (taskId, keccak256("x"))));
        assertTrue(!ok, "NotOnCommittee");
    }

    /// R2. Copying another member's verdict commitment: the hash binds the committer's address, so even with
    /// the honest member's verdicts and salt public after its reveal, the copier cannot open it and forfeits
    /// its bond.
    function test_redteam_copiedVerdictCommitmentCannotBeOpened() public {
        _allCommit();
        address honest = _validator("honest", 0, 3000e18);
        address copier = _onCommittee("copier", 1000e18);
        _toVerdictWindow(taskId);
        _commitVerdict(taskId, honest, _allPass());
        bytes32 h = settlement.validatorState(taskId, honest).commitHash;
        vm.prank(copier);
        settlement.commitVerdict(taskId, h);
        _toRevealWindow(taskId);
        _reveal(taskId, honest, _allPass());
        vm.prank(copier);
        (bool ok,) = address(settlement)
            .call(abi.encodeCall(settlement.revealVerdict, (taskId, _allPass(), _salt(honest))));
        assertTrue(!ok, "VerdictMismatch");
        _toFinalize(taskId);
        settlement.finalize(taskId);
        settlement.settleValidator(taskId, copier);
        uint16 s = settlement.validatorState(taskId, copier).seats;
        assertEq(stakes.activeStake(copier, VALIDATOR), 1000e18 - BOND * s, "the copier forfeits its bond");
        assertEq(settlement.claimable(copier), 0, "and earns nothing");
    }

    /// R3. A cheater claiming a forced error: a secret that is not forced (NotForced) or that does not open its
    /// commitment (ForcedErrorMismatch) is refused, so the FAIL supermajority slashes it.
    function test_redteam_cheaterCannotClaimAForcedError() public {
        bytes32 notForced = _secretWith(taskId, false);
        bytes32 forcedOther = _secretWith(taskId, true);
        _joinWithSecret(taskId, m[0], notForced);
        _joinAndCommit(taskId, m[1]);
        _joinAndCommit(taskId, m[2]);
        address v = _validator("honest", 0, 1000e18);
        ISettlement.Verdict[] memory list = _three(_fail(m[0]), _pass(m[1], 600_000), _pass(m[2], 400_000));
        _toVerdictWindow(taskId);
        _commitVerdict(taskId, v, list);
        _toRevealWindow(taskId);
        vm.startPrank(m[0]);
        (bool a,) =
            address(settlement).call(abi.encodeCall(settlement.revealForcedError, (taskId, notForced)));
        (bool b,) =
            address(settlement).call(abi.encodeCall(settlement.revealForcedError, (taskId, forcedOther)));
        vm.stopPrank();
        assertTrue(!a && !b, "NotForced, ForcedErrorMismatch");
        _reveal(taskId, v, list);
        _toFinalize(taskId);
        settlement.finalize(taskId);
        assertEq(uint256(_outcome(m[0])), uint256(ISettlement.Outcome.FAILED), "failed");
        assertEq(stakes.activeStake(m[0], MINER), MINER_STAKE - LOCK, "slashed its lock");
    }

    /// R4. Ordering and double calls: finalize early or twice, settleValidator before finalize or twice,
    /// reveals after finalize, claim twice, cancel after a join, join after the join deadline.
    function test_redteam_orderingAndDoubleCallsAreRefused() public {
        _allCommit();
        address v = _validator("honest", 0, 1000e18);
        _toCommitWindow(taskId);
        vm.prank(proposer);
        (bool cancelled,) = address(board).call(abi.encodeCall(board.cancelTask, (taskId)));
        assertTrue(!cancelled, "no cancel after joins");
        address late = _actor("lateMiner", 0);
        _stake(late, MINER, MINER_STAKE);
        vm.prank(late);
        (bool joined,) =
            address(settlement).call(abi.encodeCall(settlement.join, (taskId, bytes32(0), keccak256("s"))));
        assertTrue(!joined, "no join after the join deadline");
        _toVerdictWindow(taskId);
        _commitVerdict(taskId, v, _allPass());
        _toRevealWindow(taskId);
        (bool early,) = address(settlement).call(abi.encodeCall(settlement.finalize, (taskId)));
        assertTrue(!early, "no finalize before verifyDeadline");
        (bool settledEarly,) =
            address(settlement).call(abi.encodeCall(settlement.settleValidator, (taskId, v)));
        assertTrue(!settledEarly, "no settleValidator before finalize");
        _reveal(taskId, v, _allPass());
        _toFinalize(taskId);
        settlement.finalize(taskId);
        (bool twice,) = address(settlement).call(abi.encodeCall(settlement.finalize, (taskId)));
        assertTrue(!twice, "finalize once");
        vm.prank(v);
        (bool lateReveal,) =
            address(settlement).call(abi.encodeCall(settlement.revealVerdict, (taskId, _allPass(), _salt(v))));
        assertTrue(!lateReveal, "no reveal after finalize");
        settlement.settleValidator(taskId, v);
        (bool settledTwice,) =
            address(settlement).call(abi.encodeCall(settlement.settleValidator, (taskId, v)));
        assertTrue(!settledTwice, "settle once");
        uint256 before = token.balanceOf(v);
        vm.prank(v);
        uint256 got = settlement.claim();
        assertEq(token.balanceOf(v) - before, got, "claim pays");
        vm.prank(v);
        (bool claimedTwice,) = address(settlement).call(abi.encodeCall(settlement.claim, ()));
        assertTrue(!claimedTwice, "claim once");
    }

    /// R5. Lock accounting for validators: a bond is locked per seat; the locked part cannot be unstaked, and
    /// a validator cannot commit on a second task without free stake for that bond.
    function test_redteam_validatorBondIsLockedAndCannotBeUnstaked() public {
        _allCommit();
        _validator("honest", 0, 9000e18);
        address v = _onCommittee("bonded", MIN_VALIDATOR);
        _toVerdictWindow(taskId);
        _commitVerdict(taskId, v, _allPass());
        uint256 bond = BOND * _seats(v);
        assertEq(stakes.lockedStake(v, VALIDATOR), bond, "bond locked");
        vm.prank(v);
        (bool ok,) = address(stakes).call(abi.encodeCall(stakes.requestUnstake, (VALIDATOR, MIN_VALIDATOR)));
        assertTrue(!ok, "locked bond cannot be unstaked");
        vm.prank(v);
        stakes.requestUnstake(VALIDATOR, MIN_VALIDATOR - bond);
        assertEq(stakes.activeStake(v, VALIDATOR), bond, "only the free part left");
    }

    /// R6. 128 miners (the cap): the 2-bit vote bitmap and the uint8 index hold every slot without bleeding:
    /// the last miner FAILs, its neighbour PASSes, the first is UNAVAILABLE.
    function test_redteam_voteBitmapAtTheMinerCap() public {
        ITaskBoard.TaskParams memory p = _params(REWARD);
        p.maxMiners = 129;
        (bool over,) = _tryPost(p);
        assertTrue(!over, "a 129th slot would not fit the bitmap: refused");
        p.maxMiners = 128;
        taskId = _post(p);
        address[] memory miners = new address[](128);
        ISettlement.Verdict[] memory list = new ISettlement.Verdict[](128);
        for (uint256 i = 0; i < 128; ++i) {
            miners[i] = _actor("capMiner", i);
            _stake(miners[i], MINER, MIN_MINER);
            _joinAndCommit(taskId, miners[i]);
            list[i] = _pass(miners[i], 1e6);
        }
        list[0] = _unavailable(miners[0]);
        list[127] = _fail(miners[127]);
        address v = _validator("honest", 0, 1000e18);
        _run(_one(v), _lists1(list));
        assertEq(
            uint256(settlement.voteOf(taskId, v, miners[127])), uint256(ISettlement.Vote.FAIL), "last vote"
        );
        assertEq(
            uint256(settlement.voteOf(taskId, v, miners[126])), uint256(ISettlement.Vote.PASS), "no bleed"
        );
        assertEq(
            uint256(settlement.voteOf(taskId, v, miners[0])), uint256(ISettlement.Vote.UNAVAILABLE), "first"
        );
        assertEq(uint256(_outcome(miners[127])), uint256(ISettlement.Outcome.FAILED), "last failed");
        assertEq(uint256(_outcome(miners[126])), uint256(ISettlement.Outcome.PASSED), "neighbour passed");
    }

    /// R7. An always-fail validator (10% of stake) against an honest 90%: its FAIL on PASSED miners costs it
    /// its bond, it earns nothing, and no honest miner loses stake.
    function test_redteam_alwaysFailValidatorLosesItsBond() public {
        _allCommit();
        address honest = _validator("honest", 0, 9000e18);
        address failer = _onCommittee("failer", 1000e18);
        _run(_pair(honest, failer), _lists2(_allPass(), _allFail()));
        uint16 s = settlement.validatorState(taskId, failer).seats;
        assertEq(uint256(_outcome(m[0])), uint256(ISettlement.Outcome.PASSED), "passed");
        assertTrue(settlement.validatorState(taskId, failer).penalized, "penalized");
        assertEq(stakes.activeStake(failer, VALIDATOR), 1000e18 - BOND * s, "bond lost");
        assertEq(settlement.claimable(failer), 0, "nothing earned");
        for (uint256 i = 0; i < 3; ++i) {
            _assertStakeIntact(m[i]);
        }
    }

    /// R8. Gas at the caps on the most expensive path the attacks above reach: 128 miners all FORCED and
    /// caught (obedience bonus per miner, jackpot per FAIL vote), a 64-seat member FAILing all of them.
    /// finalize and settleValidator each fit EIP-7825's 16,777,216-gas transaction.
    function test_redteam_finalizeAtTheCapsWithEveryMinerForced() public {
        _fundTreasury(100_000e18);
        ITaskBoard.TaskParams memory p = _params(REWARD);
        p.maxMiners = 128;
        taskId = _post(p);
        _ensureRound(_task(taskId).seedRound);
        bytes32 seed = beacon.randomness(_task(taskId).seedRound);
        address[] memory miners = new address[](128);
        bytes32[] memory secrets = new bytes32[](128);
        ISettlement.Verdict[] memory list = new ISettlement.Verdict[](128);
        for (uint256 i = 0; i < 128; ++i) {
            miners[i] = _actor("forcedMiner", i);
            _stake(miners[i], MINER, MIN_MINER);
            for (uint256 j = 0;; ++j) {
                secrets[i] = keccak256(abi.encode("forced", i, j));
                if (settlement.isForced(secrets[i], seed)) break;
            }
            _joinWithSecret(taskId, miners[i], secrets[i]);
            list[i] = _failCheck(miners[i], ISettlement.Check.LOGPROB);
        }
        address v = _validator("honest", 0, 1000e18);
        _toVerdictWindow(taskId);
        _commitVerdict(taskId, v, list);
        _toRevealWindow(taskId);
        for (uint256 i = 0; i < 128; ++i) {
            vm.prank(miners[i]);
            settlement.revealForcedError(taskId, secrets[i]);
        }
        _reveal(taskId, v, list);
        // Inside the dispute window: every miner has a FAIL supermajority, so Disputes.checkFinalizable reads
        // each one's state before it finds none disputable (forced): the most expensive finalize there is.
        vm.warp(_task(taskId).params.verifyDeadline + 1);
        uint256 g0 = gasleft();
        settlement.finalize(taskId);
        uint256 finalizeGas = g0 - gasleft();
        g0 = gasleft();
        settlement.settleValidator(taskId, v);
        uint256 settleGas = g0 - gasleft();
        Log.log("R8 finalize gas, 128 forced and caught", finalizeGas);
        Log.log("R8 settleValidator gas, 128 FAILs on forced miners", settleGas);
        assertEq(uint256(_outcome(miners[127])), uint256(ISettlement.Outcome.FORCED), "forced");
        assertLe(finalizeGas, 16_777_216, "finalize fits a transaction");
        assertLe(settleGas, 16_777_216, "settleValidator fits a transaction");
    }

    /// R9. Cooldown against task duration: a miner that joined unstakes its free stake and withdraws it after
    /// the cooldown, then finalize comes late (days after the verify deadline): the lock was never free, so
    /// the slash still takes the whole lock and nothing more.
    function test_redteam_withdrawDuringATaskLeavesTheLockSlashable() public {
        _joinAndCommit(taskId, m[0]);
        vm.prank(m[0]);
        stakes.requestUnstake(MINER, MINER_STAKE - LOCK);
        address v = _validator("honest", 0, 1000e18);
        _toVerdictWindow(taskId);
        _commitVerdict(taskId, v, _one(_fail(m[0])));
        _toRevealWindow(taskId);
        _reveal(taskId, v, _one(_fail(m[0])));
        vm.warp(block.timestamp + COOLDOWN + 1);
        vm.prank(m[0]);
        uint256 out = stakes.withdraw(MINER);
        assertEq(out, MINER_STAKE - LOCK, "only the free part left");
        settlement.finalize(taskId);
        assertEq(settlement.minerState(taskId, m[0]).slashed, LOCK, "the whole lock slashed, late");
        assertEq(stakes.activeStake(m[0], MINER), 0, "nothing beyond the lock");
    }

    // ============================================================================================ helpers

    /// @dev m0 forced but committing honestly (audited score 0.4); a 90% honest validator PASSes everyone;
    /// the owner's friend (a seat drawn with 100 RPT) FAILs m0 with score 1.0 and UNAVAILABLE on the rest.
    function _forcedFriendScenario() internal returns (address honest, address friend) {
        _fundTreasury(1000e18);
        bytes32 secret = _secretWith(taskId, true);
        _joinWithSecret(taskId, m[0], secret);
        _joinAndCommit(taskId, m[1]);
        _joinAndCommit(taskId, m[2]);
        honest = _validator("honest", 0, 9000e18);
        friend = _onCommittee("friend", MIN_VALIDATOR);
        ISettlement.Verdict[] memory fair =
            _three(_pass(m[0], 400_000), _pass(m[1], 600_000), _pass(m[2], 400_000));
        ISettlement.Verdict memory lie = _failCheck(m[0], ISettlement.Check.LOGPROB);
        lie.score = 1e6;
        ISettlement.Verdict[] memory mine = _three(lie, _unavailable(m[1]), _unavailable(m[2]));
        address[] memory vals = _pair(honest, friend);
        ISettlement.Verdict[][] memory lists = _lists2(fair, mine);
        _toVerdictWindow(taskId);
        _commitAll(vals, lists);
        _toRevealWindow(taskId);
        vm.prank(m[0]);
        settlement.revealForcedError(taskId, secret);
        _revealAll(vals, lists);
        _toFinalize(taskId);
        settlement.finalize(taskId);
        _settleAll(vals);
    }

    function _failCheck(address miner, ISettlement.Check check)
        internal
        pure
        returns (ISettlement.Verdict memory v)
    {
        v = _fail(miner);
        v.check = check;
    }

    function _leafOf(address miner, uint32 p, uint32 g) internal view returns (ISettlement.Leaf memory) {
        return _rolloutLeaf(taskId, miner, p, g, 500_000);
    }

    function _sybilSecret(uint256 i) internal pure returns (bytes32) {
        return keccak256(abi.encode("sybil secret", i));
    }

    function _tryPost(ITaskBoard.TaskParams memory p) internal returns (bool ok, uint256 id) {
        token.mint(proposer, p.reward);
        vm.startPrank(proposer);
        token.approve(address(board), p.reward);
        bytes memory ret;
        (ok, ret) = address(board).call(abi.encodeCall(board.postTask, (p)));
        vm.stopPrank();
        if (ok) id = abi.decode(ret, (uint256));
    }

    /// @dev The drand HTTP API, as a second beacon contract with the same key: a round's randomness is public
    /// off chain as soon as drand publishes it, whether or not anyone recorded it on chain.
    function _offchainRandomness(uint64 round) internal returns (bytes32) {
        DrandBeacon offchain =
            new DrandBeacon(vm.parseJsonBytes(devnetJson, ".public_key_eip2537"), genesis, period);
        _recordOn(offchain, round);
        return offchain.randomness(round);
    }

    function _recordOn(DrandBeacon b, uint64 round) internal {
        string memory base = string.concat(".beacons[", vm.toString(round - 1), "]");
        b.recordBeacon(
            round,
            vm.parseJsonBytes(devnetJson, string.concat(base, ".signature")),
            vm.parseJsonBytes(devnetJson, string.concat(base, ".signature_point"))
        );
    }

    /// @dev A validator staking `amount` that draws at least one seat (challenge recorded early, as in
    /// Attacks.t.sol; call after the miners' commits and before the commit deadline).
    function _onCommittee(string memory name, uint256 amount) internal returns (address v) {
        _ensureRound(_task(taskId).challengeRound);
        for (uint256 i = 0; i < 200; ++i) {
            v = _validator(name, i, amount);
            if (_seats(v) != 0) return v;
            vm.prank(v);
            stakes.requestUnstake(VALIDATOR, amount);
        }
        revert("nobody drew a seat");
    }

    function _fundTreasury(uint256 amount) internal {
        token.mint(address(this), amount);
        token.approve(address(settlement), amount);
        settlement.fundTreasury(amount);
    }
}
