//! Batched settlement: client deposits, signed acceptances, `settle_batch`, and the attacks on
//! them (replays, forgeries, redirected or inflated acceptances, fee dodging, a client leaving
//! with the money it owes, a fee raise on agreed work).

use starknet::ContractAddress;
use starknet::testing::{pop_log, set_block_timestamp, set_contract_address};
use crate::admin::interface::IAdminDispatcherTrait;
use crate::escrow::acceptance::{Acceptance, Settlement, acceptance_hash};
use crate::escrow::escrow::JobEscrow;
use crate::escrow::interface::{
    FEE_GRACE, IBatchSettlementDispatcherTrait, IBatchSettlementSafeDispatcher,
    IBatchSettlementSafeDispatcherTrait, IEscrowConfigDispatcherTrait, IEscrowViewDispatcherTrait,
    MAX_FEE_BPS, WITHDRAWAL_DELAY, Withdrawal,
};
use crate::reputation::interface::IReputationViewDispatcherTrait;
use crate::token::interface::IMintableDispatcherTrait;
use super::mock_account::MockAccount;
use super::reentrant_account::ReentrantAccount;
use super::reentrant_account::ReentrantAccount::{
    IReentrantClientDispatcher, IReentrantClientDispatcherTrait,
};
use super::utils::{
    CLIENT, FEE_BPS, INITIAL_BALANCE, ONE, OTHER, OWNER, REWARD, SPEC, START, Suite, SuiteTrait,
    TREASURY, WASM, WORKER, WORKER2, acceptance, admin, balance, commitment, deposit, drop_events,
    settlement, setup, sign_as,
};

/// What the client deposits in `funded`: five default jobs' worth.
const DEPOSIT: u256 = 200_000_000_000_000_000_000;

fn fee_of(amount: u256, fee_bps: u16) -> u256 {
    amount * fee_bps.into() / 10_000
}

/// What a worker gets for one default acceptance at the suite's fee.
fn payout() -> u256 {
    REWARD - fee_of(REWARD, FEE_BPS)
}

/// A suite whose client holds `DEPOSIT`, with the escrow's events dropped.
fn funded() -> Suite {
    let suite = setup();
    deposit(suite, CLIENT(), DEPOSIT);
    drop_events(suite.escrow);
    drop_events(suite.token);
    suite
}

fn next_event(suite: Suite) -> Option<JobEscrow::Event> {
    pop_log::<JobEscrow::Event>(suite.escrow)
}

fn settled(worker: ContractAddress, nonce: felt252) -> Option<JobEscrow::Event> {
    let fee = fee_of(REWARD, FEE_BPS);
    Option::Some(
        JobEscrow::Event::JobSettled(
            JobEscrow::JobSettled {
                client: CLIENT(),
                worker,
                nonce,
                spec_hash: SPEC,
                capability: WASM,
                commitment: commitment(worker),
                amount: REWARD,
                payout: REWARD - fee,
                fee,
            },
        ),
    )
}

/// The client's signed acceptance of `worker`'s default result.
fn signed(suite: Suite, worker: ContractAddress, nonce: felt252) -> Settlement {
    settlement(suite, CLIENT(), acceptance(worker, nonce))
}

fn safe(suite: Suite) -> IBatchSettlementSafeDispatcher {
    IBatchSettlementSafeDispatcher { contract_address: suite.escrow }
}

// ---------------------------------------------------------------------------------------------
// Deposits and withdrawals
// ---------------------------------------------------------------------------------------------

#[test]
fn test_deposit_holds_the_funds_and_emits() {
    let suite = setup();
    drop_events(suite.escrow);
    deposit(suite, CLIENT(), DEPOSIT);
    deposit(suite, CLIENT(), ONE);
    assert_eq!(suite.escrow_view().deposit_of(CLIENT()), DEPOSIT + ONE);
    assert_eq!(balance(suite, CLIENT()), INITIAL_BALANCE - DEPOSIT - ONE);
    assert_eq!(balance(suite, suite.escrow), DEPOSIT + ONE);
    assert_eq!(
        next_event(suite),
        Option::Some(
            JobEscrow::Event::Deposited(
                JobEscrow::Deposited { client: CLIENT(), amount: DEPOSIT, balance: DEPOSIT },
            ),
        ),
    );
    assert_eq!(
        next_event(suite),
        Option::Some(
            JobEscrow::Event::Deposited(
                JobEscrow::Deposited { client: CLIENT(), amount: ONE, balance: DEPOSIT + ONE },
            ),
        ),
    );
    assert!(next_event(suite).is_none());
}

