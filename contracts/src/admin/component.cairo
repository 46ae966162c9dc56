//! The admin component: owner, roles, pause and upgrade, embedded by every CIRO contract.
//! Ownership moves in two steps (the owner names a successor, the successor accepts), so a
//! typo in an address can never hand a contract to nobody.
//! It never moves tokens and never decides what a pause stops; contracts do that by calling
//! `assert_not_paused` where they want it.

#[starknet::component]
pub mod AdminComponent {
    use starknet::storage::{
        Map, StorageMapReadAccess, StorageMapWriteAccess, StoragePointerReadAccess,
        StoragePointerWriteAccess,
    };
    use starknet::{ClassHash, ContractAddress, SyscallResultTrait, get_caller_address};
    use crate::admin::errors;
    use crate::admin::interface::IAdmin;
    use crate::types::{is_zero_address, zero_address};

    #[storage]
    pub struct Storage {
        pub Admin_owner: ContractAddress,
        pub Admin_pending_owner: ContractAddress,
        pub Admin_roles: Map<(felt252, ContractAddress), bool>,
        pub Admin_paused: bool,
    }

    #[event]
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub enum Event {
        OwnershipTransferred: OwnershipTransferred,
        OwnershipTransferStarted: OwnershipTransferStarted,
        RoleGranted: RoleGranted,
        RoleRevoked: RoleRevoked,
        Paused: Paused,
        Unpaused: Unpaused,
        Upgraded: Upgraded,
    }

    /// The owner changed.
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct OwnershipTransferred {
        #[key]
        pub previous_owner: ContractAddress,
        #[key]
        pub new_owner: ContractAddress,
    }

    /// The owner named `new_owner` as its successor; nothing changes until it accepts.
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct OwnershipTransferStarted {
        #[key]
        pub previous_owner: ContractAddress,
        #[key]
        pub new_owner: ContractAddress,
    }

    /// `account` now holds `role`.
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct RoleGranted {
        #[key]
        pub role: felt252,
        #[key]
        pub account: ContractAddress,
        pub sender: ContractAddress,
    }

    /// `account` no longer holds `role`.
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct RoleRevoked {
        #[key]
        pub role: felt252,
        #[key]
        pub account: ContractAddress,
        pub sender: ContractAddress,
    }

    /// The contract was paused.
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct Paused {
        pub account: ContractAddress,
    }

    /// The contract was unpaused.
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct Unpaused {
        pub account: ContractAddress,
    }

    /// The contract's class was replaced.
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct Upgraded {
        pub class_hash: ClassHash,
    }

    #[embeddable_as(AdminImpl)]
    impl Admin<
        TContractState, +HasComponent<TContractState>,
    > of IAdmin<ComponentState<TContractState>> {
        fn owner(self: @ComponentState<TContractState>) -> ContractAddress {
            self.Admin_owner.read()
        }

        fn has_role(
            self: @ComponentState<TContractState>, role: felt252, account: ContractAddress,
        ) -> bool {
            self.Admin_roles.read((role, account))
        }

        fn pending_owner(self: @ComponentState<TContractState>) -> ContractAddress {
            self.Admin_pending_owner.read()
        }

        fn is_paused(self: @ComponentState<TContractState>) -> bool {
            self.Admin_paused.read()
        }

        fn transfer_ownership(
            ref self: ComponentState<TContractState>, new_owner: ContractAddress,
        ) {
            self.assert_only_owner();
            assert(!is_zero_address(new_owner), errors::ZERO_ADDRESS);
            self.Admin_pending_owner.write(new_owner);
            self
                .emit(
                    OwnershipTransferStarted {
                        previous_owner: self.Admin_owner.read(), new_owner,
                    },
                );
        }

        fn accept_ownership(ref self: ComponentState<TContractState>) {
            let new_owner = get_caller_address();
            assert(new_owner == self.Admin_pending_owner.read(), errors::NOT_PENDING_OWNER);
            let previous_owner = self.Admin_owner.read();
            self.Admin_owner.write(new_owner);
            self.Admin_pending_owner.write(zero_address());
            self.emit(OwnershipTransferred { previous_owner, new_owner });
        }

        fn grant_role(
            ref self: ComponentState<TContractState>, role: felt252, account: ContractAddress,
        ) {
            self.assert_only_owner();
            self._grant_role(role, account);
        }

        fn revoke_role(
            ref self: ComponentState<TContractState>, role: felt252, account: ContractAddress,
        ) {
            self.assert_only_owner();
            if self.Admin_roles.read((role, account)) {
                self.Admin_roles.write((role, account), false);
                self.emit(RoleRevoked { role, account, sender: get_caller_address() });
            }
        }

        fn pause(ref self: ComponentState<TContractState>) {
            self.assert_only_owner();
            self.assert_not_paused();
            self.Admin_paused.write(true);
            self.emit(Paused { account: get_caller_address() });
        }

        fn unpause(ref self: ComponentState<TContractState>) {
            self.assert_only_owner();
            assert(self.Admin_paused.read(), errors::NOT_PAUSED);
            self.Admin_paused.write(false);
            self.emit(Unpaused { account: get_caller_address() });
        }

        fn upgrade(ref self: ComponentState<TContractState>, new_class_hash: ClassHash) {
            self.assert_only_owner();
            let class_hash_value: felt252 = new_class_hash.into();
            assert(class_hash_value != 0, errors::ZERO_CLASS_HASH);
            starknet::syscalls::replace_class_syscall(new_class_hash).unwrap_syscall();
            self.emit(Upgraded { class_hash: new_class_hash });
        }
    }

    /// Checks and setup used by the embedding contracts.
    #[generate_trait]
    pub impl InternalImpl<
        TContractState, +HasComponent<TContractState>,
    > of InternalTrait<TContractState> {
        /// Sets the first owner. Call once, from the constructor.
        fn initializer(ref self: ComponentState<TContractState>, owner: ContractAddress) {
            assert(!is_zero_address(owner), errors::ZERO_ADDRESS);
            self.Admin_owner.write(owner);
            self
                .emit(
                    OwnershipTransferred { previous_owner: zero_address(), new_owner: owner },
                );
        }

        /// Panics unless the caller is the owner.
        fn assert_only_owner(self: @ComponentState<TContractState>) {
            assert(get_caller_address() == self.Admin_owner.read(), errors::NOT_OWNER);
        }

        /// Panics unless the caller holds `role`.
        fn assert_only_role(self: @ComponentState<TContractState>, role: felt252) {
            assert(self.Admin_roles.read((role, get_caller_address())), errors::MISSING_ROLE);
        }

        /// Panics while the contract is paused.
        fn assert_not_paused(self: @ComponentState<TContractState>) {
            assert(!self.Admin_paused.read(), errors::PAUSED);
        }

        /// Grants `role` to `account` without an owner check (constructors use it).
        fn _grant_role(
            ref self: ComponentState<TContractState>, role: felt252, account: ContractAddress,
        ) {
            assert(!is_zero_address(account), errors::ZERO_ADDRESS);
            if !self.Admin_roles.read((role, account)) {
                self.Admin_roles.write((role, account), true);
                self.emit(RoleGranted { role, account, sender: get_caller_address() });
            }
        }
    }
}
