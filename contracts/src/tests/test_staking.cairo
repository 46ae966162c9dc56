use starknet::syscalls::deploy_syscall;
use starknet::testing::{pop_log, set_block_timestamp, set_contract_address};
use starknet::{ClassHash, ContractAddress};
use crate::admin::interface::IAdminDispatcherTrait;
use crate::staking::interface::{
    DEFAULT_UNSTAKE_WINDOW, IStakingConfigDispatcherTrait, IStakingJobsDispatcherTrait,
    IStakingViewDispatcher, IStakingViewDispatcherTrait, IStakingWorkerDispatcherTrait,
    MAX_PENDING_EXITS, MAX_UNSTAKE_WINDOW,
};
use crate::staking::staking::Staking;
use crate::token::interface::IERC20DispatcherTrait;
use crate::token::token::CiroToken;
use crate::types::roles;
use super::utils::{
    INITIAL_BALANCE, MIN_STAKE, ONE, OTHER, OWNER, STAKE, START, Suite, SuiteTrait, TREASURY,
    UNSTAKE_WINDOW, WASM, WORKER, WORKER2, ZERO, admin, balance, deploy_staking, drop_events,
    setup, stake_worker,
};

const DAY: u64 = 86_400;
const JOB: u64 = 7;
const JOB2: u64 = 8;
const REASON: felt252 = 'test slash';
const GPU: felt252 = 'gpu:h100';
const CPU: felt252 = 'cpu';

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// `WORKER` staked `STAKE` with `wasm` registered; staking and token events dropped.
fn staked_suite() -> Suite {
    let suite = setup();
    stake_worker(suite, WORKER(), STAKE);
    drop_events(suite.staking);
    drop_events(suite.token);
    suite
}

/// Grants `role` on staking to `OTHER` and drops the grant event.
fn grant_other(suite: Suite, role: felt252) {
    set_contract_address(OWNER());
    admin(suite.staking).grant_role(role, OTHER());
    drop_events(suite.staking);
}

/// `OTHER` (granted `ESCROW`) locks `amount` of `WORKER`'s stake for `job_id`.
fn lock_as_other(suite: Suite, amount: u256, job_id: u64) {
    grant_other(suite, roles::ESCROW);
    set_contract_address(OTHER());
    suite.staking_jobs().lock(WORKER(), amount, job_id);
}

/// `OTHER` (granted `SLASHER`) slashes `amount` of `WORKER`'s stake to `TREASURY`.
fn slash_as_other(suite: Suite, amount: u256) -> u256 {
    grant_other(suite, roles::SLASHER);
    set_contract_address(OTHER());
    suite.staking_jobs().slash(WORKER(), amount, REASON, TREASURY())
}

fn intent(suite: Suite, worker: ContractAddress, amount: u256) {
    set_contract_address(worker);
    suite.staking_worker().unstake_intent(amount);
}

fn staking_event(suite: Suite) -> Option<Staking::Event> {
    pop_log::<Staking::Event>(suite.staking)
}

fn transfer_event(
    from: ContractAddress, to: ContractAddress, value: u256,
) -> Option<CiroToken::Event> {
    Option::Some(CiroToken::Event::Transfer(CiroToken::Transfer { from, to, value }))
}

/// Asserts stake, pending, locked and free stake of `worker`.
fn assert_accounts(
    suite: Suite, worker: ContractAddress, stake: u256, pending: u256, locked: u256,
) {
    let view = suite.staking_view();
    assert_eq!(view.stake_of(worker), stake);
    assert_eq!(view.pending_unstake_of(worker), pending);
    assert_eq!(view.locked_of(worker), locked);
    assert_eq!(view.free_stake_of(worker), stake - pending - locked);
}

// ---------------------------------------------------------------------------------------------
// Constructor and views
// ---------------------------------------------------------------------------------------------

#[test]
fn test_constructor_sets_config() {
    let suite = setup();
    let view = suite.staking_view();
    assert_eq!(view.token(), suite.token);
    assert_eq!(view.min_stake(), MIN_STAKE);
    assert_eq!(view.unstake_window(), UNSTAKE_WINDOW);
    assert_eq!(admin(suite.staking).owner(), OWNER());
    assert!(!admin(suite.staking).is_paused());
}

#[test]
fn test_constructor_zero_window_uses_default() {
    let suite = setup();
    let staking = deploy_staking(suite.token, 0);
    let view = IStakingViewDispatcher { contract_address: staking };
    assert_eq!(view.unstake_window(), DEFAULT_UNSTAKE_WINDOW);
    assert_eq!(view.unstake_window(), 604_800);
    assert_eq!(view.token(), suite.token);
    // A non-zero window is used as given.
    let custom = IStakingViewDispatcher { contract_address: deploy_staking(suite.token, 3_600) };
    assert_eq!(custom.unstake_window(), 3_600);
}

#[test]
fn test_constructor_zero_token() {
    let _suite = setup();
    let mut calldata = array![];
    OWNER().serialize(ref calldata);
    ZERO().serialize(ref calldata);
    MIN_STAKE.serialize(ref calldata);
    UNSTAKE_WINDOW.serialize(ref calldata);
    let class_hash: ClassHash = Staking::TEST_CLASS_HASH.try_into().unwrap();
    let result = deploy_syscall(class_hash, 0, calldata.span(), false);
    match result {
        Result::Ok(_) => panic!("deploy with a zero token succeeded"),
        Result::Err(data) => assert_eq!(*data.at(0), 'address is zero'),
    }
}

#[test]
fn test_views_unknown_worker_are_empty() {
    let suite = setup();
    let view = suite.staking_view();
    assert_accounts(suite, OTHER(), 0, 0, 0);
    assert!(!view.is_active(OTHER()));
    assert_eq!(view.capabilities_of(OTHER()), array![]);
    assert!(!view.has_capability(OTHER(), WASM));
    assert_eq!(view.collateral_of(OTHER(), JOB), 0);
    assert_eq!(view.next_unlock_at(OTHER()), 0);
}

