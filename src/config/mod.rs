//! Configuration: typed structs for every component (`system`), and loading with
//! `file:line: key.path: message` errors and `--set` overrides (`load`).
//!
//! Flow: TOML text → [`ConfigSource::parse`] → `--set` overrides edit the untyped tree →
//! typed decode (unknown keys refused) → [`SystemConfig::validate`] → each problem
//! reported at the line its key stands on.

pub mod load;
pub mod system;
pub use load::*;
pub use system::*;
