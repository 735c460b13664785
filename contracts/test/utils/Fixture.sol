// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm, Assertions} from "./Vm.sol";
import {RollToken} from "../../src/RollToken.sol";
import {StakeManager} from "../../src/StakeManager.sol";
import {TaskBoard} from "../../src/TaskBoard.sol";
import {Settlement} from "../../src/Settlement.sol";
import {Disputes} from "../../src/Disputes.sol";
import {IDisputes} from "../../src/interfaces/IDisputes.sol";
import {DrandBeacon} from "../../src/DrandBeacon.sol";
import {ITaskBoard} from "../../src/interfaces/ITaskBoard.sol";
import {ISettlement} from "../../src/interfaces/ISettlement.sol";

/// @dev The whole system deployed with the defaults of PROTOCOL.md 1 on the real DrandBeacon with the
/// devnet key (signed beacons for rounds 1..64 in contracts/test/fixtures/devnet_beacons.json).
abstract contract Fixture is Assertions {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    uint8 internal constant MINER = 0;
    uint8 internal constant VALIDATOR = 1;
    uint8 internal constant EVALUATOR = 2;
    uint256 internal constant MIN_MINER = 100e18;
    uint256 internal constant MIN_VALIDATOR = 100e18;
    uint256 internal constant MIN_EVALUATOR = 50e18;
    uint64 internal constant COOLDOWN = 2 days;
    uint64 internal constant MAX_TASK = 1 days;
    uint64 internal constant MIN_AUDIT = 5;
    uint16 internal constant SEATS = 64;
    uint16 internal constant QUORUM_BPS = 6667;
    uint16 internal constant SUPER_BPS = 6667;
    uint16 internal constant FEE_BPS = 1000;
    uint16 internal constant BASE_BPS = 2000;
    uint32 internal constant DETER_BPS = 20_000;
    uint32 internal constant ODDS = 8;
    uint256 internal constant BOND = 2.5e18;
    uint256 internal constant JACKPOT = 20e18;
    uint256 internal constant REWARD = 1000e18;
    uint16 internal constant MAX_MINERS = 8;
    /// @dev Disputes (PROTOCOL.md 2.10): a FAILED miner has 20 s after the verify deadline; jurors 20 s to commit
    /// (the beacon period, 3 s, plus MIN_AUDIT and more), 15 s to reveal (MIN_REVEAL_WINDOW and more).
    uint64 internal constant DISPUTE_WINDOW = 20;
    uint64 internal constant JURY_COMMIT_WINDOW = 20;
    uint64 internal constant JURY_REVEAL_WINDOW = 15;
    uint16 internal constant JUROR_FEE_BPS = 1000;
    /// @dev minerPool / maxMiners = 900 / 8 RPT; the lock is twice that.
    uint256 internal constant CAP = 112.5e18;
    uint256 internal constant LOCK = 225e18;
    /// @dev Enough for a miner to join two tasks at once.
    uint256 internal constant MINER_STAKE = 500e18;
    uint32 internal constant P = 2;
    uint32 internal constant G = 2;

    string internal devnetJson;
    uint64 internal genesis;
    uint64 internal period;

    RollToken internal token;
    DrandBeacon internal beacon;
    StakeManager internal stakes;
    TaskBoard internal board;
    Settlement internal settlement;
    Disputes internal disputes;
    address internal proposer = address(0xB0B);

    function setUp() public virtual {
        devnetJson = vm.readFile("contracts/test/fixtures/devnet_beacons.json");
        genesis = uint64(vm.parseJsonUint(devnetJson, ".genesis_time"));
        period = uint64(vm.parseJsonUint(devnetJson, ".period"));
        beacon = new DrandBeacon(vm.parseJsonBytes(devnetJson, ".public_key_eip2537"), genesis, period);
        _deploy(beacon);
        // Round 11 is current; the devnet fixture covers timestamps up to genesis + 63 periods.
        vm.warp(genesis + 30);
        vm.label(proposer, "proposer");
    }

    function _deploy(DrandBeacon beacon_) internal {
        _deploy(beacon_, _defaultParams());
    }

    function _deploy(DrandBeacon beacon_, ISettlement.Params memory params) internal {
        token = new RollToken(address(this));
        stakes = new StakeManager(token, COOLDOWN, [MIN_MINER, MIN_VALIDATOR, MIN_EVALUATOR], address(this));
        board = new TaskBoard(token, beacon_, MAX_TASK, MIN_AUDIT, address(this));
        settlement = new Settlement(token, stakes, board, beacon_, params);
        stakes.setSettlement(address(settlement));
        board.setSettlement(address(settlement));
        disputes = new Disputes(settlement, _disputeParams(beacon_.period() + board.BEACON_LAG()));
        settlement.setDisputes(address(disputes));
    }

    function _defaultParams() internal pure returns (ISettlement.Params memory) {
        return ISettlement.Params({
            committeeSeats: SEATS,
            quorumBps: QUORUM_BPS,
            supermajorityBps: SUPER_BPS,
            validatorFeeBps: FEE_BPS,
            baseShareBps: BASE_BPS,
            deterrenceBps: DETER_BPS,
            forcedErrorOdds: ODDS,
            validatorBond: BOND,
            jackpot: JACKPOT
        });
    }

    /// @dev The jury's commit window covers the jury round's delay (the beacon period plus TaskBoard's BEACON_LAG)
    /// and the audit time, whatever the beacon's period.
    function _disputeParams(uint64 roundDelay) internal pure returns (IDisputes.Params memory) {
        uint64 minCommit = roundDelay + MIN_AUDIT;
        return IDisputes.Params({
            disputeWindow: DISPUTE_WINDOW,
            commitWindow: minCommit > JURY_COMMIT_WINDOW ? minCommit : JURY_COMMIT_WINDOW,
            revealWindow: JURY_REVEAL_WINDOW,
            jurorFeeBps: JUROR_FEE_BPS
        });
    }

    /// @dev Records `round` unless it already is.
    function _ensureRound(uint64 round) internal {
        if (beacon.randomness(round) == bytes32(0)) _recordRound(round);
    }

    // ------------------------------------------------------------------ beacons

    /// @dev Records devnet round `round` (1..64) on the beacon with its real BLS signature.
    function _recordRound(uint64 round) internal {
        string memory base = string.concat(".beacons[", vm.toString(round - 1), "]");
        assertEq(vm.parseJsonUint(devnetJson, string.concat(base, ".round")), round, "fixture round order");
        beacon.recordBeacon(
            round,
            vm.parseJsonBytes(devnetJson, string.concat(base, ".signature")),
            vm.parseJsonBytes(devnetJson, string.concat(base, ".signature_point"))
        );
    }

    // -------------------------------------------------------------------- actors

    function _fund(address who, uint256 amount) internal {
        token.mint(who, amount);
    }

    function _stake(address who, uint8 role, uint256 amount) internal {
        token.mint(who, amount);
        vm.startPrank(who);
        token.approve(address(stakes), amount);
        stakes.stake(role, amount);
        vm.stopPrank();
    }

    function _actor(string memory name, uint256 i) internal returns (address a) {
        a = address(uint160(uint256(keccak256(abi.encode(name, i)))));
        vm.label(a, string.concat(name, vm.toString(i)));
    }

    // --------------------------------------------------------------------- tasks

    /// @dev Deadlines from now: join +10 s, commit +20 s, verdict +40 s (the challenge round comes at least
    /// BEACON_LAG after the commit deadline, then MIN_AUDIT), verify +55 s (MIN_REVEAL_WINDOW and more).
    function _params(uint256 reward) internal view returns (ITaskBoard.TaskParams memory p) {
        uint64 t = uint64(block.timestamp);
        p = ITaskBoard.TaskParams({
            envId: keccak256("basic_arithmetic"),
            difficulty: 1,
            numProblems: P,
            rolloutsPerProblem: G,
            maxTokens: 64,
            temperatureMilli: 700,
            baseModelHash: keccak256("SmolLM2-135M-Instruct"),
            reward: reward,
            joinDeadline: t + 10,
            commitDeadline: t + 20,
            verdictDeadline: t + 40,
            verifyDeadline: t + 55,
            maxMiners: MAX_MINERS,
            auditRollouts: 2,
            auditPositions: 0,
            logprobTolNano: 500_000,
            edgeSlackNano: 10_000,
            dtype: 0,
            tokenizerHash: keccak256("SmolLM2-135M-Instruct tokenizer")
        });
    }

    function _post(ITaskBoard.TaskParams memory p) internal returns (uint256 taskId) {
        token.mint(proposer, p.reward);
        vm.startPrank(proposer);
        token.approve(address(board), p.reward);
        taskId = board.postTask(p);
        vm.stopPrank();
    }

    function _postDefault() internal returns (uint256) {
        return _post(_params(REWARD));
    }

    function _task(uint256 taskId) internal view returns (ITaskBoard.Task memory) {
        return board.getTask(taskId);
    }

    function _root(address miner) internal pure returns (bytes32) {
        return keccak256(abi.encode("root", miner));
    }

    function _secret(uint256 taskId, address miner) internal pure returns (bytes32) {
        return keccak256(abi.encode("secret", taskId, miner));
    }

    function _join(uint256 taskId, address miner) internal {
        vm.prank(miner);
        settlement.join(
            taskId,
            keccak256(abi.encode("adapter", miner)),
            keccak256(abi.encode(taskId, miner, _secret(taskId, miner)))
        );
    }

    function _joinAndCommit(uint256 taskId, address miner) internal {
        _join(taskId, miner);
        vm.prank(miner);
        settlement.commit(taskId, _root(miner), P * G);
    }

    function _pass(address miner, uint64 score) internal pure returns (ISettlement.Verdict memory) {
        return ISettlement.Verdict({
            miner: miner,
            vote: ISettlement.Vote.PASS,
            score: score,
            audited: 2,
            rolloutIndex: 0,
            position: 0,
            check: ISettlement.Check.NONE
        });
    }

    function _fail(address miner) internal pure returns (ISettlement.Verdict memory) {
        return ISettlement.Verdict({
            miner: miner,
            vote: ISettlement.Vote.FAIL,
            score: 0,
            audited: 2,
            rolloutIndex: 1,
            position: 7,
            check: ISettlement.Check.TOKEN
        });
    }

    function _unavailable(address miner) internal pure returns (ISettlement.Verdict memory) {
        return ISettlement.Verdict({
            miner: miner,
            vote: ISettlement.Vote.UNAVAILABLE,
            score: 0,
            audited: 0,
            rolloutIndex: 0,
            position: 0,
            check: ISettlement.Check.NONE
        });
    }

    function _verdict(address miner, bool pass, uint64 score)
        internal
        pure
        returns (ISettlement.Verdict memory)
    {
        return pass ? _pass(miner, score) : _fail(miner);
    }

    function _salt(address validator) internal pure returns (bytes32) {
        return keccak256(abi.encode("salt", validator));
    }

    function _commitVerdict(uint256 taskId, address validator, ISettlement.Verdict[] memory verdicts)
        internal
    {
        bytes32 h = keccak256(abi.encode(taskId, validator, verdicts, _salt(validator)));
        vm.prank(validator);
        settlement.commitVerdict(taskId, h);
    }

    function _reveal(uint256 taskId, address validator, ISettlement.Verdict[] memory verdicts) internal {
        vm.prank(validator);
        settlement.revealVerdict(taskId, verdicts, _salt(validator));
    }

    function _toCommitWindow(uint256 taskId) internal {
        vm.warp(_task(taskId).params.joinDeadline + 1);
    }

    /// @dev To the challenge round's time (after the commit deadline) with the challenge beacon recorded: the
    /// committee is known from here on.
    function _toVerdictWindow(uint256 taskId) internal {
        ITaskBoard.Task memory t = _task(taskId);
        uint64 challengeTime = board.roundTime(t.challengeRound);
        if (block.timestamp < challengeTime) vm.warp(challengeTime);
        _ensureRound(t.challengeRound);
    }

    function _toRevealWindow(uint256 taskId) internal {
        vm.warp(_task(taskId).params.verdictDeadline + 1);
    }

    /// @dev A secret that is (or is not) forced under task `taskId`'s seed beacon, which it records. Tests may
    /// record a beacon early (the fixture holds signed rounds); on a real chain it is unknown at join.
    function _secretWith(uint256 taskId, bool forced) internal returns (bytes32 secret) {
        uint64 seedRound = _task(taskId).seedRound;
        _ensureRound(seedRound);
        bytes32 seed = beacon.randomness(seedRound);
        for (uint256 i = 0;; ++i) {
            secret = keccak256(abi.encode("try", taskId, i));
            if (settlement.isForced(secret, seed) == forced) return secret;
        }
    }

    function _joinWithSecret(uint256 taskId, address miner, bytes32 secret) internal {
        vm.prank(miner);
        settlement.join(
            taskId, keccak256(abi.encode("adapter", miner)), keccak256(abi.encode(taskId, miner, secret))
        );
        vm.prank(miner);
        settlement.commit(taskId, _root(miner), P * G);
    }

    /// @dev Past the dispute deadline too, so a task with FAILED miners that nobody disputed finalizes.
    function _toFinalize(uint256 taskId) internal {
        ITaskBoard.Task memory t = _task(taskId);
        vm.warp(t.params.verifyDeadline + DISPUTE_WINDOW + 1);
        _ensureRound(t.challengeRound);
    }

    function _one(ISettlement.Verdict memory v) internal pure returns (ISettlement.Verdict[] memory a) {
        a = new ISettlement.Verdict[](1);
        a[0] = v;
    }

    function _two(ISettlement.Verdict memory v0, ISettlement.Verdict memory v1)
        internal
        pure
        returns (ISettlement.Verdict[] memory a)
    {
        a = new ISettlement.Verdict[](2);
        a[0] = v0;
        a[1] = v1;
    }

    /// @dev A rollout leaf of `miner` at (p, g) with placeholder hashes: what the fraud-proof tests commit and open.
    function _rolloutLeaf(uint256 taskId, address miner, uint32 p, uint32 g, uint64 reward)
        internal
        pure
        returns (ISettlement.Leaf memory)
    {
        return ISettlement.Leaf({
            taskId: taskId,
            miner: miner,
            p: p,
            g: g,
            tokensHash: keccak256(abi.encode("tokens", p, g)),
            logprobsHash: keccak256(abi.encode("logprobs", p, g)),
            claimedReward: reward
        });
    }
}