// ---------------------------------------------------------------------------------------------
// stake
// ---------------------------------------------------------------------------------------------

#[test]
fn test_stake_moves_tokens_and_emits() {
    let suite = setup();
    set_contract_address(WORKER());
    suite.erc20().approve(suite.staking, STAKE);
    drop_events(suite.token);
    suite.staking_worker().stake(STAKE);

    assert_accounts(suite, WORKER(), STAKE, 0, 0);
    assert!(suite.staking_view().is_active(WORKER()));
    assert_eq!(balance(suite, WORKER()), INITIAL_BALANCE - STAKE);
    assert_eq!(balance(suite, suite.staking), STAKE);
    assert_eq!(suite.erc20().allowance(WORKER(), suite.staking), 0);
    assert_eq!(
        staking_event(suite),
        Option::Some(
            Staking::Event::Staked(
                Staking::Staked {
                    worker: WORKER(), amount: STAKE, old_stake: 0, new_stake: STAKE,
                },
            ),
        ),
    );
    assert_eq!(staking_event(suite), Option::None);
    // The allowance spend, then the transfer into the contract.
    pop_log::<CiroToken::Event>(suite.token).unwrap();
    assert_eq!(
        pop_log::<CiroToken::Event>(suite.token),
        transfer_event(WORKER(), suite.staking, STAKE),
    );
}

#[test]
#[should_panic(expected: ('amount is zero', 'ENTRYPOINT_FAILED'))]
fn test_stake_zero_amount() {
    let suite = setup();
    set_contract_address(WORKER());
    suite.erc20().approve(suite.staking, STAKE);
    suite.staking_worker().stake(0);
}

#[test]
#[should_panic(expected: ('already staked', 'ENTRYPOINT_FAILED'))]
fn test_stake_already_staked() {
    let suite = staked_suite();
    set_contract_address(WORKER());
    suite.erc20().approve(suite.staking, STAKE);
    suite.staking_worker().stake(STAKE);
}

#[test]
#[should_panic(expected: ('contract is paused', 'ENTRYPOINT_FAILED'))]
fn test_stake_paused() {
    let suite = setup();
    set_contract_address(OWNER());
    admin(suite.staking).pause();
    set_contract_address(WORKER());
    suite.erc20().approve(suite.staking, STAKE);
    suite.staking_worker().stake(STAKE);
}

#[test]
#[should_panic(expected: ('insufficient allowance', 'ENTRYPOINT_FAILED', 'ENTRYPOINT_FAILED'))]
fn test_stake_without_allowance() {
    let suite = setup();
    set_contract_address(WORKER());
    suite.staking_worker().stake(STAKE);
}

#[test]
fn test_stake_again_after_full_exit() {
    let suite = staked_suite();
    intent(suite, WORKER(), STAKE);
    set_block_timestamp(START + UNSTAKE_WINDOW);
    suite.staking_worker().unstake_action();
    assert_accounts(suite, WORKER(), 0, 0, 0);
    drop_events(suite.staking);

    suite.erc20().approve(suite.staking, MIN_STAKE);
    suite.staking_worker().stake(MIN_STAKE);
    assert_accounts(suite, WORKER(), MIN_STAKE, 0, 0);
    assert_eq!(balance(suite, WORKER()), INITIAL_BALANCE - MIN_STAKE);
    assert_eq!(
        staking_event(suite),
        Option::Some(
            Staking::Event::Staked(
                Staking::Staked {
                    worker: WORKER(), amount: MIN_STAKE, old_stake: 0, new_stake: MIN_STAKE,
                },
            ),
        ),
    );
}

// ---------------------------------------------------------------------------------------------
// increase_stake
// ---------------------------------------------------------------------------------------------

#[test]
fn test_increase_stake_adds_and_emits() {
    let suite = staked_suite();
    set_contract_address(WORKER());
    suite.erc20().approve(suite.staking, 50 * ONE);
    suite.staking_worker().increase_stake(50 * ONE);

    assert_accounts(suite, WORKER(), STAKE + 50 * ONE, 0, 0);
    assert_eq!(balance(suite, WORKER()), INITIAL_BALANCE - STAKE - 50 * ONE);
    assert_eq!(balance(suite, suite.staking), STAKE + 50 * ONE);
    assert_eq!(
        staking_event(suite),
        Option::Some(
            Staking::Event::StakeIncreased(
                Staking::StakeIncreased {
                    worker: WORKER(),
                    amount: 50 * ONE,
                    old_stake: STAKE,
                    new_stake: STAKE + 50 * ONE,
                },
            ),
        ),
    );
    assert_eq!(staking_event(suite), Option::None);
}

#[test]
#[should_panic(expected: ('not staked', 'ENTRYPOINT_FAILED'))]
fn test_increase_stake_not_staked() {
    let suite = setup();
    set_contract_address(WORKER());
    suite.erc20().approve(suite.staking, STAKE);
    suite.staking_worker().increase_stake(STAKE);
}

#[test]
#[should_panic(expected: ('amount is zero', 'ENTRYPOINT_FAILED'))]
fn test_increase_stake_zero_amount() {
    let suite = staked_suite();
    set_contract_address(WORKER());
    suite.staking_worker().increase_stake(0);
}

#[test]
#[should_panic(expected: ('contract is paused', 'ENTRYPOINT_FAILED'))]
fn test_increase_stake_paused() {
    let suite = staked_suite();
    set_contract_address(OWNER());
    admin(suite.staking).pause();
    set_contract_address(WORKER());
    suite.erc20().approve(suite.staking, ONE);
    suite.staking_worker().increase_stake(ONE);
}

