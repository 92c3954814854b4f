//! Sweep specs: `sweep::parse_spec` (decoding, axes, points, plots, baseline); specs of
//! at most 8 runs are planned in full (`sweep::plan`) beside a small workload `w.toml`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mmusim_fuzz::scratch_file;

fuzz_target!(|data: &[u8]| {
    let spec = scratch_file("spec.toml").display().to_string();
    let named = |es: Vec<String>| {
        for e in es {
            assert!(
                e.starts_with(&spec) || e.starts_with("point"),
                "error does not name the spec: {e}"
            );
        }
    };
    let text = String::from_utf8_lossy(data);
    match mmusim::sweep::parse_spec(&spec, &text) {
        Err(es) => named(es),
        Ok((s, _, pts)) if pts.len() * s.workload.len() <= 8 => {
            std::fs::write(&spec, data).unwrap();
            if let Err(es) = mmusim::sweep::plan(std::path::Path::new(&spec), 1) {
                named(es);
            }
        }
        Ok(_) => {}
    }
});