#[test]
#[should_panic(expected: ('amount is zero', 'ENTRYPOINT_FAILED'))]
fn test_deposit_of_nothing_is_refused() {
    let suite = setup();
    set_contract_address(CLIENT());
    suite.batch().deposit(0);
}

#[test]
#[should_panic(expected: ('contract is paused', 'ENTRYPOINT_FAILED'))]
fn test_deposit_while_paused_is_refused() {
    let suite = setup();
    set_contract_address(OWNER());
    admin(suite.escrow).pause();
    deposit(suite, CLIENT(), DEPOSIT);
}

#[test]
#[feature("safe_dispatcher")]
fn test_withdrawal_waits_for_the_delay() {
    let suite = funded();
    set_contract_address(CLIENT());
    suite.batch().request_withdrawal(DEPOSIT);
    let available_at = START + WITHDRAWAL_DELAY;
    assert_eq!(
        suite.escrow_view().withdrawal_of(CLIENT()), Withdrawal { amount: DEPOSIT, available_at },
    );
    assert_eq!(
        next_event(suite),
        Option::Some(
            JobEscrow::Event::WithdrawalRequested(
                JobEscrow::WithdrawalRequested { client: CLIENT(), amount: DEPOSIT, available_at },
            ),
        ),
    );
    set_block_timestamp(available_at - 1);
    assert!(safe(suite).withdraw().is_err());
    assert_eq!(balance(suite, CLIENT()), INITIAL_BALANCE - DEPOSIT);
    set_block_timestamp(available_at);
    assert_eq!(suite.batch().withdraw(), DEPOSIT);
    assert_eq!(balance(suite, CLIENT()), INITIAL_BALANCE);
    assert_eq!(suite.escrow_view().deposit_of(CLIENT()), 0);
    assert_eq!(suite.escrow_view().withdrawal_of(CLIENT()), Default::default());
    assert_eq!(
        next_event(suite),
        Option::Some(
            JobEscrow::Event::Withdrawn(
                JobEscrow::Withdrawn { client: CLIENT(), amount: DEPOSIT, balance: 0 },
            ),
        ),
    );
    // The request is spent: nothing more comes out.
    assert!(safe(suite).withdraw().is_err());
}

#[test]
#[should_panic(expected: ('withdrawal delay not passed', 'ENTRYPOINT_FAILED'))]
fn test_withdraw_before_the_delay_is_refused() {
    let suite = funded();
    set_contract_address(CLIENT());
    suite.batch().request_withdrawal(DEPOSIT);
    set_block_timestamp(START + WITHDRAWAL_DELAY - 1);
    suite.batch().withdraw();
}

#[test]
#[should_panic(expected: ('no withdrawal requested', 'ENTRYPOINT_FAILED'))]
fn test_withdraw_without_a_request_is_refused() {
    let suite = funded();
    set_contract_address(CLIENT());
    suite.batch().withdraw();
}

#[test]
#[should_panic(expected: ('insufficient deposit', 'ENTRYPOINT_FAILED'))]
fn test_withdrawal_above_the_deposit_is_refused() {
    let suite = funded();
    set_contract_address(CLIENT());
    suite.batch().request_withdrawal(DEPOSIT + 1);
}

#[test]
#[should_panic(expected: ('amount is zero', 'ENTRYPOINT_FAILED'))]
fn test_withdrawal_of_nothing_is_refused() {
    let suite = funded();
    set_contract_address(CLIENT());
    suite.batch().request_withdrawal(0);
}

#[test]
fn test_a_new_request_restarts_the_delay() {
    let suite = funded();
    set_contract_address(CLIENT());
    suite.batch().request_withdrawal(ONE);
    set_block_timestamp(START + 100);
    suite.batch().request_withdrawal(2 * ONE);
    assert_eq!(
        suite.escrow_view().withdrawal_of(CLIENT()),
        Withdrawal { amount: 2 * ONE, available_at: START + 100 + WITHDRAWAL_DELAY },
    );
}

