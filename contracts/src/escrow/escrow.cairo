/// JobEscrow: holds each job's reward from creation until it settles, exactly once.
///
/// States: Open → Assigned → Submitted → Completed, with the exits Open → Cancelled,
/// Assigned → Refunded (timeout), Submitted → Refunded (never revealed) and
/// Submitted → Disputed → Completed | Refunded.
///
/// Results are committed, then revealed: a worker submits a commitment that hides its result
/// hash and names the worker, and hands the opening to its client off chain. The client
/// accepts without revealing anything; a worker that wants `finalize`, or is disputed,
/// reveals the opening first. A copied commitment is worthless: the copier cannot open it. Every
/// terminal state is written before any token moves, so nothing can be paid twice. Pausing
/// stops `create_job` and `assign`; everything that settles a job always goes through.
///
/// A job's money terms (fee, timeout slash, dispute bond) are copied into it at creation, so
/// no later change by the owner touches a job in flight. A dispute costs the client a bond,
/// held here: it goes to the worker if the client loses and back to the client if it wins.
#[starknet::contract]
pub mod JobEscrow {
    use starknet::storage::{
        Map, StorageMapReadAccess, StorageMapWriteAccess, StoragePointerReadAccess,
        StoragePointerWriteAccess,
    };
    use starknet::{
        ContractAddress, get_block_timestamp, get_caller_address, get_contract_address,
        get_tx_info,
    };
    use crate::admin::component::AdminComponent;
    use crate::disputes::interface::{IDisputesEscrowDispatcher, IDisputesEscrowDispatcherTrait};
    use crate::escrow::bid::{
        Bid, ISRC6SignatureDispatcher, ISRC6SignatureDispatcherTrait, VALIDATED, bid_hash,
    };
    use crate::escrow::errors;
    use crate::escrow::interface::{
        IEscrowConfig, IEscrowSettlement, IEscrowView, IJobEscrow, MAX_CHALLENGE_WINDOW,
        MAX_FEE_BPS, MAX_JOB_DURATION, result_commitment,
    };
    use crate::reputation::interface::{
        IReputationWriterDispatcher, IReputationWriterDispatcherTrait,
    };
    use crate::staking::interface::{
        IStakingJobsDispatcher, IStakingJobsDispatcherTrait, IStakingViewDispatcher,
        IStakingViewDispatcherTrait,
    };
    use crate::token::interface::{IERC20Dispatcher, IERC20DispatcherTrait};
    use crate::types::{BPS_DENOMINATOR, Job, JobState, bps_of};
    use crate::types::{is_zero_address, zero_address};

    component!(path: AdminComponent, storage: admin, event: AdminEvent);

    #[abi(embed_v0)]
    impl AdminImpl = AdminComponent::AdminImpl<ContractState>;
    impl AdminInternalImpl = AdminComponent::InternalImpl<ContractState>;

    /// Slash reason passed to staking on a missed deadline.
    pub const TIMEOUT_REASON: felt252 = 'job_timeout';

    #[storage]
    struct Storage {
        token: ContractAddress,
        staking: ContractAddress,
        reputation: ContractAddress,
        disputes: ContractAddress,
        treasury: ContractAddress,
        fee_bps: u16,
        timeout_slash_bps: u16,
        dispute_bond: u256,
        job_count: u64,
        jobs: Map<u64, Job>,
        /// Bids consumed, by (worker, nonce).
        used_bids: Map<(ContractAddress, felt252), bool>,
        #[substorage(v0)]
        admin: AdminComponent::Storage,
    }

    #[event]
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub enum Event {
        JobCreated: JobCreated,
        JobAssigned: JobAssigned,
        ResultSubmitted: ResultSubmitted,
        ResultRevealed: ResultRevealed,
        JobCompleted: JobCompleted,
        JobCancelled: JobCancelled,
        JobTimedOut: JobTimedOut,
        JobDisputed: JobDisputed,
        JobRefunded: JobRefunded,
        FeeUpdated: FeeUpdated,
        TimeoutSlashUpdated: TimeoutSlashUpdated,
        DisputeBondUpdated: DisputeBondUpdated,
        TreasuryUpdated: TreasuryUpdated,
        DisputesUpdated: DisputesUpdated,
        #[flat]
        AdminEvent: AdminComponent::Event,
    }

