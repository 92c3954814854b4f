//! Reference strings: `RefList::parse` (a workload's `refs`, `analyze --refs`) and the
//! `.refs` trace reader. Errors give a position (in a file, a line).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mmusim::trace::TraceFormat;
use mmusim::workload::{RefList, MAX_REFS};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match RefList::parse(&text) {
        Ok(l) => assert!(l.0.len() <= MAX_REFS),
        Err(m) => assert!(
            m.contains("position ") || m.contains("more than"),
            "no position: {m}"
        ),
    }
    mmusim_fuzz::read_trace("fuzz.refs", data, TraceFormat::Refs);
});