/// Attack: a client takes results, asks for its deposit back, and hopes to leave before the
/// workers are paid. The delay leaves them time to settle; the client gets only what is left.
#[test]
fn test_a_client_cannot_withdraw_what_it_accepted_to_pay() {
    let suite = funded();
    let accepted = signed(suite, WORKER(), 1);
    set_contract_address(CLIENT());
    suite.batch().request_withdrawal(DEPOSIT);
    set_block_timestamp(START + WITHDRAWAL_DELAY - 1);
    set_contract_address(WORKER());
    suite.batch().settle_batch(array![accepted]);
    assert_eq!(balance(suite, WORKER()), INITIAL_BALANCE + payout());
    set_block_timestamp(START + WITHDRAWAL_DELAY);
    set_contract_address(CLIENT());
    assert_eq!(suite.batch().withdraw(), DEPOSIT - REWARD);
    assert_eq!(balance(suite, CLIENT()), INITIAL_BALANCE - REWARD);
    assert_eq!(balance(suite, suite.escrow), 0);
}

// ---------------------------------------------------------------------------------------------
// settle_batch
// ---------------------------------------------------------------------------------------------

#[test]
fn test_settle_batch_pays_each_worker_and_the_fees_and_records_every_job() {
    let suite = funded();
    let batch = array![signed(suite, WORKER(), 1), signed(suite, WORKER(), 2), signed(suite, WORKER2(), 3)];
    // Anyone may submit a batch: the signatures are what pay.
    set_contract_address(OTHER());
    assert_eq!(suite.batch().settle_batch(batch), 3);
    let fee = fee_of(REWARD, FEE_BPS);
    assert_eq!(balance(suite, WORKER()), INITIAL_BALANCE + 2 * payout());
    assert_eq!(balance(suite, WORKER2()), INITIAL_BALANCE + payout());
    assert_eq!(balance(suite, TREASURY()), 3 * fee);
    assert_eq!(suite.escrow_view().deposit_of(CLIENT()), DEPOSIT - 3 * REWARD);
    assert_eq!(balance(suite, suite.escrow), DEPOSIT - 3 * REWARD);
    assert!(suite.escrow_view().is_acceptance_used(CLIENT(), 1));
    assert!(suite.escrow_view().is_acceptance_used(CLIENT(), 3));
    assert!(!suite.escrow_view().is_acceptance_used(CLIENT(), 4));
    assert_eq!(next_event(suite), settled(WORKER(), 1));
    assert_eq!(next_event(suite), settled(WORKER(), 2));
    assert_eq!(next_event(suite), settled(WORKER2(), 3));
    assert!(next_event(suite).is_none());
    let record = suite.reputation_view().reputation_of(WORKER());
    assert_eq!(record.jobs_completed, 2);
    assert_eq!(record.total_earned, 2 * payout());
    let record = suite.reputation_view().reputation_of(WORKER2());
    assert_eq!(record.jobs_completed, 1);
    assert_eq!(record.total_earned, payout());
}

#[test]
fn test_a_batch_not_grouped_by_worker_still_pays_exactly() {
    let suite = funded();
    let batch = array![signed(suite, WORKER(), 1), signed(suite, WORKER2(), 2), signed(suite, WORKER(), 3)];
    suite.batch().settle_batch(batch);
    assert_eq!(balance(suite, WORKER()), INITIAL_BALANCE + 2 * payout());
    assert_eq!(balance(suite, WORKER2()), INITIAL_BALANCE + payout());
    assert_eq!(suite.reputation_view().reputation_of(WORKER()).jobs_completed, 2);
    assert_eq!(suite.escrow_view().deposit_of(CLIENT()), DEPOSIT - 3 * REWARD);
}

#[test]
fn test_a_batch_pays_from_each_clients_own_deposit() {
    let suite = funded();
    // WORKER2 is a client too here, paying WORKER from its own deposit.
    deposit(suite, WORKER2(), REWARD);
    let theirs = settlement(suite, WORKER2(), acceptance(WORKER(), 1));
    let batch = array![signed(suite, WORKER(), 1), theirs];
    suite.batch().settle_batch(batch);
    assert_eq!(suite.escrow_view().deposit_of(CLIENT()), DEPOSIT - REWARD);
    assert_eq!(suite.escrow_view().deposit_of(WORKER2()), 0);
    assert_eq!(balance(suite, WORKER()), INITIAL_BALANCE + 2 * payout());
}

#[test]
#[should_panic(expected: ('batch is empty', 'ENTRYPOINT_FAILED'))]
fn test_an_empty_batch_is_refused() {
    let suite = funded();
    suite.batch().settle_batch(array![]);
}

