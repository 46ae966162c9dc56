/// Staking: stake, capabilities, exits, collateral and slashing.
///
/// Accounting per worker: `stake` is everything held for the worker. Of it, `pending` waits in
/// the exit window and `locked` backs open jobs; the rest is free. `pending + locked <= stake`
/// always holds. Pausing stops `stake` and `increase_stake`; exits, collateral release and
/// slashing always go through.
#[starknet::contract]
pub mod Staking {
    use starknet::storage::{
        Map, StorageMapReadAccess, StorageMapWriteAccess, StoragePointerReadAccess,
        StoragePointerWriteAccess,
    };
    use starknet::{ContractAddress, get_block_timestamp, get_caller_address, get_contract_address};
    use crate::admin::component::AdminComponent;
    use crate::staking::errors;
    use crate::staking::interface::{
        DEFAULT_UNSTAKE_WINDOW, IStakingConfig, IStakingJobs, IStakingView, IStakingWorker,
        MAX_CAPABILITIES, MAX_PENDING_EXITS, MAX_UNSTAKE_WINDOW,
    };
    use crate::token::interface::{IERC20Dispatcher, IERC20DispatcherTrait};
    use crate::types::roles;
    use crate::types::is_zero_address;

    component!(path: AdminComponent, storage: admin, event: AdminEvent);

    #[abi(embed_v0)]
    impl AdminImpl = AdminComponent::AdminImpl<ContractState>;
    impl AdminInternalImpl = AdminComponent::InternalImpl<ContractState>;

    #[storage]
    struct Storage {
        token: ContractAddress,
        min_stake: u256,
        unstake_window: u64,
        stakes: Map<ContractAddress, u256>,
        locked: Map<ContractAddress, u256>,
        pending: Map<ContractAddress, u256>,
        /// Collateral per (worker, job id).
        job_collateral: Map<(ContractAddress, u64), u256>,
        /// Exit queue per worker: entries `head..tail` are pending.
        exit_head: Map<ContractAddress, u32>,
        exit_tail: Map<ContractAddress, u32>,
        exit_amount: Map<(ContractAddress, u32), u256>,
        exit_unlock_at: Map<(ContractAddress, u32), u64>,
        /// Capability list per worker, plus a membership map for O(1) checks.
        capability_count: Map<ContractAddress, u32>,
        capability_at: Map<(ContractAddress, u32), felt252>,
        capability_held: Map<(ContractAddress, felt252), bool>,
        #[substorage(v0)]
        admin: AdminComponent::Storage,
    }

    #[event]
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub enum Event {
        Staked: Staked,
        StakeIncreased: StakeIncreased,
        CapabilitiesRegistered: CapabilitiesRegistered,
        UnstakeIntent: UnstakeIntent,
        Unstaked: Unstaked,
        CollateralLocked: CollateralLocked,
        CollateralUnlocked: CollateralUnlocked,
        Slashed: Slashed,
        MinStakeUpdated: MinStakeUpdated,
        UnstakeWindowUpdated: UnstakeWindowUpdated,
        #[flat]
        AdminEvent: AdminComponent::Event,
    }

    /// A worker posted its first stake.
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct Staked {
        #[key]
        pub worker: ContractAddress,
        pub amount: u256,
        pub old_stake: u256,
        pub new_stake: u256,
    }

    /// A worker added to its stake.
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct StakeIncreased {
        #[key]
        pub worker: ContractAddress,
        pub amount: u256,
        pub old_stake: u256,
        pub new_stake: u256,
    }

    /// A worker replaced its capability tags.
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct CapabilitiesRegistered {
        #[key]
        pub worker: ContractAddress,
        pub capabilities: Span<felt252>,
    }

    /// A worker started an exit of `amount`, withdrawable at `unlock_at`.
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct UnstakeIntent {
        #[key]
        pub worker: ContractAddress,
        pub amount: u256,
        pub unlock_at: u64,
        pub old_pending: u256,
        pub new_pending: u256,
    }

    /// Matured exits were paid out.
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct Unstaked {
        #[key]
        pub worker: ContractAddress,
        pub amount: u256,
        pub old_stake: u256,
        pub new_stake: u256,
    }

    /// Collateral was locked for a job.
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct CollateralLocked {
        #[key]
        pub worker: ContractAddress,
        #[key]
        pub job_id: u64,
        pub amount: u256,
        pub old_locked: u256,
        pub new_locked: u256,
    }

