// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Assertions} from "./utils/Vm.sol";
import {Deploy} from "../script/Deploy.s.sol";

interface DeployVm {
    function setEnv(string calldata name, string calldata value) external;
    function readFile(string calldata path) external view returns (string memory);
    function parseJsonUint(string calldata json, string calldata key) external pure returns (uint256);
    function parseJsonAddress(string calldata json, string calldata key) external pure returns (address);
    function parseJsonBytes(string calldata json, string calldata key) external pure returns (bytes memory);
    function removeFile(string calldata path) external;
    function expectRevert(bytes calldata revertData) external;
    function warp(uint256 timestamp) external;
}

/// @dev Runs the deploy script in-process (what `forge script` simulates before broadcasting). Environment
/// variables are process-wide, so everything that sets them is one sequential test.
contract DeployTest is Assertions {
    DeployVm internal constant vm = DeployVm(address(uint160(uint256(keccak256("hevm cheat code")))));
    string internal constant OUT = "cache/test-deploy/deployment.json";

    function test_Run_ChecksConfigDeploysWiresAndWritesTheDeploymentJson() public {
        vm.warp(1_800_000_000);
        vm.setEnv("DEPLOYMENT_JSON", OUT);
        vm.setEnv("COOLDOWN", "100");
        vm.setEnv("MAX_TASK_DURATION", "100");
        Deploy script = new Deploy();
        vm.expectRevert(
            abi.encodeWithSelector(
                Deploy.BadConfig.selector, "COOLDOWN must be longer than MAX_TASK_DURATION."
            )
        );
        script.config();

        vm.setEnv("DEPLOYER_KEY", "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");
        vm.setEnv("COOLDOWN", "600");
        vm.setEnv("MAX_TASK_DURATION", "300");
        vm.setEnv("FORCED_ERROR_ODDS", "4");
        vm.setEnv("MIN_AUDIT_TIME", "12");
        Deploy.Deployed memory d = script.run();

        assertEq(d.stakes.settlement(), address(d.settlement), "StakeManager wired");
        assertEq(d.board.settlement(), address(d.settlement), "TaskBoard wired");
        assertEq(d.settlement.disputes(), address(d.disputes), "Disputes wired into Settlement");
        assertEq(address(d.disputes.settlement()), address(d.settlement), "Disputes reads this Settlement");
        assertEq(d.disputes.jurySeats(), 128, "2C jury lots");
        assertEq(d.disputes.disputeWindow(), 30, "dispute window default");
        assertEq(d.stakes.cooldown(), 600, "cooldown from env");
        assertEq(d.board.maxTaskDuration(), 300, "max duration from env");
        assertEq(d.settlement.forcedErrorOdds(), 4, "forced-error odds from env");
        assertEq(d.board.minAuditTime(), 12, "min audit time from env");
        assertEq(d.settlement.committeeSeatCount(), 64, "committee default");
        assertEq(d.settlement.validatorBond(), 2.5e18, "bond default");
        assertEq(d.settlement.validatorFeeBps(), 1000, "fee default");
        assertEq(d.stakes.minStake(2), 50e18, "evaluator minimum default");
        assertEq(d.beacon.genesis(), 1_800_000_000, "genesis defaults to now");
        assertEq(d.beacon.period(), 3, "period default");
        assertEq(d.token.owner(), d.deployer, "deployer owns the faucet token");
        assertEq(d.stakes.owner(), d.deployer, "deployer owns StakeManager");

        string memory json = vm.readFile(OUT);
        assertEq(vm.parseJsonUint(json, ".version"), 2, "version");
        assertEq(vm.parseJsonUint(json, ".params.forced_error_odds"), 4, "settlement params");
        assertEq(vm.parseJsonUint(json, ".params.jackpot"), 20e18, "jackpot");
        assertEq(vm.parseJsonUint(json, ".chain_id"), block.chainid, "chain id");
        assertEq(vm.parseJsonAddress(json, ".addresses.Settlement"), address(d.settlement), "address");
        assertEq(vm.parseJsonAddress(json, ".addresses.DrandBeacon"), address(d.beacon), "beacon address");
        assertEq(vm.parseJsonAddress(json, ".addresses.Disputes"), address(d.disputes), "disputes address");
        assertEq(vm.parseJsonUint(json, ".params.jury_commit_window"), 60, "dispute params");
        assertEq(vm.parseJsonUint(json, ".params.cooldown"), 600, "params");
        assertEq(vm.parseJsonUint(json, ".params.min_stake_miner"), 100e18, "min stake");
        assertEq(vm.parseJsonUint(json, ".beacon.genesis"), 1_800_000_000, "beacon genesis");
        assertEq(
            keccak256(vm.parseJsonBytes(json, ".beacon.public_key_eip2537")),
            keccak256(d.beacon.publicKey()),
            "beacon key hex without 0x parses back"
        );
        vm.removeFile(OUT);
    }
}
