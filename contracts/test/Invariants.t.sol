// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Fixture} from "./utils/Fixture.sol";
import {Vm, Assertions, Log} from "./utils/Vm.sol";
import {RollToken} from "../src/RollToken.sol";
import {StakeManager} from "../src/StakeManager.sol";
import {TaskBoard} from "../src/TaskBoard.sol";
import {Settlement} from "../src/Settlement.sol";
import {DrandBeacon} from "../src/DrandBeacon.sol";
import {ISettlement} from "../src/interfaces/ISettlement.sol";
import {ITaskBoard} from "../src/interfaces/ITaskBoard.sol";

/// @dev Drives the whole task lifecycle with fuzzed order and timing: posts, joins, commits, verdict
/// commit/reveal, finalize, claims, cancels, stake moves and time. Miners 0..2 are honest, miner 3 cheats;
/// validators 0 and 1 (the stake majority) are honest, validator 2 passes everyone. Ghost variables
/// record what the invariants need.
contract Handler is Assertions {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
    uint8 internal constant MINER = 0;
    uint8 internal constant VALIDATOR = 1;
    uint256 internal constant NUM_MINERS = 4;
    uint256 internal constant NUM_VALIDATORS = 3;
    uint256 internal constant CHEATER = 3;

    RollToken public token;
    StakeManager public stakes;
    TaskBoard public board;
    Settlement public settlement;
    DrandBeacon public beacon;
    string internal devnetJson;

    address[] public actors; // miners, then validators, then the proposer
    address public proposer;
    uint256[] public tasks;

    mapping(address => uint256) public ghostCredited;
    mapping(address => uint256) public ghostClaimed;
    uint256 public ghostSlashOverStake;
    uint256 public ghostHonestPassedSlashed;
    uint256 public ghostFinalized;
    uint256 public ghostCheaterSlashes;
    mapping(uint256 taskId => mapping(address validator => ISettlement.Verdict[])) internal _verdicts;

    constructor(
        RollToken token_,
        StakeManager stakes_,
        TaskBoard board_,
        Settlement settlement_,
        DrandBeacon beacon_,
        string memory devnetJson_
    ) {
        token = token_;
        stakes = stakes_;
        board = board_;
        settlement = settlement_;
        beacon = beacon_;
        devnetJson = devnetJson_;
        for (uint256 i = 0; i < NUM_MINERS + NUM_VALIDATORS; ++i) {
            actors.push(address(uint160(0x1000 + i)));
        }
        proposer = address(0x2000);
        actors.push(proposer);
    }

    function miner(uint256 i) public view returns (address) {
        return actors[i];
    }

    function validator(uint256 i) public view returns (address) {
        return actors[NUM_MINERS + i];
    }

    function actorCount() external view returns (uint256) {
        return actors.length;
    }

    function taskCount() external view returns (uint256) {
        return tasks.length;
    }

    function _pickTask(uint256 seed)
        internal
        view
        returns (bool ok, uint256 taskId, ITaskBoard.Task memory t)
    {
        if (tasks.length == 0) {
            return (false, 0, t);
        }
        taskId = tasks[seed % tasks.length];
        t = board.getTask(taskId);
        ok = t.status == ITaskBoard.TaskStatus.OPEN;
    }

    // ---------------------------------------------------------------- actions

    function warp(uint256 secs) external {
        vm.warp(block.timestamp + bound(secs, 1, 10));
    }

    /// @dev Every action lets a second pass, so runs of depth 32 live through whole tasks.
    function _tick() internal {
        vm.warp(block.timestamp + 1);
    }

    function post(uint256 rewardSeed, uint256 shapeSeed) external {
        _tick();
        _post(rewardSeed, shapeSeed);
    }

    /// A whole task in one step: random miners join and commit, random validators commit and reveal at
    /// random times inside their windows, then finalize. Interleaves with the single-step actions.
    function lifecycle(uint256 seed) external {
        uint256 taskId = _post(seed, seed >> 8);
        if (taskId == 0) return;
        ITaskBoard.Task memory t = board.getTask(taskId);
        for (uint256 i = 0; i < NUM_MINERS; ++i) {
            if ((seed >> (16 + i)) & 1 == 1) _join(taskId, t, i);
        }
        vm.warp(t.params.joinDeadline + 1);
        for (uint256 i = 0; i < NUM_MINERS; ++i) {
            if ((seed >> (20 + i)) & 1 == 1) _commit(taskId, t, i);
        }
        vm.warp(
            t.params.commitDeadline + 1 + (seed >> 24) % (t.params.verdictDeadline - t.params.commitDeadline)
        );
        for (uint256 j = 0; j < NUM_VALIDATORS; ++j) {
            if ((seed >> (32 + j)) & 1 == 1) _commitVerdict(taskId, t, j);
        }
        vm.warp(
            t.params.verdictDeadline + 1 + (seed >> 40) % (t.params.verifyDeadline - t.params.verdictDeadline)
        );
        for (uint256 j = 0; j < NUM_VALIDATORS; ++j) {
            if ((seed >> (48 + j)) & 1 == 1) _reveal(taskId, t, j);
        }
        vm.warp(t.params.verifyDeadline + 1);
        _finalize(taskId, t);
    }

    function _post(uint256 rewardSeed, uint256 shapeSeed) internal returns (uint256 taskId) {
        if (tasks.length >= 6) return 0;
        uint256 reward = bound(rewardSeed, 1, 1000e18);
        uint64 t = uint64(block.timestamp);
        uint64 step = uint64(bound(shapeSeed, 2, 6));
        ITaskBoard.TaskParams memory p = ITaskBoard.TaskParams({
            envId: keccak256("chain_sum"),
            difficulty: 1,
            numProblems: 1,
            rolloutsPerProblem: 2,
            maxTokens: 32,
            temperatureMilli: 700,
            baseModelHash: keccak256("model"),
            reward: reward,
            joinDeadline: t + step,
            commitDeadline: t + 2 * step,
            verdictDeadline: t + 3 * step,
            verifyDeadline: t + 4 * step
        });
        vm.startPrank(proposer);
        token.approve(address(board), reward);
        taskId = board.postTask(p);
        tasks.push(taskId);
        vm.stopPrank();
    }

    function join(uint256 taskSeed, uint256 minerSeed) external {
        _tick();
        (bool ok, uint256 taskId, ITaskBoard.Task memory t) = _pickTask(taskSeed);
        if (ok) _join(taskId, t, minerSeed);
    }

    function _join(uint256 taskId, ITaskBoard.Task memory t, uint256 minerSeed) internal {
        address who = miner(minerSeed % NUM_MINERS);
        if (block.timestamp > t.params.joinDeadline || !stakes.isStaked(who, MINER)) return;
        if (settlement.minerState(taskId, who).joined) return;
        vm.prank(who);
        settlement.join(taskId, keccak256(abi.encode(who)));
    }

    function commit(uint256 taskSeed, uint256 minerSeed) external {
        _tick();
        (bool ok, uint256 taskId, ITaskBoard.Task memory t) = _pickTask(taskSeed);
        if (ok) _commit(taskId, t, minerSeed);
    }

    function _commit(uint256 taskId, ITaskBoard.Task memory t, uint256 minerSeed) internal {
        address who = miner(minerSeed % NUM_MINERS);
        ISettlement.MinerState memory s = settlement.minerState(taskId, who);
        if (block.timestamp > t.params.commitDeadline || !s.joined || s.committed) return;
        vm.prank(who);
        settlement.commit(taskId, keccak256(abi.encode(taskId, who)), 2);
    }

    function commitVerdict(uint256 taskSeed, uint256 validatorSeed) external {
        _tick();
        (bool ok, uint256 taskId, ITaskBoard.Task memory t) = _pickTask(taskSeed);
        if (ok) _commitVerdict(taskId, t, validatorSeed);
    }

    function _commitVerdict(uint256 taskId, ITaskBoard.Task memory t, uint256 validatorSeed) internal {
        uint256 vi = validatorSeed % NUM_VALIDATORS;
        address who = validator(vi);
        if (block.timestamp <= t.params.commitDeadline || block.timestamp > t.params.verdictDeadline) {
            return;
        }
        if (!stakes.isStaked(who, VALIDATOR) || settlement.validatorState(taskId, who).commitHash != 0) {
            return;
        }
        ISettlement.Verdict[] storage list = _verdicts[taskId][who];
        address[] memory miners = settlement.getMiners(taskId);
        for (uint256 i = 0; i < miners.length; ++i) {
            if (!settlement.minerState(taskId, miners[i]).committed) continue;
            bool cheater = miners[i] == miner(CHEATER);
            // Honest validators fail the cheater; validator 2 is bribed and passes everyone.
            bool pass = vi == 2 || !cheater;
            uint64 score = uint64(bound(uint256(keccak256(abi.encode(taskId, miners[i]))), 0, 1e6));
            list.push(ISettlement.Verdict({miner: miners[i], pass: pass, score: score, audited: 1}));
        }
        vm.prank(who);
        settlement.commitVerdict(taskId, keccak256(abi.encode(taskId, who, list, bytes32(vi))));
    }

    function reveal(uint256 taskSeed, uint256 validatorSeed) external {
        _tick();
        (bool ok, uint256 taskId, ITaskBoard.Task memory t) = _pickTask(taskSeed);
        if (ok) _reveal(taskId, t, validatorSeed);
    }

    function _reveal(uint256 taskId, ITaskBoard.Task memory t, uint256 validatorSeed) internal {
        uint256 vi = validatorSeed % NUM_VALIDATORS;
        address who = validator(vi);
        if (block.timestamp <= t.params.verdictDeadline || block.timestamp > t.params.verifyDeadline) {
            return;
        }
        ISettlement.ValidatorState memory s = settlement.validatorState(taskId, who);
        if (s.commitHash == 0 || s.revealed || !stakes.isStaked(who, VALIDATOR)) return;
        vm.prank(who);
        settlement.revealVerdict(taskId, _verdicts[taskId][who], bytes32(vi));
    }

    function finalize(uint256 taskSeed) external {
        _tick();
        (bool ok, uint256 taskId, ITaskBoard.Task memory t) = _pickTask(taskSeed);
        if (ok) _finalize(taskId, t);
    }

    function _finalize(uint256 taskId, ITaskBoard.Task memory t) internal {
        if (block.timestamp <= t.params.verifyDeadline) return;
        _record(t.challengeRound);

        uint256[] memory stakeBefore = new uint256[](NUM_MINERS);
        for (uint256 i = 0; i < NUM_MINERS; ++i) {
            stakeBefore[i] = stakes.activeStake(miner(i), MINER) + stakes.coolingStake(miner(i), MINER);
        }
        uint256[] memory claimableBefore = new uint256[](actors.length);
        for (uint256 i = 0; i < actors.length; ++i) {
            claimableBefore[i] = settlement.claimable(actors[i]);
        }

        settlement.finalize(taskId);
        ghostFinalized += 1;

        for (uint256 i = 0; i < actors.length; ++i) {
            ghostCredited[actors[i]] += settlement.claimable(actors[i]) - claimableBefore[i];
        }
        for (uint256 i = 0; i < NUM_MINERS; ++i) {
            ISettlement.MinerState memory s = settlement.minerState(taskId, miner(i));
            uint256 stakeAfter = stakes.activeStake(miner(i), MINER) + stakes.coolingStake(miner(i), MINER);
            if (s.slashed > stakeBefore[i] || stakeBefore[i] - stakeAfter != s.slashed) {
                ghostSlashOverStake += 1;
            }
            if (i != CHEATER && s.outcome == ISettlement.Outcome.PASSED && stakeAfter < stakeBefore[i]) {
                ghostHonestPassedSlashed += 1;
            }
            if (i == CHEATER && s.slashed != 0) ghostCheaterSlashes += 1;
        }
    }

    /// @dev Used by the test's afterInvariant only (calling it early is harmless: it checks the deadline).
    function finalizeTask(uint256 k) external {
        if (k >= tasks.length) return;
        uint256 taskId = tasks[k];
        ITaskBoard.Task memory t = board.getTask(taskId);
        if (t.status == ITaskBoard.TaskStatus.OPEN) _finalize(taskId, t);
    }

    function claim(uint256 actorSeed) external {
        _tick();
        address who = actors[actorSeed % actors.length];
        uint256 owed = settlement.claimable(who);
        if (owed == 0) return;
        vm.prank(who);
        ghostClaimed[who] += settlement.claim();
    }

    /// A double claim in the same step must revert and pay nothing.
    function claimTwice(uint256 actorSeed) external {
        address who = actors[actorSeed % actors.length];
        if (settlement.claimable(who) == 0) return;
        vm.prank(who);
        ghostClaimed[who] += settlement.claim();
        vm.prank(who);
        try settlement.claim() returns (uint256 again) {
            ghostClaimed[who] += again;
        } catch {}
    }

    function cancel(uint256 taskSeed) external {
        _tick();
        (bool ok, uint256 taskId,) = _pickTask(taskSeed);
        if (!ok) return;
        vm.prank(proposer);
        try board.cancelTask(taskId) {} catch {}
    }

    function stakeMore(uint256 actorSeed, uint256 amount) external {
        uint256 i = actorSeed % (NUM_MINERS + NUM_VALIDATORS);
        uint8 role = i < NUM_MINERS ? MINER : VALIDATOR;
        amount = bound(amount, 1, 50e18);
        address who = actors[i];
        if (token.balanceOf(who) < amount) return;
        vm.startPrank(who);
        token.approve(address(stakes), amount);
        stakes.stake(role, amount);
        vm.stopPrank();
    }

    function unstake(uint256 actorSeed, uint256 amount) external {
        uint256 i = actorSeed % (NUM_MINERS + NUM_VALIDATORS);
        uint8 role = i < NUM_MINERS ? MINER : VALIDATOR;
        address who = actors[i];
        uint256 active = stakes.activeStake(who, role);
        if (active == 0) return;
        vm.prank(who);
        stakes.requestUnstake(role, bound(amount, 1, active));
    }

    function withdraw(uint256 actorSeed) external {
        uint256 i = actorSeed % (NUM_MINERS + NUM_VALIDATORS);
        uint8 role = i < NUM_MINERS ? MINER : VALIDATOR;
        address who = actors[i];
        if (stakes.coolingStake(who, role) == 0 || block.timestamp < stakes.cooldownEnd(who, role)) return;
        vm.prank(who);
        stakes.withdraw(role);
    }

    function _record(uint64 round) internal {
        if (beacon.randomness(round) != 0) return;
        string memory base = string.concat(".beacons[", vm.toString(round - 1), "]");
        beacon.recordBeacon(
            round,
            vm.parseJsonBytes(devnetJson, string.concat(base, ".signature")),
            vm.parseJsonBytes(devnetJson, string.concat(base, ".signature_point"))
        );
    }
}

