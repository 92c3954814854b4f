//! `[pom_tlb]`: one key that adds a POM-TLB (`tlb/pom.rs`) to any preset, e.g.
//! `--set pom_tlb.entries=65536`.
//!
//! In: the config's undecoded tree, after `extends` and the overrides. Out: the same
//! tree with `pom_tlb` replaced by one `[[tlb]]` structure per page size (`pom_4k`,
//! `pom_2m`, ...), `organisation = "pom"`, at the level above the highest one the
//! config has; from there on they are ordinary structures (decoded, validated and
//! reported as `tlb[i]`). Done on the tree, before decoding, so a decoded config never
//! holds both forms and a written-out config reads back as the same machine.
//!
//! Keys: `entries` per partition (65,536), `ways` (4), `latency` (0), `page_sizes`
//! (["4K", "2M"]): the defaults of `configs/skylake-pom.toml`, where they are cited.

use toml::Value;

/// Keys `[pom_tlb]` takes, and their defaults.
const KEYS: [&str; 4] = ["entries", "ways", "latency", "page_sizes"];

/// Replace `pom_tlb` in `tree` by its structures; a problem as `(key.path, message)`.
pub fn expand(tree: &mut toml::Table) -> Result<(), (String, String)> {
    let Some(v) = tree.remove("pom_tlb") else {
        return Ok(());
    };
    let Value::Table(t) = v else {
        return Err(("pom_tlb".into(), "must be a table of POM-TLB keys".into()));
    };
    if let Some(k) = t.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err((
            format!("pom_tlb.{k}"),
            format!(
                "unknown key{}; the keys are {}",
                crate::loader::hint(k, KEYS),
                KEYS.join(", ")
            ),
        ));
    }
    let get = |k: &str, default: Value| t.get(k).cloned().unwrap_or(default);
    let sizes = get("page_sizes", Value::Array(vec!["4K".into(), "2M".into()]));
    let Value::Array(sizes) = sizes else {
        return Err((
            "pom_tlb.page_sizes".into(),
            "must be a list of page sizes".into(),
        ));
    };
    let list = tree
        .entry("tlb")
        .or_insert_with(|| Value::Array(Vec::new()));
    let Value::Array(list) = list else {
        return Ok(()); // decoding reports a `tlb` that is not a list
    };
    if sizes.is_empty() {
        return Err((
            "pom_tlb.page_sizes".into(),
            "lists no page size: the POM-TLB would have no partition".into(),
        ));
    }
    let has_pom = |e: &Value| e.get("organisation").and_then(Value::as_str) == Some("pom");
    if let Some(e) = list.iter().find(|e| has_pom(e)) {
        let name = e.get("name").and_then(Value::as_str).unwrap_or("?");
        return Err((
            "pom_tlb".into(),
            format!("this config has a POM-TLB already (`{name}`): change its structures' keys instead (e.g. tlb.{name}.entries)"),
        ));
    }
    let level = (list.iter())
        .filter_map(|e| e.get("level")?.as_integer())
        .max()
        .unwrap_or(0)
        + 1;
    for size in sizes {
        let name = format!("pom_{}", size.as_str().unwrap_or("x").to_lowercase());
        let mut s = toml::Table::new();
        s.insert("name".into(), name.into());
        s.insert("level".into(), level.into());
        s.insert("kind".into(), "unified".into());
        s.insert("entries".into(), get("entries", 65536.into()));
        s.insert("ways".into(), get("ways", 4.into()));
        s.insert("page_sizes".into(), Value::Array(vec![size]));
        s.insert("latency".into(), get("latency", 0.into()));
        s.insert("organisation".into(), "pom".into());
        list.push(Value::Table(s));
    }
    Ok(())
}
