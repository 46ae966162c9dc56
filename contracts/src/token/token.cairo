/// CiroToken: an ERC20 with 18 decimals, minted by holders of the `MINTER` role up to a
/// supply cap fixed at deployment: no key can ever create more than the cap, so the token
/// that is both the stake and the payment cannot be diluted past it.
/// Pausing stops minting only; transfers always go through so that exits and settlements do.
#[starknet::contract]
pub mod CiroToken {
    use core::num::traits::Bounded;
    use starknet::storage::{
        Map, StorageMapReadAccess, StorageMapWriteAccess, StoragePointerReadAccess,
        StoragePointerWriteAccess,
    };
    use starknet::{ContractAddress, get_caller_address};
    use crate::admin::component::AdminComponent;
    use crate::token::errors;
    use crate::token::interface::{IERC20, IMintable};
    use crate::types::roles;
    use crate::types::{is_zero_address, zero_address};

    component!(path: AdminComponent, storage: admin, event: AdminEvent);

    #[abi(embed_v0)]
    impl AdminImpl = AdminComponent::AdminImpl<ContractState>;
    impl AdminInternalImpl = AdminComponent::InternalImpl<ContractState>;

    #[storage]
    struct Storage {
        name: ByteArray,
        symbol: ByteArray,
        total_supply: u256,
        cap: u256,
        balances: Map<ContractAddress, u256>,
        allowances: Map<(ContractAddress, ContractAddress), u256>,
        #[substorage(v0)]
        admin: AdminComponent::Storage,
    }

    #[event]
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub enum Event {
        Transfer: Transfer,
        Approval: Approval,
        #[flat]
        AdminEvent: AdminComponent::Event,
    }

    /// `value` tokens moved from `from` to `to` (from zero on mint).
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct Transfer {
        #[key]
        pub from: ContractAddress,
        #[key]
        pub to: ContractAddress,
        pub value: u256,
    }

    /// `owner` allowed `spender` to move `value` tokens.
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct Approval {
        #[key]
        pub owner: ContractAddress,
        #[key]
        pub spender: ContractAddress,
        pub value: u256,
    }

    /// `owner` administers the token and is its first minter; at most `cap` tokens (base
    /// units) can ever exist.
    #[constructor]
    fn constructor(
        ref self: ContractState,
        name: ByteArray,
        symbol: ByteArray,
        owner: ContractAddress,
        cap: u256,
    ) {
        assert(cap != 0, errors::ZERO_CAP);
        self.cap.write(cap);
        self.name.write(name);
        self.symbol.write(symbol);
        self.admin.initializer(owner);
        self.admin._grant_role(roles::MINTER, owner);
    }

    #[abi(embed_v0)]
    impl ERC20Impl of IERC20<ContractState> {
        fn name(self: @ContractState) -> ByteArray {
            self.name.read()
        }

        fn symbol(self: @ContractState) -> ByteArray {
            self.symbol.read()
        }

        fn decimals(self: @ContractState) -> u8 {
            18
        }

        fn total_supply(self: @ContractState) -> u256 {
            self.total_supply.read()
        }

        fn balance_of(self: @ContractState, account: ContractAddress) -> u256 {
            self.balances.read(account)
        }

        fn allowance(
            self: @ContractState, owner: ContractAddress, spender: ContractAddress,
        ) -> u256 {
            self.allowances.read((owner, spender))
        }

        fn transfer(ref self: ContractState, recipient: ContractAddress, amount: u256) -> bool {
            self._transfer(get_caller_address(), recipient, amount);
            true
        }

        fn transfer_from(
            ref self: ContractState,
            sender: ContractAddress,
            recipient: ContractAddress,
            amount: u256,
        ) -> bool {
            let spender = get_caller_address();
            let allowed = self.allowances.read((sender, spender));
            if allowed != Bounded::MAX {
                assert(allowed >= amount, errors::INSUFFICIENT_ALLOWANCE);
                self._approve(sender, spender, allowed - amount);
            }
            self._transfer(sender, recipient, amount);
            true
        }

        fn approve(ref self: ContractState, spender: ContractAddress, amount: u256) -> bool {
            self._approve(get_caller_address(), spender, amount);
            true
        }
    }

    #[abi(embed_v0)]
    impl MintableImpl of IMintable<ContractState> {
        fn mint(ref self: ContractState, recipient: ContractAddress, amount: u256) {
            self.admin.assert_only_role(roles::MINTER);
            self.admin.assert_not_paused();
            assert(!is_zero_address(recipient), errors::MINT_TO_ZERO);
            assert(amount != 0, errors::ZERO_AMOUNT);
            let supply = self.total_supply.read();
            assert(amount <= self.cap.read() - supply, errors::CAP_EXCEEDED);
            self.total_supply.write(supply + amount);
            self.balances.write(recipient, self.balances.read(recipient) + amount);
            self.emit(Transfer { from: zero_address(), to: recipient, value: amount });
        }

        fn cap(self: @ContractState) -> u256 {
            self.cap.read()
        }
    }

    #[generate_trait]
    impl InternalImpl of InternalTrait {
        fn _transfer(
            ref self: ContractState,
            sender: ContractAddress,
            recipient: ContractAddress,
            amount: u256,
        ) {
            assert(!is_zero_address(sender), errors::TRANSFER_FROM_ZERO);
            assert(!is_zero_address(recipient), errors::TRANSFER_TO_ZERO);
            let balance = self.balances.read(sender);
            assert(balance >= amount, errors::INSUFFICIENT_BALANCE);
            self.balances.write(sender, balance - amount);
            self.balances.write(recipient, self.balances.read(recipient) + amount);
            self.emit(Transfer { from: sender, to: recipient, value: amount });
        }

        fn _approve(
            ref self: ContractState,
            owner: ContractAddress,
            spender: ContractAddress,
            amount: u256,
        ) {
            assert(!is_zero_address(spender), errors::APPROVE_TO_ZERO);
            self.allowances.write((owner, spender), amount);
            self.emit(Approval { owner, spender, value: amount });
        }
    }
}
