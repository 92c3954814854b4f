//! Configuration: reading the user's TOML experiment description.
//!
//! [`load`](mod@load) owns the generic half: turning TOML text plus `--set key.path=value`
//! overrides into any `T: DeserializeOwned`, and reporting every problem as
//! `FILE:LINE: key.path: what is wrong` ([`ConfigError`]). The typed config
//! structs that describe the simulated machine live alongside it in this module.

pub mod load;
pub use load::*;
