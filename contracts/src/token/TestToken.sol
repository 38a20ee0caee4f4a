// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.28;

/// @title TestToken: the value token of veil's tests and development
/// deployments (docs/evm.md §4). A plain ERC-20 (EIP-20) whose only extra
/// is `mint`, callable by the deployer alone. Not the bandwidth token.
/// @dev Failures revert with custom errors; no function returns `false`.
contract TestToken {
    string public constant name = "veil test token";
    string public constant symbol = "VEILT";
    uint8 public constant decimals = 0;

    /// The deployer: the only account that may mint.
    address public immutable minter;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    /// `mint` by anyone but the deployer.
    error NotMinter(address caller);
    /// A transfer of more than the sender's balance.
    error InsufficientBalance(address from, uint256 balance, uint256 needed);
    /// A `transferFrom` of more than the caller's allowance.
    error InsufficientAllowance(address owner, address spender, uint256 allowance, uint256 needed);
    /// A transfer or mint to the zero address (tokens would be lost).
    error ZeroAddress();

    constructor() {
        minter = msg.sender;
    }

    /// Creates `value` tokens for `to`. Deployer only.
    function mint(address to, uint256 value) external {
        if (msg.sender != minter) revert NotMinter(msg.sender);
        if (to == address(0)) revert ZeroAddress();
        totalSupply += value; // checked: reverts on overflow, so balances cannot
        unchecked {
            balanceOf[to] += value; // ≤ totalSupply
        }
        emit Transfer(address(0), to, value);
    }

    function transfer(address to, uint256 value) external returns (bool) {
        _move(msg.sender, to, value);
        return true;
    }

    function approve(address spender, uint256 value) external returns (bool) {
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    /// Moves `value` from `from` to `to`, spending the caller's allowance
    /// (an allowance of `type(uint256).max` is never decreased).
    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            if (allowed < value) revert InsufficientAllowance(from, msg.sender, allowed, value);
            unchecked {
                allowance[from][msg.sender] = allowed - value;
            }
        }
        _move(from, to, value);
        return true;
    }

    function _move(address from, address to, uint256 value) private {
        if (to == address(0)) revert ZeroAddress();
        uint256 balance = balanceOf[from];
        if (balance < value) revert InsufficientBalance(from, balance, value);
        unchecked {
            balanceOf[from] = balance - value;
            balanceOf[to] += value; // Σ balances = totalSupply: no overflow
        }
        emit Transfer(from, to, value);
    }
}