// ---------------------------------------------------------------------------------------------
// register
// ---------------------------------------------------------------------------------------------
#[test]
fn test_register_stores_capabilities_and_emits() {
    let suite = setup();
    set_contract_address(WORKER());
    suite.erc20().approve(suite.staking, STAKE);
    suite.staking_worker().stake(STAKE);
    drop_events(suite.staking);
    suite.staking_worker().register(array![WASM, GPU].span());

    let view = suite.staking_view();
    assert_eq!(view.capabilities_of(WORKER()), array![WASM, GPU]);
    assert!(view.has_capability(WORKER(), WASM));
    assert!(view.has_capability(WORKER(), GPU));
    assert!(!view.has_capability(WORKER(), CPU));
    assert!(!view.has_capability(WORKER2(), WASM));
    assert_eq!(
        staking_event(suite),
        Option::Some(
            Staking::Event::CapabilitiesRegistered(
                Staking::CapabilitiesRegistered {
                    worker: WORKER(), capabilities: array![WASM, GPU].span(),
                },
            ),
        ),
    );
    assert_eq!(staking_event(suite), Option::None);
}

#[test]
fn test_register_replaces_previous_tags() {
    let suite = staked_suite();
    set_contract_address(WORKER());
    suite.staking_worker().register(array![GPU, CPU].span());

    let view = suite.staking_view();
    assert_eq!(view.capabilities_of(WORKER()), array![GPU, CPU]);
    assert!(!view.has_capability(WORKER(), WASM));
    assert!(view.has_capability(WORKER(), GPU));
    assert!(view.has_capability(WORKER(), CPU));

    // A shorter list drops the tail of the longer one.
    suite.staking_worker().register(array![WASM].span());
    assert_eq!(view.capabilities_of(WORKER()), array![WASM]);
    assert!(view.has_capability(WORKER(), WASM));
    assert!(!view.has_capability(WORKER(), GPU));
    assert!(!view.has_capability(WORKER(), CPU));
}

#[test]
fn test_register_max_capabilities() {
    let suite = staked_suite();
    let mut tags = array![];
    let mut i: felt252 = 1;
    while i != 33 {
        tags.append(i);
        i += 1;
    };
    set_contract_address(WORKER());
    suite.staking_worker().register(tags.span());
    let view = suite.staking_view();
    assert_eq!(view.capabilities_of(WORKER()).len(), 32);
    assert_eq!(view.capabilities_of(WORKER()), tags);
    assert!(view.has_capability(WORKER(), 32));
    assert!(!view.has_capability(WORKER(), WASM));
}

#[test]
#[should_panic(expected: ('not staked', 'ENTRYPOINT_FAILED'))]
fn test_register_not_staked() {
    let suite = setup();
    set_contract_address(WORKER());
    suite.staking_worker().register(array![WASM].span());
}

#[test]
#[should_panic(expected: ('no capabilities', 'ENTRYPOINT_FAILED'))]
fn test_register_empty() {
    let suite = staked_suite();
    set_contract_address(WORKER());
    suite.staking_worker().register(array![].span());
}

#[test]
#[should_panic(expected: ('capability is zero', 'ENTRYPOINT_FAILED'))]
fn test_register_zero_tag() {
    let suite = staked_suite();
    set_contract_address(WORKER());
    suite.staking_worker().register(array![GPU, 0].span());
}

#[test]
#[should_panic(expected: ('duplicate capability', 'ENTRYPOINT_FAILED'))]
fn test_register_duplicate_tag() {
    let suite = staked_suite();
    set_contract_address(WORKER());
    suite.staking_worker().register(array![GPU, CPU, GPU].span());
}

#[test]
#[should_panic(expected: ('too many capabilities', 'ENTRYPOINT_FAILED'))]
fn test_register_too_many_capabilities() {
    let suite = staked_suite();
    let mut tags = array![];
    let mut i: felt252 = 1;
    while i != 34 {
        tags.append(i);
        i += 1;
    };
    set_contract_address(WORKER());
    suite.staking_worker().register(tags.span());
}

// ---------------------------------------------------------------------------------------------
// is_active
// ---------------------------------------------------------------------------------------------

#[test]
fn test_is_active_below_min_stake() {
    let suite = setup();
    stake_worker(suite, WORKER(), MIN_STAKE - 1);
    assert_eq!(suite.staking_view().stake_of(WORKER()), MIN_STAKE - 1);
    assert!(!suite.staking_view().is_active(WORKER()));
}

#[test]
fn test_is_active_at_min_stake() {
    let suite = setup();
    stake_worker(suite, WORKER(), MIN_STAKE);
    assert!(suite.staking_view().is_active(WORKER()));
}

#[test]
fn test_is_active_false_when_pending_exit_brings_it_below_min() {
    let suite = staked_suite();
    // 200 - 100 = 100: still active.
    intent(suite, WORKER(), STAKE - MIN_STAKE);
    assert!(suite.staking_view().is_active(WORKER()));
    // 200 - 101 = 99: inactive, although the stake is still held.
    intent(suite, WORKER(), 1);
    assert!(!suite.staking_view().is_active(WORKER()));
    assert_eq!(suite.staking_view().stake_of(WORKER()), STAKE);
}

// A worker whose whole stake was locked as collateral used to show as active, and so could
// still be assigned (a zero-collateral job) and admitted by peers as backed. Only free stake
// counts now.
#[test]
fn test_is_active_counts_only_free_stake() {
    let suite = staked_suite();
    lock_as_other(suite, STAKE, JOB);
    assert_eq!(suite.staking_view().free_stake_of(WORKER()), 0);
    assert!(!suite.staking_view().is_active(WORKER()));
    set_contract_address(OTHER());
    suite.staking_jobs().unlock(WORKER(), JOB);
    assert!(suite.staking_view().is_active(WORKER()));
}

