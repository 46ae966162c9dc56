use starknet::ContractAddress;

/// The ERC20 standard, with snake_case names and u256 amounts.
#[starknet::interface]
pub trait IERC20<TState> {
    fn name(self: @TState) -> ByteArray;
    fn symbol(self: @TState) -> ByteArray;
    /// Always 18.
    fn decimals(self: @TState) -> u8;
    fn total_supply(self: @TState) -> u256;
    fn balance_of(self: @TState, account: ContractAddress) -> u256;
    fn allowance(self: @TState, owner: ContractAddress, spender: ContractAddress) -> u256;
    /// Moves `amount` from the caller to `recipient`.
    /// Requirements: `recipient` is not zero; the caller holds `amount`. Emits `Transfer`.
    fn transfer(ref self: TState, recipient: ContractAddress, amount: u256) -> bool;
    /// Moves `amount` from `sender` to `recipient` using the caller's allowance. An allowance of
    /// `u256::MAX` is never decreased.
    /// Requirements: the allowance and the balance cover `amount`; neither address is zero.
    /// Emits `Transfer` (and `Approval` when the allowance changes).
    fn transfer_from(
        ref self: TState, sender: ContractAddress, recipient: ContractAddress, amount: u256,
    ) -> bool;
    /// Lets `spender` move up to `amount` of the caller's tokens.
    /// Requirements: `spender` is not zero. Emits `Approval`.
    fn approve(ref self: TState, spender: ContractAddress, amount: u256) -> bool;
}

/// Minting, for holders of the `MINTER` role.
#[starknet::interface]
pub trait IMintable<TState> {
    /// Creates `amount` tokens for `recipient`.
    /// Requirements: caller holds `MINTER`; not paused; `recipient` is not zero; `amount` > 0;
    /// the total supply stays at most the cap. Emits `Transfer` from the zero address.
    fn mint(ref self: TState, recipient: ContractAddress, amount: u256);
    /// The most tokens that can ever exist, fixed at deployment.
    fn cap(self: @TState) -> u256;
}
