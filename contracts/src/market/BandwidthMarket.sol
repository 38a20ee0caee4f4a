// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.28;

import {CurveMath} from "src/market/CurveMath.sol";

/// The reserve asset: any ERC-20 that reverts or returns false on failure.
interface IReserveToken {
    function transfer(address to, uint256 value) external returns (bool);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

/// The ledger whose demand moves the reserve ratio (docs/market.md §7.2):
/// `VeilLedger`, deployed naming this market.
interface IHandSource {
    function market() external view returns (address);
    /// The epoch of the ledger's last escrow or stake change, the value
    /// escrowed in that epoch, and the value staked by nodes now.
    function hand() external view returns (uint64 epoch, uint64 escrowed, uint64 staked);
}

/// @title BandwidthMarket: the bandwidth token, an ERC-20 minted and burnt
/// on the bonding curve against a reserve ERC-20 (docs/market.md §2, §5, §7.2).
/// @notice Buy with reserve (`buy`), sell back (`sell`), each with a
/// slippage limit and the trading fee of §3.3 (kept in the reserve). The
/// genesis supply is the float: it belongs to nobody and is never sold, so
/// the reserve stays positive. Bound to a ledger (`bind`), the reserve
/// ratio takes one step of the invisible hand (§3.1) per epoch of
/// `epochBlocks` blocks, from the ledger's demand, with the price held
/// (§3.2). The arithmetic is CurveMath and the hand's rule is
/// `veil_market::hand`, each equal to crates/market to the base unit.
/// @dev State changes before the reserve token is called; failures revert
/// with custom errors named like the Rust `CurveError` variants.
contract BandwidthMarket {
    string public constant name = "veil bandwidth";
    string public constant symbol = "VEILBW";
    uint8 public constant decimals = 18;

    /// The hand's rule (`veil_market::hand::HandRule::default`): the ratio
    /// stays in [RR_MIN, RR_MAX], moves at most STEP per epoch, toward a
    /// target that is RR_MAX at SATURATION demand (all in ppm).
    uint256 public constant RR_MIN = 300_000;
    uint256 public constant RR_MAX = 800_000;
    uint256 public constant STEP = 25_000;
    uint256 public constant SATURATION = 1_000_000;

    IReserveToken public immutable reserveToken;
    /// May call `open` and `bind`, once each; has no other power.
    address public immutable deployer;
    /// The trading fee in ppm of a buy's spend and of a sale's proceeds.
    uint256 public immutable feePpm;
    /// Blocks per epoch of the hand: epoch `e` is blocks [e·epochBlocks, (e+1)·epochBlocks).
    uint256 public immutable epochBlocks;

    /// Curve state, two slots: (reserve, float) and (totalSupply, ratio,
    /// open, the epoch the hand has stepped up to).
    uint128 public reserve;
    uint128 public float;
    uint128 public totalSupply;
    uint32 public ratioPpm;
    bool public isOpen;
    uint64 public syncedEpoch;
    /// The ledger whose demand moves the ratio; zero: the ratio is fixed.
    IHandSource public ledger;

    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);
    /// `paid` reserve (the fee included) minted `minted` tokens.
    event Bought(address indexed buyer, uint256 paid, uint256 minted, uint256 fee);
    /// `burnt` tokens paid `paid` reserve (the fee deducted).
    event Sold(address indexed seller, uint256 burnt, uint256 paid, uint256 fee);
    /// The hand moved the ratio at the start of `epoch` (§3, §7.2).
    event RatioStepped(uint64 epoch, uint256 ratioPpm, uint256 supply, uint256 float);

    error NotDeployer(address caller);
    error AlreadyOpen();
    error NotOpen();
    error Genesis();
    error ReserveRatio(uint256 ppm);
    error Fee(uint256 ppm);
    error Zero();
    error BelowMinimum(uint256 got, uint256 min);
    error InsufficientBalance(address from, uint256 balance, uint256 needed);
    error InsufficientAllowance(address owner, address spender, uint256 allowance, uint256 needed);
    error ZeroAddress();
    error ReserveTransferFailed();
    error AlreadyBound();
    error WrongLedger();

