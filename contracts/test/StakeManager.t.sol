// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Fixture} from "./utils/Fixture.sol";
import {Vm} from "./utils/Vm.sol";
import {StakeManager} from "../src/StakeManager.sol";
import {IStakeManager} from "../src/interfaces/IStakeManager.sol";
import {RollToken} from "../src/RollToken.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

contract StakeManagerTest is Fixture {
    event Staked(address indexed who, uint8 indexed role, uint256 amount, uint256 active);
    event UnstakeRequested(address indexed who, uint8 indexed role, uint256 amount, uint64 cooldownEnd);
    event Withdrawn(address indexed who, uint8 indexed role, uint256 amount);
    event Slashed(address indexed who, uint8 indexed role, uint256 amount, address indexed to);
    event PeerRegistered(address indexed who, bytes32 indexed peerIdHash, bytes peerId);
    event PeerReleased(address indexed who, bytes32 indexed peerIdHash);
    event SettlementSet(address indexed settlement);

    address internal alice = address(0xA11CE);
    address internal bob = address(0xB0B0);

    // Identity key 0xA11CE; its peer id as computed by py-libp2p (ID.from_pubkey(...).to_bytes()),
    // i.e. 16Uiu2HAm6crNx8cLaYYUx1kBLSMnCYt1YE4u5oeMvEVXydn1NRKf.
    uint256 internal constant PEER_KEY = 0xA11CE;
    bytes internal constant PEER_ID =
        hex"00250802122102a64db41e2968c849c2a5615ba0d6e816734a6d3e6ea6ecd6f3acb7d59daa9102";

    // ------------------------------------------------------------ constructor

    function test_Constructor_SetsParameters() public view {
        assertEq(stakes.token(), address(token), "token");
        assertEq(stakes.cooldown(), COOLDOWN, "cooldown");
        assertEq(stakes.minStake(MINER), MIN_MINER, "min miner");
        assertEq(stakes.minStake(VALIDATOR), MIN_VALIDATOR, "min validator");
        assertEq(stakes.minStake(EVALUATOR), MIN_EVALUATOR, "min evaluator");
        assertEq(stakes.settlement(), address(settlement), "settlement");
        assertEq(stakes.owner(), address(this), "owner");
    }

    function test_Constructor_RevertsOnZeroToken() public {
        vm.expectRevert(IStakeManager.ZeroAddress.selector);
        new StakeManager(
            IERC20(address(0)), COOLDOWN, [MIN_MINER, MIN_VALIDATOR, MIN_EVALUATOR], address(this)
        );
    }

    function test_Constructor_RevertsOnZeroCooldown() public {
        vm.expectRevert(IStakeManager.ZeroCooldown.selector);
        new StakeManager(token, 0, [MIN_MINER, MIN_VALIDATOR, MIN_EVALUATOR], address(this));
    }

    // ---------------------------------------------------------- setSettlement

    function test_SetSettlement_OnlyOnce() public {
        vm.expectRevert(
            abi.encodeWithSelector(IStakeManager.SettlementAlreadySet.selector, address(settlement))
        );
        stakes.setSettlement(address(0xdead));
    }

    function test_SetSettlement_OnlyOwner() public {
        StakeManager fresh =
            new StakeManager(token, COOLDOWN, [MIN_MINER, MIN_VALIDATOR, MIN_EVALUATOR], address(this));
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, alice));
        fresh.setSettlement(alice);
    }

    function test_SetSettlement_RejectsZeroAndEmits() public {
        StakeManager fresh =
            new StakeManager(token, COOLDOWN, [MIN_MINER, MIN_VALIDATOR, MIN_EVALUATOR], address(this));
        vm.expectRevert(IStakeManager.ZeroAddress.selector);
        fresh.setSettlement(address(0));
        vm.expectEmit(true, false, false, true, address(fresh));
        emit SettlementSet(address(settlement));
        fresh.setSettlement(address(settlement));
        assertEq(fresh.settlement(), address(settlement), "set");
    }

    // ------------------------------------------------------------------ stake

    function test_Stake_AddsActiveStakeAndPullsTokens() public {
        token.mint(alice, 300e18);
        vm.startPrank(alice);
        token.approve(address(stakes), 300e18);
        vm.expectEmit(true, true, false, true, address(stakes));
        emit Staked(alice, MINER, 120e18, 120e18);
        stakes.stake(MINER, 120e18);
        stakes.stake(MINER, 30e18);
        vm.stopPrank();
        assertEq(stakes.activeStake(alice, MINER), 150e18, "active");
        assertEq(token.balanceOf(address(stakes)), 150e18, "held");
        assertEq(token.balanceOf(alice), 150e18, "left");
        assertTrue(stakes.isStaked(alice, MINER), "staked");
        assertTrue(!stakes.isStaked(alice, VALIDATOR), "other role untouched");
    }

    function test_Stake_RevertsOnInvalidRole() public {
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.InvalidRole.selector, uint8(3)));
        stakes.stake(3, 1);
    }

    function test_Stake_RevertsOnZero() public {
        vm.expectRevert(IStakeManager.ZeroAmount.selector);
        stakes.stake(MINER, 0);
    }

    function test_Stake_RevertsWithoutAllowance() public {
        token.mint(alice, 100e18);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientAllowance.selector, address(stakes), 0, 100e18
            )
        );
        stakes.stake(MINER, 100e18);
    }

    function test_IsStaked_NeedsTheRoleMinimum() public {
        _stake(alice, EVALUATOR, MIN_EVALUATOR - 1);
        assertTrue(!stakes.isStaked(alice, EVALUATOR), "below minimum");
        _stake(alice, EVALUATOR, 1);
        assertTrue(stakes.isStaked(alice, EVALUATOR), "at minimum");
        assertTrue(!stakes.isStaked(bob, EVALUATOR), "never staked");
    }

    function test_IsStaked_ZeroMinimumStillNeedsStake() public {
        StakeManager free = new StakeManager(token, COOLDOWN, [uint256(0), 0, 0], address(this));
        assertTrue(!free.isStaked(alice, MINER), "no stake, not staked");
    }

    function test_Views_RevertOnInvalidRole() public {
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.InvalidRole.selector, uint8(7)));
        stakes.minStake(7);
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.InvalidRole.selector, uint8(3)));
        stakes.activeStake(alice, 3);
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.InvalidRole.selector, uint8(3)));
        stakes.coolingStake(alice, 3);
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.InvalidRole.selector, uint8(3)));
        stakes.cooldownEnd(alice, 3);
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.InvalidRole.selector, uint8(3)));
        stakes.isStaked(alice, 3);
    }

    // ---------------------------------------------------- unstake and withdraw

    function test_RequestUnstake_MovesToCoolingAndStartsClock() public {
        _stake(alice, VALIDATOR, 250e18);
        uint64 end = uint64(block.timestamp) + COOLDOWN;
        vm.expectEmit(true, true, false, true, address(stakes));
        emit UnstakeRequested(alice, VALIDATOR, 200e18, end);
        vm.prank(alice);
        stakes.requestUnstake(VALIDATOR, 200e18);
        assertEq(stakes.activeStake(alice, VALIDATOR), 50e18, "active");
        assertEq(stakes.coolingStake(alice, VALIDATOR), 200e18, "cooling");
        assertEq(stakes.cooldownEnd(alice, VALIDATOR), end, "end");
        assertTrue(!stakes.isStaked(alice, VALIDATOR), "below minimum after unstake");
    }

    function test_RequestUnstake_RevertsAboveActive() public {
        _stake(alice, MINER, 100e18);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.InsufficientStake.selector, 100e18, 100e18 + 1));
        stakes.requestUnstake(MINER, 100e18 + 1);
    }

    function test_RequestUnstake_RevertsOnZeroAndInvalidRole() public {
        vm.expectRevert(IStakeManager.ZeroAmount.selector);
        stakes.requestUnstake(MINER, 0);
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.InvalidRole.selector, uint8(3)));
        stakes.requestUnstake(3, 1);
    }

    function test_Withdraw_AfterCooldownPaysOut() public {
        _stake(alice, MINER, 100e18);
        vm.prank(alice);
        stakes.requestUnstake(MINER, 40e18);
        vm.warp(block.timestamp + COOLDOWN);
        vm.expectEmit(true, true, false, true, address(stakes));
        emit Withdrawn(alice, MINER, 40e18);
        vm.prank(alice);
        uint256 got = stakes.withdraw(MINER);
        assertEq(got, 40e18, "returned");
        assertEq(token.balanceOf(alice), 40e18, "paid");
        assertEq(stakes.coolingStake(alice, MINER), 0, "cooling emptied");
        assertEq(stakes.activeStake(alice, MINER), 60e18, "active untouched");
    }

    function test_Withdraw_RevertsDuringCooldown() public {
        _stake(alice, MINER, 100e18);
        vm.prank(alice);
        stakes.requestUnstake(MINER, 100e18);
        uint64 end = uint64(block.timestamp) + COOLDOWN;
        vm.warp(end - 1);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.CooldownActive.selector, end - 1, end));
        stakes.withdraw(MINER);
    }

    function test_Withdraw_RevertsWithNothingCooling() public {
        _stake(alice, MINER, 100e18);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.NothingToWithdraw.selector, MINER));
        stakes.withdraw(MINER);
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.InvalidRole.selector, uint8(3)));
        stakes.withdraw(3);
    }

    function test_RequestUnstake_RestartsTheClockForAllCoolingStake() public {
        _stake(alice, MINER, 100e18);
        vm.prank(alice);
        stakes.requestUnstake(MINER, 10e18);
        vm.warp(block.timestamp + COOLDOWN - 1);
        vm.prank(alice);
        stakes.requestUnstake(MINER, 10e18);
        uint64 end = uint64(block.timestamp) + COOLDOWN;
        vm.warp(block.timestamp + 1);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IStakeManager.CooldownActive.selector, uint64(block.timestamp), end)
        );
        stakes.withdraw(MINER);
    }

    function testFuzz_StakeUnstakeWithdraw(uint256 amount, uint256 out, uint256 wait) public {
        amount = bound(amount, 1, 1e30);
        out = bound(out, 1, amount);
        wait = bound(wait, 0, 3 * uint256(COOLDOWN));
        _stake(alice, MINER, amount);
        vm.prank(alice);
        stakes.requestUnstake(MINER, out);
        vm.warp(block.timestamp + wait);
        vm.prank(alice);
        if (wait < COOLDOWN) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IStakeManager.CooldownActive.selector,
                    uint64(block.timestamp),
                    uint64(block.timestamp - wait + COOLDOWN)
                )
            );
            stakes.withdraw(MINER);
            assertEq(token.balanceOf(alice), 0, "nothing left early");
        } else {
            stakes.withdraw(MINER);
            assertEq(token.balanceOf(alice), out, "paid the cooled amount");
        }
        assertEq(stakes.activeStake(alice, MINER), amount - out, "active");
        assertEq(
            token.balanceOf(address(stakes)),
            stakes.activeStake(alice, MINER) + stakes.coolingStake(alice, MINER),
            "held == accounted"
        );
    }

    // ------------------------------------------------------------------ slash

    function test_Slash_OnlySettlement() public {
        _stake(alice, MINER, 100e18);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.NotSettlement.selector, bob));
        stakes.slash(alice, MINER, 1, bob);
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.NotSettlement.selector, address(this)));
        stakes.slash(alice, MINER, 1, address(this));
    }

    function test_Slash_RevertsBeforeSettlementIsSet() public {
        StakeManager fresh =
            new StakeManager(token, COOLDOWN, [MIN_MINER, MIN_VALIDATOR, MIN_EVALUATOR], address(this));
        // With no settlement set, even the zero address cannot slash.
        vm.prank(address(0));
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.NotSettlement.selector, address(0)));
        fresh.slash(alice, MINER, 1, bob);
    }

    function _lock(address who, uint8 role, uint256 amount) internal {
        vm.prank(address(settlement));
        stakes.lock(who, role, amount);
    }

    /// Issue 11 attack 4 at the StakeManager: only locked stake can be slashed, and locked stake cannot leave.
    function test_Slash_TakesOnlyLockedStake() public {
        _stake(alice, MINER, 100e18);
        _lock(alice, MINER, 60e18);
        assertEq(stakes.freeStake(alice, MINER), 40e18, "free = active - locked");
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.InsufficientStake.selector, 40e18, 50e18));
        stakes.requestUnstake(MINER, 50e18);
        vm.prank(alice);
        stakes.requestUnstake(MINER, 40e18);

        vm.prank(address(settlement));
        vm.expectRevert(
            abi.encodeWithSelector(IStakeManager.ExceedsLocked.selector, alice, MINER, 60e18, 60e18 + 1)
        );
        stakes.slash(alice, MINER, 60e18 + 1, bob);

        vm.expectEmit(true, true, true, true, address(stakes));
        emit Slashed(alice, MINER, 50e18, bob);
        vm.prank(address(settlement));
        uint256 got = stakes.slash(alice, MINER, 50e18, bob);
        assertEq(got, 50e18, "slashed");
        assertEq(stakes.activeStake(alice, MINER), 10e18, "taken from active");
        assertEq(stakes.lockedStake(alice, MINER), 10e18, "and from locked");
        assertEq(stakes.coolingStake(alice, MINER), 40e18, "cooling stake untouched");
        assertEq(token.balanceOf(bob), 50e18, "sent to receiver");
    }

    function test_Lock_NeedsFreeStakeAndOnlySettlement() public {
        _stake(alice, MINER, 100e18);
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.NotSettlement.selector, address(this)));
        stakes.lock(alice, MINER, 1);
        _lock(alice, MINER, 70e18);
        vm.prank(address(settlement));
        vm.expectRevert(
            abi.encodeWithSelector(IStakeManager.InsufficientFreeStake.selector, alice, MINER, 30e18, 31e18)
        );
        stakes.lock(alice, MINER, 31e18);
        // Roles are separate: validator stake does not back a miner lock.
        _stake(alice, VALIDATOR, 100e18);
        vm.prank(address(settlement));
        vm.expectRevert(
            abi.encodeWithSelector(IStakeManager.InsufficientFreeStake.selector, alice, MINER, 30e18, 31e18)
        );
        stakes.lock(alice, MINER, 31e18);
    }

    function test_Unlock_ReleasesAndNeverMoreThanLocked() public {
        _stake(alice, MINER, 100e18);
        _lock(alice, MINER, 70e18);
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.NotSettlement.selector, address(this)));
        stakes.unlock(alice, MINER, 1);
        vm.prank(address(settlement));
        vm.expectRevert(
            abi.encodeWithSelector(IStakeManager.ExceedsLocked.selector, alice, MINER, 70e18, 70e18 + 1)
        );
        stakes.unlock(alice, MINER, 70e18 + 1);
        vm.prank(address(settlement));
        stakes.unlock(alice, MINER, 70e18);
        assertEq(stakes.lockedStake(alice, MINER), 0, "released");
        vm.prank(alice);
        stakes.requestUnstake(MINER, 100e18);
    }

    function testFuzz_Slash_NeverExceedsLocked(uint256 staked, uint256 locked, uint256 amount) public {
        staked = bound(staked, 1, 1e30);
        locked = bound(locked, 0, staked);
        amount = bound(amount, 0, 3e30);
        _stake(alice, MINER, staked);
        _lock(alice, MINER, locked);
        vm.prank(address(settlement));
        if (amount > locked) {
            vm.expectRevert(
                abi.encodeWithSelector(IStakeManager.ExceedsLocked.selector, alice, MINER, locked, amount)
            );
            stakes.slash(alice, MINER, amount, bob);
            return;
        }
        uint256 got = stakes.slash(alice, MINER, amount, bob);
        assertEq(got, amount, "exactly the amount");
        assertEq(token.balanceOf(bob), got, "moved");
        assertEq(stakes.activeStake(alice, MINER), staked - got, "stake reduced exactly");
        assertEq(stakes.lockedStake(alice, MINER), locked - got, "locked reduced exactly");
        assertEq(token.balanceOf(address(stakes)), staked - got, "held == accounted");
    }

    /// Sortition reads validator stake at a task's commit deadline: later changes do not rewrite the past.
    function test_ValidatorStake_IsCheckpointedByTimestamp() public {
        uint48 t0 = uint48(block.timestamp);
        _stake(alice, VALIDATOR, 100e18);
        _stake(bob, VALIDATOR, 300e18);
        vm.warp(t0 + 10);
        _stake(alice, VALIDATOR, 50e18);
        vm.warp(t0 + 20);
        vm.prank(bob);
        stakes.requestUnstake(VALIDATOR, 100e18);
        _stake(alice, MINER, 1000e18); // other roles are not counted
        assertEq(stakes.validatorStakeAt(alice, t0 - 1), 0, "before staking");
        assertEq(stakes.validatorStakeAt(alice, t0 + 9), 100e18, "alice before the top-up");
        assertEq(stakes.validatorStakeAt(alice, t0 + 10), 150e18, "alice after the top-up");
        assertEq(stakes.totalValidatorStakeAt(t0), 400e18, "total at t0");
        assertEq(stakes.totalValidatorStakeAt(t0 + 15), 450e18, "total after the top-up");
        assertEq(stakes.totalValidatorStakeAt(t0 + 20), 350e18, "total after bob's unstake");
        assertEq(stakes.validatorStakeAt(bob, t0 + 19), 300e18, "bob before");
        assertEq(stakes.validatorStakeAt(bob, t0 + 20), 200e18, "bob after");
        // A slash of locked validator stake (a forfeited bond) lowers the checkpoint too.
        _lock(alice, VALIDATOR, 20e18);
        vm.warp(t0 + 30);
        vm.prank(address(settlement));
        stakes.slash(alice, VALIDATOR, 20e18, bob);
        assertEq(stakes.validatorStakeAt(alice, t0 + 30), 130e18, "after the slash");
        assertEq(stakes.totalValidatorStakeAt(t0 + 30), 330e18, "total after the slash");
    }

    // ----------------------------------------------------------- registerPeer

    function _signBinding(uint256 key, address who) internal view returns (uint8 v, bytes32 r, bytes32 s) {
        return vm.sign(key, stakes.peerBindingDigest(who));
    }

    function test_PeerBindingDigest_MatchesTheSpec() public view {
        bytes32 want = keccak256(abi.encode("rollproof.peer.v1", block.chainid, address(stakes), alice));
        assertEq(stakes.peerBindingDigest(alice), want, "digest");
    }

    function test_RegisterPeer_BindsTheLibp2pPeerId() public {
        Vm.Wallet memory w = vm.createWallet(PEER_KEY);
        (uint8 v, bytes32 r, bytes32 s) = _signBinding(PEER_KEY, alice);
        vm.expectEmit(true, true, false, true, address(stakes));
        emit PeerRegistered(alice, keccak256(PEER_ID), PEER_ID);
        vm.prank(alice);
        bytes memory peerId = stakes.registerPeer(bytes32(w.publicKeyX), bytes32(w.publicKeyY), v, r, s);
        assertEq(peerId, PEER_ID, "py-libp2p peer id");
        assertEq(stakes.peerIdOf(alice), PEER_ID, "peerIdOf");
        assertEq(stakes.ownerOfPeer(keccak256(PEER_ID)), alice, "ownerOfPeer");
    }

    function test_Libp2pPeerId_OddY() public view {
        bytes memory id = stakes.libp2pPeerId(bytes32(uint256(5)), bytes32(uint256(3)));
        assertEq(id.length, 39, "39 bytes");
        assertEq(uint8(id[6]), 3, "odd y gives prefix 0x03");
    }

    /// Adversarial: bob replays alice's proof of possession to claim her peer id; the digest names the
    /// sender, so the signature recovers to some other address.
    function test_RegisterPeer_SecondAddressCannotClaimAPeerIdItDoesNotHold() public {
        Vm.Wallet memory w = vm.createWallet(PEER_KEY);
        (uint8 v, bytes32 r, bytes32 s) = _signBinding(PEER_KEY, alice);
        vm.prank(alice);
        stakes.registerPeer(bytes32(w.publicKeyX), bytes32(w.publicKeyY), v, r, s);

        address recovered = ecrecover(stakes.peerBindingDigest(bob), v, r, s);
        vm.prank(bob);
        vm.expectRevert(
            abi.encodeWithSelector(IStakeManager.InvalidPeerSignature.selector, recovered, w.addr)
        );
        stakes.registerPeer(bytes32(w.publicKeyX), bytes32(w.publicKeyY), v, r, s);
        assertEq(stakes.ownerOfPeer(keccak256(PEER_ID)), alice, "still alice's");
        assertEq(stakes.peerIdOf(bob).length, 0, "bob has none");
    }

    /// Adversarial: a signature over another address (bob's digest) fails for alice.
    function test_RegisterPeer_SignatureOverAnotherAddressFails() public {
        Vm.Wallet memory w = vm.createWallet(PEER_KEY);
        (uint8 v, bytes32 r, bytes32 s) = _signBinding(PEER_KEY, bob);
        address recovered = ecrecover(stakes.peerBindingDigest(alice), v, r, s);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IStakeManager.InvalidPeerSignature.selector, recovered, w.addr)
        );
        stakes.registerPeer(bytes32(w.publicKeyX), bytes32(w.publicKeyY), v, r, s);
    }

    /// Adversarial: a signature by a different key than the claimed public key fails.
    function test_RegisterPeer_WrongKeyFails() public {
        Vm.Wallet memory w = vm.createWallet(PEER_KEY);
        (uint8 v, bytes32 r, bytes32 s) = _signBinding(PEER_KEY + 1, alice);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IStakeManager.InvalidPeerSignature.selector, vm.addr(PEER_KEY + 1), w.addr)
        );
        stakes.registerPeer(bytes32(w.publicKeyX), bytes32(w.publicKeyY), v, r, s);
    }

    /// Adversarial: a proof made for another chain does not verify here.
    function test_RegisterPeer_ProofFromAnotherChainFails() public {
        Vm.Wallet memory w = vm.createWallet(PEER_KEY);
        (uint8 v, bytes32 r, bytes32 s) = _signBinding(PEER_KEY, alice);
        vm.chainId(block.chainid + 1);
        vm.prank(alice);
        vm.expectRevert();
        stakes.registerPeer(bytes32(w.publicKeyX), bytes32(w.publicKeyY), v, r, s);
    }

    function test_RegisterPeer_MalformedSignatureFails() public {
        Vm.Wallet memory w = vm.createWallet(PEER_KEY);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IStakeManager.InvalidPeerSignature.selector, address(0), w.addr)
        );
        stakes.registerPeer(bytes32(w.publicKeyX), bytes32(w.publicKeyY), 29, bytes32(0), bytes32(0));
    }

    /// Even the key holder cannot bind one peer id to two addresses.
    function test_RegisterPeer_PeerTakenByAnotherAddress() public {
        Vm.Wallet memory w = vm.createWallet(PEER_KEY);
        (uint8 v, bytes32 r, bytes32 s) = _signBinding(PEER_KEY, alice);
        vm.prank(alice);
        stakes.registerPeer(bytes32(w.publicKeyX), bytes32(w.publicKeyY), v, r, s);
        (v, r, s) = _signBinding(PEER_KEY, bob);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.PeerTaken.selector, keccak256(PEER_ID), alice));
        stakes.registerPeer(bytes32(w.publicKeyX), bytes32(w.publicKeyY), v, r, s);
    }

    function test_RegisterPeer_RotationFreesTheOldPeerId() public {
        Vm.Wallet memory w1 = vm.createWallet(PEER_KEY);
        Vm.Wallet memory w2 = vm.createWallet(PEER_KEY + 1);
        (uint8 v, bytes32 r, bytes32 s) = _signBinding(PEER_KEY, alice);
        vm.prank(alice);
        stakes.registerPeer(bytes32(w1.publicKeyX), bytes32(w1.publicKeyY), v, r, s);
        // Re-registering the same id is idempotent.
        vm.prank(alice);
        stakes.registerPeer(bytes32(w1.publicKeyX), bytes32(w1.publicKeyY), v, r, s);
        assertEq(stakes.ownerOfPeer(keccak256(PEER_ID)), alice, "idempotent");

        (v, r, s) = _signBinding(PEER_KEY + 1, alice);
        vm.expectEmit(true, true, false, true, address(stakes));
        emit PeerReleased(alice, keccak256(PEER_ID));
        vm.prank(alice);
        bytes memory id2 = stakes.registerPeer(bytes32(w2.publicKeyX), bytes32(w2.publicKeyY), v, r, s);
        assertEq(stakes.ownerOfPeer(keccak256(PEER_ID)), address(0), "old id freed");
        assertEq(stakes.ownerOfPeer(keccak256(id2)), alice, "new id bound");
        assertEq(stakes.peerIdOf(alice), id2, "peerIdOf rotated");

        // The freed id can now be bound by another address that holds the key.
        (v, r, s) = _signBinding(PEER_KEY, bob);
        vm.prank(bob);
        stakes.registerPeer(bytes32(w1.publicKeyX), bytes32(w1.publicKeyY), v, r, s);
        assertEq(stakes.ownerOfPeer(keccak256(PEER_ID)), bob, "rebound");
    }
}
