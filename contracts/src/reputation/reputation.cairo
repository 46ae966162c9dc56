/// Reputation: counters per worker. Pausing has no effect here: records follow settlements,
/// and settlements always go through.
#[starknet::contract]
pub mod Reputation {
    use starknet::storage::{Map, StorageMapReadAccess, StorageMapWriteAccess};
    use starknet::{ContractAddress, get_block_timestamp};
    use crate::admin::component::AdminComponent;
    use crate::reputation::errors;
    use crate::reputation::interface::{IReputationView, IReputationWriter, reasons};
    use crate::types::{ReputationRecord, roles};
    use crate::types::is_zero_address;

    component!(path: AdminComponent, storage: admin, event: AdminEvent);

    #[abi(embed_v0)]
    impl AdminImpl = AdminComponent::AdminImpl<ContractState>;
    impl AdminInternalImpl = AdminComponent::InternalImpl<ContractState>;

    #[storage]
    struct Storage {
        records: Map<ContractAddress, ReputationRecord>,
        #[substorage(v0)]
        admin: AdminComponent::Storage,
    }

    #[event]
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub enum Event {
        ReputationUpdated: ReputationUpdated,
        #[flat]
        AdminEvent: AdminComponent::Event,
    }

    /// A worker's record changed.
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct ReputationUpdated {
        #[key]
        pub worker: ContractAddress,
        pub reason: felt252,
        pub old: ReputationRecord,
        pub new: ReputationRecord,
    }

    #[constructor]
    fn constructor(ref self: ContractState, owner: ContractAddress) {
        self.admin.initializer(owner);
    }

    #[abi(embed_v0)]
    impl ReputationWriterImpl of IReputationWriter<ContractState> {
        fn record_job_completed(ref self: ContractState, worker: ContractAddress, earned: u256) {
            let old = self.before_write(worker);
            let mut new = old;
            new.jobs_completed += 1;
            new.total_earned += earned;
            self.commit(worker, reasons::JOB_COMPLETED, old, new);
        }

        fn record_jobs_completed(
            ref self: ContractState, worker: ContractAddress, jobs: u32, earned: u256,
        ) {
            let old = self.before_write(worker);
            assert(jobs != 0, errors::ZERO_JOBS);
            let mut new = old;
            new.jobs_completed += jobs.into();
            new.total_earned += earned;
            self.commit(worker, reasons::JOBS_COMPLETED, old, new);
        }

        fn record_job_failed(ref self: ContractState, worker: ContractAddress, slashed: u256) {
            let old = self.before_write(worker);
            let mut new = old;
            new.jobs_failed += 1;
            new.total_slashed += slashed;
            self.commit(worker, reasons::JOB_FAILED, old, new);
        }

        fn record_dispute(
            ref self: ContractState, worker: ContractAddress, won: bool, amount: u256,
        ) {
            let old = self.before_write(worker);
            let mut new = old;
            let reason = if won {
                new.disputes_won += 1;
                new.jobs_completed += 1;
                new.total_earned += amount;
                reasons::DISPUTE_WON
            } else {
                new.disputes_lost += 1;
                new.jobs_failed += 1;
                new.total_slashed += amount;
                reasons::DISPUTE_LOST
            };
            self.commit(worker, reason, old, new);
        }
    }

    #[abi(embed_v0)]
    impl ReputationViewImpl of IReputationView<ContractState> {
        fn reputation_of(self: @ContractState, worker: ContractAddress) -> ReputationRecord {
            self.records.read(worker)
        }
    }

    #[generate_trait]
    impl InternalImpl of InternalTrait {
        /// Checks the caller and the worker, and returns the current record.
        fn before_write(self: @ContractState, worker: ContractAddress) -> ReputationRecord {
            self.admin.assert_only_role(roles::REPUTATION_WRITER);
            assert(!is_zero_address(worker), errors::ZERO_WORKER);
            self.records.read(worker)
        }

        fn commit(
            ref self: ContractState,
            worker: ContractAddress,
            reason: felt252,
            old: ReputationRecord,
            new: ReputationRecord,
        ) {
            let mut new = new;
            new.last_active = get_block_timestamp();
            self.records.write(worker, new);
            self.emit(ReputationUpdated { worker, reason, old, new });
        }
    }
}
