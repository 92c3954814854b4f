//! The ChampSim trace reader through `trace::open_reader` (plain, gzip or xz bytes; the
//! options vary with the input): errors name the file and a line or byte offset.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mmusim::trace::TraceFormat;

fuzz_target!(|data: &[u8]| {
    mmusim_fuzz::read_trace("fuzz.champsim", data, TraceFormat::ChampSim);
});
