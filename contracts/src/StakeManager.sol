// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IStakeManager} from "./interfaces/IStakeManager.sol";

/// @title StakeManager
/// @notice Holds stake per role (MINER = 0, VALIDATOR = 1, EVALUATOR = 2), lets only free (unlocked) stake
/// leave and only after a cooldown that outlasts any task, checkpoints validator stake by timestamp for
/// committee sortition, binds libp2p peer ids to staked addresses with a proof of possession, and lets only
/// Settlement lock, unlock and slash locked stake (PROTOCOL.md 1 and 2.2).
contract StakeManager is IStakeManager, Ownable, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using Checkpoints for Checkpoints.Trace208;

    uint8 public constant MINER = 0;
    uint8 public constant VALIDATOR = 1;
    uint8 public constant EVALUATOR = 2;
    uint8 internal constant NUM_ROLES = 3;

    /// @dev Domain tag of the peer binding digest; versioned so a future format cannot replay old proofs.
    string public constant PEER_BINDING_TAG = "rollproof.peer.v1";

    struct RoleStake {
        uint256 active; // includes `locked`
        uint256 cooling; // left the role: not slashable, not counted for sortition
        uint64 cooldownEnd;
        uint256 locked; // part of `active` held by Settlement for open tasks; invariant locked <= active
    }

    IERC20 internal immutable _token;
    uint64 public immutable cooldown;
    uint256[3] internal _minStake;
    address public settlement;

    mapping(address who => RoleStake[3]) internal _stakes;
    mapping(address who => bytes peerId) internal _peerIdOf;
    mapping(bytes32 peerIdHash => address who) public ownerOfPeer;
    /// @dev Active validator stake per validator and in total, by block timestamp (sortition reads the
    /// values at a task's commit deadline, which lies before its challenge randomness exists).
    mapping(address who => Checkpoints.Trace208) internal _validatorStake;
    Checkpoints.Trace208 internal _totalValidatorStake;

    modifier onlySettlement() {
        if (msg.sender != settlement || settlement == address(0)) revert NotSettlement(msg.sender);
        _;
    }

    modifier validRole(uint8 role) {
        if (role >= NUM_ROLES) revert InvalidRole(role);
        _;
    }

    /// @param token_ The ERC20 staked (any ERC20).
    /// @param cooldown_ Seconds between requestUnstake and withdraw; must outlast the longest task.
    /// @param minStake_ Minimum active stake per role: [miner, validator, evaluator].
    /// @param owner_ The deployer, who sets the Settlement address once.
    constructor(IERC20 token_, uint64 cooldown_, uint256[3] memory minStake_, address owner_)
        Ownable(owner_)
    {
        if (address(token_) == address(0)) revert ZeroAddress();
        if (cooldown_ == 0) revert ZeroCooldown();
        _token = token_;
        cooldown = cooldown_;
        _minStake = minStake_;
    }

    /// @notice Sets the only contract allowed to slash. Owner only, once.
    function setSettlement(address settlement_) external onlyOwner {
        if (settlement != address(0)) revert SettlementAlreadySet(settlement);
        if (settlement_ == address(0)) revert ZeroAddress();
        settlement = settlement_;
        emit SettlementSet(settlement_);
    }

    /// @inheritdoc IStakeManager
    function stake(uint8 role, uint256 amount) external validRole(role) nonReentrant {
        if (amount == 0) revert ZeroAmount();
        RoleStake storage s = _stakes[msg.sender][role];
        s.active += amount;
        if (role == VALIDATOR) _checkpoint(msg.sender, s.active, amount, true);
        emit Staked(msg.sender, role, amount, s.active);
        _token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IStakeManager
    function requestUnstake(uint8 role, uint256 amount) external validRole(role) {
        if (amount == 0) revert ZeroAmount();
        RoleStake storage s = _stakes[msg.sender][role];
        uint256 free = s.active - s.locked;
        if (free < amount) revert InsufficientStake(free, amount);
        s.active -= amount;
        s.cooling += amount;
        if (role == VALIDATOR) _checkpoint(msg.sender, s.active, amount, false);
        // Restarting the clock for all cooling stake is deliberate: a staker cannot pre-age a cooldown
        // and then pull fresh stake out of a task that is still open.
        uint64 end = uint64(block.timestamp) + cooldown;
        s.cooldownEnd = end;
        emit UnstakeRequested(msg.sender, role, amount, end);
    }

    /// @inheritdoc IStakeManager
    function withdraw(uint8 role) external validRole(role) nonReentrant returns (uint256 amount) {
        RoleStake storage s = _stakes[msg.sender][role];
        amount = s.cooling;
        if (amount == 0) revert NothingToWithdraw(role);
        if (block.timestamp < s.cooldownEnd) revert CooldownActive(uint64(block.timestamp), s.cooldownEnd);
        s.cooling = 0;
        emit Withdrawn(msg.sender, role, amount);
        _token.safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc IStakeManager
    function registerPeer(bytes32 x, bytes32 y, uint8 v, bytes32 r, bytes32 s)
        external
        returns (bytes memory peerId)
    {
        address expected = address(uint160(uint256(keccak256(abi.encodePacked(x, y)))));
        address recovered = ecrecover(peerBindingDigest(msg.sender), v, r, s);
        // ecrecover returns 0 for malformed signatures; 0 can never equal a key's address in practice,
        // but the explicit check keeps a garbage key hashing to 0 from ever passing.
        if (recovered == address(0) || recovered != expected) {
            revert InvalidPeerSignature(recovered, expected);
        }

        peerId = libp2pPeerId(x, y);
        bytes32 peerIdHash = keccak256(peerId);
        address holder = ownerOfPeer[peerIdHash];
        if (holder != address(0) && holder != msg.sender) revert PeerTaken(peerIdHash, holder);

        bytes memory previous = _peerIdOf[msg.sender];
        if (previous.length != 0) {
            bytes32 previousHash = keccak256(previous);
            if (previousHash != peerIdHash) {
                delete ownerOfPeer[previousHash];
                emit PeerReleased(msg.sender, previousHash);
            }
        }
        ownerOfPeer[peerIdHash] = msg.sender;
        _peerIdOf[msg.sender] = peerId;
        emit PeerRegistered(msg.sender, peerIdHash, peerId);
    }

    /// @inheritdoc IStakeManager
    function lock(address who, uint8 role, uint256 amount) external validRole(role) onlySettlement {
        RoleStake storage s = _stakes[who][role];
        uint256 free = s.active - s.locked;
        if (free < amount) revert InsufficientFreeStake(who, role, free, amount);
        s.locked += amount;
        emit Locked(who, role, amount, s.locked);
    }

    /// @inheritdoc IStakeManager
    function unlock(address who, uint8 role, uint256 amount) external validRole(role) onlySettlement {
        RoleStake storage s = _stakes[who][role];
        if (amount > s.locked) revert ExceedsLocked(who, role, s.locked, amount);
        s.locked -= amount;
        emit Unlocked(who, role, amount, s.locked);
    }

    /// @inheritdoc IStakeManager
    function slash(address who, uint8 role, uint256 amount, address to)
        external
        validRole(role)
        onlySettlement
        nonReentrant
        returns (uint256 slashed)
    {
        RoleStake storage s = _stakes[who][role];
        // Only stake a task locked can be taken, so one stake cannot back more tasks than it covers and
        // free stake is never at risk from a task its owner did not lock it for.
        if (amount > s.locked) revert ExceedsLocked(who, role, s.locked, amount);
        s.locked -= amount;
        s.active -= amount;
        if (role == VALIDATOR) _checkpoint(who, s.active, amount, false);
        slashed = amount;
        emit Slashed(who, role, slashed, to);
        if (slashed != 0) _token.safeTransfer(to, slashed);
    }

    /// @notice The canonical libp2p peer id of a secp256k1 identity key `(x, y)`: the identity multihash
    /// (0x00, length 0x25) of the protobuf PublicKey {Type: Secp256k1, Data: compressed key}, 39 bytes.
    function libp2pPeerId(bytes32 x, bytes32 y) public pure returns (bytes memory) {
        // casting to 'uint8' is safe because the value is 0 or 1
        // forge-lint: disable-next-line(unsafe-typecast)
        bytes1 prefix = bytes1(uint8(2) + uint8(uint256(y) & 1));
        return abi.encodePacked(hex"0025", hex"08021221", prefix, x);
    }

    /// @inheritdoc IStakeManager
    function peerBindingDigest(address who) public view returns (bytes32) {
        return keccak256(abi.encode(PEER_BINDING_TAG, block.chainid, address(this), who));
    }

    /// @inheritdoc IStakeManager
    function token() external view returns (address) {
        return address(_token);
    }

    /// @inheritdoc IStakeManager
    function minStake(uint8 role) external view validRole(role) returns (uint256) {
        return _minStake[role];
    }

    /// @inheritdoc IStakeManager
    function activeStake(address who, uint8 role) external view validRole(role) returns (uint256) {
        return _stakes[who][role].active;
    }

    /// @inheritdoc IStakeManager
    function coolingStake(address who, uint8 role) external view validRole(role) returns (uint256) {
        return _stakes[who][role].cooling;
    }

    /// @inheritdoc IStakeManager
    function cooldownEnd(address who, uint8 role) external view validRole(role) returns (uint64) {
        return _stakes[who][role].cooldownEnd;
    }

    /// @inheritdoc IStakeManager
    function lockedStake(address who, uint8 role) external view validRole(role) returns (uint256) {
        return _stakes[who][role].locked;
    }

    /// @inheritdoc IStakeManager
    function freeStake(address who, uint8 role) external view validRole(role) returns (uint256) {
        RoleStake storage s = _stakes[who][role];
        return s.active - s.locked;
    }

    /// @inheritdoc IStakeManager
    function validatorStakeAt(address who, uint48 time) external view returns (uint256) {
        return _validatorStake[who].upperLookupRecent(time);
    }

    /// @inheritdoc IStakeManager
    function totalValidatorStakeAt(uint48 time) external view returns (uint256) {
        return _totalValidatorStake.upperLookupRecent(time);
    }

    /// @inheritdoc IStakeManager
    function isStaked(address who, uint8 role) external view validRole(role) returns (bool) {
        // A zero minimum still demands some stake, so an address that never staked is not "staked".
        uint256 active = _stakes[who][role].active;
        return active != 0 && active >= _minStake[role];
    }

    /// @inheritdoc IStakeManager
    function peerIdOf(address who) external view returns (bytes memory) {
        return _peerIdOf[who];
    }

    /// @dev Records `who`'s new active validator stake and moves the total by `amount` at this timestamp.
    function _checkpoint(address who, uint256 active, uint256 amount, bool up) internal {
        uint48 time = SafeCast.toUint48(block.timestamp);
        _validatorStake[who].push(time, SafeCast.toUint208(active));
        uint256 total = _totalValidatorStake.latest();
        total = up ? total + amount : total - amount;
        _totalValidatorStake.push(time, SafeCast.toUint208(total));
    }
}
