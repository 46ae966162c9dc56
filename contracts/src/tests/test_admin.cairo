//! The admin component (owner, roles, pause, upgrade) is the same code in every contract.
//! It is tested in full on the token, and its wiring is checked on all five contracts.

use starknet::testing::{pop_log, set_block_timestamp, set_contract_address};
use starknet::{ClassHash, ContractAddress};
use crate::admin::component::AdminComponent;
use crate::admin::interface::{IAdminDispatcherTrait, MIN_UPGRADE_DELAY};
use crate::reputation::interface::IReputationViewDispatcherTrait;
use crate::reputation::reputation::Reputation;
use crate::token::interface::IERC20DispatcherTrait;
use crate::token::token::CiroToken;
use crate::types::roles;
use super::utils::{CLIENT, OTHER, OWNER, START, Suite, SuiteTrait, ZERO, admin, setup};

fn admin_event(event: AdminComponent::Event) -> Option<CiroToken::Event> {
    Option::Some(CiroToken::Event::AdminEvent(event))
}

fn all_contracts(suite: Suite) -> Array<ContractAddress> {
    array![suite.token, suite.staking, suite.reputation, suite.escrow, suite.disputes]
}

const ROLE: felt252 = 'TEST_ROLE';

#[test]
fn test_owner_is_set_on_every_contract() {
    let suite = setup();
    for contract in all_contracts(suite) {
        assert_eq!(admin(contract).owner(), OWNER());
        assert!(!admin(contract).is_paused());
    };
}

#[test]
fn test_pause_and_unpause_on_every_contract() {
    let suite = setup();
    set_contract_address(OWNER());
    for contract in all_contracts(suite) {
        admin(contract).pause();
        assert!(admin(contract).is_paused());
        admin(contract).unpause();
        assert!(!admin(contract).is_paused());
    };
}

#[test]
fn test_transfer_ownership_hands_over_on_acceptance_and_emits() {
    let suite = setup();
    set_contract_address(OWNER());
    admin(suite.token).transfer_ownership(OTHER());
    // Naming a successor changes nothing yet.
    assert_eq!(admin(suite.token).owner(), OWNER());
    assert_eq!(admin(suite.token).pending_owner(), OTHER());
    assert_eq!(
        pop_log::<CiroToken::Event>(suite.token),
        admin_event(
            AdminComponent::Event::OwnershipTransferStarted(
                AdminComponent::OwnershipTransferStarted {
                    previous_owner: OWNER(), new_owner: OTHER(),
                },
            ),
        ),
    );
    set_contract_address(OTHER());
    admin(suite.token).accept_ownership();
    assert_eq!(admin(suite.token).owner(), OTHER());
    assert_eq!(admin(suite.token).pending_owner(), ZERO());
    assert_eq!(
        pop_log::<CiroToken::Event>(suite.token),
        admin_event(
            AdminComponent::Event::OwnershipTransferred(
                AdminComponent::OwnershipTransferred {
                    previous_owner: OWNER(), new_owner: OTHER(),
                },
            ),
        ),
    );
    // The new owner administers the roles: here it makes itself the security agent, and
    // takes that role from the old owner, whose roles do not leave with the ownership.
    admin(suite.token).grant_role(roles::SECURITY_AGENT, OTHER());
    admin(suite.token).revoke_role(roles::SECURITY_AGENT, OWNER());
    admin(suite.token).pause();
    assert!(admin(suite.token).is_paused());
    assert!(!admin(suite.token).has_role(roles::SECURITY_AGENT, OWNER()));
}

#[test]
fn test_transfer_ownership_keeps_the_owner_until_accepted() {
    // A typo in the successor's address leaves the contract with its owner, who can name
    // the right one.
    let suite = setup();
    set_contract_address(OWNER());
    admin(suite.token).transfer_ownership(OTHER());
    admin(suite.token).pause();
    assert!(admin(suite.token).is_paused());
    admin(suite.token).transfer_ownership(CLIENT());
    assert_eq!(admin(suite.token).pending_owner(), CLIENT());
}

#[test]
#[should_panic(expected: ('caller is not pending owner', 'ENTRYPOINT_FAILED'))]
fn test_accept_ownership_by_a_stranger_fails() {
    let suite = setup();
    set_contract_address(OWNER());
    admin(suite.token).transfer_ownership(OTHER());
    set_contract_address(CLIENT());
    admin(suite.token).accept_ownership();
}

