//! Bounded owner powers: timelocked upgrades, separated roles and the end of the setup.
//! Every governance entry point is tried by a caller without the right, and each power is
//! tried against a staker who disagrees with it.

use starknet::testing::{pop_log, set_block_timestamp, set_contract_address};
use starknet::{ClassHash, ContractAddress, contract_address_const};
use crate::admin::component::AdminComponent;
use crate::admin::interface::{
    IAdminDispatcherTrait, MAX_UPGRADE_DELAY, MIN_UPGRADE_DELAY, PendingUpgrade, UPGRADE_EXPIRY,
};
use crate::disputes::interface::{IDisputesDispatcherTrait, MAX_VOTING_PERIOD};
use crate::escrow::interface::{
    IEscrowConfigDispatcherTrait, MAX_CHALLENGE_WINDOW,
    MAX_JOB_DURATION,
};
use crate::staking::interface::{
    IStakingConfigDispatcherTrait, IStakingViewDispatcherTrait, IStakingWorkerDispatcherTrait,
    MAX_UNSTAKE_WINDOW,
};
use crate::token::interface::IMintableDispatcherTrait;
use crate::reputation::reputation::Reputation;
use crate::token::token::CiroToken;
use crate::types::roles;
use super::upgrade_target::UpgradeTarget;
use super::upgrade_target::UpgradeTarget::{
    IUpgradeTargetDispatcher, IUpgradeTargetDispatcherTrait,
};
use super::utils::{
    COLLATERAL, INITIAL_BALANCE, OTHER, OWNER, STAKE, START, Suite, SuiteTrait, VOTING_PERIOD,
    WORKER, admin, balance, disputed_job, end_setup, reveal, setup, stake_worker,
};

fn target_class() -> ClassHash {
    UpgradeTarget::TEST_CLASS_HASH.try_into().unwrap()
}

fn admin_event(event: AdminComponent::Event) -> Option<CiroToken::Event> {
    Option::Some(CiroToken::Event::AdminEvent(event))
}

fn no_upgrade() -> PendingUpgrade {
    PendingUpgrade { class_hash: 0.try_into().unwrap(), init_hash: 0, ready_at: 0, expires_at: 0 }
}

fn all_contracts(suite: Suite) -> Array<ContractAddress> {
    array![suite.token, suite.staking, suite.reputation, suite.escrow, suite.disputes]
}

fn AGENT() -> ContractAddress {
    contract_address_const::<'agent'>()
}

/// The owner announces an upgrade of the token to `UpgradeTarget` at `START`.
fn announced(init: Span<felt252>) -> Suite {
    let suite = setup();
    set_contract_address(OWNER());
    admin(suite.token).announce_upgrade(target_class(), init);
    suite
}

// --- The delay -------------------------------------------------------------------------

#[test]
fn test_the_minimum_delay_covers_an_exit_and_the_longest_agreed_job() {
    assert_eq!(
        MIN_UPGRADE_DELAY,
        MAX_UNSTAKE_WINDOW + MAX_JOB_DURATION + MAX_CHALLENGE_WINDOW + MAX_VOTING_PERIOD,
    );
}

#[test]
fn test_every_contract_starts_with_the_minimum_delay_and_the_owner_in_every_role() {
    let suite = setup();
    for contract in all_contracts(suite) {
        let a = admin(contract);
        assert_eq!(a.upgrade_delay(), MIN_UPGRADE_DELAY);
        assert_eq!(a.pending_upgrade(), no_upgrade());
        assert!(a.is_setup_open());
        assert!(a.has_role(roles::UPGRADE_GOVERNOR, OWNER()));
        assert!(a.has_role(roles::SECURITY_AGENT, OWNER()));
        assert!(a.has_role(roles::SECURITY_ADMIN, OWNER()));
        assert!(a.has_role(roles::OPERATOR, OWNER()));
    };
}