/// Attack: a worker submits an acceptance twice, in two batches or twice in one.
#[test]
#[feature("safe_dispatcher")]
fn test_an_acceptance_pays_once() {
    let suite = funded();
    suite.batch().settle_batch(array![signed(suite, WORKER(), 1)]);
    assert!(safe(suite).settle_batch(array![signed(suite, WORKER(), 1)]).is_err());
    assert!(
        safe(suite).settle_batch(array![signed(suite, WORKER(), 2), signed(suite, WORKER(), 2)])
            .is_err(),
    );
    assert_eq!(balance(suite, WORKER()), INITIAL_BALANCE + payout());
    assert_eq!(suite.escrow_view().deposit_of(CLIENT()), DEPOSIT - REWARD);
}

#[test]
#[should_panic(expected: ('acceptance already used', 'ENTRYPOINT_FAILED'))]
fn test_a_replayed_acceptance_is_refused() {
    let suite = funded();
    suite.batch().settle_batch(array![signed(suite, WORKER(), 1)]);
    suite.batch().settle_batch(array![signed(suite, WORKER(), 1)]);
}

/// Attack: a worker writes its own acceptance and signs it itself.
#[test]
#[should_panic(expected: ('invalid acceptance signature', 'ENTRYPOINT_FAILED'))]
fn test_an_acceptance_the_client_did_not_sign_is_refused() {
    let suite = funded();
    let accepted = acceptance(WORKER(), 1);
    let hash = suite.escrow_view().acceptance_hash(CLIENT(), accepted);
    let forged = Settlement { client: CLIENT(), acceptance: accepted, signature: sign_as(WORKER(), hash) };
    set_contract_address(WORKER());
    suite.batch().settle_batch(array![forged]);
}

/// Attack: a worker edits a signed acceptance: pays it to another worker, raises its amount,
/// or uses it on another nonce. Each is refused and nothing moves.
#[test]
#[feature("safe_dispatcher")]
fn test_a_signed_acceptance_cannot_be_redirected_or_inflated() {
    let suite = funded();
    let original = signed(suite, WORKER(), 1);
    let mut redirected = signed(suite, WORKER(), 1);
    redirected.acceptance.worker = WORKER2();
    let mut inflated = signed(suite, WORKER(), 1);
    inflated.acceptance.amount = (2 * REWARD).try_into().unwrap();
    let mut renumbered = signed(suite, WORKER(), 1);
    renumbered.acceptance.nonce = 2;
    let mut other_result = signed(suite, WORKER(), 1);
    other_result.acceptance.commitment = commitment(WORKER2());
    set_contract_address(WORKER2());
    assert!(safe(suite).settle_batch(array![redirected]).is_err());
    assert!(safe(suite).settle_batch(array![inflated]).is_err());
    assert!(safe(suite).settle_batch(array![renumbered]).is_err());
    assert!(safe(suite).settle_batch(array![other_result]).is_err());
    assert_eq!(balance(suite, WORKER2()), INITIAL_BALANCE);
    assert_eq!(suite.escrow_view().deposit_of(CLIENT()), DEPOSIT);
    // The original still pays its worker.
    suite.batch().settle_batch(array![original]);
    assert_eq!(balance(suite, WORKER()), INITIAL_BALANCE + payout());
}

/// Attack: a client farms reputation by paying itself.
#[test]
#[should_panic(expected: ('worker is the client', 'ENTRYPOINT_FAILED'))]
fn test_a_client_cannot_pay_itself() {
    let suite = funded();
    suite.batch().settle_batch(array![signed(suite, CLIENT(), 1)]);
}

#[test]
#[should_panic(expected: ('address is zero', 'ENTRYPOINT_FAILED'))]
fn test_an_acceptance_for_no_worker_is_refused() {
    let suite = funded();
    let zero: ContractAddress = 0.try_into().unwrap();
    suite.batch().settle_batch(array![signed(suite, zero, 1)]);
}

#[test]
#[should_panic(expected: ('amount is zero', 'ENTRYPOINT_FAILED'))]
fn test_an_acceptance_of_nothing_is_refused() {
    let suite = funded();
    let mut accepted = acceptance(WORKER(), 1);
    accepted.amount = 0;
    suite.batch().settle_batch(array![settlement(suite, CLIENT(), accepted)]);
}

#[test]
#[should_panic(expected: ('commitment is zero', 'ENTRYPOINT_FAILED'))]
fn test_an_acceptance_of_no_result_is_refused() {
    let suite = funded();
    let mut accepted = acceptance(WORKER(), 1);
    accepted.commitment = 0;
    suite.batch().settle_batch(array![settlement(suite, CLIENT(), accepted)]);
}

