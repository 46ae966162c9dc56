pub const NOT_OWNER: felt252 = 'caller is not owner';
pub const MISSING_ROLE: felt252 = 'caller is missing role';
pub const PAUSED: felt252 = 'contract is paused';
pub const NOT_PAUSED: felt252 = 'contract is not paused';
pub const ZERO_CLASS_HASH: felt252 = 'class hash is zero';
pub const ZERO_ADDRESS: felt252 = 'address is zero';
pub const NOT_PENDING_OWNER: felt252 = 'caller is not pending owner';