// ---------------------------------------------------------------------------------------------
// unstake_intent
// ---------------------------------------------------------------------------------------------
#[test]
fn test_unstake_intent_records_pending_and_emits() {
    let suite = staked_suite();
    intent(suite, WORKER(), 50 * ONE);

    assert_accounts(suite, WORKER(), STAKE, 50 * ONE, 0);
    assert_eq!(suite.staking_view().free_stake_of(WORKER()), STAKE - 50 * ONE);
    assert_eq!(suite.staking_view().next_unlock_at(WORKER()), START + UNSTAKE_WINDOW);
    // No tokens move yet.
    assert_eq!(balance(suite, WORKER()), INITIAL_BALANCE - STAKE);
    assert_eq!(balance(suite, suite.staking), STAKE);
    assert_eq!(
        staking_event(suite),
        Option::Some(
            Staking::Event::UnstakeIntent(
                Staking::UnstakeIntent {
                    worker: WORKER(),
                    amount: 50 * ONE,
                    unlock_at: START + UNSTAKE_WINDOW,
                    old_pending: 0,
                    new_pending: 50 * ONE,
                },
            ),
        ),
    );
    assert_eq!(staking_event(suite), Option::None);
}

#[test]
fn test_unstake_intent_second_adds_to_pending() {
    let suite = staked_suite();
    intent(suite, WORKER(), 50 * ONE);
    drop_events(suite.staking);
    set_block_timestamp(START + DAY);
    intent(suite, WORKER(), 30 * ONE);

    assert_accounts(suite, WORKER(), STAKE, 80 * ONE, 0);
    // The earliest exit still decides next_unlock_at.
    assert_eq!(suite.staking_view().next_unlock_at(WORKER()), START + UNSTAKE_WINDOW);
    assert_eq!(
        staking_event(suite),
        Option::Some(
            Staking::Event::UnstakeIntent(
                Staking::UnstakeIntent {
                    worker: WORKER(),
                    amount: 30 * ONE,
                    unlock_at: START + DAY + UNSTAKE_WINDOW,
                    old_pending: 50 * ONE,
                    new_pending: 80 * ONE,
                },
            ),
        ),
    );
}

#[test]
#[should_panic(expected: ('amount is zero', 'ENTRYPOINT_FAILED'))]
fn test_unstake_intent_zero_amount() {
    let suite = staked_suite();
    intent(suite, WORKER(), 0);
}

#[test]
#[should_panic(expected: ('insufficient free stake', 'ENTRYPOINT_FAILED'))]
fn test_unstake_intent_more_than_free_stake() {
    let suite = staked_suite();
    intent(suite, WORKER(), STAKE + 1);
}

#[test]
#[should_panic(expected: ('insufficient free stake', 'ENTRYPOINT_FAILED'))]
fn test_unstake_intent_blocked_by_locked_collateral() {
    let suite = staked_suite();
    lock_as_other(suite, 150 * ONE, JOB);
    assert_eq!(suite.staking_view().free_stake_of(WORKER()), 50 * ONE);
    intent(suite, WORKER(), 50 * ONE + 1);
}

// ---------------------------------------------------------------------------------------------
// unstake_action
// ---------------------------------------------------------------------------------------------
#[test]
fn test_unstake_action_after_window_pays_and_emits() {
    let suite = staked_suite();
    intent(suite, WORKER(), 50 * ONE);
    drop_events(suite.staking);
    set_block_timestamp(START + UNSTAKE_WINDOW);
    let paid = suite.staking_worker().unstake_action();

    assert_eq!(paid, 50 * ONE);
    assert_accounts(suite, WORKER(), STAKE - 50 * ONE, 0, 0);
    assert_eq!(suite.staking_view().next_unlock_at(WORKER()), 0);
    assert_eq!(balance(suite, WORKER()), INITIAL_BALANCE - STAKE + 50 * ONE);
    assert_eq!(balance(suite, suite.staking), STAKE - 50 * ONE);
    assert_eq!(
        staking_event(suite),
        Option::Some(
            Staking::Event::Unstaked(
                Staking::Unstaked {
                    worker: WORKER(),
                    amount: 50 * ONE,
                    old_stake: STAKE,
                    new_stake: STAKE - 50 * ONE,
                },
            ),
        ),
    );
    assert_eq!(staking_event(suite), Option::None);
    assert_eq!(
        pop_log::<CiroToken::Event>(suite.token),
        transfer_event(suite.staking, WORKER(), 50 * ONE),
    );
}

#[test]
#[should_panic(expected: ('exit window not passed', 'ENTRYPOINT_FAILED'))]
fn test_unstake_action_before_window() {
    let suite = staked_suite();
    intent(suite, WORKER(), 50 * ONE);
    set_block_timestamp(START + UNSTAKE_WINDOW - 1);
    suite.staking_worker().unstake_action();
}

#[test]
#[should_panic(expected: ('no unstake pending', 'ENTRYPOINT_FAILED'))]
fn test_unstake_action_nothing_pending() {
    let suite = staked_suite();
    set_contract_address(WORKER());
    suite.staking_worker().unstake_action();
}

#[test]
fn test_unstake_action_later_intent_keeps_its_own_clock() {
    let suite = staked_suite();
    // Intent A at START, intent B three days later.
    intent(suite, WORKER(), 30 * ONE);
    set_block_timestamp(START + 3 * DAY);
    intent(suite, WORKER(), 20 * ONE);
    assert_eq!(suite.staking_view().next_unlock_at(WORKER()), START + 7 * DAY);
    drop_events(suite.staking);

    // At START + 7 days only A has matured: B does not restart A's clock.
    set_block_timestamp(START + 7 * DAY);
    assert_eq!(suite.staking_worker().unstake_action(), 30 * ONE);
    assert_accounts(suite, WORKER(), STAKE - 30 * ONE, 20 * ONE, 0);
    assert_eq!(suite.staking_view().next_unlock_at(WORKER()), START + 10 * DAY);
    assert_eq!(balance(suite, WORKER()), INITIAL_BALANCE - STAKE + 30 * ONE);
    assert_eq!(
        staking_event(suite),
        Option::Some(
            Staking::Event::Unstaked(
                Staking::Unstaked {
                    worker: WORKER(),
                    amount: 30 * ONE,
                    old_stake: STAKE,
                    new_stake: STAKE - 30 * ONE,
                },
            ),
        ),
    );

    // At START + 10 days B is paid.
    set_block_timestamp(START + 10 * DAY);
    assert_eq!(suite.staking_worker().unstake_action(), 20 * ONE);
    assert_accounts(suite, WORKER(), STAKE - 50 * ONE, 0, 0);
    assert_eq!(suite.staking_view().next_unlock_at(WORKER()), 0);
    assert_eq!(balance(suite, WORKER()), INITIAL_BALANCE - STAKE + 50 * ONE);
    assert_eq!(
        staking_event(suite),
        Option::Some(
            Staking::Event::Unstaked(
                Staking::Unstaked {
                    worker: WORKER(),
                    amount: 20 * ONE,
                    old_stake: STAKE - 30 * ONE,
                    new_stake: STAKE - 50 * ONE,
                },
            ),
        ),
    );
}

