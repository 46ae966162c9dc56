/// Disputes: arbitrators vote `WorkerRight` or `ClientRight`; the first ruling to reach the
/// quorum wins. After the voting period the votes cast decide: the ruling with more votes
/// wins, and a tie (no votes included) pays the worker if it revealed its result, so a
/// client cannot win by keeping arbitrators in the dark, and a worker that never opens its
/// commitment cannot win by silence. The quorum never counts more arbitrators than there are. A
/// dispute's voting period, quorum and court are fixed when it opens: the owner cannot change
/// the rules of a dispute in progress, nor add an arbitrator to it or take one away.
///
/// Worker right: the escrow pays the worker its reward and the client's bond. Client right:
/// the escrow refunds the client its reward and bond, and this contract slashes the whole
/// collateral to the treasury; never to the client, who would then profit from provoking
/// it. Either way the reputation records the outcome. Pausing has no effect here: a dispute
/// is a settlement, and settlements always go through.
#[starknet::contract]
pub mod Disputes {
    use starknet::storage::{
        Map, StorageMapReadAccess, StorageMapWriteAccess, StoragePointerReadAccess,
        StoragePointerWriteAccess,
    };
    use starknet::{ContractAddress, get_block_timestamp, get_caller_address};
    use crate::admin::component::AdminComponent;
    use crate::disputes::errors;
    use crate::disputes::interface::{
        IDisputes, IDisputesConfig, IDisputesEscrow, IDisputesView, MAX_VOTING_PERIOD,
    };
    use crate::escrow::interface::{
        IEscrowSettlementDispatcher, IEscrowSettlementDispatcherTrait, IEscrowViewDispatcher,
        IEscrowViewDispatcherTrait,
    };
    use crate::reputation::interface::{
        IReputationWriterDispatcher, IReputationWriterDispatcherTrait,
    };
    use crate::staking::interface::{IStakingJobsDispatcher, IStakingJobsDispatcherTrait};
    use crate::types::{Dispute, DisputeStatus, Ruling};
    use crate::types::is_zero_address;

    component!(path: AdminComponent, storage: admin, event: AdminEvent);

    #[abi(embed_v0)]
    impl AdminImpl = AdminComponent::AdminImpl<ContractState>;
    impl AdminInternalImpl = AdminComponent::InternalImpl<ContractState>;

    /// Slash reason passed to staking when the worker loses.
    pub const DISPUTE_LOST_REASON: felt252 = 'dispute_lost';

    #[storage]
    struct Storage {
        escrow: ContractAddress,
        staking: ContractAddress,
        reputation: ContractAddress,
        treasury: ContractAddress,
        quorum: u32,
        voting_period: u64,
        arbitrators: Map<ContractAddress, bool>,
        arbitrator_count: u32,
        /// The first dispute id an arbitrator may vote on (zero: never an arbitrator).
        arbitrator_from: Map<ContractAddress, u64>,
        /// The last dispute id a removed arbitrator may vote on.
        arbitrator_until: Map<ContractAddress, u64>,
        dispute_count: u64,
        disputes: Map<u64, Dispute>,
        voted: Map<(u64, ContractAddress), bool>,
        #[substorage(v0)]
        admin: AdminComponent::Storage,
    }

    #[event]
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub enum Event {
        DisputeOpened: DisputeOpened,
        Voted: Voted,
        DisputeResolved: DisputeResolved,
        ArbitratorAdded: ArbitratorAdded,
        ArbitratorRemoved: ArbitratorRemoved,
        QuorumUpdated: QuorumUpdated,
        VotingPeriodUpdated: VotingPeriodUpdated,
        #[flat]
        AdminEvent: AdminComponent::Event,
    }

    /// A dispute was opened; votes are accepted until `voting_ends_at`.
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct DisputeOpened {
        #[key]
        pub dispute_id: u64,
        #[key]
        pub job_id: u64,
        pub client: ContractAddress,
        pub worker: ContractAddress,
        pub evidence_hash: felt252,
        pub voting_ends_at: u64,
        /// The client's bond, held by the escrow until the ruling.
        pub bond: u256,
    }

