use core::num::traits::Bounded;
use starknet::ClassHash;
use starknet::syscalls::deploy_syscall;
use starknet::testing::{pop_log, set_contract_address};
use crate::admin::interface::IAdminDispatcherTrait;
use crate::token::interface::{IERC20DispatcherTrait, IMintableDispatcherTrait};
use crate::token::token::CiroToken;
use crate::types::roles;
use super::utils::{
    CLIENT, INITIAL_BALANCE, ONE, OTHER, OWNER, SUPPLY_CAP, SuiteTrait, WORKER, ZERO, admin,
    balance, drop_events, setup,
};

fn transfer_event(
    from: starknet::ContractAddress, to: starknet::ContractAddress, value: u256,
) -> Option<CiroToken::Event> {
    Option::Some(CiroToken::Event::Transfer(CiroToken::Transfer { from, to, value }))
}

fn approval_event(
    owner: starknet::ContractAddress, spender: starknet::ContractAddress, value: u256,
) -> Option<CiroToken::Event> {
    Option::Some(CiroToken::Event::Approval(CiroToken::Approval { owner, spender, value }))
}

#[test]
fn test_constructor_sets_metadata_owner_and_minter() {
    let suite = setup();
    let token = suite.erc20();
    assert_eq!(token.name(), "CIRO Token");
    assert_eq!(token.symbol(), "CIRO");
    assert_eq!(token.decimals(), 18);
    assert_eq!(admin(suite.token).owner(), OWNER());
    assert!(admin(suite.token).has_role(roles::MINTER, OWNER()));
    assert!(!admin(suite.token).has_role(roles::MINTER, OTHER()));
    assert_eq!(suite.mintable().cap(), SUPPLY_CAP);
}

// ---------------------------------------------------------------------------------------------
// The supply cap: MINTER used to be able to mint without bound, diluting every stake and
// every escrowed reward in the same token.
// ---------------------------------------------------------------------------------------------

#[test]
fn test_mint_up_to_the_cap() {
    let suite = setup();
    let room = SUPPLY_CAP - suite.erc20().total_supply();
    set_contract_address(OWNER());
    suite.mintable().mint(OTHER(), room);
    assert_eq!(suite.erc20().total_supply(), SUPPLY_CAP);
    assert_eq!(balance(suite, OTHER()), room);
}

#[test]
#[should_panic(expected: ('mint above supply cap', 'ENTRYPOINT_FAILED'))]
fn test_mint_above_the_cap() {
    let suite = setup();
    let room = SUPPLY_CAP - suite.erc20().total_supply();
    set_contract_address(OWNER());
    suite.mintable().mint(OTHER(), room + 1);
}

#[test]
#[should_panic(expected: ('mint above supply cap', 'ENTRYPOINT_FAILED'))]
fn test_mint_once_the_cap_is_reached() {
    let suite = setup();
    let room = SUPPLY_CAP - suite.erc20().total_supply();
    set_contract_address(OWNER());
    suite.mintable().mint(OTHER(), room);
    suite.mintable().mint(OTHER(), 1);
}

#[test]
#[should_panic(expected: ('mint above supply cap', 'ENTRYPOINT_FAILED'))]
fn test_mint_of_the_largest_amount_does_not_wrap() {
    let suite = setup();
    set_contract_address(OWNER());
    suite.mintable().mint(OTHER(), Bounded::MAX);
}

#[test]
fn test_constructor_refuses_a_zero_cap() {
    let mut calldata = array![];
    let name: ByteArray = "CIRO Token";
    let symbol: ByteArray = "CIRO";
    name.serialize(ref calldata);
    symbol.serialize(ref calldata);
    OWNER().serialize(ref calldata);
    let zero: u256 = 0;
    zero.serialize(ref calldata);
    let class_hash: ClassHash = CiroToken::TEST_CLASS_HASH.try_into().unwrap();
    match deploy_syscall(class_hash, 0, calldata.span(), false) {
        Result::Ok(_) => panic!("deploy with a zero cap succeeded"),
        Result::Err(data) => assert_eq!(*data.at(0), 'supply cap is zero'),
    }
}

