// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IDrandBeacon
/// @notice On-chain record of BLS-verified drand beacons (scheme bls-unchained-g1-rfc9380), PROTOCOL.md 2.4.
interface IDrandBeacon {
    /// @notice The recorded randomness of `round` (sha256 of the compressed signature), 0 when not recorded.
    function randomness(uint64 round) external view returns (bytes32);

    /// @notice Unix time of round 1 of the beacon chain.
    function genesis() external view returns (uint64);

    /// @notice Seconds between rounds.
    function period() external view returns (uint64);

    /// @notice Verifies a beacon signature for `round` and records its randomness; permissionless.
    /// @param round The drand round number.
    /// @param signature48 The compressed G1 signature as published by drand.
    /// @param signaturePoint128 The same signature as an uncompressed EIP-2537 G1 point.
    /// @return The recorded randomness.
    function recordBeacon(uint64 round, bytes calldata signature48, bytes calldata signaturePoint128)
        external
        returns (bytes32);
}
