//! `--set key.path=value` on the skylake preset and the default workload, through
//! `run::load_inputs` as `run` applies it (`workload.` keys edit the workload).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mmusim_fuzz::check_config_error;

fuzz_target!(|data: &[u8]| {
    // Arguments reach `--set` as UTF-8 (clap refuses anything else).
    let a = String::from_utf8_lossy(data).into_owned();
    if let Err(es) = mmusim::run::load_inputs(Some("skylake"), None, &[a]) {
        es.iter().for_each(check_config_error);
    }
});
