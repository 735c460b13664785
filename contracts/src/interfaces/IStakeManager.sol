// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IStakeManager
/// @notice Stake per role, per-role locked stake, validator stake checkpoints, unstake cooldown, peer id
/// binding and slashing (PROTOCOL.md 1 and 2.2).
interface IStakeManager {
    /// @notice The role number is not MINER (0), VALIDATOR (1) or EVALUATOR (2).
    error InvalidRole(uint8 role);
    /// @notice An amount of zero was given where a positive amount is needed.
    error ZeroAmount();
    /// @notice The address holds `have` but the operation needs `need`.
    error InsufficientStake(uint256 have, uint256 need);
    /// @notice Nothing is cooling for this role.
    error NothingToWithdraw(uint8 role);
    /// @notice The cooldown of this role ends at `cooldownEnd`, it is `nowTime`.
    error CooldownActive(uint64 nowTime, uint64 cooldownEnd);
    /// @notice The proof of possession recovers to `recovered` instead of the identity address `expected`.
    error InvalidPeerSignature(address recovered, address expected);
    /// @notice The peer id with hash `peerIdHash` already belongs to `owner`.
    error PeerTaken(bytes32 peerIdHash, address owner);
    /// @notice Only the Settlement contract may call this; `caller` is not it.
    error NotSettlement(address caller);
    /// @notice The Settlement address can be set once only; it is `current`.
    error SettlementAlreadySet(address current);
    /// @notice The zero address is not allowed here.
    error ZeroAddress();
    /// @notice `who` has `free` unlocked active stake for `role`, the operation needs `need`.
    error InsufficientFreeStake(address who, uint8 role, uint256 free, uint256 need);
    /// @notice `who` has `locked` stake locked for `role`; unlocking or slashing `amount` exceeds it.
    error ExceedsLocked(address who, uint8 role, uint256 locked, uint256 amount);
    /// @notice The cooldown must be positive.
    error ZeroCooldown();

    /// @notice `who` added `amount` to its active stake for `role`, which is now `active`.
    event Staked(address indexed who, uint8 indexed role, uint256 amount, uint256 active);
    /// @notice `who` moved `amount` from active to cooling stake; it can leave at `cooldownEnd`.
    event UnstakeRequested(address indexed who, uint8 indexed role, uint256 amount, uint64 cooldownEnd);
    /// @notice `who` withdrew its cooled stake `amount` for `role`.
    event Withdrawn(address indexed who, uint8 indexed role, uint256 amount);
    /// @notice `amount` of `who`'s stake for `role` was slashed and sent to `to`.
    event Slashed(address indexed who, uint8 indexed role, uint256 amount, address indexed to);
    /// @notice `who` proved possession of the libp2p identity `peerId` and bound it to itself.
    event PeerRegistered(address indexed who, bytes32 indexed peerIdHash, bytes peerId);
    /// @notice `who` rotated away from the peer id with hash `peerIdHash`, which is free again.
    event PeerReleased(address indexed who, bytes32 indexed peerIdHash);
    /// @notice Settlement locked `amount` of `who`'s `role` stake; `locked` is now locked in all.
    event Locked(address indexed who, uint8 indexed role, uint256 amount, uint256 locked);
    /// @notice Settlement released `amount` of `who`'s locked `role` stake; `locked` remains locked.
    event Unlocked(address indexed who, uint8 indexed role, uint256 amount, uint256 locked);
    /// @notice The Settlement contract allowed to slash was set to `settlement`.
    event SettlementSet(address indexed settlement);

    /// @notice Adds `amount` tokens (pulled with transferFrom) to the caller's active stake for `role`.
    function stake(uint8 role, uint256 amount) external;

    /// @notice Moves `amount` of the caller's free (active, unlocked) stake for `role` to cooling and restarts
    /// the cooldown. Locked stake cannot leave.
    function requestUnstake(uint8 role, uint256 amount) external;

    /// @notice Pays out the caller's whole cooling stake for `role` once its cooldown has ended.
    /// @return amount The amount withdrawn.
    function withdraw(uint8 role) external returns (uint256 amount);

    /// @notice Binds the libp2p secp256k1 identity `(x, y)` to the caller with a proof of possession.
    /// @dev `(v, r, s)` is a raw signature by the identity key over `peerBindingDigest(msg.sender)`.
    /// @return peerId The canonical 39-byte libp2p peer id of the identity.
    function registerPeer(bytes32 x, bytes32 y, uint8 v, bytes32 r, bytes32 s)
        external
        returns (bytes memory peerId);

    /// @notice Locks `amount` of `who`'s free stake for `role` (a task's deterrence lock or a verdict bond).
    /// @dev Only the Settlement contract; reverts with InsufficientFreeStake.
    function lock(address who, uint8 role, uint256 amount) external;

    /// @notice Releases `amount` of `who`'s locked stake for `role`. Only the Settlement contract.
    function unlock(address who, uint8 role, uint256 amount) external;

    /// @notice Slashes exactly `amount` of `who`'s locked stake for `role` to `to` (the stake leaves active and
    /// locked together). Reverts with ExceedsLocked when `amount` is more than is locked: slash <= locked.
    /// @dev Only the Settlement contract.
    /// @return slashed The amount slashed (always `amount`).
    function slash(address who, uint8 role, uint256 amount, address to) external returns (uint256 slashed);

    /// @notice The ERC20 token staked.
    function token() external view returns (address);

    /// @notice Seconds a requested unstake cools before it can be withdrawn.
    function cooldown() external view returns (uint64);

    /// @notice The contract allowed to slash.
    function settlement() external view returns (address);

    /// @notice Minimum active stake for `role` to count as staked.
    function minStake(uint8 role) external view returns (uint256);

    /// @notice Active stake of `who` for `role`.
    function activeStake(address who, uint8 role) external view returns (uint256);

    /// @notice Cooling stake of `who` for `role` (still slashable).
    function coolingStake(address who, uint8 role) external view returns (uint256);

    /// @notice Unix time from which the cooling stake of `who` for `role` can be withdrawn.
    function cooldownEnd(address who, uint8 role) external view returns (uint64);

    /// @notice Locked stake of `who` for `role` (part of the active stake; cannot be unstaked).
    function lockedStake(address who, uint8 role) external view returns (uint256);

    /// @notice Free stake of `who` for `role`: active minus locked.
    function freeStake(address who, uint8 role) external view returns (uint256);

    /// @notice Active validator stake of `who` at unix time `time` (checkpointed; `time` may be in the past).
    function validatorStakeAt(address who, uint48 time) external view returns (uint256);

    /// @notice Total active validator stake at unix time `time` (checkpointed).
    function totalValidatorStakeAt(uint48 time) external view returns (uint256);

    /// @notice Whether the active stake of `who` for `role` is at least the role's minimum.
    function isStaked(address who, uint8 role) external view returns (bool);

    /// @notice The digest a libp2p identity key signs (raw, no EIP-191 prefix) to bind itself to `who`.
    function peerBindingDigest(address who) external view returns (bytes32);

    /// @notice The peer id bound to `who`, empty when none.
    function peerIdOf(address who) external view returns (bytes memory);

    /// @notice The address a peer id (given as keccak256 of its bytes) is bound to, 0 when none.
    function ownerOfPeer(bytes32 peerIdHash) external view returns (address);
}