    /// A job's collateral was released.
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct CollateralUnlocked {
        #[key]
        pub worker: ContractAddress,
        #[key]
        pub job_id: u64,
        pub amount: u256,
        pub old_locked: u256,
        pub new_locked: u256,
    }

    /// Stake was taken from a worker and sent to `beneficiary`.
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct Slashed {
        #[key]
        pub worker: ContractAddress,
        pub amount: u256,
        pub reason: felt252,
        pub beneficiary: ContractAddress,
        pub old_stake: u256,
        pub new_stake: u256,
    }

    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct MinStakeUpdated {
        pub old_min_stake: u256,
        pub new_min_stake: u256,
    }

    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct UnstakeWindowUpdated {
        pub old_window: u64,
        pub new_window: u64,
    }

    /// `unstake_window` of 0 means `DEFAULT_UNSTAKE_WINDOW` (7 days).
    #[constructor]
    fn constructor(
        ref self: ContractState,
        owner: ContractAddress,
        token: ContractAddress,
        min_stake: u256,
        unstake_window: u64,
    ) {
        assert(!is_zero_address(token), errors::ZERO_ADDRESS);
        self.admin.initializer(owner);
        self.token.write(token);
        self.min_stake.write(min_stake);
        let window = if unstake_window == 0 {
            DEFAULT_UNSTAKE_WINDOW
        } else {
            unstake_window
        };
        assert(window <= MAX_UNSTAKE_WINDOW, errors::WINDOW_TOO_LONG);
        self.unstake_window.write(window);
    }

    #[abi(embed_v0)]
    impl StakingWorkerImpl of IStakingWorker<ContractState> {
        fn stake(ref self: ContractState, amount: u256) {
            self.admin.assert_not_paused();
            assert(amount != 0, errors::ZERO_AMOUNT);
            let worker = get_caller_address();
            let old_stake = self.stakes.read(worker);
            assert(old_stake == 0, errors::ALREADY_STAKED);
            self.stakes.write(worker, amount);
            self.emit(Staked { worker, amount, old_stake, new_stake: amount });
            self.token_dispatcher().transfer_from(worker, get_contract_address(), amount);
        }

        fn increase_stake(ref self: ContractState, amount: u256) {
            self.admin.assert_not_paused();
            assert(amount != 0, errors::ZERO_AMOUNT);
            let worker = get_caller_address();
            let old_stake = self.stakes.read(worker);
            assert(old_stake != 0, errors::NOT_STAKED);
            let new_stake = old_stake + amount;
            self.stakes.write(worker, new_stake);
            self.emit(StakeIncreased { worker, amount, old_stake, new_stake });
            self.token_dispatcher().transfer_from(worker, get_contract_address(), amount);
        }

        fn register(ref self: ContractState, capabilities: Span<felt252>) {
            let worker = get_caller_address();
            assert(self.stakes.read(worker) != 0, errors::NOT_STAKED);
            let count = capabilities.len();
            assert(count > 0, errors::NO_CAPABILITIES);
            assert(count <= MAX_CAPABILITIES, errors::TOO_MANY_CAPABILITIES);

            // Forget the previous list.
            let old_count = self.capability_count.read(worker);
            let mut i = 0;
            while i < old_count {
                let old = self.capability_at.read((worker, i));
                self.capability_held.write((worker, old), false);
                i += 1;
            };

            let mut i = 0;
            while i < count {
                let capability = *capabilities.at(i);
                assert(capability != 0, errors::ZERO_CAPABILITY);
                assert(
                    !self.capability_held.read((worker, capability)), errors::DUPLICATE_CAPABILITY,
                );
                self.capability_held.write((worker, capability), true);
                self.capability_at.write((worker, i), capability);
                i += 1;
            };
            self.capability_count.write(worker, count);
            self.emit(CapabilitiesRegistered { worker, capabilities });
        }