#[test]
#[should_panic(expected: ('exit window not passed', 'ENTRYPOINT_FAILED'))]
fn test_unstake_action_later_intent_before_its_window() {
    let suite = staked_suite();
    intent(suite, WORKER(), 30 * ONE);
    set_block_timestamp(START + 3 * DAY);
    intent(suite, WORKER(), 20 * ONE);
    set_block_timestamp(START + 7 * DAY);
    suite.staking_worker().unstake_action();
    set_block_timestamp(START + 10 * DAY - 1);
    suite.staking_worker().unstake_action();
}

#[test]
fn test_unstake_action_pays_every_matured_exit_at_once() {
    let suite = staked_suite();
    intent(suite, WORKER(), 30 * ONE);
    set_block_timestamp(START + DAY);
    intent(suite, WORKER(), 20 * ONE);
    set_block_timestamp(START + 2 * DAY);
    intent(suite, WORKER(), 10 * ONE);
    drop_events(suite.staking);

    set_block_timestamp(START + DAY + UNSTAKE_WINDOW);
    assert_eq!(suite.staking_worker().unstake_action(), 50 * ONE);
    assert_accounts(suite, WORKER(), STAKE - 50 * ONE, 10 * ONE, 0);
    assert_eq!(suite.staking_view().next_unlock_at(WORKER()), START + 2 * DAY + UNSTAKE_WINDOW);
    assert_eq!(
        staking_event(suite),
        Option::Some(
            Staking::Event::Unstaked(
                Staking::Unstaked {
                    worker: WORKER(),
                    amount: 50 * ONE,
                    old_stake: STAKE,
                    new_stake: STAKE - 50 * ONE,
                },
            ),
        ),
    );
}

#[test]
fn test_unstake_action_works_while_paused() {
    let suite = staked_suite();
    intent(suite, WORKER(), 50 * ONE);
    set_contract_address(OWNER());
    admin(suite.staking).pause();
    set_block_timestamp(START + UNSTAKE_WINDOW);
    set_contract_address(WORKER());
    assert_eq!(suite.staking_worker().unstake_action(), 50 * ONE);
    assert_accounts(suite, WORKER(), STAKE - 50 * ONE, 0, 0);
    assert_eq!(balance(suite, WORKER()), INITIAL_BALANCE - STAKE + 50 * ONE);
}

// ---------------------------------------------------------------------------------------------
// lock
// ---------------------------------------------------------------------------------------------
#[test]
fn test_lock_records_collateral_and_emits() {
    let suite = staked_suite();
    lock_as_other(suite, 60 * ONE, JOB);

    assert_accounts(suite, WORKER(), STAKE, 0, 60 * ONE);
    assert_eq!(suite.staking_view().collateral_of(WORKER(), JOB), 60 * ONE);
    assert_eq!(suite.staking_view().collateral_of(WORKER(), JOB2), 0);
    // Collateral stays in the contract.
    assert_eq!(balance(suite, suite.staking), STAKE);
    assert_eq!(
        staking_event(suite),
        Option::Some(
            Staking::Event::CollateralLocked(
                Staking::CollateralLocked {
                    worker: WORKER(),
                    job_id: JOB,
                    amount: 60 * ONE,
                    old_locked: 0,
                    new_locked: 60 * ONE,
                },
            ),
        ),
    );
    assert_eq!(staking_event(suite), Option::None);
}

#[test]
fn test_lock_second_job_adds_up() {
    let suite = staked_suite();
    lock_as_other(suite, 60 * ONE, JOB);
    drop_events(suite.staking);
    suite.staking_jobs().lock(WORKER(), 140 * ONE, JOB2);

    assert_accounts(suite, WORKER(), STAKE, 0, STAKE);
    assert_eq!(suite.staking_view().collateral_of(WORKER(), JOB), 60 * ONE);
    assert_eq!(suite.staking_view().collateral_of(WORKER(), JOB2), 140 * ONE);
    assert_eq!(
        staking_event(suite),
        Option::Some(
            Staking::Event::CollateralLocked(
                Staking::CollateralLocked {
                    worker: WORKER(),
                    job_id: JOB2,
                    amount: 140 * ONE,
                    old_locked: 60 * ONE,
                    new_locked: STAKE,
                },
            ),
        ),
    );
}

#[test]
#[should_panic(expected: ('caller is missing role', 'ENTRYPOINT_FAILED'))]
fn test_lock_unauthorized() {
    let suite = staked_suite();
    set_contract_address(OTHER());
    suite.staking_jobs().lock(WORKER(), ONE, JOB);
}

#[test]
#[should_panic(expected: ('amount is zero', 'ENTRYPOINT_FAILED'))]
fn test_lock_zero_amount() {
    let suite = staked_suite();
    lock_as_other(suite, 0, JOB);
}

#[test]
#[should_panic(expected: ('collateral already locked', 'ENTRYPOINT_FAILED'))]
fn test_lock_same_job_twice() {
    let suite = staked_suite();
    lock_as_other(suite, ONE, JOB);
    suite.staking_jobs().lock(WORKER(), ONE, JOB);
}

