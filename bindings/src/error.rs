//! Errors talking to the chain, and how a revert becomes a readable message.

use std::path::PathBuf;

use starknet::core::types::Felt;

/// Anything that can go wrong between a command and the chain.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The RPC endpoint did not answer.
    #[error("cannot reach the Starknet RPC at {url}: {detail}")]
    Unreachable {
        /// The endpoint.
        url: String,
        /// What the transport said.
        detail: String,
    },
    /// The endpoint serves another chain than the manifest was written for.
    #[error(
        "wrong chain: {path} was deployed on chain {expected}, but {url} serves chain {actual}"
    )]
    WrongChain {
        /// The manifest.
        path: PathBuf,
        /// Its chain id.
        expected: String,
        /// The endpoint.
        url: String,
        /// The endpoint's chain id.
        actual: String,
    },
    /// No deployment manifest where one was expected.
    #[error("no deployment manifest at {path}: deploy first with `ciro contracts deploy --network {network}`, or pass --manifest")]
    MissingManifest {
        /// Where it was looked for.
        path: PathBuf,
        /// The network name used to find it.
        network: String,
    },
    /// A manifest that cannot be read or is incomplete.
    #[error("deployment manifest {path}: {detail}")]
    BadManifest {
        /// The manifest.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A call or transaction was rejected by a contract; `message` is the contract's own error.
    #[error("{action} reverted: {message}")]
    Reverted {
        /// What was attempted, e.g. `Staking.stake`.
        action: String,
        /// The contract's error message, or the node's text when none could be found.
        message: String,
    },
    /// The account cannot cover what the action needs.
    #[error("insufficient {what}: need {need}, have {have}, short by {short}")]
    Insufficient {
        /// Balance or allowance, and of which token.
        what: String,
        /// Amount needed.
        need: String,
        /// Amount held.
        have: String,
        /// The difference.
        short: String,
    },
    /// A transaction did not reach a block in time.
    #[error("transaction {hash:#x} was not included within {seconds} s")]
    Timeout {
        /// The transaction.
        hash: Felt,
        /// How long was waited.
        seconds: u64,
    },
    /// Bad user input: a flag, an amount, an address.
    #[error("{0}")]
    Input(String),
    /// The signing account could not be loaded.
    #[error("account: {0}")]
    Account(String),
    /// Any other RPC failure.
    #[error("RPC error during {action}: {detail}")]
    Rpc {
        /// What was attempted.
        action: String,
        /// The node's answer.
        detail: String,
    },
    /// Reading or writing a local file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Result with [`ChainError`].
pub type Result<T, E = ChainError> = std::result::Result<T, E>;

impl ChainError {
    /// Whether this is a revert for exactly `reason` (see [`crate::reverts`]).
    pub fn is_revert(&self, reason: &str) -> bool {
        matches!(self, ChainError::Reverted { message, .. } if message == reason)
    }

    /// Whether trying the same thing again may succeed: the RPC could not be reached or
    /// failed, or a transaction was not included in time (it may still land, so whoever
    /// retries reads the state first).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ChainError::Unreachable { .. } | ChainError::Rpc { .. } | ChainError::Timeout { .. }
        )
    }

    /// Classifies an error text from starknet-rs or cainome raised while doing `action`:
    /// a revert gets the contract's message, a transport failure becomes `Unreachable`.
    pub fn from_text(action: impl Into<String>, url: &str, text: &str) -> Self {
        Self::from_parts(action, url, text, text)
    }

    /// Like [`ChainError::from_text`] for an error value: the revert reason is looked for in
    /// its `Debug` form, which keeps the nested execution error that `Display` drops.
    pub fn from_error<E: std::fmt::Display + std::fmt::Debug>(
        action: impl Into<String>,
        url: &str,
        error: &E,
    ) -> Self {
        Self::from_parts(action, url, &error.to_string(), &format!("{error:?}"))
    }

    fn from_parts(action: impl Into<String>, url: &str, text: &str, debug: &str) -> Self {
        let action = action.into();
        if let Some(message) = revert_reason(debug).or_else(|| revert_reason(text)) {
            return ChainError::Reverted { action, message };
        }
        let lowered = format!("{text}\n{debug}").to_ascii_lowercase();
        if lowered.contains("error sending request")
            || lowered.contains("connection refused")
            || lowered.contains("dns error")
            || lowered.contains("tcp connect")
        {
            return ChainError::Unreachable {
                url: url.to_owned(),
                detail: text.to_owned(),
            };
        }
        if lowered.contains("execution") && lowered.contains("fail") || lowered.contains("reverted")
        {
            return ChainError::Reverted {
                action,
                message: text.to_owned(),
            };
        }
        ChainError::Rpc {
            action,
            detail: text.to_owned(),
        }
    }
}

/// Texts that wrap a failure rather than explain it.
const WRAPPERS: [&str; 4] = [
    "ENTRYPOINT_FAILED",
    "ENTRYPOINT_NOT_FOUND",
    "argent/multicall-failed",
    "Option::unwrap failed.",
];

/// The contract's own error message inside a node's revert text.
///
/// Nodes quote each decoded short string of the panic data as `0x… ('message')`. The first
/// quoted string that is not a wrapper like `ENTRYPOINT_FAILED` is the contract's reason.
pub fn revert_reason(text: &str) -> Option<String> {
    let mut rest = text;
    let mut found = Vec::new();
    while let Some(start) = rest.find("('") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("')") else { break };
        found.push(after[..end].to_owned());
        rest = &after[end + 2..];
    }
    found
        .into_iter()
        .find(|message| !message.is_empty() && !WRAPPERS.contains(&message.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_real_reason_wins_over_wrappers() {
        let text = "Transaction execution has failed:\n0: Error in the called contract \
            (contract address: 0x1, class hash: 0x2, selector: 0x3):\nExecution failed. \
            Failure reason:\n(0x457363726f773a206e6f7420636c69656e74 ('Escrow: not client'), \
            0x454e545259504f494e545f4641494c4544 ('ENTRYPOINT_FAILED')).\n";
        assert_eq!(revert_reason(text).as_deref(), Some("Escrow: not client"));
    }

    #[test]
    fn wrappers_alone_give_no_reason() {
        assert_eq!(revert_reason("0x45 ('ENTRYPOINT_FAILED')"), None);
        assert_eq!(revert_reason("no quotes here"), None);
    }

    #[test]
    fn a_revert_text_becomes_reverted_and_a_refused_connection_unreachable() {
        let reverted = ChainError::from_text("Staking.stake", "u", "x ('Staking: zero amount')");
        assert!(
            matches!(&reverted, ChainError::Reverted { message, .. } if message == "Staking: zero amount"),
            "{reverted:?}"
        );
        assert!(reverted.is_revert("Staking: zero amount"));
        assert!(
            !reverted.is_revert("zero amount"),
            "a part of a reason is not the reason"
        );
        let down = ChainError::from_text(
            "chain id",
            "http://127.0.0.1:1/rpc",
            "error sending request for url (http://127.0.0.1:1/rpc): connection refused",
        );
        assert!(matches!(down, ChainError::Unreachable { .. }), "{down:?}");
        assert!(!down.is_revert("connection refused"));
    }
}
