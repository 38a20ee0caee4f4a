//! How the demo's audit round moves a ledger's clock (docs/market.md
//! §7.1): the embedded ledger advances its own height; a development
//! chain (anvil) mines empty blocks on request. The round needs three
//! epochs to pass, so a ledger the demo cannot move — the gRPC service, a
//! production chain — has no clock here and the round is skipped.

use anyhow::Context;
use veil_ledger::trade::MARKET_EPOCH_BLOCKS;
use veil_ledger::types::NodeId;
use veil_ledger::{EmbeddedLedger, LedgerApi};

/// A ledger clock the demo may move.
pub(super) enum Clock {
    /// The embedded ledger: its height is the demo's to advance.
    Embedded(EmbeddedLedger),
    /// A chain that mines on request, read through the ledger's public
    /// handle.
    Chain(Box<veil_evm_rpc::EvmLedger>),
}

impl Clock {
    /// The clock of `ledger` if its chain mines on request (anvil).
    pub(super) async fn of_chain(ledger: &veil_evm_rpc::EvmLedger) -> anyhow::Result<Option<Self>> {
        let mines = ledger
            .chain()
            .mines_on_request()
            .await
            .context("asking the chain's client version")?;
        Ok(mines.then(|| Clock::Chain(Box::new(ledger.clone()))))
    }

    /// Moves to the first block of the next audit epoch, where monitors
    /// reveal the seed secrets they committed (a chain's reveal window).
    pub(super) async fn to_next_epoch(&self) -> anyhow::Result<()> {
        match self {
            Clock::Embedded(l) => {
                let h = l.status().await?.height.0;
                l.advance(MARKET_EPOCH_BLOCKS - h % MARKET_EPOCH_BLOCKS)
                    .await?;
            }
            Clock::Chain(l) => {
                let next = l.current_audit_epoch().await? + 1;
                self.mine_to(l.audit_epoch_start(next).await?).await?;
            }
        }
        Ok(())
    }

    /// Moves past the current epoch's seed reveal window, so the seed
    /// can be drawn (nothing on the embedded ledger: no window).
    pub(super) async fn past_reveal_window(&self) -> anyhow::Result<()> {
        if let Clock::Chain(l) = self {
            let start = l.audit_epoch_start(l.current_audit_epoch().await?).await?;
            self.mine_to(start + l.audit_reveal_blocks().await?).await?;
        }
        Ok(())
    }

    /// Moves two epochs on from `epoch`, past its report window and its
    /// challenges' deadlines. The embedded ledger closes the missed
    /// challenges and judges the epoch as its clock passes; on a chain
    /// each monitor closes its own missed challenges
    /// (`LedgerApi::close_missed_challenges`) and somebody sends `judge`
    /// ([`Clock::judge`]).
    pub(super) async fn past_deadlines(&self, epoch: u64) -> anyhow::Result<()> {
        match self {
            Clock::Embedded(l) => {
                l.advance(2 * MARKET_EPOCH_BLOCKS).await?;
            }
            // One block into epoch + 2: every deadline of `epoch` is
            // strictly behind the latest block.
            Clock::Chain(l) => {
                self.mine_to(l.audit_epoch_start(epoch + 2).await? + 1)
                    .await?;
            }
        }
        Ok(())
    }

    /// Has the verdict of `epoch` on `node` run: on a chain the public
    /// handle sends `judge` (the embedded ledger's clock ran it).
    pub(super) async fn judge(&self, epoch: u64, node: NodeId) -> anyhow::Result<()> {
        if let Clock::Chain(l) = self {
            let id = veil_evm::solidity::fr_word(&node.inner());
            l.judge_if_due(epoch, id).await?;
        }
        Ok(())
    }

    /// Mines until the next transaction lands at `height` or later.
    async fn mine_to(&self, height: u64) -> anyhow::Result<()> {
        let Clock::Chain(l) = self else { return Ok(()) };
        let chain = l.chain();
        let latest = chain.block_number().await?;
        let blocks = height.saturating_sub(latest + 1);
        if blocks > 0 {
            chain.mine(blocks).await.context("anvil_mine")?;
        }
        Ok(())
    }
}
