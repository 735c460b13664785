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
    uint256 internal constant BLOCK_GAS = 30_000_000;

    /// @dev Posts a task, lets `miners` miners join and commit and `validators` validators commit and
    /// reveal a pass verdict on every miner; returns the task id, ready to finalize.
    function _scenario(uint256 miners, uint256 validators, bool log) internal returns (uint256 taskId) {
        return _scenario(miners, validators, log, true);
    }

    function _scenario(uint256 miners, uint256 validators, bool log, bool pass)
        internal
        returns (uint256 taskId)
    {
        vm.pauseGasMetering();
        address[] memory ms = new address[](miners);
        for (uint256 i = 0; i < miners; ++i) {
            ms[i] = _actor("gasminer", i);
            _stake(ms[i], MINER, MIN_MINER);
        }
        address[] memory vs = new address[](validators);
        for (uint256 j = 0; j < validators; ++j) {
            vs[j] = _actor("gasvalidator", j);
            _stake(vs[j], VALIDATOR, MIN_VALIDATOR + j * 1e18);
        }
        ITaskBoard.TaskParams memory p = _params(REWARD);
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
            vm.prank(ms[i]);
            vm.resumeGasMetering();
            g = gasleft();
            settlement.join(taskId, keccak256(abi.encode(i)));
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
        ISettlement.Verdict[] memory a = new ISettlement.Verdict[](miners);
        for (uint256 i = 0; i < miners; ++i) {
            a[i] = _verdict(ms[i], pass, uint64(500_000 + i));
        }
        _toVerdictWindow(taskId);
        for (uint256 j = 0; j < validators; ++j) {
            bytes32 h = keccak256(abi.encode(taskId, vs[j], a, _salt(vs[j])));
            vm.prank(vs[j]);
            vm.resumeGasMetering();
            g = gasleft();
            settlement.commitVerdict(taskId, h);
            g -= gasleft();
            vm.pauseGasMetering();
            if (log && j == validators - 1) Log.log("commitVerdict", g);
        }
        _toRevealWindow(taskId);
        for (uint256 j = 0; j < validators; ++j) {
            vm.prank(vs[j]);
            vm.resumeGasMetering();
            g = gasleft();
            settlement.revealVerdict(taskId, a, _salt(vs[j]));
            g -= gasleft();
            vm.pauseGasMetering();
            if (log && j == validators - 1) {
                Log.log(string.concat("revealVerdict with verdicts = ", vm.toString(miners)), g);
            }
        }
        ITaskBoard.Task memory t = _task(taskId);
        vm.warp(t.params.verifyDeadline + 1);
        _recordRound(t.challengeRound);
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

    function test_Gas_Finalize_1Miner3Validators() public {
        uint256 id = _scenario(1, 3, true);
        uint256 used = _finalize(id, "finalize miners = 1, validators = 3");
        assertLe(used, 400_000, "small task is cheap");
    }

    function test_Gas_Finalize_10Miners3Validators() public {
        uint256 id = _scenario(10, 3, true);
        _finalize(id, "finalize miners = 10, validators = 3");
    }

    function test_Gas_Finalize_100Miners3Validators() public {
        uint256 id = _scenario(100, 3, true);
        uint256 used = _finalize(id, "finalize miners = 100, validators = 3");
        assertLe(used, BLOCK_GAS / 3, "100 miners fit in a third of a block");
    }

    /// The caps MAX_MINERS_PER_TASK x MAX_VALIDATORS_PER_TASK keep the worst case inside one block.
    function test_Gas_Finalize_WorstCaseFitsInABlock() public {
        uint256 id = _scenario(settlement.MAX_MINERS_PER_TASK(), settlement.MAX_VALIDATORS_PER_TASK(), false);
        uint256 used = _finalize(id, "finalize miners = 128, validators = 32 (caps)");
        assertLe(used, BLOCK_GAS, "worst case within a 30M block");
    }

    /// The most expensive outcome: every miner fails and is slashed.
    function test_Gas_Finalize_WorstCaseAllSlashedFitsInABlock() public {
        uint256 id =
            _scenario(settlement.MAX_MINERS_PER_TASK(), settlement.MAX_VALIDATORS_PER_TASK(), false, false);
        uint256 used = _finalize(id, "finalize miners = 128 all failed, validators = 32 (caps)");
        assertLe(used, BLOCK_GAS, "worst case within a 30M block");
    }

    function test_Gas_Claim() public {
        uint256 id = _scenario(1, 1, false);
        settlement.finalize(id);
        address miner = _actor("gasminer", 0);
        vm.prank(miner);
        vm.resumeGasMetering();
        uint256 g = gasleft();
        settlement.claim();
        uint256 used = g - gasleft();
        vm.pauseGasMetering();
        Log.log("claim", used);
        assertGe(token.balanceOf(miner), 1, "paid");
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

    function test_Gas_StakeAndRegisterPeer() public {
        address a = _actor("gasstaker", 0);
        token.mint(a, MIN_MINER);
        vm.prank(a);
        token.approve(address(stakes), MIN_MINER);
        vm.prank(a);
        uint256 g = gasleft();
        stakes.stake(MINER, MIN_MINER);
        // Metering stays on in this test.
        Log.log("stake", g - gasleft());
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
