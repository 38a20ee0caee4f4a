// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.28;

import {CurveMath} from "src/market/CurveMath.sol";

/// @title CurveQuoter: the bonding curve's quotes for any curve state
/// (docs/market.md §2), stateless. Wallets and front ends quote trades
/// with it; the differential test compares it with crates/market.
contract CurveQuoter {
    /// Reserve, supply or float out of range (Rust: CurveError::Genesis).
    error Genesis();
    /// A reserve ratio outside [1%, 100%] (Rust: CurveError::ReserveRatio).
    error ReserveRatio(uint256 ppm);

    function quoteBuy(uint256 reserve, uint256 supply, uint256 float, uint256 ppm, uint256 deposit)
        external
        pure
        returns (uint256)
    {
        check(reserve, supply, float, ppm);
        return CurveMath.quoteBuy(reserve, supply, ppm, deposit);
    }

    function quoteBuyExact(uint256 reserve, uint256 supply, uint256 float, uint256 ppm, uint256 tokens)
        external
        pure
        returns (uint256)
    {
        check(reserve, supply, float, ppm);
        return CurveMath.quoteBuyExact(reserve, supply, ppm, tokens);
    }

    function quoteSell(uint256 reserve, uint256 supply, uint256 float, uint256 ppm, uint256 amount)
        external
        pure
        returns (uint256)
    {
        check(reserve, supply, float, ppm);
        return CurveMath.quoteSell(reserve, supply, float, ppm, amount);
    }

    /// The state rules of `Curve::from_state` and `ReserveRatio::from_ppm`.
    function check(uint256 reserve, uint256 supply, uint256 float, uint256 ppm) private pure {
        if (ppm < CurveMath.MIN_PPM || ppm > CurveMath.PPM) revert ReserveRatio(ppm);
        bool valid = reserve >= 1 && reserve <= CurveMath.MAX_AMOUNT && supply >= 1
            && supply <= CurveMath.MAX_AMOUNT && float >= 1 && float <= supply;
        if (!valid) revert Genesis();
    }
}