    constructor(IReserveToken reserveToken_, uint256 genesisSupply, uint256 ratioPpm_, uint256 feePpm_, uint256 epochBlocks_) {
        if (ratioPpm_ < CurveMath.MIN_PPM || ratioPpm_ > CurveMath.PPM) revert ReserveRatio(ratioPpm_);
        if (genesisSupply == 0 || genesisSupply > CurveMath.MAX_AMOUNT) revert Genesis();
        if (feePpm_ > CurveMath.PPM) revert Fee(feePpm_);
        if (address(reserveToken_) == address(0) || epochBlocks_ == 0) revert ZeroAddress();
        reserveToken = reserveToken_;
        deployer = msg.sender;
        feePpm = feePpm_;
        epochBlocks = epochBlocks_;
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

    /// Binds the ledger whose demand drives the hand, once, after `open`:
    /// a ledger deployed naming this market. The hand counts from this epoch.
    function bind(IHandSource ledger_) external {
        if (msg.sender != deployer) revert NotDeployer(msg.sender);
        requireOpen();
        if (address(ledger) != address(0)) revert AlreadyBound();
        if (address(ledger_).code.length == 0) revert WrongLedger();
        try ledger_.market() returns (address named) {
            if (named != address(this)) revert WrongLedger();
        } catch {
            revert WrongLedger();
        }
        ledger = ledger_;
        syncedEpoch = uint64(block.number / epochBlocks);
    }

    /// Buys with `spend` reserve, the fee included; reverts if fewer than
    /// `minOut` tokens result (`veil_market::fee::TradeFee::buy`).
    function buy(uint256 spend, uint256 minOut) external returns (uint256 minted) {
        sync();
        uint256 fee;
        (minted, fee) = _quoteBuy(spend);
        if (minted < minOut) revert BelowMinimum(minted, minOut);
        _fitsReserve(spend);
        // reserve + spend and the new supply are at most MAX_AMOUNT < 2^112.
        reserve += uint128(spend);
        totalSupply += uint128(minted);
        balanceOf[msg.sender] += minted;
        emit Transfer(address(0), msg.sender, minted);
        emit Bought(msg.sender, spend, minted, fee);
        pull(spend);
    }

    /// Sells `amount` of the sender's tokens; reverts if less than `minOut`
    /// reserve would be paid after the fee (`veil_market::fee::TradeFee::sell`;
    /// the holding checked first, as the ledger does).
    function sell(uint256 amount, uint256 minOut) external returns (uint256 paid) {
        sync();
        if (amount == 0) revert Zero();
        uint256 held = balanceOf[msg.sender];
        if (held < amount) revert InsufficientBalance(msg.sender, held, amount);
        uint256 fee;
        (paid, fee) = quoteSell(amount);
        if (paid < minOut) revert BelowMinimum(paid, minOut);
        unchecked {
            balanceOf[msg.sender] = held - amount;
            totalSupply -= uint128(amount); // amount ≤ circulating < totalSupply
            reserve -= uint128(paid); // paid ≤ proceeds ≤ reserve
        }
        emit Transfer(msg.sender, address(0), amount);
        emit Sold(msg.sender, amount, paid, fee);
        if (!reserveToken.transfer(msg.sender, paid)) revert ReserveTransferFailed();
    }

    /// Tokens `spend` mints now and its fee (the hand's pending steps applied).
    function quoteBuy(uint256 spend) external view returns (uint256 minted, uint256 fee) {
        (minted, fee) = _quoteBuy(spend);
        _fitsReserve(spend);
    }

    function _quoteBuy(uint256 spend) private view returns (uint256 minted, uint256 fee) {
        requireOpen();
        if (spend == 0) revert Zero();
        (uint256 s,, uint256 ppm) = current();
        fee = feeOf(spend);
        if (spend - fee == 0) revert Zero();
        minted = CurveMath.quoteBuy(reserve, s, ppm, spend - fee);
    }

    /// The fee stays in the reserve (`Curve::retain`): reserve + spend fits.
    function _fitsReserve(uint256 spend) private view {
        if (uint256(reserve) + spend > CurveMath.MAX_AMOUNT) revert CurveMath.TooLarge();
    }

    /// Reserve a sale of `amount` pays now, after its fee, and the fee.
    function quoteSell(uint256 amount) public view returns (uint256 paid, uint256 fee) {
        requireOpen();
        if (amount == 0) revert Zero();
        (uint256 s, uint256 f, uint256 ppm) = current();
        uint256 proceeds = CurveMath.quoteSell(reserve, s, f, ppm, amount);
        fee = feeOf(proceeds);
        paid = proceeds - fee;
    }

    /// `⌈amount · feePpm / 10^6⌉` without overflow (`TradeFee::of`).
    function feeOf(uint256 amount) public view returns (uint256) {
        uint256 ppm = CurveMath.PPM;
        return (amount / ppm) * feePpm + ((amount % ppm) * feePpm + ppm - 1) / ppm;
    }

    // ---- the invisible hand (§3, §7.2) -------------------------------------

    /// Takes the hand's steps for the epochs that ended since the last
    /// sync. Anyone may call it; trades do, and the ledger does before the
    /// demand or the stake of a new epoch changes, so the result does not
    /// depend on who calls or when.
    function sync() public {
        uint64 epoch = uint64(block.number / epochBlocks);
        if (epoch <= syncedEpoch) return;
        (uint256 s, uint256 f, uint256 ppm) = current();
        if (ppm != ratioPpm) {
            totalSupply = uint128(s);
            float = uint128(f);
            ratioPpm = uint32(ppm);
            emit RatioStepped(epoch, ppm, s, f);
        }
        syncedEpoch = epoch;
    }

    /// The curve's (supply, float, ratio) after the steps `sync` would take
    /// now: the ledger's rule (`veil_ledger::machine::hand::on_advance`).
    /// The first step reads the ledger's demand if the ledger's data is of
    /// the last synced epoch; the epochs after had none. Steps stop once a
    /// step without demand leaves the ratio where it was.
    function current() public view returns (uint256 s, uint256 f, uint256 ppm) {
        (s, f, ppm) = (totalSupply, float, ratioPpm);
        uint64 from = syncedEpoch;
        uint64 epoch = uint64(block.number / epochBlocks);
        if (epoch <= from || address(ledger) == address(0)) return (s, f, ppm);
        (uint64 ledgerEpoch, uint64 escrowedIn, uint64 stakedNow) = ledger.hand();
        uint256 demand = ledgerEpoch == from ? demandPpm(escrowedIn, stakedNow) : 0;
        for (uint64 e = from; e < epoch; e++) {
            uint256 set;
            (s, f, set) = setRatio(s, f, ppm, nextRatio(ppm, demand));
            if (set == ppm && demand == 0) break;
            (ppm, demand) = (set, 0);
        }
    }

    /// Escrowed over staked value in ppm (`HandState::demand`): nothing
    /// escrowed is none, escrows with nothing staked saturate.
    function demandPpm(uint256 escrowedIn, uint256 stakedNow) public pure returns (uint256) {
        if (escrowedIn == 0) return 0;
        if (stakedNow == 0) return type(uint64).max;
        uint256 d = escrowedIn * CurveMath.PPM / stakedNow;
        return d > type(uint64).max ? type(uint64).max : d;
    }

    /// One step toward the demand's target (`HandRule::next`).
    function nextRatio(uint256 ppm, uint256 demand) public pure returns (uint256 next) {
        uint256 d = demand < SATURATION ? demand : SATURATION;
        uint256 target = RR_MIN + (RR_MAX - RR_MIN) * d / SATURATION;
        if (target > ppm) next = target - ppm > STEP ? ppm + STEP : target;
        else next = ppm - target > STEP ? ppm - STEP : target;
        if (next < RR_MIN) next = RR_MIN;
        if (next > RR_MAX) next = RR_MAX;
    }

    /// The ratio set to `next` with the price held (`Curve::set_ratio`):
    /// the supply becomes `⌈S·RR/RR'⌉`, the difference minted into or burnt
    /// from the float; a rise stops where the float would reach one base
    /// unit, and a supply past MAX_AMOUNT leaves everything unchanged.
    function setRatio(uint256 s, uint256 f, uint256 ppm, uint256 next)
        public
        pure
        returns (uint256, uint256, uint256)
    {
        uint256 circulating = s - f;
        uint256 bound = ppm * s / (circulating + 1);
        if (bound > CurveMath.PPM) bound = CurveMath.PPM;
        if (bound < CurveMath.MIN_PPM) bound = ppm;
        if (next > bound) next = bound;
        uint256 after_ = (s * ppm + next - 1) / next;
        if (after_ > CurveMath.MAX_AMOUNT) return (s, f, ppm);
        return (after_, after_ - circulating, next);
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