    /// An arbitrator voted; the tallies are after this vote.
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct Voted {
        #[key]
        pub dispute_id: u64,
        #[key]
        pub arbitrator: ContractAddress,
        pub ruling: Ruling,
        pub votes_worker: u32,
        pub votes_client: u32,
    }

    /// The dispute was settled. Worker right: `payout` and the client's `bond` went to the
    /// worker. Client right: the `bond` went back to the client, and `slashed_to_treasury`
    /// was taken from the worker's stake.
    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct DisputeResolved {
        #[key]
        pub dispute_id: u64,
        #[key]
        pub job_id: u64,
        pub ruling: Ruling,
        pub by_timeout: bool,
        pub payout: u256,
        pub bond: u256,
        pub slashed_to_treasury: u256,
    }

    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct ArbitratorAdded {
        #[key]
        pub arbitrator: ContractAddress,
        pub arbitrator_count: u32,
    }

    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct ArbitratorRemoved {
        #[key]
        pub arbitrator: ContractAddress,
        pub arbitrator_count: u32,
    }

    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct QuorumUpdated {
        pub old_quorum: u32,
        pub new_quorum: u32,
    }

    #[derive(Drop, PartialEq, Debug, starknet::Event)]
    pub struct VotingPeriodUpdated {
        pub old_period: u64,
        pub new_period: u64,
    }

    #[constructor]
    fn constructor(
        ref self: ContractState,
        owner: ContractAddress,
        escrow: ContractAddress,
        staking: ContractAddress,
        reputation: ContractAddress,
        treasury: ContractAddress,
        quorum: u32,
        voting_period: u64,
    ) {
        assert(!is_zero_address(escrow), errors::ZERO_ADDRESS);
        assert(!is_zero_address(staking), errors::ZERO_ADDRESS);
        assert(!is_zero_address(reputation), errors::ZERO_ADDRESS);
        assert(!is_zero_address(treasury), errors::ZERO_ADDRESS);
        assert(quorum > 0, errors::ZERO_QUORUM);
        assert(voting_period > 0, errors::ZERO_PERIOD);
        assert(voting_period <= MAX_VOTING_PERIOD, errors::PERIOD_TOO_LONG);
        self.admin.initializer(owner);
        self.escrow.write(escrow);
        self.staking.write(staking);
        self.reputation.write(reputation);
        self.treasury.write(treasury);
        self.quorum.write(quorum);
        self.voting_period.write(voting_period);
    }

    #[abi(embed_v0)]
    impl DisputesEscrowImpl of IDisputesEscrow<ContractState> {
        fn open(
            ref self: ContractState,
            job_id: u64,
            client: ContractAddress,
            worker: ContractAddress,
            collateral: u256,
            bond: u256,
            evidence_hash: felt252,
        ) -> u64 {
            assert(get_caller_address() == self.escrow.read(), errors::NOT_ESCROW);
            let dispute_id = self.dispute_count.read() + 1;
            self.dispute_count.write(dispute_id);
            let opened_at = get_block_timestamp();
            let voting_ends_at = opened_at + self.voting_period.read();
            self
                .disputes
                .write(
                    dispute_id,
                    Dispute {
                        job_id,
                        client,
                        worker,
                        collateral,
                        bond,
                        evidence_hash,
                        opened_at,
                        voting_ends_at,
                        quorum: self.effective_quorum(),
                        votes_worker: 0,
                        votes_client: 0,
                        status: DisputeStatus::Open,
                        ruling: Default::default(),
                    },
                );
            self
                .emit(
                    DisputeOpened {
                        dispute_id,
                        job_id,
                        client,
                        worker,
                        evidence_hash,
                        voting_ends_at,
                        bond,
                    },
                );
            dispute_id
        }
    }

