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
///
/// Batched settlement runs beside the job lifecycle: a client keeps a deposit here, signs an
/// acceptance for each result it checked off chain, and `settle_batch` pays many acceptances
/// in one transaction, one `JobSettled` event each. Deposits leave only after
/// `WITHDRAWAL_DELAY`, so an acceptance a worker holds stays payable for that long.
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
    use crate::escrow::acceptance::{Acceptance, Settlement, acceptance_hash};
    use crate::escrow::bid::{
        Bid, ISRC6SignatureDispatcher, ISRC6SignatureDispatcherTrait, VALIDATED, bid_hash,
    };
    use crate::escrow::errors;
    use crate::escrow::interface::{
        FEE_GRACE, IBatchSettlement, IEscrowConfig, IEscrowSettlement, IEscrowView, IJobEscrow,
        MAX_CHALLENGE_WINDOW, MAX_FEE_BPS, MAX_JOB_DURATION, WITHDRAWAL_DELAY, Withdrawal,
        result_commitment,
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
        /// Clients' deposits, which pay their acceptances.
        deposits: Map<ContractAddress, u256>,
        /// Pending withdrawals from deposits, by client.
        withdrawals: Map<ContractAddress, Withdrawal>,
        /// Acceptances settled, by (client, nonce).
        used_acceptances: Map<(ContractAddress, felt252), bool>,
        /// The fee acceptances may still carry after a raise, until `fee_floor_until`.
        fee_floor_bps: u16,
        fee_floor_until: u64,
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
        Deposited: Deposited,
        WithdrawalRequested: WithdrawalRequested,
        Withdrawn: Withdrawn,
        JobSettled: JobSettled,
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

    /// `client` added `amount` to its deposit, which now holds `balance`.
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct Deposited {
        #[key]
        pub client: ContractAddress,
        pub amount: u256,
        pub balance: u256,
    }

    /// `client` asked to withdraw `amount` from its deposit; it can from `available_at`.
    /// Workers holding its acceptances settle them before then.
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct WithdrawalRequested {
        #[key]
        pub client: ContractAddress,
        pub amount: u256,
        pub available_at: u64,
    }

    /// `client` withdrew `amount`; its deposit now holds `balance`.
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct Withdrawn {
        #[key]
        pub client: ContractAddress,
        pub amount: u256,
        pub balance: u256,
    }

    /// One job settled in a batch: `client` paid `amount` from its deposit for the result
    /// `worker` committed to as `commitment`; the worker got `payout`, the treasury `fee`.
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct JobSettled {
        #[key]
        pub client: ContractAddress,
        #[key]
        pub worker: ContractAddress,
        pub nonce: felt252,
        pub spec_hash: felt252,
        pub capability: felt252,
        pub commitment: felt252,
        pub amount: u256,
        pub payout: u256,
        pub fee: u256,
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
    impl BatchSettlementImpl of IBatchSettlement<ContractState> {
        fn deposit(ref self: ContractState, amount: u256) {
            self.admin.assert_not_paused();
            assert(amount != 0, errors::ZERO_AMOUNT);
            let client = get_caller_address();
            let balance = self.deposits.read(client) + amount;
            self.deposits.write(client, balance);
            self.emit(Deposited { client, amount, balance });
            self.token_dispatcher().transfer_from(client, get_contract_address(), amount);
        }

        fn request_withdrawal(ref self: ContractState, amount: u256) {
            assert(amount != 0, errors::ZERO_AMOUNT);
            let client = get_caller_address();
            assert(amount <= self.deposits.read(client), errors::INSUFFICIENT_DEPOSIT);
            let available_at = get_block_timestamp() + WITHDRAWAL_DELAY;
            self.withdrawals.write(client, Withdrawal { amount, available_at });
            self.emit(WithdrawalRequested { client, amount, available_at });
        }

        fn withdraw(ref self: ContractState) -> u256 {
            let client = get_caller_address();
            let request = self.withdrawals.read(client);
            assert(request.amount != 0, errors::NO_WITHDRAWAL);
            assert(get_block_timestamp() >= request.available_at, errors::WITHDRAWAL_NOT_READY);
            let held = self.deposits.read(client);
            // Settlements may have spent part of what was asked for meanwhile.
            let amount = if request.amount < held {
                request.amount
            } else {
                held
            };
            let balance = held - amount;
            self.withdrawals.write(client, Default::default());
            self.deposits.write(client, balance);
            self.emit(Withdrawn { client, amount, balance });
            if amount != 0 {
                self.token_dispatcher().transfer(client, amount);
            }
            amount
        }

        fn settle_batch(ref self: ContractState, settlements: Array<Settlement>) -> u32 {
            let count = settlements.len();
            assert(count != 0, errors::EMPTY_BATCH);
            let escrow = get_contract_address();
            let chain_id = get_tx_info().unbox().chain_id;
            let floor = self.current_fee_floor();
            let mut fees: u256 = 0;
            // The run of consecutive settlements paying one worker, paid when it ends.
            let mut run_worker = zero_address();
            let mut run_payout: u256 = 0;
            let mut run_jobs: u32 = 0;
            for settlement in settlements {
                let Settlement { client, acceptance, signature } = settlement;
                let worker = acceptance.worker;
                assert(!is_zero_address(worker), errors::ZERO_ADDRESS);
                assert(worker != client, errors::WORKER_IS_CLIENT);
                assert(acceptance.amount != 0, errors::ZERO_AMOUNT);
                assert(acceptance.commitment != 0, errors::ZERO_COMMITMENT);
                assert(acceptance.fee_bps >= floor, errors::FEE_BELOW_FLOOR);
                assert(acceptance.fee_bps <= MAX_FEE_BPS, errors::FEE_TOO_HIGH);
                let key = (client, acceptance.nonce);
                assert(!self.used_acceptances.read(key), errors::ACCEPTANCE_USED);
                let amount: u256 = acceptance.amount.into();
                let held = self.deposits.read(client);
                assert(held >= amount, errors::INSUFFICIENT_DEPOSIT);
                // Consumed and debited before the client's account is called: re-entering
                // from it finds this acceptance used and the deposit already lower.
                self.used_acceptances.write(key, true);
                self.deposits.write(client, held - amount);
                let hash = acceptance_hash(@acceptance, escrow, client, chain_id);
                let verdict = ISRC6SignatureDispatcher { contract_address: client }
                    .is_valid_signature(hash, signature);
                assert(verdict == VALIDATED, errors::BAD_ACCEPTANCE);
                let fee = bps_of(amount, acceptance.fee_bps);
                let payout = amount - fee;
                self.emit(settled_event(client, @acceptance, amount, payout, fee));
                if worker != run_worker {
                    self.pay_run(run_worker, run_payout, run_jobs);
                    run_worker = worker;
                    run_payout = 0;
                    run_jobs = 0;
                }
                run_payout += payout;
                run_jobs += 1;
                fees += fee;
            };
            self.pay_run(run_worker, run_payout, run_jobs);
            if fees != 0 {
                self.token_dispatcher().transfer(self.treasury.read(), fees);
            }
            count
        }
    }

    fn settled_event(
        client: ContractAddress, acceptance: @Acceptance, amount: u256, payout: u256, fee: u256,
    ) -> JobSettled {
        JobSettled {
            client,
            worker: *acceptance.worker,
            nonce: *acceptance.nonce,
            spec_hash: *acceptance.spec_hash,
            capability: *acceptance.capability,
            commitment: *acceptance.commitment,
            amount,
            payout,
            fee,
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

        fn acceptance_hash(
            self: @ContractState, client: ContractAddress, acceptance: Acceptance,
        ) -> felt252 {
            acceptance_hash(
                @acceptance, get_contract_address(), client, get_tx_info().unbox().chain_id,
            )
        }

        fn is_acceptance_used(
            self: @ContractState, client: ContractAddress, nonce: felt252,
        ) -> bool {
            self.used_acceptances.read((client, nonce))
        }

        fn deposit_of(self: @ContractState, client: ContractAddress) -> u256 {
            self.deposits.read(client)
        }

        fn withdrawal_of(self: @ContractState, client: ContractAddress) -> Withdrawal {
            self.withdrawals.read(client)
        }

        fn fee_floor_bps(self: @ContractState) -> u16 {
            self.current_fee_floor()
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
            self.admin.assert_only_operator();
            assert(fee_bps <= MAX_FEE_BPS, errors::FEE_TOO_HIGH);
            let old_fee_bps = self.fee_bps.read();
            if fee_bps > old_fee_bps {
                // Acceptances signed before the raise keep settling at their fee for a while.
                self.fee_floor_bps.write(self.current_fee_floor());
                self.fee_floor_until.write(get_block_timestamp() + FEE_GRACE);
            }
            self.fee_bps.write(fee_bps);
            self.emit(FeeUpdated { old_fee_bps, new_fee_bps: fee_bps });
        }

        fn set_timeout_slash_bps(ref self: ContractState, bps: u16) {
            self.admin.assert_only_operator();
            assert(bps <= BPS_DENOMINATOR, errors::BPS_TOO_HIGH);
            let old_bps = self.timeout_slash_bps.read();
            self.timeout_slash_bps.write(bps);
            self.emit(TimeoutSlashUpdated { old_bps, new_bps: bps });
        }

        fn set_dispute_bond(ref self: ContractState, bond: u256) {
            self.admin.assert_only_operator();
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
            self.admin.assert_setup_open();
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

        /// The lowest fee an acceptance may carry now.
        fn current_fee_floor(self: @ContractState) -> u16 {
            let fee_bps = self.fee_bps.read();
            if get_block_timestamp() > self.fee_floor_until.read() {
                return fee_bps;
            }
            let floor = self.fee_floor_bps.read();
            if floor < fee_bps {
                floor
            } else {
                fee_bps
            }
        }

        /// Pays `worker` what a run of `jobs` settlements earned it, and records them.
        fn pay_run(ref self: ContractState, worker: ContractAddress, payout: u256, jobs: u32) {
            if jobs == 0 {
                return;
            }
            if payout != 0 {
                self.token_dispatcher().transfer(worker, payout);
            }
            self.reputation_dispatcher().record_jobs_completed(worker, jobs, payout);
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