contract InvariantsTest is Fixture {
    Handler internal handler;
    address[] internal _targets;

    function setUp() public override {
        devnetJson = vm.readFile("contracts/test/fixtures/devnet_beacons.json");
        // Beacon signatures cover the round number only, so the devnet key works with any genesis and
        // period; a 60 s period keeps every round a fuzzed run can reach within the 64 signed rounds.
        genesis = uint64(vm.parseJsonUint(devnetJson, ".genesis_time"));
        period = 60;
        beacon = new DrandBeacon(vm.parseJsonBytes(devnetJson, ".public_key_eip2537"), genesis, period);
        _deploy(beacon);
        vm.warp(genesis + 1);
        handler = new Handler(token, stakes, board, settlement, beacon, devnetJson);
        for (uint256 i = 0; i < 4; ++i) {
            _stake(handler.miner(i), MINER, MIN_MINER);
            _fund(handler.miner(i), 100e18);
        }
        // Honest validators 0 and 1 hold the stake majority over the bribed validator 2.
        _stake(handler.validator(0), VALIDATOR, 300e18);
        _stake(handler.validator(1), VALIDATOR, 200e18);
        _stake(handler.validator(2), VALIDATOR, 150e18);
        _fund(handler.validator(0), 100e18);
        _fund(handler.proposer(), 10_000e18);
        _targets.push(address(handler));
    }

    /// @dev Called by forge after each run; shows how far runs get (forge test -vv).
    /// Every run ends with all tasks finalized, and the invariants still hold after that.
    function afterInvariant() public {
        Log.log("finalized during the run", handler.ghostFinalized());
        Log.log("cheater slashes during the run", handler.ghostCheaterSlashes());
        // Not a handler action, so the fuzzer cannot jump a day ahead mid-run.
        vm.warp(block.timestamp + 1 days);
        for (uint256 k = 0; k < handler.taskCount(); ++k) {
            if (board.taskStatus(handler.tasks(k)) == ITaskBoard.TaskStatus.OPEN) handler.finalizeTask(k);
        }
        for (uint256 k = 0; k < handler.taskCount(); ++k) {
            assertTrue(board.taskStatus(handler.tasks(k)) != ITaskBoard.TaskStatus.OPEN, "every task settled");
        }
        invariant_TokensAreConserved();
        invariant_NothingClaimedTwice();
        invariant_NoSlashExceedsStake();
        invariant_HonestPassedMinerIsNeverSlashed();
    }

    /// @dev Read by forge: fuzz only the handler.
    function targetContracts() public view returns (address[] memory) {
        return _targets;
    }

    function _sumStakes() internal view returns (uint256 sum) {
        for (uint256 i = 0; i < handler.actorCount(); ++i) {
            address a = handler.actors(i);
            for (uint8 r = 0; r < 3; ++r) {
                sum += stakes.activeStake(a, r) + stakes.coolingStake(a, r);
            }
        }
    }

    function _sumEscrow() internal view returns (uint256 sum) {
        for (uint256 id = 1; id <= board.taskCount(); ++id) {
            sum += board.escrowOf(id);
        }
    }

    function _sumClaimable() internal view returns (uint256 sum) {
        for (uint256 i = 0; i < handler.actorCount(); ++i) {
            sum += settlement.claimable(handler.actors(i));
        }
    }

    /// Tokens are conserved: every token is in an actor's wallet, a stake, an escrow or a credit, and each
    /// contract holds exactly what its books say.
    function invariant_TokensAreConserved() public view {
        uint256 wallets;
        for (uint256 i = 0; i < handler.actorCount(); ++i) {
            wallets += token.balanceOf(handler.actors(i));
        }
        assertEq(token.balanceOf(address(stakes)), _sumStakes(), "StakeManager holds the stakes");
        assertEq(token.balanceOf(address(board)), _sumEscrow(), "TaskBoard holds the open escrows");
        assertEq(token.balanceOf(address(settlement)), _sumClaimable(), "Settlement holds the credits");
        assertEq(
            wallets + _sumStakes() + _sumEscrow() + _sumClaimable(),
            token.totalSupply(),
            "balances + stakes + ..."
        );
    }

    /// Nothing is claimed twice: what an actor withdrew plus what it still may claim is what it was credited.
    function invariant_NothingClaimedTwice() public view {
        for (uint256 i = 0; i < handler.actorCount(); ++i) {
            address a = handler.actors(i);
            assertEq(
                handler.ghostClaimed(a) + settlement.claimable(a),
                handler.ghostCredited(a),
                "claimed + owed == credited"
            );
        }
    }

    /// No slash exceeds the stake, and each slash reduced the stake by exactly the recorded amount.
    function invariant_NoSlashExceedsStake() public view {
        assertEq(handler.ghostSlashOverStake(), 0, "slash over stake");
    }

    /// An honest miner that passed is never slashed.
    function invariant_HonestPassedMinerIsNeverSlashed() public view {
        assertEq(handler.ghostHonestPassedSlashed(), 0, "honest passed miner slashed");
        for (uint256 k = 0; k < handler.taskCount(); ++k) {
            uint256 id = handler.tasks(k);
            for (uint256 i = 0; i < 3; ++i) {
                ISettlement.MinerState memory s = settlement.minerState(id, handler.miner(i));
                assertTrue(s.outcome != ISettlement.Outcome.FAILED, "an honest miner failed");
                assertEq(s.slashed, 0, "an honest miner was slashed");
            }
        }
    }
}
