//! placeholder
pub struct StoreConfig;
pub fn open_store() {}