#[test]
#[should_panic(expected: ('insufficient free stake', 'ENTRYPOINT_FAILED'))]
fn test_lock_more_than_free_stake() {
    let suite = staked_suite();
    lock_as_other(suite, STAKE + 1, JOB);
}

#[test]
#[should_panic(expected: ('insufficient free stake', 'ENTRYPOINT_FAILED'))]
fn test_lock_blocked_by_pending_exit() {
    let suite = staked_suite();
    intent(suite, WORKER(), 150 * ONE);
    lock_as_other(suite, 50 * ONE + 1, JOB);
}

// ---------------------------------------------------------------------------------------------
// unlock
// ---------------------------------------------------------------------------------------------
#[test]
fn test_unlock_returns_amount_and_emits() {
    let suite = staked_suite();
    lock_as_other(suite, 60 * ONE, JOB);
    suite.staking_jobs().lock(WORKER(), 40 * ONE, JOB2);
    drop_events(suite.staking);

    assert_eq!(suite.staking_jobs().unlock(WORKER(), JOB), 60 * ONE);
    assert_accounts(suite, WORKER(), STAKE, 0, 40 * ONE);
    assert_eq!(suite.staking_view().collateral_of(WORKER(), JOB), 0);
    assert_eq!(suite.staking_view().collateral_of(WORKER(), JOB2), 40 * ONE);
    // Unlocking moves no tokens.
    assert_eq!(balance(suite, suite.staking), STAKE);
    assert_eq!(balance(suite, WORKER()), INITIAL_BALANCE - STAKE);
    assert_eq!(
        staking_event(suite),
        Option::Some(
            Staking::Event::CollateralUnlocked(
                Staking::CollateralUnlocked {
                    worker: WORKER(),
                    job_id: JOB,
                    amount: 60 * ONE,
                    old_locked: 100 * ONE,
                    new_locked: 40 * ONE,
                },
            ),
        ),
    );
    assert_eq!(staking_event(suite), Option::None);
}

#[test]
#[should_panic(expected: ('caller is missing role', 'ENTRYPOINT_FAILED'))]
fn test_unlock_unauthorized() {
    let suite = staked_suite();
    set_contract_address(suite.escrow);
    suite.staking_jobs().lock(WORKER(), ONE, JOB);
    set_contract_address(OTHER());
    suite.staking_jobs().unlock(WORKER(), JOB);
}

#[test]
#[should_panic(expected: ('no collateral locked', 'ENTRYPOINT_FAILED'))]
fn test_unlock_nothing_locked() {
    let suite = staked_suite();
    grant_other(suite, roles::ESCROW);
    set_contract_address(OTHER());
    suite.staking_jobs().unlock(WORKER(), JOB);
}

// ---------------------------------------------------------------------------------------------
// slash
// ---------------------------------------------------------------------------------------------
#[test]
fn test_slash_pays_beneficiary_and_emits() {
    let suite = staked_suite();
    let taken = slash_as_other(suite, 30 * ONE);

    assert_eq!(taken, 30 * ONE);
    assert_accounts(suite, WORKER(), STAKE - 30 * ONE, 0, 0);
    assert_eq!(balance(suite, TREASURY()), 30 * ONE);
    assert_eq!(balance(suite, suite.staking), STAKE - 30 * ONE);
    assert_eq!(balance(suite, WORKER()), INITIAL_BALANCE - STAKE);
    assert_eq!(
        staking_event(suite),
        Option::Some(
            Staking::Event::Slashed(
                Staking::Slashed {
                    worker: WORKER(),
                    amount: 30 * ONE,
                    reason: REASON,
                    beneficiary: TREASURY(),
                    old_stake: STAKE,
                    new_stake: STAKE - 30 * ONE,
                },
            ),
        ),
    );
    assert_eq!(staking_event(suite), Option::None);
    assert_eq!(
        pop_log::<CiroToken::Event>(suite.token),
        transfer_event(suite.staking, TREASURY(), 30 * ONE),
    );
}

#[test]
fn test_slash_capped_at_stake() {
    let suite = staked_suite();
    let taken = slash_as_other(suite, 10 * STAKE);

    assert_eq!(taken, STAKE);
    assert_accounts(suite, WORKER(), 0, 0, 0);
    assert!(!suite.staking_view().is_active(WORKER()));
    assert_eq!(balance(suite, TREASURY()), STAKE);
    assert_eq!(balance(suite, suite.staking), 0);
    assert_eq!(
        staking_event(suite),
        Option::Some(
            Staking::Event::Slashed(
                Staking::Slashed {
                    worker: WORKER(),
                    amount: STAKE,
                    reason: REASON,
                    beneficiary: TREASURY(),
                    old_stake: STAKE,
                    new_stake: 0,
                },
            ),
        ),
    );
}

#[test]
fn test_slash_worker_without_stake_returns_zero() {
    let suite = setup();
    grant_other(suite, roles::SLASHER);
    set_contract_address(OTHER());
    let taken = suite.staking_jobs().slash(WORKER(), STAKE, REASON, TREASURY());
    assert_eq!(taken, 0);
    assert_eq!(balance(suite, TREASURY()), 0);
    assert_accounts(suite, WORKER(), 0, 0, 0);
    assert_eq!(staking_event(suite), Option::None);
    assert!(pop_log::<CiroToken::Event>(suite.token).is_none());
}

#[test]
fn test_slash_works_while_paused() {
    let suite = staked_suite();
    set_contract_address(OWNER());
    admin(suite.staking).pause();
    assert_eq!(slash_as_other(suite, ONE), ONE);
    assert_eq!(suite.staking_view().stake_of(WORKER()), STAKE - ONE);
    assert_eq!(balance(suite, TREASURY()), ONE);
}