    /// A job was created and its reward escrowed. `worker` is zero until assignment.
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct JobCreated {
        #[key]
        pub job_id: u64,
        #[key]
        pub client: ContractAddress,
        #[key]
        pub worker: ContractAddress,
        pub spec_hash: felt252,
        pub capability: felt252,
        pub reward: u256,
        pub collateral: u256,
        pub deadline: u64,
        pub challenge_window: u64,
    }

    /// A worker was assigned on the terms of its signed bid (`nonce`), and its collateral
    /// locked; `deadline` is the job's deadline from now on (the bid's).
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct JobAssigned {
        #[key]
        pub job_id: u64,
        #[key]
        pub client: ContractAddress,
        #[key]
        pub worker: ContractAddress,
        pub collateral: u256,
        pub deadline: u64,
        pub nonce: felt252,
    }

    /// The worker committed its result; the challenge window ends at `challenge_ends_at`.
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct ResultSubmitted {
        #[key]
        pub job_id: u64,
        #[key]
        pub client: ContractAddress,
        #[key]
        pub worker: ContractAddress,
        pub commitment: felt252,
        pub challenge_ends_at: u64,
    }

    /// The commitment was opened: `result_hash` is the worker's result.
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct ResultRevealed {
        #[key]
        pub job_id: u64,
        #[key]
        pub client: ContractAddress,
        #[key]
        pub worker: ContractAddress,
        pub result_hash: felt252,
    }

    /// The worker was paid `payout`; `fee` went to the treasury.
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct JobCompleted {
        #[key]
        pub job_id: u64,
        #[key]
        pub client: ContractAddress,
        #[key]
        pub worker: ContractAddress,
        pub payout: u256,
        pub fee: u256,
    }

    /// The client cancelled and got `refund` back.
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct JobCancelled {
        #[key]
        pub job_id: u64,
        #[key]
        pub client: ContractAddress,
        #[key]
        pub worker: ContractAddress,
        pub refund: u256,
    }

    /// The deadline passed without a result: the client got `refund` back and `slashed` went
    /// to the treasury.
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct JobTimedOut {
        #[key]
        pub job_id: u64,
        #[key]
        pub client: ContractAddress,
        #[key]
        pub worker: ContractAddress,
        pub refund: u256,
        pub slashed: u256,
    }

    /// The client contested the result and paid `bond` into the escrow.
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct JobDisputed {
        #[key]
        pub job_id: u64,
        #[key]
        pub client: ContractAddress,
        #[key]
        pub worker: ContractAddress,
        pub dispute_id: u64,
        pub evidence_hash: felt252,
        pub bond: u256,
    }

    /// The client won the dispute and got `refund` back.
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct JobRefunded {
        #[key]
        pub job_id: u64,
        #[key]
        pub client: ContractAddress,
        #[key]
        pub worker: ContractAddress,
        pub refund: u256,
    }

    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct FeeUpdated {
        pub old_fee_bps: u16,
        pub new_fee_bps: u16,
    }

    /// The bond for disputes of jobs created from now on.
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct DisputeBondUpdated {
        pub old_bond: u256,
        pub new_bond: u256,
    }

    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct TimeoutSlashUpdated {
        pub old_bps: u16,
        pub new_bps: u16,
    }

    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct TreasuryUpdated {
        pub old_treasury: ContractAddress,
        pub new_treasury: ContractAddress,
    }

    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct DisputesUpdated {
        pub old_disputes: ContractAddress,
        pub new_disputes: ContractAddress,
    }

    /// The disputes contract is wired afterwards with `set_disputes`.
    #[constructor]
    fn constructor(
        ref self: ContractState,
        owner: ContractAddress,
        token: ContractAddress,
        staking: ContractAddress,
        reputation: ContractAddress,
        treasury: ContractAddress,
        fee_bps: u16,
        timeout_slash_bps: u16,
        dispute_bond: u256,
    ) {
        assert(!is_zero_address(token), errors::ZERO_ADDRESS);
        assert(!is_zero_address(staking), errors::ZERO_ADDRESS);
        assert(!is_zero_address(reputation), errors::ZERO_ADDRESS);
        assert(!is_zero_address(treasury), errors::ZERO_ADDRESS);
        assert(fee_bps <= MAX_FEE_BPS, errors::FEE_TOO_HIGH);
        assert(timeout_slash_bps <= BPS_DENOMINATOR, errors::BPS_TOO_HIGH);
        self.admin.initializer(owner);
        self.token.write(token);
        self.staking.write(staking);
        self.reputation.write(reputation);
        self.treasury.write(treasury);
        self.fee_bps.write(fee_bps);
        self.timeout_slash_bps.write(timeout_slash_bps);
        self.dispute_bond.write(dispute_bond);
    }

