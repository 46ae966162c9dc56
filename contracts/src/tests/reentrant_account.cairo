/// A client account that attacks the escrow from inside its own signature check: when
/// `settle_batch` asks it about an acceptance, it first withdraws its deposit. It signs like
/// `MockAccount` (`poseidon(secret, hash)`), so its acceptances are otherwise valid.
#[starknet::contract]
pub mod ReentrantAccount {
    use starknet::ContractAddress;
    use starknet::storage::{StoragePointerReadAccess, StoragePointerWriteAccess};
    use crate::escrow::bid::{ISRC6Signature, VALIDATED};
    use crate::escrow::interface::{IBatchSettlementDispatcher, IBatchSettlementDispatcherTrait};
    use crate::token::interface::{IERC20Dispatcher, IERC20DispatcherTrait};
    use super::super::mock_account::MockAccount;

    #[storage]
    struct Storage {
        secret: felt252,
        escrow: ContractAddress,
    }

    #[constructor]
    fn constructor(ref self: ContractState, secret: felt252, escrow: ContractAddress) {
        self.secret.write(secret);
        self.escrow.write(escrow);
    }

    #[abi(embed_v0)]
    impl SRC6Impl of ISRC6Signature<ContractState> {
        fn is_valid_signature(
            self: @ContractState, hash: felt252, signature: Array<felt252>,
        ) -> felt252 {
            IBatchSettlementDispatcher { contract_address: self.escrow.read() }.withdraw();
            if signature == MockAccount::sign(self.secret.read(), hash) {
                VALIDATED
            } else {
                0
            }
        }
    }

    /// Calls the escrow as this account, so the test can deposit and ask to withdraw.
    #[starknet::interface]
    pub trait IReentrantClient<TState> {
        fn deposit_and_request(ref self: TState, token: ContractAddress, amount: u256);
    }

    #[abi(embed_v0)]
    impl ClientImpl of IReentrantClient<ContractState> {
        fn deposit_and_request(ref self: ContractState, token: ContractAddress, amount: u256) {
            let escrow = self.escrow.read();
            IERC20Dispatcher { contract_address: token }.approve(escrow, amount);
            let batch = IBatchSettlementDispatcher { contract_address: escrow };
            batch.deposit(amount);
            batch.request_withdrawal(amount);
        }
    }
}