#[test]
#[should_panic(expected: ('caller is missing role', 'ENTRYPOINT_FAILED'))]
fn test_slash_unauthorized() {
    let suite = staked_suite();
    set_contract_address(OTHER());
    suite.staking_jobs().slash(WORKER(), ONE, REASON, TREASURY());
}

#[test]
#[should_panic(expected: ('amount is zero', 'ENTRYPOINT_FAILED'))]
fn test_slash_zero_amount() {
    let suite = staked_suite();
    slash_as_other(suite, 0);
}

#[test]
#[should_panic(expected: ('beneficiary is zero', 'ENTRYPOINT_FAILED'))]
fn test_slash_zero_beneficiary() {
    let suite = staked_suite();
    grant_other(suite, roles::SLASHER);
    set_contract_address(OTHER());
    suite.staking_jobs().slash(WORKER(), ONE, REASON, ZERO());
}

#[test]
fn test_slash_shrinks_pending_before_locked() {
    let suite = staked_suite();
    // stake 200 = pending 100 + locked 100.
    intent(suite, WORKER(), 100 * ONE);
    lock_as_other(suite, 100 * ONE, JOB);
    assert_eq!(slash_as_other(suite, 50 * ONE), 50 * ONE);
    // stake 150: locked stays 100, pending shrinks to 50.
    assert_accounts(suite, WORKER(), 150 * ONE, 50 * ONE, 100 * ONE);
}

#[test]
fn test_slash_clamps_pending_and_locked() {
    let suite = staked_suite();
    intent(suite, WORKER(), 80 * ONE);
    lock_as_other(suite, 120 * ONE, JOB);
    assert_eq!(slash_as_other(suite, 150 * ONE), 150 * ONE);
    // stake 50: locked shrinks to 50 and nothing is left for the pending exit.
    assert_accounts(suite, WORKER(), 50 * ONE, 0, 50 * ONE);
    let view = suite.staking_view();
    assert!(view.pending_unstake_of(WORKER()) + view.locked_of(WORKER()) <= 50 * ONE);
    // The job's own record is untouched.
    assert_eq!(view.collateral_of(WORKER(), JOB), 120 * ONE);
}

#[test]
fn test_unlock_after_slash_clears_locked() {
    let suite = staked_suite();
    lock_as_other(suite, 120 * ONE, JOB);
    slash_as_other(suite, 150 * ONE);
    assert_accounts(suite, WORKER(), 50 * ONE, 0, 50 * ONE);
    drop_events(suite.staking);

    grant_other(suite, roles::ESCROW);
    set_contract_address(OTHER());
    assert_eq!(suite.staking_jobs().unlock(WORKER(), JOB), 120 * ONE);
    assert_accounts(suite, WORKER(), 50 * ONE, 0, 0);
    assert_eq!(
        staking_event(suite),
        Option::Some(
            Staking::Event::CollateralUnlocked(
                Staking::CollateralUnlocked {
                    worker: WORKER(),
                    job_id: JOB,
                    amount: 120 * ONE,
                    old_locked: 50 * ONE,
                    new_locked: 0,
                },
            ),
        ),
    );
}

#[test]
fn test_unstake_action_after_slash_pays_clamped_pending() {
    let suite = staked_suite();
    intent(suite, WORKER(), 150 * ONE);
    slash_as_other(suite, 100 * ONE);
    // stake 100, the pending exit shrank from 150 to 100.
    assert_accounts(suite, WORKER(), 100 * ONE, 100 * ONE, 0);
    drop_events(suite.staking);

    set_block_timestamp(START + UNSTAKE_WINDOW);
    set_contract_address(WORKER());
    assert_eq!(suite.staking_worker().unstake_action(), 100 * ONE);
    assert_accounts(suite, WORKER(), 0, 0, 0);
    assert_eq!(balance(suite, WORKER()), INITIAL_BALANCE - STAKE + 100 * ONE);
    assert_eq!(balance(suite, TREASURY()), 100 * ONE);
    assert_eq!(balance(suite, suite.staking), 0);
    assert_eq!(
        staking_event(suite),
        Option::Some(
            Staking::Event::Unstaked(
                Staking::Unstaked {
                    worker: WORKER(),
                    amount: 100 * ONE,
                    old_stake: 100 * ONE,
                    new_stake: 0,
                },
            ),
        ),
    );
}

// A slash that shrinks `pending` trims the queued exits too, so the trimmed part of an older
// exit can never be paid out of a newer exit before the newer one's window has passed.
#[test]
fn test_unstake_action_after_slash_does_not_pay_later_intent_early() {
    let suite = staked_suite();
    intent(suite, WORKER(), 150 * ONE);
    slash_as_other(suite, 150 * ONE);
    // stake 50, pending clamped from 150 to 50.
    assert_accounts(suite, WORKER(), 50 * ONE, 50 * ONE, 0);

    set_block_timestamp(START + 6 * DAY);
    set_contract_address(WORKER());
    suite.erc20().approve(suite.staking, 150 * ONE);
    suite.staking_worker().increase_stake(150 * ONE);
    intent(suite, WORKER(), 100 * ONE);
    assert_accounts(suite, WORKER(), 200 * ONE, 150 * ONE, 0);

    // Only A (what is left of it: 50) has matured at START + 7 days.
    set_block_timestamp(START + 7 * DAY);
    assert_eq!(suite.staking_worker().unstake_action(), 50 * ONE);
    assert_accounts(suite, WORKER(), 150 * ONE, 100 * ONE, 0);
}

#[test]
fn test_slash_trims_newest_exits_first() {
    let suite = staked_suite();
    intent(suite, WORKER(), 50 * ONE); // A, matures at START + 7 days
    set_block_timestamp(START + DAY);
    intent(suite, WORKER(), 100 * ONE); // B, matures at START + 8 days
    // Stake 200 -> 80: pending must drop from 150 to 80, taken from B first.
    slash_as_other(suite, 120 * ONE);
    assert_accounts(suite, WORKER(), 80 * ONE, 80 * ONE, 0);
    assert_eq!(suite.staking_view().next_unlock_at(WORKER()), START + UNSTAKE_WINDOW);

    set_contract_address(WORKER());
    set_block_timestamp(START + UNSTAKE_WINDOW);
    assert_eq!(suite.staking_worker().unstake_action(), 50 * ONE);
    set_block_timestamp(START + DAY + UNSTAKE_WINDOW);
    assert_eq!(suite.staking_worker().unstake_action(), 30 * ONE);
    assert_accounts(suite, WORKER(), 0, 0, 0);
}

