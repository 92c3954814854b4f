//! Configuration: typed structs for every component (`system`). Loading them (TOML
//! text, `--set` overrides, `file:line: key.path` errors) is [`crate::loader`]'s.
//!
//! Flow: TOML text → [`crate::loader::load`] (unknown keys refused) →
//! [`SystemConfig::validate`] → each problem reported at the line its key stands on
//! ([`crate::loader::ConfigSource::error_at`]).

pub mod system;
pub use system::*;
