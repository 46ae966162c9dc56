//! The admin component: owner, roles, pause and timelocked upgrades, embedded by every CIRO
//! contract. Ownership moves in two steps (the owner names a successor, the successor
//! accepts), so a typo in an address can never hand a contract to nobody.
//!
//! No single power is immediate where money is at stake: an upgrade waits at least
//! `MIN_UPGRADE_DELAY` after it is announced, in public; the roles that wire contracts
//! together (and so may slash, lock collateral or write reputation) are fixed once the setup
//! ends; pausing stops only new business. The owner is the governance admin: it hands out
//! the other roles (upgrade governor, security agent and admin, operator) and holds none of
//! their powers unless it grants them to itself, which `RoleGranted` makes public.
//! It never moves tokens and never decides what a pause stops; contracts do that by calling
//! `assert_not_paused` where they want it.

#[starknet::component]
pub mod AdminComponent {
    use starknet::storage::{
        Map, StorageMapReadAccess, StorageMapWriteAccess, StoragePointerReadAccess,
        StoragePointerWriteAccess,
    };
    use starknet::{
        ClassHash, ContractAddress, SyscallResultTrait, get_block_timestamp, get_caller_address,
    };
    use crate::admin::errors;
    use crate::admin::interface::{
        IAdmin, MAX_UPGRADE_DELAY, MIN_UPGRADE_DELAY, PendingUpgrade, UPGRADE_EXPIRY,
    };
    use crate::types::roles;
    use crate::types::{is_zero_address, zero_address};

    #[storage]
    pub struct Storage {
        pub Admin_owner: ContractAddress,
        pub Admin_pending_owner: ContractAddress,
        pub Admin_roles: Map<(felt252, ContractAddress), bool>,
        pub Admin_paused: bool,
        /// Set by `end_setup`; the wiring roles are fixed from then on.
        pub Admin_setup_ended: bool,
        pub Admin_upgrade_delay: u64,
        /// A shorter delay waiting for the current one to pass; zero when none.
        pub Admin_next_upgrade_delay: u64,
        pub Admin_next_upgrade_delay_at: u64,
        pub Admin_pending_upgrade: PendingUpgrade,
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
        UpgradeAnnounced: UpgradeAnnounced,
        UpgradeCancelled: UpgradeCancelled,
        UpgradeDelayChanged: UpgradeDelayChanged,
        SetupEnded: SetupEnded,
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

    /// An upgrade to `class_hash` was announced: it can run from `ready_at` until
    /// `expires_at`. Stakers who disagree have until `ready_at` to leave.
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct UpgradeAnnounced {
        #[key]
        pub class_hash: ClassHash,
        pub init_hash: felt252,
        pub ready_at: u64,
        pub expires_at: u64,
        pub sender: ContractAddress,
    }

    /// The pending upgrade to `class_hash` was withdrawn.
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct UpgradeCancelled {
        #[key]
        pub class_hash: ClassHash,
        pub sender: ContractAddress,
    }

    /// The upgrade delay becomes `new_delay` at `effective_at` (now, for a longer delay).
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct UpgradeDelayChanged {
        pub old_delay: u64,
        pub new_delay: u64,
        pub effective_at: u64,
    }