#[test]
fn test_announce_records_the_window_and_emits() {
    let suite = announced(array![].span());
    let ready_at = START + MIN_UPGRADE_DELAY;
    let expected = PendingUpgrade {
        class_hash: target_class(), init_hash: 0, ready_at, expires_at: ready_at + UPGRADE_EXPIRY,
    };
    assert_eq!(admin(suite.token).pending_upgrade(), expected);
    assert_eq!(
        pop_log::<CiroToken::Event>(suite.token),
        admin_event(
            AdminComponent::Event::UpgradeAnnounced(
                AdminComponent::UpgradeAnnounced {
                    class_hash: target_class(),
                    init_hash: 0,
                    ready_at,
                    expires_at: ready_at + UPGRADE_EXPIRY,
                    sender: OWNER(),
                },
            ),
        ),
    );
}

#[test]
fn test_execute_after_the_delay_replaces_the_class_and_calls_upgrade_init() {
    let suite = announced(array!['v2'].span());
    drop_token_events(suite);
    set_block_timestamp(START + MIN_UPGRADE_DELAY);
    admin(suite.token).execute_upgrade(array!['v2'].span());
    assert_eq!(
        pop_log::<CiroToken::Event>(suite.token),
        admin_event(
            AdminComponent::Event::Upgraded(AdminComponent::Upgraded { class_hash: target_class() }),
        ),
    );
    // The token's address now runs the new class, initialised with the announced data, and
    // is still governed by the same owner.
    assert_eq!(IUpgradeTargetDispatcher { contract_address: suite.token }.version(), 'v2');
    assert_eq!(admin(suite.token).owner(), OWNER());
    assert_eq!(admin(suite.token).pending_upgrade(), no_upgrade());
}

#[test]
fn test_execute_on_the_last_second_before_expiry() {
    let suite = announced(array![].span());
    set_block_timestamp(START + MIN_UPGRADE_DELAY + UPGRADE_EXPIRY);
    admin(suite.token).execute_upgrade(array![].span());
    assert_eq!(IUpgradeTargetDispatcher { contract_address: suite.token }.version(), 0);
}

#[test]
#[should_panic(expected: ('upgrade delay has not passed', 'ENTRYPOINT_FAILED'))]
fn test_execute_before_the_delay_is_refused() {
    let suite = announced(array![].span());
    set_block_timestamp(START + MIN_UPGRADE_DELAY - 1);
    admin(suite.token).execute_upgrade(array![].span());
}

#[test]
#[should_panic(expected: ('upgrade announcement expired', 'ENTRYPOINT_FAILED'))]
fn test_execute_after_expiry_is_refused() {
    let suite = announced(array![].span());
    set_block_timestamp(START + MIN_UPGRADE_DELAY + UPGRADE_EXPIRY + 1);
    admin(suite.token).execute_upgrade(array![].span());
}

#[test]
#[should_panic(expected: ('init data was not announced', 'ENTRYPOINT_FAILED'))]
fn test_execute_with_other_init_data_is_refused() {
    let suite = announced(array!['v2'].span());
    set_block_timestamp(START + MIN_UPGRADE_DELAY);
    admin(suite.token).execute_upgrade(array!['v3'].span());
}

#[test]
#[should_panic(expected: ('an upgrade is already pending', 'ENTRYPOINT_FAILED'))]
fn test_a_second_announcement_cannot_replace_the_first() {
    let suite = announced(array![].span());
    admin(suite.token)
        .announce_upgrade(Reputation::TEST_CLASS_HASH.try_into().unwrap(), array![].span());
}

#[test]
fn test_cancel_withdraws_the_upgrade_and_emits() {
    let suite = announced(array![].span());
    drop_token_events(suite);
    admin(suite.token).cancel_upgrade();
    assert_eq!(admin(suite.token).pending_upgrade(), no_upgrade());
    assert_eq!(
        pop_log::<CiroToken::Event>(suite.token),
        admin_event(
            AdminComponent::Event::UpgradeCancelled(
                AdminComponent::UpgradeCancelled { class_hash: target_class(), sender: OWNER() },
            ),
        ),
    );
}

#[test]
#[should_panic(expected: ('no upgrade is pending', 'ENTRYPOINT_FAILED'))]
fn test_a_cancelled_upgrade_cannot_be_executed() {
    let suite = announced(array![].span());
    admin(suite.token).cancel_upgrade();
    set_block_timestamp(START + MIN_UPGRADE_DELAY);
    admin(suite.token).execute_upgrade(array![].span());
}

