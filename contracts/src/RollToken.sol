// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title RollToken
/// @notice ERC20 used for stake and rewards on devnets; the other contracts accept any ERC20.
contract RollToken is ERC20, Ownable {
    constructor(address initialOwner) ERC20("Rollproof Token", "RPT") Ownable(initialOwner) {}

    /// @notice Mints `amount` to `to`. Devnet faucet; only the owner may mint.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