    #[abi(embed_v0)]
    impl JobEscrowImpl of IJobEscrow<ContractState> {
        fn create_job(
            ref self: ContractState,
            spec_hash: felt252,
            reward: u256,
            capability: felt252,
            deadline: u64,
            challenge_window: u64,
            collateral: u256,
        ) -> u64 {
            self.admin.assert_not_paused();
            assert(reward != 0, errors::ZERO_REWARD);
            assert(spec_hash != 0, errors::ZERO_SPEC);
            assert(capability != 0, errors::ZERO_CAPABILITY);
            let now = get_block_timestamp();
            assert(deadline > now, errors::DEADLINE_PASSED);
            assert(deadline - now <= MAX_JOB_DURATION, errors::DEADLINE_TOO_FAR);
            assert(challenge_window > 0, errors::ZERO_WINDOW);
            assert(challenge_window <= MAX_CHALLENGE_WINDOW, errors::WINDOW_TOO_LONG);
            let client = get_caller_address();
            let job_id = self.job_count.read() + 1;
            self.job_count.write(job_id);
            let worker = zero_address();
            self
                .jobs
                .write(
                    job_id,
                    Job {
                        client,
                        worker,
                        spec_hash,
                        capability,
                        reward,
                        collateral,
                        deadline,
                        challenge_window,
                        commitment: 0,
                        result_hash: 0,
                        submitted_at: 0,
                        dispute_id: 0,
                        state: JobState::Open,
                        fee_bps: self.fee_bps.read(),
                        timeout_slash_bps: self.timeout_slash_bps.read(),
                        dispute_bond: self.dispute_bond.read(),
                    },
                );
            self
                .emit(
                    JobCreated {
                        job_id,
                        client,
                        worker,
                        spec_hash,
                        capability,
                        reward,
                        collateral,
                        deadline,
                        challenge_window,
                    },
                );
            self.token_dispatcher().transfer_from(client, get_contract_address(), reward);
            job_id
        }

        fn assign(
            ref self: ContractState,
            job_id: u64,
            worker: ContractAddress,
            bid: Bid,
            signature: Array<felt252>,
        ) {
            self.admin.assert_not_paused();
            let mut job = self.read_job(job_id);
            assert(get_caller_address() == job.client, errors::NOT_CLIENT);
            assert(job.state == JobState::Open, errors::NOT_OPEN);
            assert(worker != job.client, errors::WORKER_IS_CLIENT);
            let now = get_block_timestamp();
            assert(now <= bid.expiry, errors::BID_EXPIRED);
            assert(bid.spec_hash == job.spec_hash, errors::BID_OTHER_JOB);
            assert(job.reward >= bid.price.into(), errors::BID_PRICE_TOO_HIGH);
            assert(job.collateral <= bid.collateral.into(), errors::BID_COLLATERAL_TOO_LOW);
            assert(now < bid.deadline, errors::DEADLINE_PASSED);
            assert(bid.deadline <= job.deadline, errors::BID_DEADLINE_TOO_LATE);
            assert(!self.used_bids.read((worker, bid.nonce)), errors::BID_USED);
            let staking = self.staking.read();
            let view = IStakingViewDispatcher { contract_address: staking };
            assert(view.is_active(worker), errors::WORKER_INACTIVE);
            assert(view.has_capability(worker, job.capability), errors::WORKER_LACKS_CAPABILITY);
            assert(view.free_stake_of(worker) >= job.collateral, errors::INSUFFICIENT_FREE_STAKE);
            // The worker's account is called before anything is written. Re-entering the
            // escrow from it gains nothing: the job is Open, and only its client can assign
            // or cancel it.
            let hash = bid_hash(@bid, get_contract_address(), worker, get_tx_info().unbox().chain_id);
            let verdict = ISRC6SignatureDispatcher { contract_address: worker }
                .is_valid_signature(hash, signature);
            assert(verdict == VALIDATED, errors::BAD_SIGNATURE);
            self.used_bids.write((worker, bid.nonce), true);
            job.worker = worker;
            job.deadline = bid.deadline;
            job.state = JobState::Assigned;
            self.jobs.write(job_id, job);
            self
                .emit(
                    JobAssigned {
                        job_id,
                        client: job.client,
                        worker,
                        collateral: job.collateral,
                        deadline: bid.deadline,
                        nonce: bid.nonce,
                    },
                );
            if job.collateral != 0 {
                IStakingJobsDispatcher { contract_address: staking }
                    .lock(worker, job.collateral, job_id);
            }
        }

