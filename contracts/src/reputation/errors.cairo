pub const ZERO_WORKER: felt252 = 'worker is zero address';
pub const ZERO_JOBS: felt252 = 'jobs is zero';