#[test]
#[should_panic(expected: ('no upgrade is pending', 'ENTRYPOINT_FAILED'))]
fn test_cancel_without_an_upgrade_is_refused() {
    let suite = setup();
    set_contract_address(OWNER());
    admin(suite.token).cancel_upgrade();
}

#[test]
#[should_panic(expected: ('upgrade delay has not passed', 'ENTRYPOINT_FAILED'))]
fn test_announcing_again_after_a_cancel_restarts_the_delay() {
    let suite = announced(array![].span());
    set_block_timestamp(START + MIN_UPGRADE_DELAY - 10);
    admin(suite.token).cancel_upgrade();
    admin(suite.token).announce_upgrade(target_class(), array![].span());
    set_block_timestamp(START + MIN_UPGRADE_DELAY);
    admin(suite.token).execute_upgrade(array![].span());
}

// --- Changing the delay -----------------------------------------------------------------

#[test]
fn test_a_longer_delay_applies_at_once() {
    let suite = setup();
    set_contract_address(OWNER());
    admin(suite.token).set_upgrade_delay(MIN_UPGRADE_DELAY + 100);
    assert_eq!(admin(suite.token).upgrade_delay(), MIN_UPGRADE_DELAY + 100);
}

#[test]
fn test_a_shorter_delay_waits_for_the_current_one() {
    let suite = setup();
    set_contract_address(OWNER());
    let long = MIN_UPGRADE_DELAY + 1000;
    admin(suite.token).set_upgrade_delay(long);
    admin(suite.token).set_upgrade_delay(MIN_UPGRADE_DELAY);
    // An upgrade announced in the meantime still gets the long notice.
    assert_eq!(admin(suite.token).upgrade_delay(), long);
    set_block_timestamp(START + long - 1);
    assert_eq!(admin(suite.token).upgrade_delay(), long);
    admin(suite.token).announce_upgrade(target_class(), array![].span());
    assert_eq!(admin(suite.token).pending_upgrade().ready_at, START + long - 1 + long);
    set_block_timestamp(START + long);
    assert_eq!(admin(suite.token).upgrade_delay(), MIN_UPGRADE_DELAY);
}

#[test]
#[should_panic(expected: ('upgrade delay below minimum', 'ENTRYPOINT_FAILED'))]
fn test_a_delay_below_the_minimum_is_refused() {
    let suite = setup();
    set_contract_address(OWNER());
    admin(suite.token).set_upgrade_delay(MIN_UPGRADE_DELAY - 1);
}

#[test]
#[should_panic(expected: ('upgrade delay above maximum', 'ENTRYPOINT_FAILED'))]
fn test_a_delay_above_the_maximum_is_refused() {
    let suite = setup();
    set_contract_address(OWNER());
    admin(suite.token).set_upgrade_delay(MAX_UPGRADE_DELAY + 1);
}

// --- Every governance entry point refuses a caller without the right ----------------------

#[test]
#[should_panic(expected: ('caller is not upgrade governor', 'ENTRYPOINT_FAILED'))]
fn test_announce_unauthorized() {
    let suite = setup();
    set_contract_address(OTHER());
    admin(suite.staking).announce_upgrade(target_class(), array![].span());
}

#[test]
#[should_panic(expected: ('caller is not upgrade governor', 'ENTRYPOINT_FAILED'))]
fn test_cancel_unauthorized() {
    let suite = announced(array![].span());
    set_contract_address(OTHER());
    admin(suite.token).cancel_upgrade();
}

#[test]
#[should_panic(expected: ('caller is not upgrade governor', 'ENTRYPOINT_FAILED'))]
fn test_execute_unauthorized() {
    let suite = announced(array![].span());
    set_block_timestamp(START + MIN_UPGRADE_DELAY);
    set_contract_address(OTHER());
    admin(suite.token).execute_upgrade(array![].span());
}

#[test]
#[should_panic(expected: ('caller is not owner', 'ENTRYPOINT_FAILED'))]
fn test_set_upgrade_delay_unauthorized() {
    let suite = setup();
    set_contract_address(OTHER());
    admin(suite.escrow).set_upgrade_delay(MAX_UPGRADE_DELAY);
}