        fn submit_result(ref self: ContractState, job_id: u64, commitment: felt252) {
            let mut job = self.read_job(job_id);
            assert(get_caller_address() == job.worker, errors::NOT_WORKER);
            assert(job.state == JobState::Assigned, errors::NOT_ASSIGNED);
            let now = get_block_timestamp();
            assert(now <= job.deadline, errors::DEADLINE_PASSED);
            assert(commitment != 0, errors::ZERO_COMMITMENT);
            job.commitment = commitment;
            job.submitted_at = now;
            job.state = JobState::Submitted;
            self.jobs.write(job_id, job);
            self
                .emit(
                    ResultSubmitted {
                        job_id,
                        client: job.client,
                        worker: job.worker,
                        commitment,
                        challenge_ends_at: now + job.challenge_window,
                    },
                );
        }

        fn reveal(ref self: ContractState, job_id: u64, result_hash: felt252, salt: felt252) {
            let mut job = self.read_job(job_id);
            assert(
                job.state == JobState::Submitted || job.state == JobState::Disputed,
                errors::NOT_REVEALABLE,
            );
            assert(job.result_hash == 0, errors::ALREADY_REVEALED);
            assert(result_hash != 0, errors::ZERO_RESULT);
            assert(
                result_commitment(result_hash, job.worker, salt) == job.commitment,
                errors::BAD_REVEAL,
            );
            job.result_hash = result_hash;
            self.jobs.write(job_id, job);
            self
                .emit(
                    ResultRevealed { job_id, client: job.client, worker: job.worker, result_hash },
                );
        }

        fn accept(ref self: ContractState, job_id: u64) {
            let job = self.read_job(job_id);
            assert(get_caller_address() == job.client, errors::NOT_CLIENT);
            assert(job.state == JobState::Submitted, errors::NOT_SUBMITTED);
            let payout = self.pay_worker(job_id, job);
            self.reputation_dispatcher().record_job_completed(job.worker, payout);
        }

        fn finalize(ref self: ContractState, job_id: u64) {
            let job = self.read_job(job_id);
            assert(job.state == JobState::Submitted, errors::NOT_SUBMITTED);
            assert(
                get_block_timestamp() > job.submitted_at + job.challenge_window,
                errors::WINDOW_OPEN,
            );
            assert(job.result_hash != 0, errors::NOT_REVEALED);
            let payout = self.pay_worker(job_id, job);
            self.reputation_dispatcher().record_job_completed(job.worker, payout);
        }

        fn cancel(ref self: ContractState, job_id: u64) {
            let mut job = self.read_job(job_id);
            assert(get_caller_address() == job.client, errors::NOT_CLIENT);
            assert(job.state == JobState::Open, errors::NOT_OPEN);
            job.state = JobState::Cancelled;
            self.jobs.write(job_id, job);
            self
                .emit(
                    JobCancelled {
                        job_id, client: job.client, worker: job.worker, refund: job.reward,
                    },
                );
            self.token_dispatcher().transfer(job.client, job.reward);
        }