    #[abi(embed_v0)]
    impl DisputesImpl of IDisputes<ContractState> {
        fn vote(ref self: ContractState, dispute_id: u64, ruling: Ruling) {
            let arbitrator = get_caller_address();
            let from = self.arbitrator_from.read(arbitrator);
            assert(from != 0, errors::NOT_ARBITRATOR);
            if !self.arbitrators.read(arbitrator) {
                assert(dispute_id <= self.arbitrator_until.read(arbitrator), errors::NOT_ARBITRATOR);
            }
            let mut dispute = self.read_dispute(dispute_id);
            assert(dispute_id >= from, errors::JOINED_AFTER_OPENING);
            assert(dispute.status == DisputeStatus::Open, errors::NOT_OPEN);
            assert(get_block_timestamp() <= dispute.voting_ends_at, errors::VOTING_CLOSED);
            assert(
                arbitrator != dispute.client && arbitrator != dispute.worker,
                errors::ARBITRATOR_IS_PARTY,
            );
            assert(!self.voted.read((dispute_id, arbitrator)), errors::ALREADY_VOTED);
            self.voted.write((dispute_id, arbitrator), true);
            let tally = match ruling {
                Ruling::WorkerRight => {
                    dispute.votes_worker += 1;
                    dispute.votes_worker
                },
                Ruling::ClientRight => {
                    dispute.votes_client += 1;
                    dispute.votes_client
                },
            };
            self.disputes.write(dispute_id, dispute);
            self
                .emit(
                    Voted {
                        dispute_id,
                        arbitrator,
                        ruling,
                        votes_worker: dispute.votes_worker,
                        votes_client: dispute.votes_client,
                    },
                );
            if tally >= dispute.quorum {
                self.resolve(dispute_id, dispute, ruling, false);
            }
        }

        fn resolve_timeout(ref self: ContractState, dispute_id: u64) {
            let dispute = self.read_dispute(dispute_id);
            assert(dispute.status == DisputeStatus::Open, errors::NOT_OPEN);
            assert(get_block_timestamp() > dispute.voting_ends_at, errors::VOTING_OPEN);
            // The votes cast decide; a tie, none at all included, pays the worker if it
            // opened its commitment, and refunds the client if it did not.
            let escrow = IEscrowViewDispatcher { contract_address: self.escrow.read() };
            let revealed = escrow.job(dispute.job_id).result_hash != 0;
            let ruling = if dispute.votes_client > dispute.votes_worker {
                Ruling::ClientRight
            } else if dispute.votes_worker > dispute.votes_client {
                Ruling::WorkerRight
            } else if revealed {
                Ruling::WorkerRight
            } else {
                Ruling::ClientRight
            };
            self.resolve(dispute_id, dispute, ruling, true);
        }
    }

    #[abi(embed_v0)]
    impl DisputesViewImpl of IDisputesView<ContractState> {
        fn dispute(self: @ContractState, dispute_id: u64) -> Dispute {
            self.read_dispute(dispute_id)
        }

        fn dispute_count(self: @ContractState) -> u64 {
            self.dispute_count.read()
        }

        fn has_voted(self: @ContractState, dispute_id: u64, arbitrator: ContractAddress) -> bool {
            self.voted.read((dispute_id, arbitrator))
        }

        fn is_arbitrator(self: @ContractState, account: ContractAddress) -> bool {
            self.arbitrators.read(account)
        }

        fn arbitrator_count(self: @ContractState) -> u32 {
            self.arbitrator_count.read()
        }

        fn quorum(self: @ContractState) -> u32 {
            self.quorum.read()
        }

        fn voting_period(self: @ContractState) -> u64 {
            self.voting_period.read()
        }
    }

    #[abi(embed_v0)]
    impl DisputesConfigImpl of IDisputesConfig<ContractState> {
        fn add_arbitrator(ref self: ContractState, arbitrator: ContractAddress) {
            self.admin.assert_only_owner();
            assert(!is_zero_address(arbitrator), errors::ZERO_ADDRESS);
            assert(!self.arbitrators.read(arbitrator), errors::ALREADY_ARBITRATOR);
            assert(self.arbitrator_from.read(arbitrator) == 0, errors::ARBITRATOR_REMOVED);
            self.arbitrators.write(arbitrator, true);
            self.arbitrator_from.write(arbitrator, self.dispute_count.read() + 1);
            let arbitrator_count = self.arbitrator_count.read() + 1;
            self.arbitrator_count.write(arbitrator_count);
            self.emit(ArbitratorAdded { arbitrator, arbitrator_count });
        }