/// A client that signed more than it holds: the acceptance the deposit cannot cover fails its
/// batch; the ones before it in another batch were paid.
#[test]
#[should_panic(expected: ('insufficient deposit', 'ENTRYPOINT_FAILED'))]
fn test_settlement_beyond_the_deposit_is_refused() {
    let suite = funded();
    let mut batch = array![];
    let mut nonce = 1;
    while nonce != 7 {
        batch.append(signed(suite, WORKER(), nonce));
        nonce += 1;
    };
    suite.batch().settle_batch(batch);
}

#[test]
#[feature("safe_dispatcher")]
fn test_a_batch_that_fails_pays_nothing() {
    let suite = funded();
    let too_much = Acceptance { amount: (DEPOSIT + 1).try_into().unwrap(), ..acceptance(WORKER2(), 2) };
    let batch = array![signed(suite, WORKER(), 1), settlement(suite, CLIENT(), too_much)];
    assert!(safe(suite).settle_batch(batch).is_err());
    assert_eq!(balance(suite, WORKER()), INITIAL_BALANCE);
    assert!(!suite.escrow_view().is_acceptance_used(CLIENT(), 1));
    assert_eq!(suite.escrow_view().deposit_of(CLIENT()), DEPOSIT);
}

/// Attack: client and worker agree on no fee to farm reputation cheaply.
#[test]
#[should_panic(expected: ('fee below floor', 'ENTRYPOINT_FAILED'))]
fn test_an_acceptance_below_the_fee_is_refused() {
    let suite = funded();
    let mut accepted = acceptance(WORKER(), 1);
    accepted.fee_bps = FEE_BPS - 1;
    suite.batch().settle_batch(array![settlement(suite, CLIENT(), accepted)]);
}

#[test]
#[should_panic(expected: ('fee above cap', 'ENTRYPOINT_FAILED'))]
fn test_an_acceptance_above_the_fee_cap_is_refused() {
    let suite = funded();
    let mut accepted = acceptance(WORKER(), 1);
    accepted.fee_bps = MAX_FEE_BPS + 1;
    suite.batch().settle_batch(array![settlement(suite, CLIENT(), accepted)]);
}

/// Attack: the owner raises the fee while workers hold acceptances. Those settle at the fee
/// they were agreed under for `FEE_GRACE`; only later ones pay the new fee.
#[test]
#[feature("safe_dispatcher")]
fn test_a_fee_raise_does_not_touch_agreed_work() {
    let suite = funded();
    set_contract_address(OWNER());
    suite.escrow_config().set_fee_bps(MAX_FEE_BPS);
    assert_eq!(suite.escrow_view().fee_floor_bps(), FEE_BPS);
    set_block_timestamp(START + FEE_GRACE);
    suite.batch().settle_batch(array![signed(suite, WORKER(), 1)]);
    assert_eq!(balance(suite, WORKER()), INITIAL_BALANCE + payout());
    assert_eq!(balance(suite, TREASURY()), fee_of(REWARD, FEE_BPS));
    // After the grace the old fee is below the floor.
    set_block_timestamp(START + FEE_GRACE + 1);
    assert_eq!(suite.escrow_view().fee_floor_bps(), MAX_FEE_BPS);
    assert!(safe(suite).settle_batch(array![signed(suite, WORKER(), 2)]).is_err());
    let at_new_fee = Acceptance { fee_bps: MAX_FEE_BPS, ..acceptance(WORKER(), 2) };
    suite.batch().settle_batch(array![settlement(suite, CLIENT(), at_new_fee)]);
    assert_eq!(balance(suite, TREASURY()), fee_of(REWARD, FEE_BPS) + fee_of(REWARD, MAX_FEE_BPS));
}

#[test]
fn test_a_second_raise_keeps_the_first_floor() {
    let suite = funded();
    set_contract_address(OWNER());
    suite.escrow_config().set_fee_bps(FEE_BPS + 100);
    set_block_timestamp(START + 10);
    suite.escrow_config().set_fee_bps(MAX_FEE_BPS);
    assert_eq!(suite.escrow_view().fee_floor_bps(), FEE_BPS);
    set_block_timestamp(START + 10 + FEE_GRACE + 1);
    assert_eq!(suite.escrow_view().fee_floor_bps(), MAX_FEE_BPS);
}

