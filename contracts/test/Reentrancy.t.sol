// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Disputes} from "../src/Disputes.sol";
import {Fixture} from "./utils/Fixture.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {StakeManager} from "../src/StakeManager.sol";
import {TaskBoard} from "../src/TaskBoard.sol";
import {Settlement} from "../src/Settlement.sol";
import {ISettlement} from "../src/interfaces/ISettlement.sol";
import {ITaskBoard} from "../src/interfaces/ITaskBoard.sol";

interface ITokenHook {
    function onTokens() external;
}

/// @dev An ERC20 that calls the receiver back on every transfer to a contract (like ERC777 hooks):
/// the worst token a deployer could pick.
contract HookToken is ERC20 {
    constructor() ERC20("Hook", "HOOK") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        // Contracts without the hook (the protocol's own) just do not answer.
        if (to.code.length != 0 && from != address(0)) {
            try ITokenHook(to).onTokens() {} catch {}
        }
    }
}

/// @dev A miner contract that tries to claim again (and to withdraw stake again) from inside the
/// token callback.
contract Reenterer is ITokenHook {
    Settlement internal settlement;
    StakeManager internal stakes;
    bool public reenteredClaim;
    bool public reenteredWithdraw;
    uint256 public callbacks;

    constructor(Settlement settlement_, StakeManager stakes_) {
        settlement = settlement_;
        stakes = stakes_;
    }

    function onTokens() external {
        callbacks += 1;
        if (msg.sender != settlement.token()) return;
        try settlement.claim() {
            reenteredClaim = true;
        } catch {}
        try stakes.withdraw(0) {
            reenteredWithdraw = true;
        } catch {}
    }

    function call(address target, bytes calldata data) external {
        (bool ok, bytes memory ret) = target.call(data);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
    }
}

contract ReentrancyTest is Fixture {
    HookToken internal hook;
    Reenterer internal attacker;

    function setUp() public override {
        super.setUp();
        hook = new HookToken();
        stakes = new StakeManager(
            IERC20(address(hook)), COOLDOWN, [MIN_MINER, MIN_VALIDATOR, MIN_EVALUATOR], address(this)
        );
        board = new TaskBoard(IERC20(address(hook)), beacon, MAX_TASK, MIN_AUDIT, address(this));
        ISettlement.Params memory params = _defaultParams();
        params.validatorFeeBps = 0;
        settlement = new Settlement(IERC20(address(hook)), stakes, board, beacon, params);
        stakes.setSettlement(address(settlement));
        board.setSettlement(address(settlement));
        disputes = new Disputes(settlement, _disputeParams(beacon.period() + board.BEACON_LAG()));
        settlement.setDisputes(address(disputes));
        attacker = new Reenterer(settlement, stakes);
    }

    /// Adversarial: the paid miner re-enters claim (and withdraw) from the token callback; it is paid
    /// exactly once.
    function test_ClaimCannotBeReentered() public {
        hook.mint(address(attacker), MINER_STAKE);
        attacker.call(address(hook), abi.encodeCall(IERC20.approve, (address(stakes), MINER_STAKE)));
        attacker.call(address(stakes), abi.encodeCall(StakeManager.stake, (MINER, MINER_STAKE)));
        address validator = _actor("validator", 0);
        hook.mint(validator, 1000e18);
        vm.startPrank(validator);
        hook.approve(address(stakes), 1000e18);
        stakes.stake(VALIDATOR, 1000e18);
        vm.stopPrank();

        ITaskBoard.TaskParams memory p = _params(REWARD);
        hook.mint(proposer, REWARD);
        vm.startPrank(proposer);
        hook.approve(address(board), REWARD);
        uint256 taskId = board.postTask(p);
        vm.stopPrank();
        attacker.call(
            address(settlement), abi.encodeCall(Settlement.join, (taskId, bytes32(0), keccak256("secret")))
        );
        attacker.call(address(settlement), abi.encodeCall(Settlement.commit, (taskId, keccak256("r"), P * G)));
        ISettlement.Verdict[] memory a = _one(_verdict(address(attacker), true, 1e6));
        _toVerdictWindow(taskId);
        _commitVerdict(taskId, validator, a);
        _toRevealWindow(taskId);
        _reveal(taskId, validator, a);
        _toFinalize(taskId);
        settlement.finalize(taskId);
        uint256 cap = REWARD / MAX_MINERS;
        assertEq(settlement.claimable(address(attacker)), cap, "the whole cap credited (score 1.0)");

        attacker.call(address(settlement), abi.encodeCall(Settlement.claim, ()));
        assertEq(attacker.callbacks(), 1, "the callback ran");
        assertTrue(!attacker.reenteredClaim(), "second claim refused");
        assertTrue(!attacker.reenteredWithdraw(), "withdraw refused");
        assertEq(hook.balanceOf(address(attacker)), cap, "paid once");
        assertEq(
            hook.balanceOf(address(settlement)),
            settlement.claimable(proposer) + settlement.treasury(),
            "only the proposer's refund and the treasury are left"
        );
    }
}