#[test]
fn test_slash_of_all_pending_clears_next_unlock_at() {
    let suite = staked_suite();
    intent(suite, WORKER(), 150 * ONE);
    slash_as_other(suite, 200 * ONE);
    assert_accounts(suite, WORKER(), 0, 0, 0);
    assert_eq!(suite.staking_view().next_unlock_at(WORKER()), 0);
}

#[test]
#[should_panic(expected: ('no unstake pending', 'ENTRYPOINT_FAILED'))]
fn test_unstake_action_after_slash_of_all_pending() {
    let suite = staked_suite();
    intent(suite, WORKER(), 150 * ONE);
    slash_as_other(suite, 200 * ONE);
    set_block_timestamp(START + UNSTAKE_WINDOW);
    set_contract_address(WORKER());
    suite.staking_worker().unstake_action();
}

#[test]
#[should_panic(expected: ('too many pending exits', 'ENTRYPOINT_FAILED'))]
fn test_unstake_intent_too_many_pending_exits() {
    let suite = staked_suite();
    let mut i: u32 = 0;
    while i < MAX_PENDING_EXITS {
        intent(suite, WORKER(), ONE);
        i += 1;
    };
    intent(suite, WORKER(), ONE);
}

// ---------------------------------------------------------------------------------------------
// set_min_stake / set_unstake_window
// ---------------------------------------------------------------------------------------------

#[test]
fn test_set_min_stake_updates_and_emits() {
    let suite = setup();
    set_contract_address(OWNER());
    suite.staking_config().set_min_stake(500 * ONE);
    assert_eq!(suite.staking_view().min_stake(), 500 * ONE);
    assert_eq!(
        staking_event(suite),
        Option::Some(
            Staking::Event::MinStakeUpdated(
                Staking::MinStakeUpdated { old_min_stake: MIN_STAKE, new_min_stake: 500 * ONE },
            ),
        ),
    );
    assert_eq!(staking_event(suite), Option::None);
}

#[test]
#[should_panic(expected: ('caller is not operator', 'ENTRYPOINT_FAILED'))]
fn test_set_min_stake_unauthorized() {
    let suite = setup();
    set_contract_address(OTHER());
    suite.staking_config().set_min_stake(1);
}

#[test]
fn test_set_unstake_window_updates_and_emits() {
    let suite = setup();
    set_contract_address(OWNER());
    suite.staking_config().set_unstake_window(2 * DAY);
    assert_eq!(suite.staking_view().unstake_window(), 2 * DAY);
    assert_eq!(
        staking_event(suite),
        Option::Some(
            Staking::Event::UnstakeWindowUpdated(
                Staking::UnstakeWindowUpdated { old_window: UNSTAKE_WINDOW, new_window: 2 * DAY },
            ),
        ),
    );
    assert_eq!(staking_event(suite), Option::None);
}

#[test]
fn test_set_unstake_window_applies_to_new_intents_only() {
    let suite = staked_suite();
    intent(suite, WORKER(), 50 * ONE);
    set_contract_address(OWNER());
    suite.staking_config().set_unstake_window(30 * DAY);
    drop_events(suite.staking);
    set_block_timestamp(START + DAY);
    intent(suite, WORKER(), ONE);
    assert_eq!(
        staking_event(suite),
        Option::Some(
            Staking::Event::UnstakeIntent(
                Staking::UnstakeIntent {
                    worker: WORKER(),
                    amount: ONE,
                    unlock_at: START + 31 * DAY,
                    old_pending: 50 * ONE,
                    new_pending: 51 * ONE,
                },
            ),
        ),
    );
    // The earlier intent keeps the window it was made under.
    assert_eq!(suite.staking_view().next_unlock_at(WORKER()), START + UNSTAKE_WINDOW);
    set_block_timestamp(START + UNSTAKE_WINDOW);
    set_contract_address(WORKER());
    assert_eq!(suite.staking_worker().unstake_action(), 50 * ONE);
    assert_eq!(suite.staking_view().next_unlock_at(WORKER()), START + 31 * DAY);
    assert_accounts(suite, WORKER(), STAKE - 50 * ONE, ONE, 0);
}

#[test]
#[should_panic(expected: ('caller is not operator', 'ENTRYPOINT_FAILED'))]
fn test_set_unstake_window_unauthorized() {
    let suite = setup();
    set_contract_address(OTHER());
    suite.staking_config().set_unstake_window(DAY);
}

#[test]
#[should_panic(expected: ('window is zero', 'ENTRYPOINT_FAILED'))]
fn test_set_unstake_window_zero() {
    let suite = setup();
    set_contract_address(OWNER());
    suite.staking_config().set_unstake_window(0);
}

// The owner could set an exit window of u64::MAX and hold every new exit forever. The
// window is now capped at 30 days.
#[test]
#[should_panic(expected: ('unstake window too long', 'ENTRYPOINT_FAILED'))]
fn test_set_unstake_window_above_the_cap() {
    let suite = setup();
    set_contract_address(OWNER());
    suite.staking_config().set_unstake_window(MAX_UNSTAKE_WINDOW + 1);
}

#[test]
fn test_set_unstake_window_at_the_cap() {
    let suite = setup();
    set_contract_address(OWNER());
    suite.staking_config().set_unstake_window(MAX_UNSTAKE_WINDOW);
    assert_eq!(suite.staking_view().unstake_window(), MAX_UNSTAKE_WINDOW);
}
