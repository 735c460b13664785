// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {RollToken} from "../src/RollToken.sol";
import {StakeManager} from "../src/StakeManager.sol";
import {DrandBeacon} from "../src/DrandBeacon.sol";
import {TaskBoard} from "../src/TaskBoard.sol";
import {Settlement} from "../src/Settlement.sol";
import {Disputes} from "../src/Disputes.sol";
import {IDisputes} from "../src/interfaces/IDisputes.sol";
import {ISettlement} from "../src/interfaces/ISettlement.sol";

/// @dev The Foundry cheatcodes the deploy script uses (no forge-std in this repository).
interface ScriptVm {
    function envOr(string calldata name, uint256 defaultValue) external view returns (uint256);
    function envOr(string calldata name, address defaultValue) external view returns (address);
    function envOr(string calldata name, string calldata defaultValue) external view returns (string memory);
    function envOr(string calldata name, bytes calldata defaultValue) external view returns (bytes memory);
    function startBroadcast() external;
    function startBroadcast(uint256 privateKey) external;
    function stopBroadcast() external;
    function addr(uint256 privateKey) external pure returns (address);
    function readFile(string calldata path) external view returns (string memory);
    function parseJsonBytes(string calldata json, string calldata key) external pure returns (bytes memory);
    function writeFile(string calldata path, string calldata data) external;
    function createDir(string calldata path, bool recursive) external;
    function toString(address value) external pure returns (string memory);
    function toString(uint256 value) external pure returns (string memory);
}