        fn claim_timeout(ref self: ContractState, job_id: u64) {
            let mut job = self.read_job(job_id);
            let now = get_block_timestamp();
            if job.state == JobState::Submitted && job.result_hash == 0 {
                // Committed but never opened: after a second window it counts as no result.
                let reveal_by = job.submitted_at + 2 * job.challenge_window;
                assert(now > reveal_by, errors::DEADLINE_NOT_PASSED);
            } else {
                assert(job.state == JobState::Assigned, errors::NOT_ASSIGNED);
                assert(now > job.deadline, errors::DEADLINE_NOT_PASSED);
            }
            job.state = JobState::Refunded;
            self.jobs.write(job_id, job);
            let mut slashed = 0;
            if job.collateral != 0 {
                let staking = IStakingJobsDispatcher { contract_address: self.staking.read() };
                staking.unlock(job.worker, job_id);
                let share = bps_of(job.collateral, job.timeout_slash_bps);
                if share != 0 {
                    slashed = staking.slash(job.worker, share, TIMEOUT_REASON, self.treasury.read());
                }
            }
            self
                .emit(
                    JobTimedOut {
                        job_id, client: job.client, worker: job.worker, refund: job.reward, slashed,
                    },
                );
            self.token_dispatcher().transfer(job.client, job.reward);
            self.reputation_dispatcher().record_job_failed(job.worker, slashed);
        }

        fn dispute(ref self: ContractState, job_id: u64, evidence_hash: felt252) -> u64 {
            let mut job = self.read_job(job_id);
            assert(get_caller_address() == job.client, errors::NOT_CLIENT);
            assert(job.state == JobState::Submitted, errors::NOT_SUBMITTED);
            assert(
                get_block_timestamp() <= job.submitted_at + job.challenge_window,
                errors::WINDOW_CLOSED,
            );
            assert(evidence_hash != 0, errors::ZERO_EVIDENCE);
            let disputes = self.disputes.read();
            assert(!is_zero_address(disputes), errors::DISPUTES_NOT_SET);
            job.state = JobState::Disputed;
            self.jobs.write(job_id, job);
            let bond = job.dispute_bond;
            let dispute_id = IDisputesEscrowDispatcher { contract_address: disputes }
                .open(job_id, job.client, job.worker, job.collateral, bond, evidence_hash);
            job.dispute_id = dispute_id;
            self.jobs.write(job_id, job);
            self
                .emit(
                    JobDisputed {
                        job_id,
                        client: job.client,
                        worker: job.worker,
                        dispute_id,
                        evidence_hash,
                        bond,
                    },
                );
            if bond != 0 {
                self.token_dispatcher().transfer_from(job.client, get_contract_address(), bond);
            }
            dispute_id
        }
    }

    #[abi(embed_v0)]
    impl EscrowSettlementImpl of IEscrowSettlement<ContractState> {
        fn settle_dispute(ref self: ContractState, job_id: u64, worker_right: bool) -> u256 {
            let mut job = self.read_job(job_id);
            assert(get_caller_address() == self.disputes.read(), errors::NOT_DISPUTES);
            assert(job.state == JobState::Disputed, errors::NOT_DISPUTED);
            if worker_right {
                let payout = self.pay_worker(job_id, job);
                // The client contested a right result: its bond goes to the worker.
                if job.dispute_bond != 0 {
                    self.token_dispatcher().transfer(job.worker, job.dispute_bond);
                }
                return payout;
            }
            job.state = JobState::Refunded;
            self.jobs.write(job_id, job);
            if job.collateral != 0 {
                IStakingJobsDispatcher { contract_address: self.staking.read() }
                    .unlock(job.worker, job_id);
            }
            self
                .emit(
                    JobRefunded {
                        job_id, client: job.client, worker: job.worker, refund: job.reward,
                    },
                );
            self.token_dispatcher().transfer(job.client, job.reward + job.dispute_bond);
            0
        }
    }

    #[abi(embed_v0)]
    impl EscrowViewImpl of IEscrowView<ContractState> {
        fn job(self: @ContractState, job_id: u64) -> Job {
            self.read_job(job_id)
        }

        fn job_count(self: @ContractState) -> u64 {
            self.job_count.read()
        }

        fn bid_hash(self: @ContractState, worker: ContractAddress, bid: Bid) -> felt252 {
            bid_hash(@bid, get_contract_address(), worker, get_tx_info().unbox().chain_id)
        }

        fn result_commitment(
            self: @ContractState, result_hash: felt252, worker: ContractAddress, salt: felt252,
        ) -> felt252 {
            result_commitment(result_hash, worker, salt)
        }

        fn is_bid_used(self: @ContractState, worker: ContractAddress, nonce: felt252) -> bool {
            self.used_bids.read((worker, nonce))
        }