#[test]
fn test_total_supply_counts_every_mint() {
    let suite = setup();
    // setup() minted INITIAL_BALANCE to three accounts.
    assert_eq!(suite.erc20().total_supply(), 3 * INITIAL_BALANCE);
}

#[test]
fn test_mint_credits_recipient_and_emits() {
    let suite = setup();
    set_contract_address(OWNER());
    suite.mintable().mint(OTHER(), 7 * ONE);
    assert_eq!(balance(suite, OTHER()), 7 * ONE);
    assert_eq!(suite.erc20().total_supply(), 3 * INITIAL_BALANCE + 7 * ONE);
    assert_eq!(
        pop_log::<CiroToken::Event>(suite.token), transfer_event(ZERO(), OTHER(), 7 * ONE),
    );
}

#[test]
fn test_mint_by_granted_minter() {
    let suite = setup();
    set_contract_address(OWNER());
    admin(suite.token).grant_role(roles::MINTER, OTHER());
    set_contract_address(OTHER());
    suite.mintable().mint(OTHER(), ONE);
    assert_eq!(balance(suite, OTHER()), ONE);
}

#[test]
#[should_panic(expected: ('caller is missing role', 'ENTRYPOINT_FAILED'))]
fn test_mint_unauthorized() {
    let suite = setup();
    set_contract_address(OTHER());
    suite.mintable().mint(OTHER(), 1);
}

#[test]
#[should_panic(expected: ('amount is zero', 'ENTRYPOINT_FAILED'))]
fn test_mint_zero_amount() {
    let suite = setup();
    set_contract_address(OWNER());
    suite.mintable().mint(OTHER(), 0);
}

#[test]
#[should_panic(expected: ('mint to zero address', 'ENTRYPOINT_FAILED'))]
fn test_mint_to_zero() {
    let suite = setup();
    set_contract_address(OWNER());
    suite.mintable().mint(ZERO(), 1);
}

#[test]
#[should_panic(expected: ('contract is paused', 'ENTRYPOINT_FAILED'))]
fn test_mint_paused() {
    let suite = setup();
    set_contract_address(OWNER());
    admin(suite.token).pause();
    suite.mintable().mint(OTHER(), 1);
}

#[test]
fn test_transfer_moves_balance_and_emits() {
    let suite = setup();
    set_contract_address(CLIENT());
    assert!(suite.erc20().transfer(OTHER(), 5 * ONE));
    assert_eq!(balance(suite, CLIENT()), INITIAL_BALANCE - 5 * ONE);
    assert_eq!(balance(suite, OTHER()), 5 * ONE);
    assert_eq!(
        pop_log::<CiroToken::Event>(suite.token), transfer_event(CLIENT(), OTHER(), 5 * ONE),
    );
}

#[test]
fn test_transfer_whole_balance() {
    let suite = setup();
    set_contract_address(CLIENT());
    suite.erc20().transfer(OTHER(), INITIAL_BALANCE);
    assert_eq!(balance(suite, CLIENT()), 0);
    assert_eq!(balance(suite, OTHER()), INITIAL_BALANCE);
}

#[test]
fn test_transfer_still_works_when_paused() {
    let suite = setup();
    set_contract_address(OWNER());
    admin(suite.token).pause();
    set_contract_address(CLIENT());
    suite.erc20().transfer(OTHER(), ONE);
    assert_eq!(balance(suite, OTHER()), ONE);
}

#[test]
#[should_panic(expected: ('insufficient balance', 'ENTRYPOINT_FAILED'))]
fn test_transfer_insufficient_balance() {
    let suite = setup();
    set_contract_address(CLIENT());
    suite.erc20().transfer(OTHER(), INITIAL_BALANCE + 1);
}

#[test]
#[should_panic(expected: ('transfer to zero address', 'ENTRYPOINT_FAILED'))]
fn test_transfer_to_zero() {
    let suite = setup();
    set_contract_address(CLIENT());
    suite.erc20().transfer(ZERO(), 1);
}

