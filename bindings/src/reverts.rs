//! The contracts' revert reasons that callers act on, as [`ChainError::Reverted`] carries
//! them. A test checks each against the contract's own `errors.cairo`, so a reworded
//! reason fails the build's tests instead of silently changing what a caller does.
//!
//! [`ChainError::Reverted`]: crate::error::ChainError::Reverted

/// `JobEscrow`'s reasons (`contracts/src/escrow/errors.cairo`).
pub mod escrow {
    /// `claim_timeout` before the job's deadline.
    pub const DEADLINE_NOT_PASSED: &str = "deadline not passed";
    /// `finalize` before the challenge window closed.
    pub const WINDOW_OPEN: &str = "challenge window open";
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Cairo constant named `name` in an `errors.cairo` text.
    fn cairo_reason<'a>(errors: &'a str, name: &str) -> Option<&'a str> {
        errors.lines().find_map(|line| {
            let rest = line.trim().strip_prefix("pub const ")?.strip_prefix(name)?;
            let quoted = rest.strip_prefix(": felt252 = '")?;
            quoted.strip_suffix("';")
        })
    }

    #[test]
    fn every_reason_is_the_contracts_own() {
        let escrow = include_str!("../../contracts/src/escrow/errors.cairo");
        for (name, reason) in [
            ("DEADLINE_NOT_PASSED", escrow::DEADLINE_NOT_PASSED),
            ("WINDOW_OPEN", escrow::WINDOW_OPEN),
        ] {
            assert_eq!(cairo_reason(escrow, name), Some(reason), "{name}");
        }
        assert_eq!(cairo_reason(escrow, "NO_SUCH_REASON"), None);
    }
}
