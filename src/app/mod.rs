//! The CosmosPark domain and its functions. [`function_app`] registers every function with the
//! runtime; `main` serves it.

pub mod functions;

use crate::runtime::{FunctionApp, RegistryError};

/// Every CosmosPark function, registered by name.
pub fn function_app() -> Result<FunctionApp, RegistryError> {
    functions::register(FunctionApp::new())
}