/// @title Deploy
/// @notice Deploys RollToken (unless TOKEN names an existing ERC20), StakeManager, DrandBeacon, TaskBoard
/// Settlement and Disputes, wires Settlement into StakeManager and TaskBoard and Disputes into Settlement, and writes the deployment JSON that
/// chain/deploy.py reads (`Deployment.load`). Every parameter comes from an environment variable with the
/// PROTOCOL.md 1 default:
///   DEPLOYER_KEY (else forge's --private-key/--sender), TOKEN, BEACON_NAME (devnet),
///   BEACON_PUBLIC_KEY (256-byte EIP-2537 G2; default: the devnet key of contracts/test/fixtures),
///   BEACON_PUBLIC_KEY_COMPRESSED (96 bytes, recorded only), BEACON_GENESIS (default: now), BEACON_PERIOD (3),
///   MIN_STAKE_MINER (100 RPT), MIN_STAKE_VALIDATOR (100 RPT), MIN_STAKE_EVALUATOR (50 RPT),
///   COOLDOWN (2 days), MAX_TASK_DURATION (1 day), MIN_AUDIT_TIME (30 s), COMMITTEE_SEATS (64),
///   QUORUM_BPS (6667), SUPERMAJORITY_BPS (6667), VALIDATOR_FEE_BPS (1000), BASE_SHARE_BPS (2000),
///   DETERRENCE_BPS (20000), FORCED_ERROR_ODDS (8), VALIDATOR_BOND (2.5 RPT per seat), JACKPOT (20 RPT per forced miner, split by seats),
///   DISPUTE_WINDOW (30 s), JURY_COMMIT_WINDOW (60 s), JURY_REVEAL_WINDOW (30 s), JUROR_FEE_BPS (1000),
///   DEPLOYMENT_JSON (default cache/deployments/<chainid>.json; forge only writes inside the project).
/// Usage: forge script contracts/script/Deploy.s.sol --rpc-url $RPC --broadcast --private-key $KEY
contract Deploy {
    ScriptVm internal constant vm = ScriptVm(address(uint160(uint256(keccak256("hevm cheat code")))));
    string internal constant DEVNET_FIXTURE = "contracts/test/fixtures/devnet_beacons.json";

    struct Config {
        uint256 deployerKey;
        address token;
        string beaconName;
        bytes beaconKey;
        bytes beaconKeyCompressed;
        uint64 genesis;
        uint64 period;
        uint256[3] minStake;
        uint64 cooldown;
        uint64 maxTaskDuration;
        uint64 minAuditTime;
        ISettlement.Params settlement;
        IDisputes.Params disputes;
        string out;
    }

    struct Deployed {
        address deployer;
        uint256 deployBlock;
        RollToken token;
        StakeManager stakes;
        DrandBeacon beacon;
        TaskBoard board;
        Settlement settlement;
        Disputes disputes;
    }

    /// @notice Error for an environment value out of range, as a sentence.
    error BadConfig(string reason);

    /// @notice Deploys and wires everything, writes the deployment JSON and returns the addresses.
    function run() external returns (Deployed memory d) {
        Config memory c = config();
        d.deployBlock = block.number;
        if (c.deployerKey != 0) {
            d.deployer = vm.addr(c.deployerKey);
            vm.startBroadcast(c.deployerKey);
        } else {
            d.deployer = msg.sender;
            vm.startBroadcast();
        }
        d.token = c.token == address(0) ? new RollToken(d.deployer) : RollToken(c.token);
        d.stakes = new StakeManager(IERC20(address(d.token)), c.cooldown, c.minStake, d.deployer);
        d.beacon = new DrandBeacon(c.beaconKey, c.genesis, c.period);
        d.board =
            new TaskBoard(IERC20(address(d.token)), d.beacon, c.maxTaskDuration, c.minAuditTime, d.deployer);
        d.settlement = new Settlement(IERC20(address(d.token)), d.stakes, d.board, d.beacon, c.settlement);
        d.stakes.setSettlement(address(d.settlement));
        d.board.setSettlement(address(d.settlement));
        d.disputes = new Disputes(d.settlement, c.disputes);
        d.settlement.setDisputes(address(d.disputes));
        vm.stopBroadcast();
        _write(c, d);
    }

    /// @notice The configuration read from the environment, with defaults.
    function config() public view returns (Config memory c) {
        c.deployerKey = vm.envOr("DEPLOYER_KEY", uint256(0));
        c.token = vm.envOr("TOKEN", address(0));
        c.beaconName = vm.envOr("BEACON_NAME", string("devnet"));
        bytes memory none;
        c.beaconKey = vm.envOr("BEACON_PUBLIC_KEY", none);
        c.beaconKeyCompressed = vm.envOr("BEACON_PUBLIC_KEY_COMPRESSED", none);
        if (c.beaconKey.length == 0) {
            string memory fixture = vm.readFile(DEVNET_FIXTURE);
            c.beaconKey = vm.parseJsonBytes(fixture, ".public_key_eip2537");
            c.beaconKeyCompressed = vm.parseJsonBytes(fixture, ".public_key");
        }
        c.genesis = _u64("BEACON_GENESIS", block.timestamp);
        c.period = _u64("BEACON_PERIOD", 3);
        c.minStake = [
            vm.envOr("MIN_STAKE_MINER", uint256(100e18)),
            vm.envOr("MIN_STAKE_VALIDATOR", uint256(100e18)),
            vm.envOr("MIN_STAKE_EVALUATOR", uint256(50e18))
        ];
        c.cooldown = _u64("COOLDOWN", 2 days);
        c.maxTaskDuration = _u64("MAX_TASK_DURATION", 1 days);
        c.minAuditTime = _u64("MIN_AUDIT_TIME", 30);
        c.settlement = ISettlement.Params({
            committeeSeats: _bps("COMMITTEE_SEATS", 64),
            quorumBps: _bps("QUORUM_BPS", 6667),
            supermajorityBps: _bps("SUPERMAJORITY_BPS", 6667),
            validatorFeeBps: _bps("VALIDATOR_FEE_BPS", 1000),
            baseShareBps: _bps("BASE_SHARE_BPS", 2000),
            deterrenceBps: _u32("DETERRENCE_BPS", 20_000),
            forcedErrorOdds: _u32("FORCED_ERROR_ODDS", 8),
            validatorBond: vm.envOr("VALIDATOR_BOND", uint256(2.5e18)),
            jackpot: vm.envOr("JACKPOT", uint256(20e18))
        });
        c.disputes = IDisputes.Params({
            disputeWindow: _u64("DISPUTE_WINDOW", 30),
            commitWindow: _u64("JURY_COMMIT_WINDOW", 60),
            revealWindow: _u64("JURY_REVEAL_WINDOW", 30),
            jurorFeeBps: _bps("JUROR_FEE_BPS", 1000)
        });
        c.out = vm.envOr(
            "DEPLOYMENT_JSON", string.concat("cache/deployments/", vm.toString(block.chainid), ".json")
        );
        if (c.beaconKey.length != 256) {
            revert BadConfig("BEACON_PUBLIC_KEY must be 256 bytes (EIP-2537 G2).");
        }
        if (c.period == 0) revert BadConfig("BEACON_PERIOD must be positive.");
        if (c.cooldown <= c.maxTaskDuration) {
            revert BadConfig("COOLDOWN must be longer than MAX_TASK_DURATION.");
        }
    }

    function _u64(string memory name, uint256 fallbackValue) internal view returns (uint64) {
        uint256 v = vm.envOr(name, fallbackValue);
        if (v > type(uint64).max) revert BadConfig(string.concat(name, " does not fit in uint64."));
        // forge-lint: disable-next-line(unsafe-typecast)
        return uint64(v);
    }

    function _u32(string memory name, uint256 fallbackValue) internal view returns (uint32) {
        uint256 v = vm.envOr(name, fallbackValue);
        if (v > type(uint32).max) revert BadConfig(string.concat(name, " does not fit in uint32."));
        // forge-lint: disable-next-line(unsafe-typecast)
        return uint32(v);
    }

    function _bps(string memory name, uint256 fallbackValue) internal view returns (uint16) {
        uint256 v = vm.envOr(name, fallbackValue);
        if (v > 10_000) revert BadConfig(string.concat(name, " must be at most 10000 basis points."));
        // forge-lint: disable-next-line(unsafe-typecast)
        return uint16(v);
    }

    /// @dev Same layout as chain/deploy.py `Deployment.to_json` (version 2), so nodes load either file.
    /// `deploy_block` is the last block before the deployment: a safe start for event scans.
    function _write(Config memory c, Deployed memory d) internal {
        string memory addresses = string.concat(
            '{"RollToken": "',
            vm.toString(address(d.token)),
            '", "StakeManager": "',
            vm.toString(address(d.stakes)),
            '", "DrandBeacon": "',
            vm.toString(address(d.beacon)),
            '", "TaskBoard": "',
            vm.toString(address(d.board)),
            '", "Settlement": "',
            vm.toString(address(d.settlement)),
            '", "Disputes": "',
            vm.toString(address(d.disputes)),
            '"}'
        );
        string memory beacon = string.concat(
            '{"name": "',
            c.beaconName,
            '", "public_key": "',
            _hex(c.beaconKeyCompressed),
            '", "public_key_eip2537": "',
            _hex(c.beaconKey),
            '", "genesis": ',
            vm.toString(uint256(c.genesis)),
            ', "period": ',
            vm.toString(uint256(c.period)),
            "}"
        );
        string memory params = string.concat(
            '{"min_stake_miner": ',
            vm.toString(c.minStake[0]),
            ', "min_stake_validator": ',
            vm.toString(c.minStake[1]),
            ', "min_stake_evaluator": ',
            vm.toString(c.minStake[2]),
            ', "cooldown": ',
            vm.toString(uint256(c.cooldown)),
            ', "max_task_duration": ',
            vm.toString(uint256(c.maxTaskDuration)),
            ', "min_audit_time": ',
            vm.toString(uint256(c.minAuditTime)),
            _settlementParams(c.settlement),
            _disputeParams(c.disputes),
            "}"
        );
        string memory json = string.concat(
            '{"version": 2, "chain_id": ',
            vm.toString(block.chainid),
            ', "deploy_block": ',
            vm.toString(d.deployBlock),
            ', "deployer": "',
            vm.toString(d.deployer),
            '", "addresses": ',
            addresses,
            ', "beacon": ',
            beacon,
            ', "params": ',
            params,
            ', "extra": {"deployed_by": "contracts/script/Deploy.s.sol"}}\n'
        );
        string memory dir = _dirname(c.out);
        if (bytes(dir).length != 0) vm.createDir(dir, true);
        vm.writeFile(c.out, json);
    }

    /// @dev The Settlement parameters as JSON members (", name: value" each), as chain/deploy.py names them.
    function _settlementParams(ISettlement.Params memory p) internal view returns (string memory) {
        string memory bps = string.concat(
            ', "committee_seats": ',
            vm.toString(uint256(p.committeeSeats)),
            ', "quorum_bps": ',
            vm.toString(uint256(p.quorumBps)),
            ', "supermajority_bps": ',
            vm.toString(uint256(p.supermajorityBps)),
            ', "validator_fee_bps": ',
            vm.toString(uint256(p.validatorFeeBps)),
            ', "base_share_bps": ',
            vm.toString(uint256(p.baseShareBps))
        );
        return string.concat(
            bps,
            ', "deterrence_bps": ',
            vm.toString(uint256(p.deterrenceBps)),
            ', "forced_error_odds": ',
            vm.toString(uint256(p.forcedErrorOdds)),
            ', "validator_bond": ',
            vm.toString(p.validatorBond),
            ', "jackpot": ',
            vm.toString(p.jackpot)
        );
    }

    /// @dev The Disputes parameters as JSON members, as chain/deploy.py names them.
    function _disputeParams(IDisputes.Params memory p) internal view returns (string memory) {
        return string.concat(
            ', "dispute_window": ',
            vm.toString(uint256(p.disputeWindow)),
            ', "jury_commit_window": ',
            vm.toString(uint256(p.commitWindow)),
            ', "jury_reveal_window": ',
            vm.toString(uint256(p.revealWindow)),
            ', "juror_fee_bps": ',
            vm.toString(uint256(p.jurorFeeBps))
        );
    }

    /// @dev Lower-case hex without a 0x prefix (what Python's bytes.fromhex reads).
    function _hex(bytes memory data) internal pure returns (string memory) {
        bytes memory digits = "0123456789abcdef";
        bytes memory out = new bytes(data.length * 2);
        for (uint256 i = 0; i < data.length; ++i) {
            out[2 * i] = digits[uint8(data[i]) >> 4];
            out[2 * i + 1] = digits[uint8(data[i]) & 0x0f];
        }
        return string(out);
    }

    function _dirname(string memory path) internal pure returns (string memory) {
        bytes memory b = bytes(path);
        for (uint256 i = b.length; i > 0; --i) {
            if (b[i - 1] == "/") {
                bytes memory dir = new bytes(i - 1);
                for (uint256 j = 0; j < i - 1; ++j) {
                    dir[j] = b[j];
                }
                return string(dir);
            }
        }
        return "";
    }
}
