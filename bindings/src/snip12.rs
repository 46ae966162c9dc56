//! The SNIP-12 (revision 1) typed data the escrow checks: one domain, `CIRO JobEscrow` on one
//! chain, for a worker's [`crate::bid::Bid`] and a client's
//! [`crate::acceptance::Acceptance`]. The message hash includes the signer, and the escrow
//! asks the signer's own account (SRC-6 `is_valid_signature`) whether a signature is good.

use serde_json::{json, Value};
use starknet::{
    core::{
        types::{typed_data::TypedData, Felt},
        utils::parse_cairo_short_string,
    },
    signers::SigningKey,
};

use crate::error::{ChainError, Result};

/// The domain's name: the contract the messages are for.
pub const DOMAIN_NAME: &str = "CIRO JobEscrow";
/// The domain's version (the message layout).
pub const DOMAIN_VERSION: &str = "1";

/// Typed data of the escrow's domain on `chain_id`: `primary` is the message type, `fields`
/// its `[{name, type}]` list, `message` its values.
pub fn typed_data(
    chain_id: Felt,
    primary: &str,
    fields: Value,
    message: Value,
) -> Result<TypedData> {
    let chain = parse_cairo_short_string(&chain_id)
        .map_err(|e| ChainError::Input(format!("chain id {chain_id:#x}: {e}")))?;
    let data = json!({
        "types": {
            "StarknetDomain": [
                { "name": "name", "type": "shortstring" },
                { "name": "version", "type": "shortstring" },
                { "name": "chainId", "type": "shortstring" },
                { "name": "revision", "type": "shortstring" }
            ],
            primary: fields
        },
        "primaryType": primary,
        "domain": {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": chain,
            "revision": "1"
        },
        "message": message
    });
    serde_json::from_value(data)
        .map_err(|e| ChainError::Input(format!("the {primary}'s typed data: {e}")))
}

/// The hash `signer`'s account signs for `data`.
pub fn message_hash(data: &TypedData, signer: Felt) -> Result<Felt> {
    data.message_hash(signer)
        .map_err(|e| ChainError::Input(format!("hashing typed data: {e}")))
}

/// A single-key account's signature over `hash` (`r, s`, as OpenZeppelin and Argent
/// accounts expect).
pub fn sign(hash: Felt, key: &SigningKey) -> Result<Vec<Felt>> {
    let signature = key
        .sign(&hash)
        .map_err(|e| ChainError::Input(format!("signing: {e}")))?;
    Ok(vec![signature.r, signature.s])
}
