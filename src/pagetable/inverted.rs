//! Classic inverted page table (IBM System/38, RT PC): one entry per physical frame plus a hash anchor table.
//!
//! NOT IMPLEMENTED YET: selecting this design is refused with an error.

use super::hash::{HashKind, HugeProbe};
use super::{MapOutcome, PageTable, Translation, WalkStart, WalkStep};
use crate::addr::PageSize;
use crate::config::OsConfig;
use crate::os::frames::FrameAllocator;
use crate::SimError;
use serde::{Deserialize, Serialize};

/// Configuration of this design (`[page_table]` with `kind = "inverted"`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvertedConfig {
    #[serde(default)]
    pub hash: HashKind,
    #[serde(default)]
    pub huge: HugeProbe,
}

impl InvertedConfig {
    /// Problems as (key under `page_table.`, message).
    pub fn validate(&self, _os: &OsConfig) -> Vec<(String, String)> {
        vec![(
            "kind".into(),
            "the inverted design is not implemented yet".into(),
        )]
    }
}

pub struct Inverted;

impl Inverted {
    pub fn new(
        _cfg: &InvertedConfig,
        _os: &OsConfig,
        _frames: &mut FrameAllocator,
    ) -> Result<Inverted, SimError> {
        Err(SimError(
            "the inverted design is not implemented yet".into(),
        ))
    }
}

impl PageTable for Inverted {
    const SHARED: bool = true;
    fn levels(&self) -> usize {
        0
    }
    fn level_shift(&self, _level: usize) -> u32 {
        0
    }
    fn translate(&self, _asid: u16, _vaddr: u64) -> Option<Translation> {
        None
    }
    fn map(
        &mut self,
        _asid: u16,
        _vaddr: u64,
        _size: PageSize,
        _frame: u64,
        _frames: &mut FrameAllocator,
    ) -> Result<MapOutcome, SimError> {
        Err(SimError("not implemented".into()))
    }
    fn unmap(&mut self, _asid: u16, _vaddr: u64) -> Option<Translation> {
        None
    }
    fn walk(
        &self,
        _asid: u16,
        _vaddr: u64,
        _start: Option<WalkStart>,
        _steps: &mut Vec<WalkStep>,
    ) -> Option<Translation> {
        None
    }
    fn table_bytes(&self) -> u64 {
        0
    }
}
