/// A class to upgrade to in the tests: it keeps the admin component (so the upgraded
/// contract is still governed) and adds `upgrade_init`, which records the data it was given.
#[starknet::contract]
pub mod UpgradeTarget {
    use starknet::storage::{StoragePointerReadAccess, StoragePointerWriteAccess};
    use crate::admin::component::AdminComponent;

    component!(path: AdminComponent, storage: admin, event: AdminEvent);

    #[abi(embed_v0)]
    impl AdminImpl = AdminComponent::AdminImpl<ContractState>;

    #[storage]
    struct Storage {
        version: felt252,
        #[substorage(v0)]
        admin: AdminComponent::Storage,
    }

    #[event]
    #[derive(Drop, starknet::Event)]
    enum Event {
        #[flat]
        AdminEvent: AdminComponent::Event,
    }

    #[starknet::interface]
    pub trait IUpgradeTarget<TState> {
        fn upgrade_init(ref self: TState, version: felt252);
        fn version(self: @TState) -> felt252;
    }

    #[abi(embed_v0)]
    impl UpgradeTargetImpl of IUpgradeTarget<ContractState> {
        fn upgrade_init(ref self: ContractState, version: felt252) {
            self.version.write(version);
        }

        fn version(self: @ContractState) -> felt252 {
            self.version.read()
        }
    }
}
