/// A stand-in for a worker's Starknet account in the Cairo tests: it answers SRC-6
/// `is_valid_signature` like a real account, but its "signature" over a hash is
/// `poseidon(secret, hash)`, so tests can sign without elliptic-curve keys. The devnet tests
/// use real OpenZeppelin accounts and real signatures.
#[starknet::contract]
pub mod MockAccount {
    use core::poseidon::poseidon_hash_span;
    use starknet::storage::{StoragePointerReadAccess, StoragePointerWriteAccess};
    use crate::escrow::bid::{ISRC6Signature, VALIDATED};

    #[storage]
    struct Storage {
        secret: felt252,
    }

    #[constructor]
    fn constructor(ref self: ContractState, secret: felt252) {
        self.secret.write(secret);
    }

    /// The signature the account with `secret` accepts for `hash`.
    pub fn sign(secret: felt252, hash: felt252) -> Array<felt252> {
        array![poseidon_hash_span(array![secret, hash].span())]
    }

    #[abi(embed_v0)]
    impl SRC6Impl of ISRC6Signature<ContractState> {
        fn is_valid_signature(
            self: @ContractState, hash: felt252, signature: Array<felt252>,
        ) -> felt252 {
            if signature == sign(self.secret.read(), hash) {
                VALIDATED
            } else {
                0
            }
        }
    }
}
