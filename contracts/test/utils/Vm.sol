// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @dev The Foundry cheatcodes these tests use (no forge-std in this repository).
interface Vm {
    struct Wallet {
        address addr;
        uint256 publicKeyX;
        uint256 publicKeyY;
        uint256 privateKey;
    }

    function prank(address sender) external;
    function startPrank(address sender) external;
    function stopPrank() external;
    function warp(uint256 timestamp) external;
    function chainId(uint256 newChainId) external;
    function expectRevert(bytes calldata revertData) external;
    function expectRevert(bytes4 selector) external;
    function expectRevert() external;
    function expectEmit(bool checkTopic1, bool checkTopic2, bool checkTopic3, bool checkData, address emitter)
        external;
    function createWallet(uint256 privateKey) external returns (Wallet memory);
    function sign(uint256 privateKey, bytes32 digest) external pure returns (uint8 v, bytes32 r, bytes32 s);
    function addr(uint256 privateKey) external pure returns (address);
    function readFile(string calldata path) external view returns (string memory);
    function parseJsonBytes(string calldata json, string calldata key) external pure returns (bytes memory);
    function parseJsonUint(string calldata json, string calldata key) external pure returns (uint256);
    function assume(bool condition) external pure;
    function label(address account, string calldata newLabel) external;
    function pauseGasMetering() external;
    function resumeGasMetering() external;
    function toString(uint256 value) external pure returns (string memory);
}

/// @dev forge-std's console.log(string, uint256), called directly.
library Log {
    address private constant CONSOLE = 0x000000000000000000636F6e736F6c652e6c6f67;

    function log(string memory label, uint256 value) internal view {
        (bool ok,) = CONSOLE.staticcall(abi.encodeWithSignature("log(string,uint256)", label, value));
        ok;
    }
}

/// @dev Assertions that fail the test with a reason; forge treats a revert in a test as a failure.
abstract contract Assertions {
    error AssertionFailed(string what, uint256 got, uint256 want);
    error AssertionFailedBytes(string what, bytes32 got, bytes32 want);
    error AssertionFailedBool(string what);

    function assertEq(uint256 got, uint256 want, string memory what) internal pure {
        if (got != want) revert AssertionFailed(what, got, want);
    }

    function assertEq(address got, address want, string memory what) internal pure {
        if (got != want) revert AssertionFailed(what, uint160(got), uint160(want));
    }

    function assertEq(bytes32 got, bytes32 want, string memory what) internal pure {
        if (got != want) revert AssertionFailedBytes(what, got, want);
    }

    function assertEq(bytes memory got, bytes memory want, string memory what) internal pure {
        if (keccak256(got) != keccak256(want)) {
            revert AssertionFailedBytes(what, keccak256(got), keccak256(want));
        }
    }

    function assertTrue(bool ok, string memory what) internal pure {
        if (!ok) revert AssertionFailedBool(what);
    }

    function assertLe(uint256 got, uint256 max, string memory what) internal pure {
        if (got > max) revert AssertionFailed(what, got, max);
    }

    function assertGe(uint256 got, uint256 min, string memory what) internal pure {
        if (got < min) revert AssertionFailed(what, got, min);
    }

    function assertGt(uint256 got, uint256 min, string memory what) internal pure {
        if (got <= min) revert AssertionFailed(what, got, min);
    }

    /// @dev Maps a fuzzed value into [min, max] without discarding runs.
    function bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        if (min > max) revert AssertionFailed("bound: min > max", min, max);
        if (max - min == type(uint256).max) return x;
        return min + (x % (max - min + 1));
    }
}