    /// The setup ended: the wiring roles are fixed until an upgrade.
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct SetupEnded {
        pub sender: ContractAddress,
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

        fn is_setup_open(self: @ComponentState<TContractState>) -> bool {
            !self.Admin_setup_ended.read()
        }

        fn upgrade_delay(self: @ComponentState<TContractState>) -> u64 {
            self.effective_upgrade_delay()
        }

        fn pending_upgrade(self: @ComponentState<TContractState>) -> PendingUpgrade {
            self.Admin_pending_upgrade.read()
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
            self.assert_role_changeable(role);
            self._grant_role(role, account);
        }

        fn revoke_role(
            ref self: ComponentState<TContractState>, role: felt252, account: ContractAddress,
        ) {
            self.assert_only_owner();
            self.assert_role_changeable(role);
            if self.Admin_roles.read((role, account)) {
                self.Admin_roles.write((role, account), false);
                self.emit(RoleRevoked { role, account, sender: get_caller_address() });
            }
        }

        fn end_setup(ref self: ComponentState<TContractState>) {
            self.assert_only_owner();
            self.assert_setup_open();
            self.Admin_setup_ended.write(true);
            self.emit(SetupEnded { sender: get_caller_address() });
        }

        fn pause(ref self: ComponentState<TContractState>) {
            self.assert_role(roles::SECURITY_AGENT, errors::NOT_SECURITY_AGENT);
            self.assert_not_paused();
            self.Admin_paused.write(true);
            self.emit(Paused { account: get_caller_address() });
        }

        fn unpause(ref self: ComponentState<TContractState>) {
            self.assert_role(roles::SECURITY_ADMIN, errors::NOT_SECURITY_ADMIN);
            assert(self.Admin_paused.read(), errors::NOT_PAUSED);
            self.Admin_paused.write(false);
            self.emit(Unpaused { account: get_caller_address() });
        }

        fn set_upgrade_delay(ref self: ComponentState<TContractState>, delay: u64) {
            self.assert_only_owner();
            assert(delay >= MIN_UPGRADE_DELAY, errors::DELAY_TOO_SHORT);
            assert(delay <= MAX_UPGRADE_DELAY, errors::DELAY_TOO_LONG);
            let current = self.effective_upgrade_delay();
            let now = get_block_timestamp();
            // A matured shorter delay becomes the current one before anything else changes.
            self.Admin_upgrade_delay.write(current);
            let effective_at = if delay >= current {
                self.Admin_upgrade_delay.write(delay);
                self.Admin_next_upgrade_delay.write(0);
                self.Admin_next_upgrade_delay_at.write(0);
                now
            } else {
                self.Admin_next_upgrade_delay.write(delay);
                self.Admin_next_upgrade_delay_at.write(now + current);
                now + current
            };
            self.emit(UpgradeDelayChanged { old_delay: current, new_delay: delay, effective_at });
        }

        fn announce_upgrade(
            ref self: ComponentState<TContractState>,
            new_class_hash: ClassHash,
            init: Span<felt252>,
        ) {
            self.assert_role(roles::UPGRADE_GOVERNOR, errors::NOT_UPGRADE_GOVERNOR);
            let class_hash_value: felt252 = new_class_hash.into();
            assert(class_hash_value != 0, errors::ZERO_CLASS_HASH);
            let pending: felt252 = self.Admin_pending_upgrade.read().class_hash.into();
            assert(pending == 0, errors::UPGRADE_PENDING);
            let ready_at = get_block_timestamp() + self.effective_upgrade_delay();
            let expires_at = ready_at + UPGRADE_EXPIRY;
            let init_hash = init_hash_of(init);
            let announced = PendingUpgrade {
                class_hash: new_class_hash, init_hash, ready_at, expires_at,
            };
            self.Admin_pending_upgrade.write(announced);
            self
                .emit(
                    UpgradeAnnounced {
                        class_hash: new_class_hash,
                        init_hash,
                        ready_at,
                        expires_at,
                        sender: get_caller_address(),
                    },
                );
        }

        fn cancel_upgrade(ref self: ComponentState<TContractState>) {
            self.assert_role(roles::UPGRADE_GOVERNOR, errors::NOT_UPGRADE_GOVERNOR);
            let pending = self.Admin_pending_upgrade.read();
            let class_hash_value: felt252 = pending.class_hash.into();
            assert(class_hash_value != 0, errors::NO_UPGRADE_PENDING);
            self.clear_pending_upgrade();
            self
                .emit(
                    UpgradeCancelled {
                        class_hash: pending.class_hash, sender: get_caller_address(),
                    },
                );
        }

        fn execute_upgrade(ref self: ComponentState<TContractState>, init: Span<felt252>) {
            self.assert_role(roles::UPGRADE_GOVERNOR, errors::NOT_UPGRADE_GOVERNOR);
            let pending = self.Admin_pending_upgrade.read();
            let class_hash_value: felt252 = pending.class_hash.into();
            assert(class_hash_value != 0, errors::NO_UPGRADE_PENDING);
            let now = get_block_timestamp();
            assert(now >= pending.ready_at, errors::UPGRADE_NOT_READY);
            assert(now <= pending.expires_at, errors::UPGRADE_EXPIRED);
            assert(init_hash_of(init) == pending.init_hash, errors::INIT_MISMATCH);
            self.clear_pending_upgrade();
            starknet::syscalls::replace_class_syscall(pending.class_hash).unwrap_syscall();
            if init.len() != 0 {
                starknet::syscalls::library_call_syscall(
                    pending.class_hash, selector!("upgrade_init"), init,
                )
                    .unwrap_syscall();
            }
            self.emit(Upgraded { class_hash: pending.class_hash });
        }
    }

