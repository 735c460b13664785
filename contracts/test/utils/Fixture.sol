// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm, Assertions} from "./Vm.sol";
import {RollToken} from "../../src/RollToken.sol";
import {StakeManager} from "../../src/StakeManager.sol";
import {TaskBoard} from "../../src/TaskBoard.sol";
import {Settlement} from "../../src/Settlement.sol";
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
    uint16 internal constant FEE_BPS = 1000;
    uint16 internal constant SLASH_BPS = 5000;
    uint256 internal constant REWARD = 1000e18;
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
        token = new RollToken(address(this));
        stakes = new StakeManager(token, COOLDOWN, [MIN_MINER, MIN_VALIDATOR, MIN_EVALUATOR], address(this));
        board = new TaskBoard(token, beacon_, MAX_TASK, address(this));
        settlement = new Settlement(
            token, stakes, board, beacon_, ISettlement.Params({validatorFeeBps: FEE_BPS, slashBps: SLASH_BPS})
        );
        stakes.setSettlement(address(settlement));
        board.setSettlement(address(settlement));
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

    /// @dev Deadlines 10 s apart from now: join, commit, verdict, verify.
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
            verdictDeadline: t + 30,
            verifyDeadline: t + 40
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

    function _joinAndCommit(uint256 taskId, address miner) internal {
        vm.prank(miner);
        settlement.join(taskId, keccak256(abi.encode("adapter", miner)));
        vm.prank(miner);
        settlement.commit(taskId, _root(miner), P * G);
    }

    function _verdict(address miner, bool pass, uint64 score)
        internal
        pure
        returns (ISettlement.Verdict memory)
    {
        return ISettlement.Verdict({miner: miner, pass: pass, score: score, audited: 2});
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

    function _toVerdictWindow(uint256 taskId) internal {
        vm.warp(_task(taskId).params.commitDeadline + 1);
    }

    function _toRevealWindow(uint256 taskId) internal {
        vm.warp(_task(taskId).params.verdictDeadline + 1);
    }

    function _toFinalize(uint256 taskId) internal {
        ITaskBoard.Task memory t = _task(taskId);
        vm.warp(t.params.verifyDeadline + 1);
        _recordRound(t.challengeRound);
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
}