#[test]
#[should_panic(expected: ('caller is not owner', 'ENTRYPOINT_FAILED'))]
fn test_end_setup_unauthorized() {
    let suite = setup();
    set_contract_address(OTHER());
    admin(suite.disputes).end_setup();
}

// --- Separated roles --------------------------------------------------------------------

#[test]
fn test_each_role_does_its_part_only() {
    let suite = setup();
    set_contract_address(OWNER());
    let staking = admin(suite.staking);
    staking.grant_role(roles::SECURITY_AGENT, AGENT());
    staking.grant_role(roles::OPERATOR, OTHER());
    staking.revoke_role(roles::OPERATOR, OWNER());
    // The agent pauses; the operator sets a parameter; neither can do the other's part.
    set_contract_address(AGENT());
    staking.pause();
    assert!(staking.is_paused());
    set_contract_address(OTHER());
    suite.staking_config().set_min_stake(1);
    assert_eq!(suite.staking_view().min_stake(), 1);
}

#[test]
#[should_panic(expected: ('caller is not security admin', 'ENTRYPOINT_FAILED'))]
fn test_a_security_agent_cannot_unpause() {
    let suite = setup();
    set_contract_address(OWNER());
    admin(suite.staking).grant_role(roles::SECURITY_AGENT, AGENT());
    set_contract_address(AGENT());
    admin(suite.staking).pause();
    admin(suite.staking).unpause();
}

#[test]
#[should_panic(expected: ('caller is not operator', 'ENTRYPOINT_FAILED'))]
fn test_an_owner_without_the_operator_role_sets_no_parameter() {
    let suite = setup();
    set_contract_address(OWNER());
    admin(suite.escrow).revoke_role(roles::OPERATOR, OWNER());
    suite.escrow_config().set_fee_bps(0);
}

#[test]
#[should_panic(expected: ('caller is not upgrade governor', 'ENTRYPOINT_FAILED'))]
fn test_an_owner_without_the_governor_role_cannot_upgrade() {
    let suite = setup();
    set_contract_address(OWNER());
    admin(suite.escrow).revoke_role(roles::UPGRADE_GOVERNOR, OWNER());
    admin(suite.escrow).announce_upgrade(target_class(), array![].span());
}

// --- The end of the setup ---------------------------------------------------------------

#[test]
fn test_end_setup_closes_it_and_emits() {
    let suite = setup();
    set_contract_address(OWNER());
    admin(suite.token).end_setup();
    assert!(!admin(suite.token).is_setup_open());
    assert_eq!(
        pop_log::<CiroToken::Event>(suite.token),
        admin_event(AdminComponent::Event::SetupEnded(AdminComponent::SetupEnded { sender: OWNER() })),
    );
}

#[test]
#[should_panic(expected: ('setup has ended', 'ENTRYPOINT_FAILED'))]
fn test_end_setup_twice_is_refused() {
    let suite = setup();
    end_setup(suite);
    set_contract_address(OWNER());
    admin(suite.token).end_setup();
}

/// The attack this closes: an owner granting itself `SLASHER` and taking every stake.
#[test]
#[should_panic(expected: ('setup has ended', 'ENTRYPOINT_FAILED'))]
fn test_after_setup_the_owner_cannot_make_itself_a_slasher() {
    let suite = setup();
    end_setup(suite);
    set_contract_address(OWNER());
    admin(suite.staking).grant_role(roles::SLASHER, OWNER());
}

#[test]
#[should_panic(expected: ('setup has ended', 'ENTRYPOINT_FAILED'))]
fn test_after_setup_the_owner_cannot_take_the_escrow_role() {
    let suite = setup();
    end_setup(suite);
    set_contract_address(OWNER());
    admin(suite.staking).grant_role(roles::ESCROW, OWNER());
}

#[test]
#[should_panic(expected: ('setup has ended', 'ENTRYPOINT_FAILED'))]
fn test_after_setup_the_owner_cannot_write_reputation() {
    let suite = setup();
    end_setup(suite);
    set_contract_address(OWNER());
    admin(suite.reputation).grant_role(roles::REPUTATION_WRITER, OWNER());
}