        fn unstake_intent(ref self: ContractState, amount: u256) {
            assert(amount != 0, errors::ZERO_AMOUNT);
            let worker = get_caller_address();
            assert(amount <= self.free_stake(worker), errors::INSUFFICIENT_FREE_STAKE);
            let unlock_at = get_block_timestamp() + self.unstake_window.read();
            let tail = self.exit_tail.read(worker);
            assert(tail - self.exit_head.read(worker) < MAX_PENDING_EXITS, errors::TOO_MANY_EXITS);
            self.exit_amount.write((worker, tail), amount);
            self.exit_unlock_at.write((worker, tail), unlock_at);
            self.exit_tail.write(worker, tail + 1);
            let old_pending = self.pending.read(worker);
            let new_pending = old_pending + amount;
            self.pending.write(worker, new_pending);
            self.emit(UnstakeIntent { worker, amount, unlock_at, old_pending, new_pending });
        }

        fn unstake_action(ref self: ContractState) -> u256 {
            let worker = get_caller_address();
            let mut head = self.exit_head.read(worker);
            let tail = self.exit_tail.read(worker);
            assert(head < tail, errors::NO_UNSTAKE_PENDING);
            let now = get_block_timestamp();
            let mut matured: u256 = 0;
            while head < tail && self.exit_unlock_at.read((worker, head)) <= now {
                matured += self.exit_amount.read((worker, head));
                self.exit_amount.write((worker, head), 0);
                self.exit_unlock_at.write((worker, head), 0);
                head += 1;
            };
            assert(head != self.exit_head.read(worker), errors::EXIT_WINDOW_OPEN);
            self.exit_head.write(worker, head);

            // Slashes trim the queue, so the queued exits always sum to `pending`.
            let amount = matured;
            self.pending.write(worker, self.pending.read(worker) - amount);
            let old_stake = self.stakes.read(worker);
            let new_stake = old_stake - amount;
            self.stakes.write(worker, new_stake);
            self.emit(Unstaked { worker, amount, old_stake, new_stake });
            if amount != 0 {
                self.token_dispatcher().transfer(worker, amount);
            }
            amount
        }
    }

    #[abi(embed_v0)]
    impl StakingJobsImpl of IStakingJobs<ContractState> {
        fn lock(ref self: ContractState, worker: ContractAddress, amount: u256, job_id: u64) {
            self.admin.assert_only_role(roles::ESCROW);
            assert(amount != 0, errors::ZERO_AMOUNT);
            assert(self.job_collateral.read((worker, job_id)) == 0, errors::ALREADY_LOCKED);
            assert(amount <= self.free_stake(worker), errors::INSUFFICIENT_FREE_STAKE);
            let old_locked = self.locked.read(worker);
            let new_locked = old_locked + amount;
            self.locked.write(worker, new_locked);
            self.job_collateral.write((worker, job_id), amount);
            self.emit(CollateralLocked { worker, job_id, amount, old_locked, new_locked });
        }

        fn unlock(ref self: ContractState, worker: ContractAddress, job_id: u64) -> u256 {
            self.admin.assert_only_role(roles::ESCROW);
            let amount = self.job_collateral.read((worker, job_id));
            assert(amount != 0, errors::NOTHING_LOCKED);
            self.job_collateral.write((worker, job_id), 0);
            // A slash may already have shrunk `locked` below this job's share.
            let old_locked = self.locked.read(worker);
            let new_locked = if amount < old_locked {
                old_locked - amount
            } else {
                0
            };
            self.locked.write(worker, new_locked);
            self.emit(CollateralUnlocked { worker, job_id, amount, old_locked, new_locked });
            amount
        }

        fn slash(
            ref self: ContractState,
            worker: ContractAddress,
            amount: u256,
            reason: felt252,
            beneficiary: ContractAddress,
        ) -> u256 {
            self.admin.assert_only_role(roles::SLASHER);
            assert(amount != 0, errors::ZERO_AMOUNT);
            assert(!is_zero_address(beneficiary), errors::ZERO_BENEFICIARY);
            let old_stake = self.stakes.read(worker);
            let taken = if amount < old_stake {
                amount
            } else {
                old_stake
            };
            if taken == 0 {
                return 0;
            }
            let new_stake = old_stake - taken;
            self.stakes.write(worker, new_stake);
            // Keep `pending + locked <= stake`: locked collateral first, then pending exits.
            let locked = self.locked.read(worker);
            if locked > new_stake {
                self.locked.write(worker, new_stake);
            }
            let locked = self.locked.read(worker);
            let pending = self.pending.read(worker);
            if pending > new_stake - locked {
                self.pending.write(worker, new_stake - locked);
                self.trim_exits(worker, pending - (new_stake - locked));
            }
            self.emit(Slashed { worker, amount: taken, reason, beneficiary, old_stake, new_stake });
            self.token_dispatcher().transfer(beneficiary, taken);
            taken
        }
    }

