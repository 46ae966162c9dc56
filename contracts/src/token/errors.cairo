pub const INSUFFICIENT_BALANCE: felt252 = 'insufficient balance';
pub const INSUFFICIENT_ALLOWANCE: felt252 = 'insufficient allowance';
pub const TRANSFER_FROM_ZERO: felt252 = 'transfer from zero address';
pub const TRANSFER_TO_ZERO: felt252 = 'transfer to zero address';
pub const APPROVE_TO_ZERO: felt252 = 'approve to zero address';
pub const MINT_TO_ZERO: felt252 = 'mint to zero address';
pub const ZERO_AMOUNT: felt252 = 'amount is zero';
