// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Fixture} from "./utils/Fixture.sol";
import {Log} from "./utils/Vm.sol";
import {ISettlement} from "../src/interfaces/ISettlement.sol";
import {ITaskBoard} from "../src/interfaces/ITaskBoard.sol";

/// @dev Gas of each user-facing call (execution gas measured with gasleft(), without the 21,000
/// intrinsic gas and calldata of a transaction). Figures print with `forge test --match-contract GasTest
/// -vv` and are copied to docs/GAS.md. Setup is unmetered, so .gas-snapshot tracks the measured calls.
contract GasTest is Fixture {
    /// @dev EIP-7825's per-transaction gas cap, enforced on Ethereum mainnet.
    uint256 internal constant TX_GAS_CAP = 16_777_216;

    address[] internal ms;
    address[] internal vs;

    /// @dev Redeploys with a committee of `seats` lots (the fixture's default is 16).
    function _withCommittee(uint16 seats) internal {
        vm.pauseGasMetering();
        ISettlement.Params memory p = _defaultParams();
        p.committeeSeats = seats;
        _deploy(beacon, p);
    }

    /// @dev Posts a task for `miners` miners, lets them join and commit; `validators` equal-stake validators
    /// stake; the ones drawn to the committee commit and reveal `vote` on every miner. Returns the task id,
    /// in the reveal window's end, ready to finalize.
    function _scenario(uint256 miners, uint256 validators, bool log, ISettlement.Vote vote)
        internal
        returns (uint256 taskId)
    {
        vm.pauseGasMetering();
        for (uint256 i = 0; i < miners; ++i) {
            ms.push(_actor("gasminer", i));
            _stake(ms[i], MINER, 2000e18);
        }
        for (uint256 j = 0; j < validators; ++j) {
            vs.push(_actor("gasvalidator", j));
            _stake(vs[j], VALIDATOR, 1000e18);
        }
        ITaskBoard.TaskParams memory p = _params(REWARD);
        // forge-lint: disable-next-line(unsafe-typecast)
        p.maxMiners = uint16(miners);
        token.mint(proposer, REWARD);
        vm.prank(proposer);
        token.approve(address(board), REWARD);
        vm.prank(proposer);
        vm.resumeGasMetering();
        uint256 g = gasleft();
        taskId = board.postTask(p);
        g -= gasleft();
        vm.pauseGasMetering();
        if (log) Log.log("postTask", g);

        for (uint256 i = 0; i < miners; ++i) {
            bytes32 commitment = keccak256(abi.encode(taskId, ms[i], _secret(taskId, ms[i])));
            vm.prank(ms[i]);
            vm.resumeGasMetering();
            g = gasleft();
            settlement.join(taskId, keccak256(abi.encode(i)), commitment);
            g -= gasleft();
            vm.pauseGasMetering();
            if (log && i == miners - 1) Log.log("join", g);
        }
        for (uint256 i = 0; i < miners; ++i) {
            vm.prank(ms[i]);
            vm.resumeGasMetering();
            g = gasleft();
            settlement.commit(taskId, _root(ms[i]), P * G);
            g -= gasleft();
            vm.pauseGasMetering();
            if (log && i == miners - 1) Log.log("commit", g);
        }
        _vote(taskId, miners, log, vote);
        _toFinalize(taskId);
    }

    function _verdicts(uint256 miners, ISettlement.Vote vote)
        internal
        view
        returns (ISettlement.Verdict[] memory a)
    {
        a = new ISettlement.Verdict[](miners);
        for (uint256 i = 0; i < miners; ++i) {
            if (vote == ISettlement.Vote.PASS) a[i] = _pass(ms[i], uint64(500_000 + i));
            else if (vote == ISettlement.Vote.FAIL) a[i] = _fail(ms[i]);
            else a[i] = _unavailable(ms[i]);
        }
    }

    function _vote(uint256 taskId, uint256 miners, bool log, ISettlement.Vote vote) internal {
        ISettlement.Verdict[] memory a = _verdicts(miners, vote);
        _toVerdictWindow(taskId);
        uint256 g;
        for (uint256 j = 0; j < vs.length; ++j) {
            if (settlement.committeeSeats(taskId, vs[j]) == 0) continue;
            bytes32 h = keccak256(abi.encode(taskId, vs[j], a, _salt(vs[j])));
            vm.prank(vs[j]);
            vm.resumeGasMetering();
            g = gasleft();
            settlement.commitVerdict(taskId, h);
            g -= gasleft();
            vm.pauseGasMetering();
            if (log) Log.log("commitVerdict", g);
        }
        _toRevealWindow(taskId);
        for (uint256 j = 0; j < vs.length; ++j) {
            if (settlement.validatorState(taskId, vs[j]).commitHash == bytes32(0)) continue;
            vm.prank(vs[j]);
            vm.resumeGasMetering();
            g = gasleft();
            settlement.revealVerdict(taskId, a, _salt(vs[j]));
            g -= gasleft();
            vm.pauseGasMetering();
            if (log) Log.log(string.concat("revealVerdict with verdicts = ", vm.toString(miners)), g);
            assertLe(g, TX_GAS_CAP, "a reveal fits one transaction");
        }
    }

    function _finalize(uint256 taskId, string memory label) internal returns (uint256 used) {
        vm.resumeGasMetering();
        uint256 g = gasleft();
        settlement.finalize(taskId);
        used = g - gasleft();
        vm.pauseGasMetering();
        Log.log(label, used);
        assertTrue(settlement.taskSettlement(taskId).finalized, "finalized");
    }

    /// @dev Settles every committee member; returns the largest settleValidator gas.
    function _settleAll(uint256 taskId, string memory label) internal returns (uint256 worst) {
        for (uint256 j = 0; j < vs.length; ++j) {
            if (settlement.validatorState(taskId, vs[j]).commitHash == bytes32(0)) continue;
            vm.resumeGasMetering();
            uint256 g = gasleft();
            settlement.settleValidator(taskId, vs[j]);
            g -= gasleft();
            vm.pauseGasMetering();
            if (g > worst) worst = g;
        }
        Log.log(label, worst);
    }

    function test_Gas_Finalize_1Miner() public {
        uint256 id = _scenario(1, 3, true, ISettlement.Vote.PASS);
        uint256 used = _finalize(id, "finalize miners = 1");
        assertLe(used, 400_000, "small task is cheap");
        _settleAll(id, "settleValidator miners = 1");
    }

    function test_Gas_Finalize_10Miners() public {
        uint256 id = _scenario(10, 3, true, ISettlement.Vote.PASS);
        _finalize(id, "finalize miners = 10");
        _settleAll(id, "settleValidator miners = 10");
    }

    function test_Gas_Finalize_100Miners() public {
        uint256 id = _scenario(100, 3, true, ISettlement.Vote.PASS);
        _finalize(id, "finalize miners = 100");
    }

    /// Issue 11 attack 6: at every cap (128 miners, a 64-seat committee) finalize, each reveal and each
    /// settleValidator fit EIP-7825's 16,777,216-gas transaction.
    function test_attack6_finalizeAtTheCapsFitsOneTransaction_allPassed() public {
        _withCommittee(64);
        uint256 id = _scenario(board.MAX_MINERS(), 64, false, ISettlement.Vote.PASS);
        uint256 used = _finalize(id, "finalize miners = 128 passed, committee 64 seats (caps)");
        assertLe(used, TX_GAS_CAP, "finalize within the EIP-7825 cap");
        uint256 worst = _settleAll(id, "settleValidator miners = 128 (caps)");
        assertLe(worst, TX_GAS_CAP, "settleValidator within the cap");
    }

    /// The most expensive outcome: every miner fails and its whole lock is slashed (one StakeManager call and
    /// one transfer each).
    function test_attack6_finalizeAtTheCapsFitsOneTransaction_allFailed() public {
        _withCommittee(64);
        uint256 id = _scenario(board.MAX_MINERS(), 64, false, ISettlement.Vote.FAIL);
        uint256 used = _finalize(id, "finalize miners = 128 all failed, committee 64 seats (caps)");
        assertLe(used, TX_GAS_CAP, "finalize within the EIP-7825 cap");
        assertEq(settlement.minerState(id, ms[0]).slashed, settlement.taskSettlement(id).lock, "slashed");
        uint256 worst = _settleAll(id, "settleValidator miners = 128 all failed (caps)");
        assertLe(worst, TX_GAS_CAP, "settleValidator within the cap");
    }

    function test_Gas_Finalize_NoQuorum128() public {
        uint256 id = _scenario(board.MAX_MINERS(), 3, false, ISettlement.Vote.UNAVAILABLE);
        uint256 used = _finalize(id, "finalize miners = 128, every vote UNAVAILABLE");
        assertLe(used, TX_GAS_CAP, "within the cap");
    }

    function test_Gas_RevealForcedError() public {
        vm.pauseGasMetering();
        address miner = _actor("gasminer", 0);
        _stake(miner, MINER, MINER_STAKE);
        address v = _actor("gasvalidator", 0);
        _stake(v, VALIDATOR, 1000e18);
        uint256 id = _postDefault();
        bytes32 secret = _secretWith(id, true);
        _joinWithSecret(id, miner, secret);
        _toRevealWindow(id);
        vm.prank(miner);
        vm.resumeGasMetering();
        uint256 g = gasleft();
        settlement.revealForcedError(id, secret);
        g -= gasleft();
        vm.pauseGasMetering();
        Log.log("revealForcedError", g);
        assertTrue(settlement.minerState(id, miner).forced, "forced");
    }

    function test_Gas_ClaimAndFundTreasury() public {
        uint256 id = _scenario(1, 1, false, ISettlement.Vote.PASS);
        settlement.finalize(id);
        vm.prank(ms[0]);
        vm.resumeGasMetering();
        uint256 g = gasleft();
        settlement.claim();
        uint256 used = g - gasleft();
        vm.pauseGasMetering();
        Log.log("claim", used);
        assertGe(token.balanceOf(ms[0]), 1, "paid");
        token.mint(address(this), 100e18);
        token.approve(address(settlement), 100e18);
        vm.resumeGasMetering();
        g = gasleft();
        settlement.fundTreasury(100e18);
        used = g - gasleft();
        vm.pauseGasMetering();
        Log.log("fundTreasury", used);
        assertEq(settlement.treasury(), 100e18, "funded");
    }

    function test_Gas_RecordBeacon() public {
        string memory base = ".beacons[9]";
        bytes memory sig = vm.parseJsonBytes(devnetJson, string.concat(base, ".signature"));
        bytes memory point = vm.parseJsonBytes(devnetJson, string.concat(base, ".signature_point"));
        vm.resumeGasMetering();
        uint256 g = gasleft();
        beacon.recordBeacon(10, sig, point);
        uint256 used = g - gasleft();
        Log.log("recordBeacon (BLS verify + store)", used);
        assertTrue(beacon.randomness(10) != bytes32(0), "recorded");
    }

    function test_Gas_StakeUnstakeAndRegisterPeer() public {
        address a = _actor("gasstaker", 0);
        token.mint(a, MIN_VALIDATOR);
        vm.prank(a);
        token.approve(address(stakes), MIN_VALIDATOR);
        vm.prank(a);
        uint256 g = gasleft();
        stakes.stake(VALIDATOR, MIN_VALIDATOR);
        // Metering stays on in this test.
        Log.log("stake (validator: checkpoints)", g - gasleft());
        vm.warp(block.timestamp + 1);
        vm.prank(a);
        g = gasleft();
        stakes.requestUnstake(VALIDATOR, 1e18);
        Log.log("requestUnstake (validator)", g - gasleft());
        uint256 key = 0xA11CE;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, stakes.peerBindingDigest(a));
        address expect = vm.addr(key);
        bytes32 x;
        bytes32 y;
        {
            // Uncompressed key of 0xA11CE (see StakeManager.t.sol).
            x = 0xa64db41e2968c849c2a5615ba0d6e816734a6d3e6ea6ecd6f3acb7d59daa9102;
            y = 0xe7af12d6e07238e7d5f5f6e9d6a529833a30f7385075fd74029db8009a5ace9a;
        }
        assertEq(address(uint160(uint256(keccak256(abi.encodePacked(x, y))))), expect, "key");
        vm.prank(a);
        g = gasleft();
        stakes.registerPeer(x, y, v, r, s);
        Log.log("registerPeer", g - gasleft());
    }
}