        fn fee_bps(self: @ContractState) -> u16 {
            self.fee_bps.read()
        }

        fn timeout_slash_bps(self: @ContractState) -> u16 {
            self.timeout_slash_bps.read()
        }

        fn dispute_bond(self: @ContractState) -> u256 {
            self.dispute_bond.read()
        }

        fn treasury(self: @ContractState) -> ContractAddress {
            self.treasury.read()
        }

        fn token(self: @ContractState) -> ContractAddress {
            self.token.read()
        }

        fn staking(self: @ContractState) -> ContractAddress {
            self.staking.read()
        }

        fn reputation(self: @ContractState) -> ContractAddress {
            self.reputation.read()
        }

        fn disputes(self: @ContractState) -> ContractAddress {
            self.disputes.read()
        }
    }

    #[abi(embed_v0)]
    impl EscrowConfigImpl of IEscrowConfig<ContractState> {
        fn set_fee_bps(ref self: ContractState, fee_bps: u16) {
            self.admin.assert_only_owner();
            assert(fee_bps <= MAX_FEE_BPS, errors::FEE_TOO_HIGH);
            let old_fee_bps = self.fee_bps.read();
            self.fee_bps.write(fee_bps);
            self.emit(FeeUpdated { old_fee_bps, new_fee_bps: fee_bps });
        }

        fn set_timeout_slash_bps(ref self: ContractState, bps: u16) {
            self.admin.assert_only_owner();
            assert(bps <= BPS_DENOMINATOR, errors::BPS_TOO_HIGH);
            let old_bps = self.timeout_slash_bps.read();
            self.timeout_slash_bps.write(bps);
            self.emit(TimeoutSlashUpdated { old_bps, new_bps: bps });
        }

        fn set_dispute_bond(ref self: ContractState, bond: u256) {
            self.admin.assert_only_owner();
            let old_bond = self.dispute_bond.read();
            self.dispute_bond.write(bond);
            self.emit(DisputeBondUpdated { old_bond, new_bond: bond });
        }

        fn set_treasury(ref self: ContractState, treasury: ContractAddress) {
            self.admin.assert_only_owner();
            assert(!is_zero_address(treasury), errors::ZERO_ADDRESS);
            let old_treasury = self.treasury.read();
            self.treasury.write(treasury);
            self.emit(TreasuryUpdated { old_treasury, new_treasury: treasury });
        }

        fn set_disputes(ref self: ContractState, disputes: ContractAddress) {
            self.admin.assert_only_owner();
            assert(!is_zero_address(disputes), errors::ZERO_ADDRESS);
            let old_disputes = self.disputes.read();
            self.disputes.write(disputes);
            self.emit(DisputesUpdated { old_disputes, new_disputes: disputes });
        }
    }

    #[generate_trait]
    impl InternalImpl of InternalTrait {
        fn read_job(self: @ContractState, job_id: u64) -> Job {
            let job = self.jobs.read(job_id);
            assert(job.state != JobState::None, errors::UNKNOWN_JOB);
            job
        }

        fn token_dispatcher(self: @ContractState) -> IERC20Dispatcher {
            IERC20Dispatcher { contract_address: self.token.read() }
        }

        fn reputation_dispatcher(self: @ContractState) -> IReputationWriterDispatcher {
            IReputationWriterDispatcher { contract_address: self.reputation.read() }
        }

        /// Marks the job Completed, releases the collateral, pays the worker and the fee.
        /// Returns the worker's payout. Callers check the state first.
        fn pay_worker(ref self: ContractState, job_id: u64, job: Job) -> u256 {
            let mut job = job;
            job.state = JobState::Completed;
            self.jobs.write(job_id, job);
            let fee = bps_of(job.reward, job.fee_bps);
            let payout = job.reward - fee;
            if job.collateral != 0 {
                IStakingJobsDispatcher { contract_address: self.staking.read() }
                    .unlock(job.worker, job_id);
            }
            self.emit(JobCompleted { job_id, client: job.client, worker: job.worker, payout, fee });
            let token = self.token_dispatcher();
            if payout != 0 {
                token.transfer(job.worker, payout);
            }
            if fee != 0 {
                token.transfer(self.treasury.read(), fee);
            }
            payout
        }
    }
}
