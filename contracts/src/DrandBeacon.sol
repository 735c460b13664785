// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IDrandBeacon} from "./interfaces/IDrandBeacon.sol";

/// @title DrandBeacon
/// @notice Verifies drand `bls-unchained-g1-rfc9380` beacons (quicknet's scheme) with the EIP-2537
///         BLS12-381 precompiles and records `randomness[round] = sha256(compressedSignature)`.
/// @dev Scheme (PROTOCOL.md §4): message = sha256(uint64 round, big-endian); H(m) = hash_to_curve G1
///      per RFC 9380 (expand_message_xmd with SHA-256, DST "BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_",
///      two field elements, MAP_FP_TO_G1 on each, G1ADD); valid iff e(sig, -g2) * e(H(m), pk) == 1.
///      Decompressing a G1 point needs a square root in Fp, which is expensive in the EVM, so the caller
///      supplies both the 48-byte compressed signature and its 128-byte EIP-2537 encoding; the contract
///      checks that the compressed bytes encode exactly that point, so the randomness (a hash of the
///      compressed bytes) is bound to the point the pairing verified. The pairing precompile itself
///      rejects points that are off the curve or outside the prime-order subgroup.
contract DrandBeacon is IDrandBeacon {
    /// @notice Emitted once per round, when its beacon is first verified and recorded.
    event BeaconRecorded(uint64 indexed round, bytes32 randomness);

    /// @notice The group public key is not a 256-byte EIP-2537 G2 point in the subgroup.
    error InvalidPublicKey();
    /// @notice The period must be at least one second.
    error InvalidPeriod();
    /// @notice The compressed signature must be exactly 48 bytes.
    error InvalidSignatureLength(uint256 length);
    /// @notice The uncompressed signature point must be exactly 128 bytes (EIP-2537 G1 encoding).
    error InvalidSignaturePointLength(uint256 length);
    /// @notice The signature does not verify for this round under the group public key.
    error InvalidBeacon(uint64 round);
    /// @notice Round 0 does not exist in drand.
    error InvalidRound();
    /// @notice Too little gas was left for the pairing check; a starved precompile call fails exactly like
    ///         one given an invalid point, so this is a revert, never a "false".
    error InsufficientGas();
    /// @notice An EIP-2537 / modexp precompile call failed (malformed input or chain without Prague).
    error PrecompileFailed(address precompile);

    // EIP-198 and EIP-2537 precompile addresses.
    address private constant MODEXP = address(0x05);
    address private constant G1ADD = address(0x0b);
    address private constant PAIRING_CHECK = address(0x0f);
    address private constant MAP_FP_TO_G1 = address(0x10);

    /// @dev Gas forwarded to PAIRING_CHECK. Two pairs cost 102,900 under EIP-2537's final pricing; a
    ///      failing precompile call consumes all gas it was given, so an invalid point (off the curve or
    ///      outside the subgroup) must not burn 63/64 of the caller's gas. The cap leaves ~5x headroom for
    ///      a future repricing.
    uint256 private constant PAIRING_GAS = 500_000;
    /// @dev EIP-2537 price of a pairing check over two pairs: 32,600 * 2 + 37,700.
    uint256 private constant PAIRING_PRICE = 102_900;

    /// @dev Base field modulus p of BLS12-381, 48 bytes big-endian (modulus argument of modexp).
    bytes private constant FIELD_MODULUS =
        hex"1a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab";
    /// @dev (p - 1) / 2 split into its top 128 bits and low 256 bits: y > (p-1)/2 sets the sign flag.
    uint256 private constant HALF_P_HI = 0x0d0088f51cbff34d258dd3db21a5d66b;
    uint256 private constant HALF_P_LO = 0xb23ba5c279c2895fb39869507b587b120f55ffff58a9ffffdcff7fffffffd555;

    /// @dev RFC 9380 domain separation tag of the scheme, and its length (appended as one byte: DST_prime).
    bytes private constant DST = "BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_";
    uint8 private constant DST_LENGTH = 43;

    /// @dev -g2, the negated G2 generator in EIP-2537 encoding (x.c0, x.c1, y.c0, y.c1, each 64 bytes).
    bytes private constant NEG_G2 = hex"00000000000000000000000000000000024aa2b2f08f0a91260805272dc51051c6e47ad4fa403b02b4510b647ae3d1770bac0326a805bbefd48056c8c121bdb8"
        hex"0000000000000000000000000000000013e02b6052719f607dacd3a088274f65596bd0d09920b61ab5da61bbdc7f5049334cf11213945d57e5ac7d055d042b7e"
        hex"000000000000000000000000000000000d1b3cc2c7027888be51d9ef691d77bcb679afda66c73f17f9ee3837a55024f78c71363275a75d75d86bab79f74782aa"
        hex"0000000000000000000000000000000013fa4d4a0ad8b1ce186ed5061789213d993923066dddaf1040bc3ff59f825c78df74f2d75467e25e0f55f8a00fa030ed";

    /// @dev The G1 generator in EIP-2537 encoding; used once, to validate the public key at deploy.
    bytes private constant G1_GENERATOR = hex"0000000000000000000000000000000017f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb"
        hex"0000000000000000000000000000000008b3f481e3aaa0f1a09e30ed741d8ae4fcf5e095d5d00af600db18cb2c04b3edd03cc744a2888ae40caa232946c5e7e1";

    // The 256-byte public key lives in eight immutables: reading code is far cheaper than 8 cold SLOADs.
    bytes32 private immutable PK0;
    bytes32 private immutable PK1;
    bytes32 private immutable PK2;
    bytes32 private immutable PK3;
    bytes32 private immutable PK4;
    bytes32 private immutable PK5;
    bytes32 private immutable PK6;
    bytes32 private immutable PK7;

    uint64 private immutable GENESIS;
    uint64 private immutable PERIOD;

    mapping(uint64 round => bytes32) private _randomness;

    /// @param publicKey_ Group public key, 256-byte EIP-2537 G2 encoding (see `pubkey_eip2537` in Python).
    /// @param genesis_ Unix time of round 1.
    /// @param period_ Seconds between rounds.
    constructor(bytes memory publicKey_, uint64 genesis_, uint64 period_) {
        if (publicKey_.length != 256) revert InvalidPublicKey();
        if (period_ == 0) revert InvalidPeriod();
        if (keccak256(publicKey_) == keccak256(new bytes(256))) revert InvalidPublicKey();
        // A pairing with the G1 generator makes the precompile check the key is on the curve and in the
        // subgroup; the boolean result itself is irrelevant here.
        (bool ok, bytes memory out) =
            PAIRING_CHECK.staticcall{gas: PAIRING_GAS}(abi.encodePacked(G1_GENERATOR, publicKey_));
        if (!ok || out.length != 32) revert InvalidPublicKey();
        bytes32[8] memory words;
        for (uint256 i = 0; i < 8; i++) {
            bytes32 w;
            assembly {
                w := mload(add(add(publicKey_, 32), mul(i, 32)))
            }
            words[i] = w;
        }
        (PK0, PK1, PK2, PK3, PK4, PK5, PK6, PK7) =
        (words[0], words[1], words[2], words[3], words[4], words[5], words[6], words[7]);
        GENESIS = genesis_;
        PERIOD = period_;
    }

    /// @notice Verifies the beacon of `round` and records its randomness. Permissionless and idempotent:
    ///         a round that is already recorded returns its stored randomness without re-verifying
    ///         (BLS signatures are unique, so there is only one valid value per round).
    /// @param round drand round number (>= 1).
    /// @param signature 48-byte compressed G1 signature, exactly as drand publishes it.
    /// @param signaturePoint The same point, 128-byte EIP-2537 G1 encoding (see `onchain_args` in Python).
    /// @return randomness_ sha256(signature).
    function recordBeacon(uint64 round, bytes calldata signature, bytes calldata signaturePoint)
        external
        returns (bytes32 randomness_)
    {
        randomness_ = _randomness[round];
        if (randomness_ != bytes32(0)) return randomness_;
        if (!verify(round, signature, signaturePoint)) revert InvalidBeacon(round);
        randomness_ = sha256(signature);
        _randomness[round] = randomness_;
        emit BeaconRecorded(round, randomness_);
    }

    /// @notice True iff `signature` is the group's BLS signature of `round` and `signaturePoint` is the
    ///         uncompressed encoding of the same point. Reverts only on malformed lengths or round 0.
    function verify(uint64 round, bytes calldata signature, bytes calldata signaturePoint)
        public
        view
        returns (bool)
    {
        if (round == 0) revert InvalidRound();
        if (signature.length != 48) revert InvalidSignatureLength(signature.length);
        if (signaturePoint.length != 128) revert InvalidSignaturePointLength(signaturePoint.length);
        if (!_compressedMatchesPoint(signature, signaturePoint)) return false;
        bytes memory hm = _hashToG1(abi.encodePacked(sha256(abi.encodePacked(round))));
        bytes memory input = abi.encodePacked(
            signaturePoint, NEG_G2, hm, abi.encodePacked(PK0, PK1, PK2, PK3, PK4, PK5, PK6, PK7)
        );
        // Only with enough gas for the full pairing does a failed call mean an invalid point (off the curve
        // or outside the subgroup); otherwise eth_estimateGas or a gas-capped caller would read "false".
        if (gasleft() < (PAIRING_PRICE * 64) / 63 + 5_000) revert InsufficientGas();
        (bool ok, bytes memory out) = PAIRING_CHECK.staticcall{gas: PAIRING_GAS}(input);
        if (!ok || out.length != 32) return false;
        return abi.decode(out, (uint256)) == 1;
    }

    /// @notice Recorded randomness of `round`, or zero if it has not been recorded.
    function randomness(uint64 round) external view returns (bytes32) {
        return _randomness[round];
    }

    /// @notice Unix time of round 1.
    function genesis() external view returns (uint64) {
        return GENESIS;
    }

    /// @notice Seconds between rounds.
    function period() external view returns (uint64) {
        return PERIOD;
    }

    /// @notice The latest round published at time `t`: (t - genesis) / period + 1, or 0 before genesis.
    function roundAt(uint64 t) external view returns (uint64) {
        if (t < GENESIS) return 0;
        return (t - GENESIS) / PERIOD + 1;
    }

    /// @notice The group public key in its 256-byte EIP-2537 G2 encoding.
    function publicKey() external view returns (bytes memory) {
        return abi.encodePacked(PK0, PK1, PK2, PK3, PK4, PK5, PK6, PK7);
    }

    /// @dev ZCash compressed form: flag bits 0x80 compressed, 0x40 infinity, 0x20 sign (y > (p-1)/2), then x.
    ///      EIP-2537 form: 16 zero bytes ‖ x (48) ‖ 16 zero bytes ‖ y (48).
    function _compressedMatchesPoint(bytes calldata sig, bytes calldata point) private pure returns (bool) {
        uint8 flags = uint8(sig[0]);
        if (flags & 0x80 == 0 || flags & 0x40 != 0) return false;
        if (bytes16(point[0:16]) != bytes16(0) || bytes16(point[64:80]) != bytes16(0)) return false;
        bytes32 xHiMask = bytes32(type(uint256).max >> 3);
        if (bytes32(sig[0:32]) & xHiMask != bytes32(point[16:48])) return false;
        if (bytes16(sig[32:48]) != bytes16(point[48:64])) return false;
        uint256 yHi = uint128(bytes16(point[80:96]));
        uint256 yLo = uint256(bytes32(point[96:128]));
        bool yIsLarger = yHi > HALF_P_HI || (yHi == HALF_P_HI && yLo > HALF_P_LO);
        return (flags & 0x20 != 0) == yIsLarger;
    }

    /// @dev RFC 9380 hash_to_curve for G1 (BLS12381G1_XMD:SHA-256_SSWU_RO_): 128 uniform bytes from
    ///      expand_message_xmd, two field elements, map each, add. Returns the 128-byte EIP-2537 point.
    function _hashToG1(bytes memory message) private view returns (bytes memory) {
        (bytes32 b1, bytes32 b2, bytes32 b3, bytes32 b4) = _expandMessageXmd(message);
        bytes memory q0 = _call(MAP_FP_TO_G1, _fieldElement(b1, b2), 128);
        bytes memory q1 = _call(MAP_FP_TO_G1, _fieldElement(b3, b4), 128);
        return _call(G1ADD, abi.encodePacked(q0, q1), 128);
    }

    /// @dev expand_message_xmd(msg, DST, 128) with SHA-256 (b_in_bytes 32, s_in_bytes 64, ell = 4).
    function _expandMessageXmd(bytes memory message)
        private
        pure
        returns (bytes32 b1, bytes32 b2, bytes32 b3, bytes32 b4)
    {
        // msg_prime = Z_pad(64) ‖ msg ‖ I2OSP(128, 2) ‖ I2OSP(0, 1) ‖ DST ‖ I2OSP(len(DST), 1)
        bytes32 b0 =
            sha256(abi.encodePacked(bytes32(0), bytes32(0), message, uint16(128), uint8(0), DST, DST_LENGTH));
        b1 = sha256(abi.encodePacked(b0, uint8(1), DST, DST_LENGTH));
        b2 = sha256(abi.encodePacked(b0 ^ b1, uint8(2), DST, DST_LENGTH));
        b3 = sha256(abi.encodePacked(b0 ^ b2, uint8(3), DST, DST_LENGTH));
        b4 = sha256(abi.encodePacked(b0 ^ b3, uint8(4), DST, DST_LENGTH));
    }

    /// @dev OS2IP(hi ‖ lo) mod p through the modexp precompile (x^1 mod p), as a 64-byte EIP-2537 Fp.
    function _fieldElement(bytes32 hi, bytes32 lo) private view returns (bytes memory) {
        bytes memory reduced = _call(
            MODEXP,
            abi.encodePacked(uint256(64), uint256(1), uint256(48), hi, lo, uint8(1), FIELD_MODULUS),
            48
        );
        return abi.encodePacked(bytes16(0), reduced);
    }

    function _call(address precompile, bytes memory input, uint256 outLength)
        private
        view
        returns (bytes memory)
    {
        (bool ok, bytes memory out) = precompile.staticcall(input);
        if (!ok || out.length != outLength) revert PrecompileFailed(precompile);
        return out;
    }
}
