//! Analyses of page reference strings (working set and VMIN, lifetime curves, fixed-memory replacement).

pub mod lifetime;
pub mod replace;
pub mod ws;
