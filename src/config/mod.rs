//! Configuration: typed structs for every component (`system`), and loading with
//! `file:line: key.path` errors and `--set` overrides (`load`).

pub mod system;
pub use system::*;
