//! Verifying peers: a peer's backing by a staked account, this node's own standing, and
//! gossiped reputation updates checked against the chain.

use super::*;

impl Settler {
    pub(super) async fn verify(
        &self,
        peer: &PeerId,
        backing: &Backing,
    ) -> Result<Backer, BackingError> {
        let account = Felt::from_bytes_be(&backing.account);
        if !self.backs_peer(peer, backing).await? {
            return Err(BackingError::NotSigned(account));
        }
        Ok(self.standing(account).await?)
    }

    /// Whether `backing`'s account signed `peer`'s id on this chain ([`binding_hash`]).
    pub(super) async fn backs_peer(
        &self,
        peer: &PeerId,
        backing: &Backing,
    ) -> Result<bool, ChainError> {
        let account = Felt::from_bytes_be(&backing.account);
        let hash = binding_hash(self.session.chain.chain_id(), account, peer);
        let signature: Vec<Felt> = backing.signature.iter().map(Felt::from_bytes_be).collect();
        self.is_valid_signature(account, hash, &signature).await
    }

    /// Whether `account` signed `hash` with `signature`, as the account contract itself
    /// says (SRC-6 `is_valid_signature`). No such account, or one that reverts on the
    /// signature, did not sign.
    pub(super) async fn is_valid_signature(
        &self,
        account: Felt,
        hash: Felt,
        signature: &[Felt],
    ) -> Result<bool, ChainError> {
        let mut calldata = vec![hash, Felt::from(signature.len() as u64)];
        calldata.extend_from_slice(signature);
        let call = FunctionCall {
            contract_address: account,
            entry_point_selector: get_selector_from_name("is_valid_signature")
                .expect("a valid name"),
            calldata,
        };
        let answer = self
            .retry("is_valid_signature", || async {
                match self
                    .session
                    .chain
                    .rpc()
                    .call(&call, BlockId::Tag(BlockTag::PreConfirmed))
                    .await
                {
                    Ok(answer) => Ok(answer.first().copied()),
                    Err(starknet::providers::ProviderError::StarknetError(_)) => Ok(None),
                    Err(e) => Err(self.session.chain.error("is_valid_signature", e)),
                }
            })
            .await?;
        Ok(answer == Some(VALID))
    }

    pub(super) async fn standing(&self, account: Felt) -> Result<Backer, ChainError> {
        let status = self
            .retry("Staking views", || self.session.worker_status(account))
            .await?;
        Ok(Backer {
            account,
            active: status.active,
            capabilities: status.capabilities,
            stake: status.stake,
            free: status.free,
        })
    }

    pub(super) async fn watch_own_standing(self: Arc<Self>) {
        loop {
            match self.standing(self.settings.account).await {
                Ok(backer) => {
                    if self.out.send(FromChain::OwnStanding(backer)).is_err() {
                        return;
                    }
                }
                Err(e) => tracing::warn!("reading this node's stake: {e}"),
            }
            tokio::time::sleep(self.settings.standing_refresh).await;
        }
    }

    pub(super) async fn check_reputation(&self, update: &ReputationUpdate) -> bool {
        let hash = Felt::from_bytes_be(&update.tx_hash);
        let Ok(events) = self
            .retry("ReputationUpdated events", || {
                self.session.reputation_updates(hash)
            })
            .await
        else {
            return false;
        };
        events.iter().any(|(block, e)| {
            *block == update.block
                && e.worker.0.to_bytes_be() == update.worker
                && e.new.jobs_completed == update.jobs_completed
                && e.new.jobs_failed == update.jobs_failed
                && e.new.disputes_won == update.disputes_won
                && e.new.disputes_lost == update.disputes_lost
        })
    }
}
