pub const ZERO_WORKER: felt252 = 'worker is zero address';