#[test]
#[should_panic(expected: ('transfer from zero address', 'ENTRYPOINT_FAILED'))]
fn test_transfer_from_zero_sender() {
    let suite = setup();
    set_contract_address(ZERO());
    suite.erc20().transfer(OTHER(), 0);
}

#[test]
fn test_approve_sets_allowance_and_emits() {
    let suite = setup();
    set_contract_address(CLIENT());
    assert!(suite.erc20().approve(OTHER(), 3 * ONE));
    assert_eq!(suite.erc20().allowance(CLIENT(), OTHER()), 3 * ONE);
    assert_eq!(
        pop_log::<CiroToken::Event>(suite.token), approval_event(CLIENT(), OTHER(), 3 * ONE),
    );
    // A new approval replaces the old one.
    suite.erc20().approve(OTHER(), ONE);
    assert_eq!(suite.erc20().allowance(CLIENT(), OTHER()), ONE);
}

#[test]
#[should_panic(expected: ('approve to zero address', 'ENTRYPOINT_FAILED'))]
fn test_approve_to_zero() {
    let suite = setup();
    set_contract_address(CLIENT());
    suite.erc20().approve(ZERO(), 1);
}

#[test]
fn test_transfer_from_spends_allowance_and_emits() {
    let suite = setup();
    set_contract_address(CLIENT());
    suite.erc20().approve(OTHER(), 10 * ONE);
    drop_events(suite.token);
    set_contract_address(OTHER());
    assert!(suite.erc20().transfer_from(CLIENT(), WORKER(), 4 * ONE));
    assert_eq!(suite.erc20().allowance(CLIENT(), OTHER()), 6 * ONE);
    assert_eq!(balance(suite, CLIENT()), INITIAL_BALANCE - 4 * ONE);
    assert_eq!(balance(suite, WORKER()), INITIAL_BALANCE + 4 * ONE);
    assert_eq!(
        pop_log::<CiroToken::Event>(suite.token), approval_event(CLIENT(), OTHER(), 6 * ONE),
    );
    assert_eq!(
        pop_log::<CiroToken::Event>(suite.token), transfer_event(CLIENT(), WORKER(), 4 * ONE),
    );
}

#[test]
fn test_transfer_from_infinite_allowance_is_not_spent() {
    let suite = setup();
    set_contract_address(CLIENT());
    suite.erc20().approve(OTHER(), Bounded::MAX);
    set_contract_address(OTHER());
    suite.erc20().transfer_from(CLIENT(), OTHER(), 4 * ONE);
    assert_eq!(suite.erc20().allowance(CLIENT(), OTHER()), Bounded::MAX);
    assert_eq!(balance(suite, OTHER()), 4 * ONE);
}

#[test]
#[should_panic(expected: ('insufficient allowance', 'ENTRYPOINT_FAILED'))]
fn test_transfer_from_insufficient_allowance() {
    let suite = setup();
    set_contract_address(CLIENT());
    suite.erc20().approve(OTHER(), ONE);
    set_contract_address(OTHER());
    suite.erc20().transfer_from(CLIENT(), OTHER(), ONE + 1);
}

#[test]
#[should_panic(expected: ('insufficient balance', 'ENTRYPOINT_FAILED'))]
fn test_transfer_from_insufficient_balance() {
    let suite = setup();
    set_contract_address(OTHER());
    suite.erc20().approve(CLIENT(), Bounded::MAX);
    set_contract_address(CLIENT());
    suite.erc20().transfer_from(OTHER(), CLIENT(), 1);
}

#[test]
#[should_panic(expected: ('transfer to zero address', 'ENTRYPOINT_FAILED'))]
fn test_transfer_from_to_zero() {
    let suite = setup();
    set_contract_address(CLIENT());
    suite.erc20().approve(OTHER(), ONE);
    set_contract_address(OTHER());
    suite.erc20().transfer_from(CLIENT(), ZERO(), 1);
}
