//! `--ledger evm:URL#ADDRESS[@BLOCK]`: where the ledger contract is
//! (`docs/evm.md` §8.1).

use alloy::primitives::Address;

/// A ledger contract on a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvmLedgerSpec {
    /// The JSON-RPC endpoint.
    pub rpc: String,
    /// The `VeilLedger` contract.
    pub ledger: Address,
    /// The block it was deployed in (`veil ledger deploy` prints it); logs
    /// are read from there.
    pub from_block: u64,
}

/// A `--ledger evm:…` that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--ledger evm:URL#ADDRESS[@BLOCK]: {0}")]
pub struct SpecError(pub &'static str);

impl EvmLedgerSpec {
    /// The prefix of an EVM ledger on the command line.
    pub const PREFIX: &'static str = "evm:";

    /// Parses `evm:http://127.0.0.1:8545#0x5FbD…aa3@12` (the block is
    /// optional, default 0).
    pub fn parse(spec: &str) -> Result<Self, SpecError> {
        let rest = spec
            .strip_prefix(Self::PREFIX)
            .ok_or(SpecError("missing the evm: prefix"))?;
        let (rpc, contract) = rest
            .rsplit_once('#')
            .ok_or(SpecError("missing #ADDRESS after the URL"))?;
        if !(rpc.starts_with("http://") || rpc.starts_with("https://")) {
            return Err(SpecError("the URL must be http:// or https://"));
        }
        let (address, block) = match contract.split_once('@') {
            Some((a, b)) => (a, Some(b)),
            None => (contract, None),
        };
        let hex = address
            .strip_prefix("0x")
            .ok_or(SpecError("the address must be 0x and 40 hex digits"))?;
        let bytes = hex::decode(hex).map_err(|_| SpecError("the address is not hex"))?;
        if bytes.len() != 20 {
            return Err(SpecError("the address must be 20 bytes"));
        }
        let from_block = match block {
            Some(b) => b
                .parse()
                .map_err(|_| SpecError("the block is not a number"))?,
            None => 0,
        };
        Ok(EvmLedgerSpec {
            rpc: rpc.to_owned(),
            ledger: Address::from_slice(&bytes),
            from_block,
        })
    }
}

impl std::fmt::Display for EvmLedgerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "evm:{}#{}@{}", self.rpc, self.ledger, self.from_block)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_back() {
        let s = "evm:http://127.0.0.1:8545#0x5fbdb2315678afecb367f032d93f642f64180aa3@7";
        let spec = EvmLedgerSpec::parse(s).unwrap();
        assert_eq!(spec.rpc, "http://127.0.0.1:8545");
        assert_eq!(spec.from_block, 7);
        assert_eq!(EvmLedgerSpec::parse(&spec.to_string()).unwrap(), spec);
        let no_block =
            EvmLedgerSpec::parse("evm:http://h:1#0x5fbdb2315678afecb367f032d93f642f64180aa3");
        assert_eq!(no_block.unwrap().from_block, 0);
    }

    #[test]
    fn refuses_what_is_not_a_spec() {
        for bad in [
            "http://127.0.0.1:8545#0x5fbdb2315678afecb367f032d93f642f64180aa3",
            "evm:http://127.0.0.1:8545",
            "evm:ftp://h#0x5fbdb2315678afecb367f032d93f642f64180aa3",
            "evm:http://h#5fbdb2315678afecb367f032d93f642f64180aa3",
            "evm:http://h#0x5fbd",
            "evm:http://h#0xzzbdb2315678afecb367f032d93f642f64180aa3",
            "evm:http://h#0x5fbdb2315678afecb367f032d93f642f64180aa3@x",
            "evm:http://h#0x5fbdb2315678afecb367f032d93f642f64180aa3aa",
        ] {
            assert!(EvmLedgerSpec::parse(bad).is_err(), "{bad}");
        }
    }
}
