// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.28;

import {CurveMath} from "src/market/CurveMath.sol";

/// The reserve asset: any ERC-20 that reverts or returns false on failure.
interface IReserveToken {
    function transfer(address to, uint256 value) external returns (bool);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

/// @title BandwidthMarket: the bandwidth token, an ERC-20 minted and burnt
/// on the bonding curve against a reserve ERC-20 (docs/market.md §2, §5).
/// @notice Buy with reserve (`buy`, `buyExact`), sell back (`sell`), each
/// with a slippage limit. The genesis supply is the float: it belongs to
/// nobody and is never sold, so the reserve stays positive. The curve's
/// arithmetic is CurveMath, equal to crates/market to the base unit.
/// @dev State changes before the reserve token is called; failures revert
/// with custom errors named like the Rust `CurveError` variants.
contract BandwidthMarket {
    string public constant name = "veil bandwidth";
    string public constant symbol = "VEILBW";
    uint8 public constant decimals = 18;

    IReserveToken public immutable reserveToken;
    /// May call `open`, once; has no other power.
    address public immutable deployer;

    /// Curve state, two slots: (reserve, float) and (totalSupply, ratio, open).
    uint128 public reserve;
    uint128 public float;
    uint128 public totalSupply;
    uint32 public ratioPpm;
    bool public isOpen;

    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);
    event Bought(address indexed buyer, uint256 paid, uint256 minted);
    event Sold(address indexed seller, uint256 burnt, uint256 paid);

    error NotDeployer(address caller);
    error AlreadyOpen();
    error NotOpen();
    error Genesis();
    error ReserveRatio(uint256 ppm);
    error Zero();
    error BelowMinimum(uint256 got, uint256 min);
    error AboveMaximum(uint256 cost, uint256 max);
    error InsufficientBalance(address from, uint256 balance, uint256 needed);
    error InsufficientAllowance(address owner, address spender, uint256 allowance, uint256 needed);
    error ZeroAddress();
    error ReserveTransferFailed();

    constructor(IReserveToken reserveToken_, uint256 genesisSupply, uint256 ratioPpm_) {
        if (ratioPpm_ < CurveMath.MIN_PPM || ratioPpm_ > CurveMath.PPM) revert ReserveRatio(ratioPpm_);
        if (genesisSupply == 0 || genesisSupply > CurveMath.MAX_AMOUNT) revert Genesis();
        if (address(reserveToken_) == address(0)) revert ZeroAddress();
        reserveToken = reserveToken_;
        deployer = msg.sender;
        float = uint128(genesisSupply);
        totalSupply = uint128(genesisSupply);
        ratioPpm = uint32(ratioPpm_);
    }

    /// Pulls the genesis reserve from the deployer and opens trading.
    function open(uint256 genesisReserve) external {
        if (msg.sender != deployer) revert NotDeployer(msg.sender);
        if (isOpen) revert AlreadyOpen();
        if (genesisReserve == 0 || genesisReserve > CurveMath.MAX_AMOUNT) revert Genesis();
        reserve = uint128(genesisReserve);
        isOpen = true;
        pull(genesisReserve);
    }

    /// Buys with `deposit` reserve; reverts if fewer than `minOut` tokens result.
    function buy(uint256 deposit, uint256 minOut) external returns (uint256 minted) {
        if (deposit == 0) revert Zero();
        minted = quoteBuy(deposit);
        if (minted < minOut) revert BelowMinimum(minted, minOut);
        settleBuy(deposit, minted);
    }

    /// Mints exactly `tokens`; reverts if they cost more than `maxIn` reserve.
    function buyExact(uint256 tokens, uint256 maxIn) external returns (uint256 cost) {
        if (tokens == 0) revert Zero();
        cost = quoteBuyExact(tokens);
        if (cost > maxIn) revert AboveMaximum(cost, maxIn);
        settleBuy(cost, tokens);
    }

    /// Sells `amount`; reverts if less than `minOut` reserve would be paid.
    function sell(uint256 amount, uint256 minOut) external returns (uint256 paid) {
        if (amount == 0) revert Zero();
        paid = quoteSell(amount);
        if (paid < minOut) revert BelowMinimum(paid, minOut);
        uint256 held = balanceOf[msg.sender];
        if (held < amount) revert InsufficientBalance(msg.sender, held, amount);
        unchecked {
            balanceOf[msg.sender] = held - amount;
            totalSupply -= uint128(amount); // amount ≤ circulating < totalSupply
            reserve -= uint128(paid); // paid ≤ reserve
        }
        emit Transfer(msg.sender, address(0), amount);
        emit Sold(msg.sender, amount, paid);
        if (!reserveToken.transfer(msg.sender, paid)) revert ReserveTransferFailed();
    }

    function quoteBuy(uint256 deposit) public view returns (uint256) {
        requireOpen();
        return CurveMath.quoteBuy(reserve, totalSupply, ratioPpm, deposit);
    }

    function quoteBuyExact(uint256 tokens) public view returns (uint256) {
        requireOpen();
        return CurveMath.quoteBuyExact(reserve, totalSupply, ratioPpm, tokens);
    }

    function quoteSell(uint256 amount) public view returns (uint256) {
        requireOpen();
        return CurveMath.quoteSell(reserve, totalSupply, float, ratioPpm, amount);
    }

    // ---- ERC-20 (EIP-20) -------------------------------------------------

    function transfer(address to, uint256 value) external returns (bool) {
        move(msg.sender, to, value);
        return true;
    }

    function approve(address spender, uint256 value) external returns (bool) {
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            if (allowed < value) revert InsufficientAllowance(from, msg.sender, allowed, value);
            unchecked {
                allowance[from][msg.sender] = allowed - value;
            }
        }
        move(from, to, value);
        return true;
    }

    // ---- internals ---------------------------------------------------------

    function settleBuy(uint256 paid, uint256 minted) private {
        // quoteBuy/quoteBuyExact bound both by MAX_AMOUNT < 2^112: no overflow.
        reserve += uint128(paid);
        totalSupply += uint128(minted);
        balanceOf[msg.sender] += minted;
        emit Transfer(address(0), msg.sender, minted);
        emit Bought(msg.sender, paid, minted);
        pull(paid);
    }

    function pull(uint256 value) private {
        if (!reserveToken.transferFrom(msg.sender, address(this), value)) revert ReserveTransferFailed();
    }

    function move(address from, address to, uint256 value) private {
        if (to == address(0)) revert ZeroAddress();
        uint256 held = balanceOf[from];
        if (held < value) revert InsufficientBalance(from, held, value);
        unchecked {
            balanceOf[from] = held - value;
            balanceOf[to] += value; // ≤ totalSupply < 2^112
        }
        emit Transfer(from, to, value);
    }

    function requireOpen() private view {
        if (!isOpen) revert NotOpen();
    }
}
