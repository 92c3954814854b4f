//! Workload files: `loader::load::<WorkloadSpec>` and `validate`; the accepted ones also
//! through `run::load_inputs` (the checks against the system, a trace it names).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mmusim::workload::WorkloadSpec;
use mmusim_fuzz::{check_config_error, scratch_file};

fuzz_target!(|data: &[u8]| {
    let w = scratch_file("w-fuzz.toml").display().to_string();
    let through_file = || {
        std::fs::write(&w, data).unwrap();
        if let Err(es) = mmusim::run::load_inputs(Some("skylake"), Some(&w), &[]) {
            es.iter().for_each(check_config_error);
        }
    };
    let Ok(text) = std::str::from_utf8(data) else {
        return through_file();
    };
    match mmusim::loader::load::<WorkloadSpec>(&w, text, &[]) {
        Err(e) => check_config_error(&e),
        Ok((spec, src)) => {
            let errs = spec.validate();
            for (p, m) in &errs {
                check_config_error(&src.error_at(p, m.clone()));
            }
            if errs.is_empty() {
                through_file();
            }
        }
    }
});