    /// What `announce_upgrade` records of its init data: zero for none.
    fn init_hash_of(init: Span<felt252>) -> felt252 {
        if init.len() == 0 {
            0
        } else {
            core::poseidon::poseidon_hash_span(init)
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
            self.Admin_upgrade_delay.write(MIN_UPGRADE_DELAY);
            self
                .emit(
                    OwnershipTransferred { previous_owner: zero_address(), new_owner: owner },
                );
            // The first owner holds every role until the deploy hands them to the accounts
            // its settings name.
            self._grant_role(roles::UPGRADE_GOVERNOR, owner);
            self._grant_role(roles::SECURITY_AGENT, owner);
            self._grant_role(roles::SECURITY_ADMIN, owner);
            self._grant_role(roles::OPERATOR, owner);
        }

        /// Panics unless the caller is the owner.
        fn assert_only_owner(self: @ComponentState<TContractState>) {
            assert(get_caller_address() == self.Admin_owner.read(), errors::NOT_OWNER);
        }

        /// Panics unless the caller holds `role`.
        fn assert_only_role(self: @ComponentState<TContractState>, role: felt252) {
            assert(self.Admin_roles.read((role, get_caller_address())), errors::MISSING_ROLE);
        }

        /// Panics unless the caller holds `role`, with `message`.
        fn assert_role(
            self: @ComponentState<TContractState>, role: felt252, message: felt252,
        ) {
            assert(self.Admin_roles.read((role, get_caller_address())), message);
        }

        /// Panics unless the caller holds `OPERATOR`, the role that sets parameters.
        fn assert_only_operator(self: @ComponentState<TContractState>) {
            self.assert_role(roles::OPERATOR, errors::NOT_OPERATOR);
        }

        /// Panics once the setup has ended: wiring is fixed from then on.
        fn assert_setup_open(self: @ComponentState<TContractState>) {
            assert(!self.Admin_setup_ended.read(), errors::SETUP_ENDED);
        }

        /// Panics when `role` wires contracts together and the setup has ended.
        fn assert_role_changeable(self: @ComponentState<TContractState>, role: felt252) {
            if roles::is_wiring(role) {
                self.assert_setup_open();
            }
        }

        /// The delay in force now: a scheduled shorter delay once its time has come.
        fn effective_upgrade_delay(self: @ComponentState<TContractState>) -> u64 {
            let next_at = self.Admin_next_upgrade_delay_at.read();
            if next_at != 0 && get_block_timestamp() >= next_at {
                self.Admin_next_upgrade_delay.read()
            } else {
                self.Admin_upgrade_delay.read()
            }
        }

        fn clear_pending_upgrade(ref self: ComponentState<TContractState>) {
            self
                .Admin_pending_upgrade
                .write(
                    PendingUpgrade {
                        class_hash: 0.try_into().unwrap(), init_hash: 0, ready_at: 0, expires_at: 0,
                    },
                );
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