    #[abi(embed_v0)]
    impl StakingViewImpl of IStakingView<ContractState> {
        fn stake_of(self: @ContractState, worker: ContractAddress) -> u256 {
            self.stakes.read(worker)
        }

        fn locked_of(self: @ContractState, worker: ContractAddress) -> u256 {
            self.locked.read(worker)
        }

        fn pending_unstake_of(self: @ContractState, worker: ContractAddress) -> u256 {
            self.pending.read(worker)
        }

        fn free_stake_of(self: @ContractState, worker: ContractAddress) -> u256 {
            self.free_stake(worker)
        }

        fn is_active(self: @ContractState, worker: ContractAddress) -> bool {
            // Only free stake counts: stake that is leaving or locked as a job's collateral
            // backs nothing new.
            self.stakes.read(worker) != 0 && self.free_stake(worker) >= self.min_stake.read()
        }

        fn capabilities_of(self: @ContractState, worker: ContractAddress) -> Array<felt252> {
            let mut capabilities = array![];
            let count = self.capability_count.read(worker);
            let mut i = 0;
            while i < count {
                capabilities.append(self.capability_at.read((worker, i)));
                i += 1;
            };
            capabilities
        }

        fn has_capability(
            self: @ContractState, worker: ContractAddress, capability: felt252,
        ) -> bool {
            self.capability_held.read((worker, capability))
        }

        fn collateral_of(self: @ContractState, worker: ContractAddress, job_id: u64) -> u256 {
            self.job_collateral.read((worker, job_id))
        }

        fn next_unlock_at(self: @ContractState, worker: ContractAddress) -> u64 {
            let head = self.exit_head.read(worker);
            if head < self.exit_tail.read(worker) {
                self.exit_unlock_at.read((worker, head))
            } else {
                0
            }
        }

        fn min_stake(self: @ContractState) -> u256 {
            self.min_stake.read()
        }

        fn unstake_window(self: @ContractState) -> u64 {
            self.unstake_window.read()
        }

        fn token(self: @ContractState) -> ContractAddress {
            self.token.read()
        }
    }

    #[abi(embed_v0)]
    impl StakingConfigImpl of IStakingConfig<ContractState> {
        fn set_min_stake(ref self: ContractState, min_stake: u256) {
            self.admin.assert_only_operator();
            let old_min_stake = self.min_stake.read();
            self.min_stake.write(min_stake);
            self.emit(MinStakeUpdated { old_min_stake, new_min_stake: min_stake });
        }

        fn set_unstake_window(ref self: ContractState, window: u64) {
            self.admin.assert_only_operator();
            assert(window > 0, errors::ZERO_WINDOW);
            assert(window <= MAX_UNSTAKE_WINDOW, errors::WINDOW_TOO_LONG);
            let old_window = self.unstake_window.read();
            self.unstake_window.write(window);
            self.emit(UnstakeWindowUpdated { old_window, new_window: window });
        }
    }

    #[generate_trait]
    impl InternalImpl of InternalTrait {
        fn token_dispatcher(self: @ContractState) -> IERC20Dispatcher {
            IERC20Dispatcher { contract_address: self.token.read() }
        }

        /// Removes `cut` from the queued exits, newest first, so that the queue keeps summing
        /// to `pending` after a slash. Emptied entries at the tail are dropped.
        fn trim_exits(ref self: ContractState, worker: ContractAddress, cut: u256) {
            let head = self.exit_head.read(worker);
            let mut tail = self.exit_tail.read(worker);
            let mut cut = cut;
            while cut != 0 && tail > head {
                let last = tail - 1;
                let amount = self.exit_amount.read((worker, last));
                if amount > cut {
                    self.exit_amount.write((worker, last), amount - cut);
                    cut = 0;
                } else {
                    self.exit_amount.write((worker, last), 0);
                    self.exit_unlock_at.write((worker, last), 0);
                    cut -= amount;
                    tail = last;
                }
            };
            self.exit_tail.write(worker, tail);
        }

        fn free_stake(self: @ContractState, worker: ContractAddress) -> u256 {
            self.stakes.read(worker) - self.pending.read(worker) - self.locked.read(worker)
        }
    }
}