#[test]
fn test_a_fee_cut_applies_at_once() {
    let suite = funded();
    set_contract_address(OWNER());
    suite.escrow_config().set_fee_bps(0);
    assert_eq!(suite.escrow_view().fee_floor_bps(), 0);
    let free = Acceptance { fee_bps: 0, ..acceptance(WORKER(), 1) };
    suite.batch().settle_batch(array![settlement(suite, CLIENT(), free)]);
    assert_eq!(balance(suite, WORKER()), INITIAL_BALANCE + REWARD);
    assert_eq!(balance(suite, TREASURY()), 0);
}

#[test]
fn test_pause_leaves_settlement_and_withdrawal_working() {
    let suite = funded();
    set_contract_address(CLIENT());
    suite.batch().request_withdrawal(REWARD);
    set_contract_address(OWNER());
    admin(suite.escrow).pause();
    suite.batch().settle_batch(array![signed(suite, WORKER(), 1)]);
    assert_eq!(balance(suite, WORKER()), INITIAL_BALANCE + payout());
    set_block_timestamp(START + WITHDRAWAL_DELAY);
    set_contract_address(CLIENT());
    assert_eq!(suite.batch().withdraw(), REWARD);
    assert_eq!(suite.escrow_view().deposit_of(CLIENT()), DEPOSIT - 2 * REWARD);
}

#[test]
fn test_an_acceptance_names_its_escrow_chain_and_client() {
    let suite = funded();
    let accepted = acceptance(WORKER(), 1);
    let here = suite.escrow_view().acceptance_hash(CLIENT(), accepted);
    let other: ContractAddress = 0xe5c.try_into().unwrap();
    let chain_id = starknet::get_tx_info().unbox().chain_id;
    assert_ne!(acceptance_hash(@accepted, other, CLIENT(), chain_id), here);
    assert_ne!(acceptance_hash(@accepted, suite.escrow, CLIENT(), 'SN_MAIN'), here);
    assert_ne!(suite.escrow_view().acceptance_hash(WORKER2(), accepted), here);
    assert_eq!(acceptance_hash(@accepted, suite.escrow, CLIENT(), chain_id), here);
}

#[test]
fn test_acceptance_hash_matches_the_rust_vector() {
    let accepted = Acceptance {
        worker: 0x3ae.try_into().unwrap(),
        spec_hash: 0x5bec,
        capability: 'wasm',
        amount: 40_000_000_000_000_000_000,
        fee_bps: 250,
        commitment: 0xc0,
        nonce: 7,
    };
    let escrow: ContractAddress = 0xe5c.try_into().unwrap();
    let client: ContractAddress = 0xc11e.try_into().unwrap();
    // `the_acceptance_hash_is_the_vector_the_cairo_tests_pin` in `bindings/src/acceptance.rs`.
    assert_eq!(
        acceptance_hash(@accepted, escrow, client, 'SN_SEPOLIA'),
        0x1ff439eabfb349414ba0778007a797359383e40da1c5cbc5511743c5275b8b9,
    );
}

/// Attack: the client's account re-enters the escrow from its signature check and withdraws
/// its deposit while a batch is paying from it. The acceptance was consumed and the deposit
/// debited before the account was called, so the withdrawal gets only what is left: the
/// escrow never pays out more than the client put in.
#[test]
fn test_a_client_account_that_reenters_cannot_take_more_than_it_deposited() {
    let suite = setup();
    let secret = 'reentrant';
    let class_hash: starknet::ClassHash = ReentrantAccount::TEST_CLASS_HASH.try_into().unwrap();
    let (client, _) = starknet::syscalls::deploy_syscall(
        class_hash, 0, array![secret, suite.escrow.into()].span(), false,
    )
        .unwrap();
    set_contract_address(OWNER());
    suite.mintable().mint(client, DEPOSIT);
    IReentrantClientDispatcher { contract_address: client }
        .deposit_and_request(suite.token, DEPOSIT);
    set_block_timestamp(START + WITHDRAWAL_DELAY);
    let accepted = acceptance(WORKER(), 1);
    let hash = suite.escrow_view().acceptance_hash(client, accepted);
    let entry = Settlement {
        client, acceptance: accepted, signature: MockAccount::sign(secret, hash),
    };
    set_contract_address(WORKER());
    suite.batch().settle_batch(array![entry]);
    // The worker was paid, and the client withdrew the rest, inside the batch.
    assert_eq!(balance(suite, WORKER()), INITIAL_BALANCE + payout());
    assert_eq!(balance(suite, client), DEPOSIT - REWARD);
    assert_eq!(suite.escrow_view().deposit_of(client), 0);
    assert_eq!(balance(suite, suite.escrow), 0);
}
