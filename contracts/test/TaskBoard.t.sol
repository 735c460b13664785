// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Fixture} from "./utils/Fixture.sol";
import {TaskBoard} from "../src/TaskBoard.sol";
import {ITaskBoard} from "../src/interfaces/ITaskBoard.sol";
import {IDrandBeacon} from "../src/interfaces/IDrandBeacon.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

contract TaskBoardTest is Fixture {
    event TaskPosted(
        uint256 indexed taskId,
        address indexed proposer,
        bytes32 indexed envId,
        uint256 reward,
        uint64 seedRound,
        uint64 challengeRound
    );
    event TaskCancelled(uint256 indexed taskId, address indexed proposer, uint256 refund);
    event EscrowReleased(uint256 indexed taskId, uint256 amount);

    address internal miner = address(0x111);

    function _expectPostRevert(ITaskBoard.TaskParams memory p, bytes memory err) internal {
        token.mint(proposer, p.reward);
        vm.startPrank(proposer);
        token.approve(address(board), p.reward);
        vm.expectRevert(err);
        board.postTask(p);
        vm.stopPrank();
    }

    // ------------------------------------------------------------ constructor

    function test_Constructor_SetsParameters() public view {
        assertEq(board.token(), address(token), "token");
        assertEq(board.beacon(), address(beacon), "beacon");
        assertEq(board.maxTaskDuration(), MAX_TASK, "max duration");
        assertEq(board.settlement(), address(settlement), "settlement");
        assertEq(board.taskCount(), 0, "no tasks");
    }

    function test_Constructor_RevertsOnZeroAddresses() public {
        vm.expectRevert(ITaskBoard.ZeroAddress.selector);
        new TaskBoard(IERC20(address(0)), beacon, MAX_TASK, MIN_AUDIT, address(this));
        vm.expectRevert(ITaskBoard.ZeroAddress.selector);
        new TaskBoard(token, IDrandBeacon(address(0)), MAX_TASK, MIN_AUDIT, address(this));
    }

    function test_Constructor_RevertsOnZeroDuration() public {
        vm.expectRevert(ITaskBoard.ZeroDuration.selector);
        new TaskBoard(token, beacon, 0, MIN_AUDIT, address(this));
    }

    function test_SetSettlement_OnlyOwnerOnceNonZero() public {
        TaskBoard fresh = new TaskBoard(token, beacon, MAX_TASK, MIN_AUDIT, address(this));
        vm.prank(miner);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, miner));
        fresh.setSettlement(miner);
        vm.expectRevert(ITaskBoard.ZeroAddress.selector);
        fresh.setSettlement(address(0));
        fresh.setSettlement(address(settlement));
        vm.expectRevert(abi.encodeWithSelector(ITaskBoard.SettlementAlreadySet.selector, address(settlement)));
        fresh.setSettlement(miner);
    }

    // --------------------------------------------------------------- postTask

    function test_PostTask_StoresTaskEscrowsAndDerivesRounds() public {
        ITaskBoard.TaskParams memory p = _params(REWARD);
        // Each round is the first published more than BEACON_LAG (one 12 s slot) after its deadline.
        uint64 lag = board.BEACON_LAG();
        uint64 seed = (p.joinDeadline + lag - genesis) / period + 2;
        uint64 challenge = (p.commitDeadline + lag - genesis) / period + 2;
        token.mint(proposer, REWARD);
        vm.startPrank(proposer);
        token.approve(address(board), REWARD);
        vm.expectEmit(true, true, true, true, address(board));
        emit TaskPosted(1, proposer, p.envId, REWARD, seed, challenge);
        uint256 taskId = board.postTask(p);
        vm.stopPrank();

        assertEq(taskId, 1, "first id is 1");
        assertEq(board.taskCount(), 1, "count");
        ITaskBoard.Task memory t = board.getTask(taskId);
        assertEq(t.proposer, proposer, "proposer");
        assertEq(t.postedAt, block.timestamp, "postedAt");
        assertEq(t.seedRound, seed, "seed round");
        assertEq(t.challengeRound, challenge, "challenge round");
        assertEq(uint256(t.status), uint256(ITaskBoard.TaskStatus.OPEN), "open");
        assertEq(keccak256(abi.encode(t.params)), keccak256(abi.encode(p)), "params stored verbatim");
        assertEq(board.escrowOf(taskId), REWARD, "escrow");
        assertEq(token.balanceOf(address(board)), REWARD, "tokens held");
        assertEq(uint256(board.taskStatus(taskId)), uint256(ITaskBoard.TaskStatus.OPEN), "status view");
        assertEq(_post(_params(1)), 2, "ids increase");
    }

    function test_PostTask_RevertsBeforeSettlementIsSet() public {
        TaskBoard fresh = new TaskBoard(token, beacon, MAX_TASK, MIN_AUDIT, address(this));
        vm.expectRevert(ITaskBoard.SettlementNotSet.selector);
        fresh.postTask(_params(REWARD));
    }

    function test_PostTask_RevertsOnEmptySizes() public {
        ITaskBoard.TaskParams memory p = _params(REWARD);
        p.numProblems = 0;
        _expectPostRevert(p, abi.encodeWithSelector(ITaskBoard.InvalidTaskSize.selector, 0, G, 64));
        p = _params(REWARD);
        p.rolloutsPerProblem = 0;
        _expectPostRevert(p, abi.encodeWithSelector(ITaskBoard.InvalidTaskSize.selector, P, 0, 64));
        p = _params(REWARD);
        p.maxTokens = 0;
        _expectPostRevert(p, abi.encodeWithSelector(ITaskBoard.InvalidTaskSize.selector, P, G, 0));
    }

    /// A task longer than any node accepts from the network would hold its escrow and nobody could run it.
    function test_PostTask_RevertsAboveMaxTokens() public {
        ITaskBoard.TaskParams memory p = _params(REWARD);
        p.maxTokens = board.MAX_TOKENS() + 1;
        _expectPostRevert(p, abi.encodeWithSelector(ITaskBoard.InvalidTaskSize.selector, P, G, p.maxTokens));
        p.maxTokens = board.MAX_TOKENS();
        _post(p);
    }

    function test_PostTask_RevertsWhenRolloutCountOverflowsUint32() public {
        ITaskBoard.TaskParams memory p = _params(REWARD);
        p.numProblems = 65536;
        p.rolloutsPerProblem = 65536;
        _expectPostRevert(p, abi.encodeWithSelector(ITaskBoard.InvalidTaskSize.selector, 65536, 65536, 64));
    }

    function test_PostTask_RevertsOnZeroTemperatureAndReward() public {
        ITaskBoard.TaskParams memory p = _params(REWARD);
        p.temperatureMilli = 0;
        _expectPostRevert(p, abi.encodeWithSelector(ITaskBoard.ZeroTemperature.selector));
        _expectPostRevert(_params(0), abi.encodeWithSelector(ITaskBoard.ZeroReward.selector));
    }

    function test_PostTask_RevertsOnDeadlinesNotIncreasing() public {
        ITaskBoard.TaskParams memory p = _params(REWARD);
        p.commitDeadline = p.joinDeadline;
        _expectPostRevert(
            p,
            abi.encodeWithSelector(
                ITaskBoard.DeadlinesNotIncreasing.selector,
                p.joinDeadline,
                p.commitDeadline,
                p.verdictDeadline,
                p.verifyDeadline
            )
        );
        p = _params(REWARD);
        p.verdictDeadline = p.commitDeadline;
        _expectPostRevert(
            p,
            abi.encodeWithSelector(
                ITaskBoard.DeadlinesNotIncreasing.selector,
                p.joinDeadline,
                p.commitDeadline,
                p.verdictDeadline,
                p.verifyDeadline
            )
        );
        p = _params(REWARD);
        p.verifyDeadline = p.verdictDeadline - 1;
        _expectPostRevert(
            p,
            abi.encodeWithSelector(
                ITaskBoard.DeadlinesNotIncreasing.selector,
                p.joinDeadline,
                p.commitDeadline,
                p.verdictDeadline,
                p.verifyDeadline
            )
        );
    }

    function test_PostTask_RevertsWhenJoinDeadlineIsNotInFuture() public {
        ITaskBoard.TaskParams memory p = _params(REWARD);
        p.joinDeadline = uint64(block.timestamp);
        _expectPostRevert(
            p,
            abi.encodeWithSelector(
                ITaskBoard.JoinDeadlineNotInFuture.selector, p.joinDeadline, uint64(block.timestamp)
            )
        );
    }

    function test_PostTask_RevertsWhenTooLong() public {
        ITaskBoard.TaskParams memory p = _params(REWARD);
        p.verifyDeadline = uint64(block.timestamp) + MAX_TASK + 1;
        _expectPostRevert(
            p,
            abi.encodeWithSelector(ITaskBoard.TaskTooLong.selector, uint256(MAX_TASK) + 1, uint256(MAX_TASK))
        );
        p.verifyDeadline = uint64(block.timestamp) + MAX_TASK;
        token.mint(proposer, REWARD);
        vm.startPrank(proposer);
        token.approve(address(board), REWARD);
        assertEq(board.postTask(p), 1, "exactly maxTaskDuration is allowed");
        vm.stopPrank();
    }

    function test_PostTask_RevertsBeforeBeaconGenesis() public {
        vm.warp(genesis - 100);
        ITaskBoard.TaskParams memory p = _params(REWARD);
        _expectPostRevert(
            p,
            abi.encodeWithSelector(
                ITaskBoard.BeforeBeaconGenesis.selector, p.commitDeadline + board.BEACON_LAG(), genesis
            )
        );
    }

    function test_PostTask_ChecksMaxMiners() public {
        ITaskBoard.TaskParams memory p = _params(REWARD);
        p.maxMiners = 0;
        _expectPostRevert(p, abi.encodeWithSelector(ITaskBoard.InvalidMaxMiners.selector, 0, 128));
        p.maxMiners = 129;
        _expectPostRevert(p, abi.encodeWithSelector(ITaskBoard.InvalidMaxMiners.selector, 129, 128));
        p.maxMiners = 128;
        _post(p);
    }

    function _expectBadAudit(ITaskBoard.TaskParams memory p) internal {
        _expectPostRevert(
            p,
            abi.encodeWithSelector(
                ITaskBoard.InvalidAuditParams.selector,
                p.auditRollouts,
                p.auditPositions,
                p.logprobTolNano,
                p.edgeSlackNano,
                p.dtype
            )
        );
    }

    /// RedTeam H8: tolerances below honest fp32 noise or hiding the forced error's shift are refused; the bounds
    /// themselves are accepted.
    function test_PostTask_BoundsTheTolerances() public {
        ITaskBoard.TaskParams memory p = _params(REWARD);
        p.logprobTolNano = board.MIN_LOGPROB_TOL_NANO() - 1;
        _expectBadAudit(p);
        p.logprobTolNano = board.MAX_LOGPROB_TOL_NANO() + 1;
        _expectBadAudit(p);
        p = _params(REWARD);
        p.edgeSlackNano = board.MIN_EDGE_SLACK_NANO() - 1;
        _expectBadAudit(p);
        p = _params(REWARD);
        p.logprobTolNano = board.MIN_LOGPROB_TOL_NANO();
        p.edgeSlackNano = board.MIN_EDGE_SLACK_NANO();
        _post(p);
        p = _params(REWARD);
        p.logprobTolNano = board.MAX_LOGPROB_TOL_NANO();
        _post(p);
    }

    /// RedTeam H7: a reveal window shorter than one block slot is refused; exactly one slot is accepted.
    function test_PostTask_RefusesAShortRevealWindow() public {
        ITaskBoard.TaskParams memory p = _params(REWARD);
        uint64 minimum = board.MIN_REVEAL_WINDOW();
        p.verifyDeadline = p.verdictDeadline + minimum - 1;
        _expectPostRevert(
            p, abi.encodeWithSelector(ITaskBoard.RevealWindowTooShort.selector, minimum - 1, minimum)
        );
        p.verifyDeadline = p.verdictDeadline + minimum;
        _post(p);
    }

    /// Issue 14: the audit parameters are task fields, checked at post, and stored for every node to read.
    function test_PostTask_ChecksAndStoresTheAuditParameters() public {
        ITaskBoard.TaskParams memory p = _params(REWARD);
        p.auditRollouts = 0;
        _expectBadAudit(p);
        p.auditRollouts = P * G + 1;
        _expectBadAudit(p);
        p = _params(REWARD);
        p.auditPositions = p.maxTokens + 1;
        _expectBadAudit(p);
        p = _params(REWARD);
        p.logprobTolNano = 0;
        _expectBadAudit(p);
        p = _params(REWARD);
        p.edgeSlackNano = 1e9;
        _expectBadAudit(p);
        p = _params(REWARD);
        p.dtype = 2;
        _expectBadAudit(p);
        p = _params(REWARD);
        p.auditRollouts = P * G;
        p.auditPositions = 0;
        p.dtype = 1;
        ITaskBoard.TaskParams memory stored = _task(_post(p)).params;
        assertEq(stored.auditRollouts, P * G, "m");
        assertEq(stored.auditPositions, 0, "k = all");
        assertEq(stored.logprobTolNano, 500_000, "tolerance");
        assertEq(stored.edgeSlackNano, 10_000, "slack");
        assertEq(stored.dtype, 1, "bf16");
        assertEq(stored.tokenizerHash, keccak256("SmolLM2-135M-Instruct tokenizer"), "tokenizer");
        assertEq(stored.maxMiners, MAX_MINERS, "max miners");
    }

    /// Issue 14: a proposer posting a task that names no tokenizer (tokenizerHash = 0) is refused, and nothing is
    /// escrowed; the same task naming one is posted.
    function test_PostTask_RefusesAZeroTokenizerHash() public {
        ITaskBoard.TaskParams memory p = _params(REWARD);
        p.tokenizerHash = bytes32(0);
        _expectPostRevert(p, abi.encodeWithSelector(ITaskBoard.ZeroTokenizerHash.selector));
        assertEq(board.taskCount(), 0, "nothing posted");
        assertEq(token.balanceOf(address(board)), 0, "nothing escrowed");
        p.tokenizerHash = bytes32(uint256(1));
        assertEq(_task(_post(p)).params.tokenizerHash, bytes32(uint256(1)), "any non-zero hash is accepted");
    }

    function test_RoundTime_IsTheInverseOfRoundAt() public view {
        assertEq(board.roundTime(1), genesis, "round 1 at genesis");
        assertEq(board.roundTime(5), genesis + 4 * period, "round 5");
        assertEq(board.roundAt(board.roundTime(7)), 7, "inverse");
        assertEq(board.minAuditTime(), MIN_AUDIT, "min audit time");
    }

    function test_PostTask_RevertsWithoutAllowance() public {
        token.mint(proposer, REWARD);
        vm.prank(proposer);
        vm.expectRevert();
        board.postTask(_params(REWARD));
        assertEq(board.taskCount(), 0, "nothing posted");
    }

    /// The seed beacon is produced strictly after the join deadline and no later than one period after
    /// it; the same holds for the challenge beacon and the commit deadline.
    function testFuzz_PostTask_RoundsFollowTheirDeadlines(uint256 start, uint256 d1, uint256 d2) public {
        start = bound(start, genesis, genesis + 30 days);
        vm.warp(start);
        d1 = bound(d1, 1, 12 hours);
        d2 = bound(d2, 1, 12 hours - 3);
        ITaskBoard.TaskParams memory p = _params(1);
        p.joinDeadline = uint64(start + d1);
        p.commitDeadline = uint64(start + d1 + d2);
        uint64 lag = board.BEACON_LAG();
        p.verdictDeadline = p.commitDeadline + lag + uint64(period) + MIN_AUDIT;
        p.verifyDeadline = p.verdictDeadline + board.MIN_REVEAL_WINDOW();
        ITaskBoard.Task memory t = _task(_post(p));
        uint256 seedTime = genesis + uint256(t.seedRound - 1) * period;
        uint256 challengeTime = genesis + uint256(t.challengeRound - 1) * period;
        assertTrue(
            seedTime > p.joinDeadline + lag && seedTime <= p.joinDeadline + lag + period,
            "seed round a slot after join"
        );
        assertTrue(
            challengeTime > p.commitDeadline + lag && challengeTime <= p.commitDeadline + lag + period,
            "challenge round a slot after commit"
        );
        assertEq(board.roundAt(p.joinDeadline + lag) + 1, t.seedRound, "roundAt view");
    }

    // ------------------------------------------------------------- cancelTask

    function test_CancelTask_RefundsWhenNobodyJoined() public {
        uint256 taskId = _postDefault();
        vm.expectEmit(true, true, false, true, address(board));
        emit TaskCancelled(taskId, proposer, REWARD);
        vm.prank(proposer);
        board.cancelTask(taskId);
        assertEq(token.balanceOf(proposer), REWARD, "refunded");
        assertEq(board.escrowOf(taskId), 0, "escrow cleared");
        assertEq(uint256(board.taskStatus(taskId)), uint256(ITaskBoard.TaskStatus.CANCELLED), "cancelled");
    }

    function test_CancelTask_RevertsForOthers() public {
        uint256 taskId = _postDefault();
        vm.prank(miner);
        vm.expectRevert(abi.encodeWithSelector(ITaskBoard.NotProposer.selector, miner, proposer));
        board.cancelTask(taskId);
    }

    function test_CancelTask_RevertsForUnknownAndClosedTasks() public {
        vm.expectRevert(abi.encodeWithSelector(ITaskBoard.UnknownTask.selector, 7));
        board.cancelTask(7);
        uint256 taskId = _postDefault();
        vm.startPrank(proposer);
        board.cancelTask(taskId);
        vm.expectRevert(
            abi.encodeWithSelector(ITaskBoard.TaskNotOpen.selector, taskId, ITaskBoard.TaskStatus.CANCELLED)
        );
        board.cancelTask(taskId);
        vm.stopPrank();
        assertEq(token.balanceOf(proposer), REWARD, "refunded once");
    }

    /// Adversarial: a proposer that sees miners joined cannot pull the reward, not even after an empty
    /// commit window: the joins locked stake, and only finalize releases it (and refunds the proposer).
    function test_CancelTask_RevertsOnceAMinerJoined() public {
        uint256 taskId = _postDefault();
        _stake(miner, MINER, MINER_STAKE);
        _join(taskId, miner);
        uint64 commitDeadline = _task(taskId).params.commitDeadline;
        vm.warp(commitDeadline + 1);
        vm.prank(proposer);
        vm.expectRevert(abi.encodeWithSelector(ITaskBoard.TaskHasJoins.selector, 1, commitDeadline));
        board.cancelTask(taskId);

        _toFinalize(taskId);
        settlement.finalize(taskId);
        assertEq(stakes.lockedStake(miner, MINER), 0, "finalize released the lock");
        assertEq(settlement.claimable(proposer), REWARD, "and refunded the whole escrow");
    }

    // ------------------------------------------------- releaseEscrow and views

    function test_ReleaseEscrow_OnlySettlement() public {
        uint256 taskId = _postDefault();
        vm.prank(proposer);
        vm.expectRevert(abi.encodeWithSelector(ITaskBoard.NotSettlement.selector, proposer));
        board.releaseEscrow(taskId);
    }

    function test_ReleaseEscrow_OnceAndOnlyForOpenTasks() public {
        uint256 taskId = _postDefault();
        vm.expectEmit(true, false, false, true, address(board));
        emit EscrowReleased(taskId, REWARD);
        vm.prank(address(settlement));
        assertEq(board.releaseEscrow(taskId), REWARD, "released");
        assertEq(token.balanceOf(address(settlement)), REWARD, "moved to settlement");
        assertEq(uint256(board.taskStatus(taskId)), uint256(ITaskBoard.TaskStatus.FINALIZED), "finalized");
        vm.prank(address(settlement));
        vm.expectRevert(
            abi.encodeWithSelector(ITaskBoard.TaskNotOpen.selector, taskId, ITaskBoard.TaskStatus.FINALIZED)
        );
        board.releaseEscrow(taskId);
        vm.prank(address(settlement));
        vm.expectRevert(abi.encodeWithSelector(ITaskBoard.UnknownTask.selector, 99));
        board.releaseEscrow(99);
    }

    function test_GetTask_RevertsForUnknownIds() public {
        vm.expectRevert(abi.encodeWithSelector(ITaskBoard.UnknownTask.selector, 0));
        board.getTask(0);
        vm.expectRevert(abi.encodeWithSelector(ITaskBoard.UnknownTask.selector, 1));
        board.getTask(1);
        assertEq(uint256(board.taskStatus(1)), uint256(ITaskBoard.TaskStatus.NONE), "none");
    }

    function test_RoundAt_MatchesTheBeacon() public view {
        assertEq(board.roundAt(genesis), 1, "genesis is round 1");
        assertEq(board.roundAt(genesis + period - 1), 1, "still round 1");
        assertEq(board.roundAt(genesis + period), 2, "round 2");
        assertEq(board.roundAt(genesis + 1000), beacon.roundAt(genesis + 1000), "same as DrandBeacon.roundAt");
    }
}
