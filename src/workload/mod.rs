//! TEMPORARY stand-in until the workload branch lands.
use crate::addr::AccessKind;
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    pub vaddr: u64,
    pub kind: AccessKind,
    pub instrs: u32,
}
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadError {
    pub msg: String,
}
pub trait AccessSource: Send {
    fn fill(&mut self, buf: &mut Vec<Access>, max: usize) -> Result<(), WorkloadError>;
}