#[test]
#[should_panic(expected: ('caller is not pending owner', 'ENTRYPOINT_FAILED'))]
fn test_accept_ownership_replaced_successor_fails() {
    let suite = setup();
    set_contract_address(OWNER());
    admin(suite.token).transfer_ownership(OTHER());
    admin(suite.token).transfer_ownership(CLIENT());
    set_contract_address(OTHER());
    admin(suite.token).accept_ownership();
}

#[test]
#[should_panic(expected: ('caller is not owner', 'ENTRYPOINT_FAILED'))]
fn test_transfer_ownership_old_owner_loses_rights() {
    let suite = setup();
    set_contract_address(OWNER());
    admin(suite.token).transfer_ownership(OTHER());
    set_contract_address(OTHER());
    admin(suite.token).accept_ownership();
    set_contract_address(OWNER());
    admin(suite.token).grant_role(ROLE, OWNER());
}

#[test]
#[should_panic(expected: ('caller is not owner', 'ENTRYPOINT_FAILED'))]
fn test_transfer_ownership_unauthorized() {
    let suite = setup();
    set_contract_address(OTHER());
    admin(suite.token).transfer_ownership(OTHER());
}

#[test]
#[should_panic(expected: ('address is zero', 'ENTRYPOINT_FAILED'))]
fn test_transfer_ownership_to_zero() {
    let suite = setup();
    set_contract_address(OWNER());
    admin(suite.token).transfer_ownership(ZERO());
}

#[test]
fn test_grant_role_and_revoke_role_emit() {
    let suite = setup();
    set_contract_address(OWNER());
    admin(suite.token).grant_role(ROLE, OTHER());
    assert!(admin(suite.token).has_role(ROLE, OTHER()));
    assert_eq!(
        pop_log::<CiroToken::Event>(suite.token),
        admin_event(
            AdminComponent::Event::RoleGranted(
                AdminComponent::RoleGranted { role: ROLE, account: OTHER(), sender: OWNER() },
            ),
        ),
    );
    admin(suite.token).revoke_role(ROLE, OTHER());
    assert!(!admin(suite.token).has_role(ROLE, OTHER()));
    assert_eq!(
        pop_log::<CiroToken::Event>(suite.token),
        admin_event(
            AdminComponent::Event::RoleRevoked(
                AdminComponent::RoleRevoked { role: ROLE, account: OTHER(), sender: OWNER() },
            ),
        ),
    );
}

#[test]
fn test_grant_role_twice_emits_once() {
    let suite = setup();
    set_contract_address(OWNER());
    admin(suite.token).grant_role(ROLE, OTHER());
    admin(suite.token).grant_role(ROLE, OTHER());
    assert!(pop_log::<CiroToken::Event>(suite.token).is_some());
    assert!(pop_log::<CiroToken::Event>(suite.token).is_none());
}

#[test]
fn test_revoke_role_not_held_emits_nothing() {
    let suite = setup();
    set_contract_address(OWNER());
    admin(suite.token).revoke_role(ROLE, OTHER());
    assert!(pop_log::<CiroToken::Event>(suite.token).is_none());
}

#[test]
#[should_panic(expected: ('caller is not owner', 'ENTRYPOINT_FAILED'))]
fn test_grant_role_unauthorized() {
    let suite = setup();
    set_contract_address(OTHER());
    admin(suite.token).grant_role(ROLE, OTHER());
}

#[test]
#[should_panic(expected: ('address is zero', 'ENTRYPOINT_FAILED'))]
fn test_grant_role_to_zero() {
    let suite = setup();
    set_contract_address(OWNER());
    admin(suite.token).grant_role(ROLE, ZERO());
}

#[test]
#[should_panic(expected: ('caller is not owner', 'ENTRYPOINT_FAILED'))]
fn test_revoke_role_unauthorized() {
    let suite = setup();
    set_contract_address(OWNER());
    admin(suite.token).grant_role(ROLE, OTHER());
    set_contract_address(OTHER());
    admin(suite.token).revoke_role(ROLE, OTHER());
}