        fn remove_arbitrator(ref self: ContractState, arbitrator: ContractAddress) {
            self.admin.assert_only_owner();
            assert(self.arbitrators.read(arbitrator), errors::NOT_ARBITRATOR);
            let arbitrator_count = self.arbitrator_count.read() - 1;
            assert(arbitrator_count >= self.quorum.read(), errors::QUORUM_ABOVE_ARBITRATORS);
            self.arbitrators.write(arbitrator, false);
            self.arbitrator_until.write(arbitrator, self.dispute_count.read());
            self.arbitrator_count.write(arbitrator_count);
            self.emit(ArbitratorRemoved { arbitrator, arbitrator_count });
        }

        fn set_quorum(ref self: ContractState, quorum: u32) {
            self.admin.assert_only_operator();
            assert(quorum > 0, errors::ZERO_QUORUM);
            assert(quorum <= self.arbitrator_count.read(), errors::QUORUM_ABOVE_ARBITRATORS);
            let old_quorum = self.quorum.read();
            self.quorum.write(quorum);
            self.emit(QuorumUpdated { old_quorum, new_quorum: quorum });
        }

        fn set_voting_period(ref self: ContractState, voting_period: u64) {
            self.admin.assert_only_operator();
            assert(voting_period > 0, errors::ZERO_PERIOD);
            assert(voting_period <= MAX_VOTING_PERIOD, errors::PERIOD_TOO_LONG);
            let old_period = self.voting_period.read();
            self.voting_period.write(voting_period);
            self.emit(VotingPeriodUpdated { old_period, new_period: voting_period });
        }
    }

    #[generate_trait]
    impl InternalImpl of InternalTrait {
        /// The votes that decide a dispute opened now: the quorum, but never more than there
        /// are arbitrators (the quorum is set before they are added), and never zero.
        fn effective_quorum(self: @ContractState) -> u32 {
            let quorum = self.quorum.read();
            let count = self.arbitrator_count.read();
            if quorum < count || count == 0 {
                quorum
            } else {
                count
            }
        }

        fn read_dispute(self: @ContractState, dispute_id: u64) -> Dispute {
            let dispute = self.disputes.read(dispute_id);
            assert(dispute.status != DisputeStatus::None, errors::UNKNOWN_DISPUTE);
            dispute
        }

        /// Marks the dispute resolved, then settles funds, slashes and records reputation.
        fn resolve(
            ref self: ContractState,
            dispute_id: u64,
            dispute: Dispute,
            ruling: Ruling,
            by_timeout: bool,
        ) {
            let mut dispute = dispute;
            dispute.status = DisputeStatus::Resolved;
            dispute.ruling = ruling;
            self.disputes.write(dispute_id, dispute);

            let worker_right = ruling == Ruling::WorkerRight;
            let payout = IEscrowSettlementDispatcher { contract_address: self.escrow.read() }
                .settle_dispute(dispute.job_id, worker_right);
            let mut slashed_to_treasury = 0;
            if !worker_right && dispute.collateral != 0 {
                slashed_to_treasury =
                    IStakingJobsDispatcher { contract_address: self.staking.read() }
                    .slash(
                        dispute.worker,
                        dispute.collateral,
                        DISPUTE_LOST_REASON,
                        self.treasury.read(),
                    );
            }
            let amount = if worker_right {
                payout
            } else {
                slashed_to_treasury
            };
            IReputationWriterDispatcher { contract_address: self.reputation.read() }
                .record_dispute(dispute.worker, worker_right, amount);
            self
                .emit(
                    DisputeResolved {
                        dispute_id,
                        job_id: dispute.job_id,
                        ruling,
                        by_timeout,
                        payout,
                        bond: dispute.bond,
                        slashed_to_treasury,
                    },
                );
        }
    }
}