/// Revoking a wiring role would freeze collateral or disputes: also fixed.
#[test]
#[should_panic(expected: ('setup has ended', 'ENTRYPOINT_FAILED'))]
fn test_after_setup_the_owner_cannot_unwire_the_escrow() {
    let suite = setup();
    end_setup(suite);
    set_contract_address(OWNER());
    admin(suite.staking).revoke_role(roles::ESCROW, suite.escrow);
}

/// The attack this closes: an owner pointing the escrow at a court of its own.
#[test]
#[should_panic(expected: ('setup has ended', 'ENTRYPOINT_FAILED'))]
fn test_after_setup_the_owner_cannot_swap_the_court() {
    let suite = setup();
    end_setup(suite);
    set_contract_address(OWNER());
    suite.escrow_config().set_disputes(OTHER());
}

#[test]
fn test_after_setup_other_roles_still_change() {
    let suite = setup();
    end_setup(suite);
    set_contract_address(OWNER());
    admin(suite.token).grant_role(roles::MINTER, OTHER());
    admin(suite.staking).grant_role(roles::OPERATOR, OTHER());
    admin(suite.staking).revoke_role(roles::OPERATOR, OTHER());
    assert!(admin(suite.token).has_role(roles::MINTER, OTHER()));
    assert!(!admin(suite.staking).has_role(roles::OPERATOR, OTHER()));
    set_contract_address(OTHER());
    suite.mintable().mint(OTHER(), 1);
}

// --- A staker who disagrees can leave first -----------------------------------------------

/// A worker with a disputed job and stake locked as its collateral starts leaving the moment
/// an upgrade of the staking contract is announced, under the longest unstake window. Its
/// dispute runs to its timeout, then it takes out the rest: all its stake is back before the
/// upgrade can run.
#[test]
fn test_a_staker_who_leaves_when_an_upgrade_is_announced_is_out_before_it_runs() {
    let suite = setup();
    set_contract_address(OWNER());
    suite.staking_config().set_unstake_window(MAX_UNSTAKE_WINDOW);
    let (job_id, dispute_id) = disputed_job(suite);
    set_contract_address(OWNER());
    admin(suite.staking).announce_upgrade(target_class(), array![].span());
    let ready_at = admin(suite.staking).pending_upgrade().ready_at;

    // Leave with the free stake at once.
    set_contract_address(WORKER());
    suite.staking_worker().unstake_intent(STAKE - COLLATERAL);
    // The job's dispute ends by timeout; the worker opened its commitment, so it wins.
    reveal(suite, job_id, WORKER());
    set_block_timestamp(START + VOTING_PERIOD + 1);
    suite.disputes().resolve_timeout(dispute_id);
    // Then the collateral, unlocked by the ruling, leaves too.
    set_contract_address(WORKER());
    suite.staking_worker().unstake_intent(COLLATERAL);
    set_block_timestamp(START + VOTING_PERIOD + 1 + MAX_UNSTAKE_WINDOW);
    suite.staking_worker().unstake_action();
    assert!(get_now() < ready_at);
    assert_eq!(suite.staking_view().stake_of(WORKER()), 0);
    assert!(balance(suite, WORKER()) >= INITIAL_BALANCE);

    // Only now can the upgrade run.
    set_block_timestamp(ready_at);
    set_contract_address(OWNER());
    admin(suite.staking).execute_upgrade(array![].span());
}

fn get_now() -> u64 {
    starknet::get_block_timestamp()
}

fn drop_token_events(suite: Suite) {
    super::utils::drop_events(suite.token);
}

#[test]
fn test_pause_by_the_security_agent_leaves_exits_working() {
    let suite = setup();
    end_setup(suite);
    stake_worker(suite, WORKER(), STAKE);
    set_contract_address(OWNER());
    admin(suite.staking).grant_role(roles::SECURITY_AGENT, AGENT());
    set_contract_address(AGENT());
    admin(suite.staking).pause();
    set_contract_address(WORKER());
    suite.staking_worker().unstake_intent(STAKE);
    set_block_timestamp(START + super::utils::UNSTAKE_WINDOW);
    assert_eq!(suite.staking_worker().unstake_action(), STAKE);
    assert_eq!(balance(suite, WORKER()), INITIAL_BALANCE);
}
