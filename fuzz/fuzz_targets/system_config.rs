//! System configs (TOML with `extends`): `run::load_system` and `validate`, as `run` and
//! `show` load them; bytes that are not UTF-8 go through `run::load_inputs` from a file.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mmusim_fuzz::{check_config_error, scratch_file};

fuzz_target!(|data: &[u8]| {
    let sys = scratch_file("sys.toml").display().to_string();
    let Ok(text) = std::str::from_utf8(data) else {
        std::fs::write(&sys, data).unwrap();
        let w = scratch_file("w.toml").display().to_string();
        if let Err(es) = mmusim::run::load_inputs(Some(&sys), Some(&w), &[]) {
            es.iter().for_each(check_config_error);
        }
        return;
    };
    match mmusim::run::load_system(&sys, text, &[]) {
        Err(e) => check_config_error(&e),
        Ok((cfg, src)) => {
            for (p, m) in cfg.validate() {
                check_config_error(&src.error_at(&p, m));
            }
        }
    }
});