#[test]
fn test_pause_and_unpause_emit() {
    let suite = setup();
    set_contract_address(OWNER());
    admin(suite.token).pause();
    assert_eq!(
        pop_log::<CiroToken::Event>(suite.token),
        admin_event(AdminComponent::Event::Paused(AdminComponent::Paused { account: OWNER() })),
    );
    admin(suite.token).unpause();
    assert_eq!(
        pop_log::<CiroToken::Event>(suite.token),
        admin_event(
            AdminComponent::Event::Unpaused(AdminComponent::Unpaused { account: OWNER() }),
        ),
    );
}

#[test]
#[should_panic(expected: ('caller is not security agent', 'ENTRYPOINT_FAILED'))]
fn test_pause_unauthorized() {
    let suite = setup();
    set_contract_address(OTHER());
    admin(suite.escrow).pause();
}

#[test]
#[should_panic(expected: ('contract is paused', 'ENTRYPOINT_FAILED'))]
fn test_pause_twice() {
    let suite = setup();
    set_contract_address(OWNER());
    admin(suite.staking).pause();
    admin(suite.staking).pause();
}

#[test]
#[should_panic(expected: ('contract is not paused', 'ENTRYPOINT_FAILED'))]
fn test_unpause_when_not_paused() {
    let suite = setup();
    set_contract_address(OWNER());
    admin(suite.disputes).unpause();
}

#[test]
#[should_panic(expected: ('caller is not security admin', 'ENTRYPOINT_FAILED'))]
fn test_unpause_unauthorized() {
    let suite = setup();
    set_contract_address(OWNER());
    admin(suite.reputation).pause();
    set_contract_address(OTHER());
    admin(suite.reputation).unpause();
}

/// An owner once replaced a contract's class in one transaction, with no notice to the
/// stakers whose money it holds. Now an upgrade must be announced and wait its delay.
#[test]
#[should_panic(expected: ('upgrade delay has not passed', 'ENTRYPOINT_FAILED'))]
fn test_upgrade_cannot_run_without_notice() {
    let suite = setup();
    set_contract_address(OWNER());
    let new_class: ClassHash = Reputation::TEST_CLASS_HASH.try_into().unwrap();
    admin(suite.token).announce_upgrade(new_class, array![].span());
    admin(suite.token).execute_upgrade(array![].span());
}

#[test]
fn test_upgrade_replaces_class_after_the_delay() {
    let suite = setup();
    set_contract_address(OWNER());
    let new_class: ClassHash = Reputation::TEST_CLASS_HASH.try_into().unwrap();
    admin(suite.token).announce_upgrade(new_class, array![].span());
    set_block_timestamp(START + MIN_UPGRADE_DELAY);
    admin(suite.token).execute_upgrade(array![].span());
    // The token's address now runs the Reputation class: its view answers, over the
    // token's storage (the admin component's slots are shared, so the owner is kept).
    let record = crate::reputation::interface::IReputationViewDispatcher {
        contract_address: suite.token,
    }
        .reputation_of(OTHER());
    assert_eq!(record, Default::default());
    assert_eq!(admin(suite.token).owner(), OWNER());
}

#[test]
#[should_panic(expected: ('ENTRYPOINT_NOT_FOUND',))]
fn test_upgrade_old_entry_points_are_gone() {
    let suite = setup();
    set_contract_address(OWNER());
    admin(suite.token)
        .announce_upgrade(Reputation::TEST_CLASS_HASH.try_into().unwrap(), array![].span());
    set_block_timestamp(START + MIN_UPGRADE_DELAY);
    admin(suite.token).execute_upgrade(array![].span());
    suite.erc20().total_supply();
}

#[test]
#[should_panic(expected: ('caller is not upgrade governor', 'ENTRYPOINT_FAILED'))]
fn test_upgrade_unauthorized() {
    let suite = setup();
    set_contract_address(OTHER());
    admin(suite.token)
        .announce_upgrade(Reputation::TEST_CLASS_HASH.try_into().unwrap(), array![].span());
}

#[test]
#[should_panic(expected: ('class hash is zero', 'ENTRYPOINT_FAILED'))]
fn test_upgrade_zero_class_hash() {
    let suite = setup();
    set_contract_address(OWNER());
    admin(suite.token).announce_upgrade(0.try_into().unwrap(), array![].span());
}
