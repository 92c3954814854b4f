//! Sweep stores (`results.jsonl`): `sweep::read_store`, then `sweep::report::report` on
//! a store holding finished runs (it writes the report beside it).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = mmusim_fuzz::scratch_file("store");
    std::fs::create_dir_all(&dir).unwrap();
    let store = dir.join("results.jsonl");
    std::fs::write(&store, data).unwrap();
    let recs = match mmusim::sweep::read_store(&dir) {
        Ok(r) => r,
        Err(e) => {
            let shown = store.display().to_string();
            assert!(e.contains(&shown), "error does not name the store: {e}");
            return;
        }
    };
    if recs.iter().any(|r| r.total.is_some()) {
        let _ = mmusim::sweep::report::report(&dir, None);
    }
});
