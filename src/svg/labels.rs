//! Words for plots: what a report column or study metric is called on a chart (a human
//! title and its unit), and config keys and values as a reader says them
//! (`os.huge_pages.policy="always"` reads `huge pages: always`).
//!
//! In: the machine names the reports use (`walk_latency_mean`, `dtlb_miss_rate`,
//! `tlb[5].entries`). Out: text for titles, axis labels and legends. Unknown names still
//! read well: underscores become spaces and the known suffixes (`_misses`, `_miss_rate`,
//! `_hit_rate`, `_mpki`) are spelled out, so a column another part of the program adds
//! gets a sensible label before it gets a row in [`METRICS`].

/// A metric as a chart names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metric {
    /// Sentence-case name: "mean walk latency".
    pub title: String,
    /// Unit, empty for counts whose name says what is counted and for plain ratios.
    pub unit: String,
}

impl Metric {
    /// "mean walk latency (cycles)".
    pub fn axis_label(&self) -> String {
        if self.unit.is_empty() {
            self.title.clone()
        } else {
            format!("{} ({})", self.title, self.unit)
        }
    }
}

/// Known columns and metrics: (name, title, unit).
pub const METRICS: &[(&str, &str, &str)] = &[
    ("cycles", "cycles", ""),
    (
        "cycles_vs_baseline",
        "cycles relative to the baseline",
        "x baseline",
    ),
    (
        "misses_vs_baseline",
        "TLB misses relative to the baseline",
        "x baseline",
    ),
    (
        "translation_cycles_per_access",
        "translation cycles per access",
        "cycles",
    ),
    (
        "translation_share",
        "share of cycles stalled on translation",
        "fraction",
    ),
    ("walks", "page walks", ""),
    ("minor_faults", "page faults", ""),
    ("walk_latency_mean", "mean walk latency", "cycles"),
    ("walk_latency_p99", "99th-percentile walk latency", "cycles"),
    ("shootdowns", "TLB shootdowns", ""),
    ("reads_per_walk", "page-table reads per walk", "cache lines"),
    (
        "dram_reads_per_walk",
        "page-table reads served by DRAM per walk",
        "",
    ),
    ("page_table_bytes", "page-table memory", "bytes"),
    ("stlb_mpki", "STLB misses per 1000 instructions", "MPKI"),
];

/// The chart name of a metric or report column.
pub fn metric(name: &str) -> Metric {
    if let Some((_, t, u)) = METRICS.iter().find(|m| m.0 == name) {
        return Metric {
            title: t.to_string(),
            unit: u.to_string(),
        };
    }
    let words = |s: &str| s.replace('_', " ");
    let upper = |s: &str| {
        // TLB and cache names are acronyms (dtlb, stlb, itlb, l1d): say them so.
        if s.len() <= 5 && s.chars().all(|c| c.is_ascii_alphanumeric()) {
            s.to_ascii_uppercase()
        } else {
            words(s)
        }
    };
    for (suffix, what, unit) in [
        ("_miss_rate", "miss rate", "misses per access"),
        ("_hit_rate", "hit rate", "hits per access"),
        ("_mpki", "misses per 1000 instructions", "MPKI"),
        ("_misses", "misses", ""),
        ("_hits", "hits", ""),
    ] {
        if let Some(who) = name.strip_suffix(suffix) {
            return Metric {
                title: format!("{} {what}", upper(who)),
                unit: unit.to_string(),
            };
        }
    }
    Metric {
        title: words(name),
        unit: String::new(),
    }
}

/// Config keys that read better under another name.
const KEYS: &[(&str, &str)] = &[
    ("os.huge_pages.policy", "huge pages"),
    ("page_table.kind", "page-table design"),
    ("system", "system"),
    ("sim.cores", "cores"),
    ("walker.max_concurrent_walks", "concurrent walks"),
];

/// A config key as a reader says it: `tlb[5].entries` reads `tlb[5] entries`,
/// `walker.psc.pd.entries` reads `psc pd entries` (the section named first is dropped:
/// the rest says what it is).
pub fn key(k: &str) -> String {
    if let Some((_, n)) = KEYS.iter().find(|x| x.0 == k) {
        return n.to_string();
    }
    let mut parts: Vec<&str> = k.split('.').collect();
    // A TLB by name reads as its acronym: `tlb.stlb.entries` is "STLB entries".
    if let ["tlb", name, rest @ ..] = parts.as_slice() {
        return format!(
            "{} {}",
            name.to_ascii_uppercase(),
            rest.join(" ").replace('_', " ")
        );
    }
    if parts.len() > 1
        && ["os", "sim", "machine", "walker", "memory", "workload"].contains(&parts[0])
    {
        parts.remove(0);
    }
    parts.join(" ").replace('_', " ")
}

/// A config value without TOML's quotes: `"always"` reads `always`.
pub fn value(v: &str) -> String {
    let t = v.trim();
    t.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(t)
        .to_string()
}

/// `key=value` as a reader says it: `huge pages: always`.
pub fn setting(k: &str, v: &str) -> String {
    format!("{}: {}", key(k), value(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_lose_their_toml_spelling() {
        assert_eq!(
            setting("os.huge_pages.policy", "\"always\""),
            "huge pages: always"
        );
        assert_eq!(key("tlb[5].entries"), "tlb[5] entries");
        assert_eq!(key("walker.psc.pd.entries"), "psc pd entries");
        assert_eq!(key("tlb.stlb.entries"), "STLB entries");
        assert_eq!(value(" 512 "), "512");
    }

    #[test]
    fn metrics_have_titles_and_units() {
        assert_eq!(
            metric("walk_latency_mean").axis_label(),
            "mean walk latency (cycles)"
        );
        assert_eq!(
            metric("dtlb_miss_rate").axis_label(),
            "DTLB miss rate (misses per access)"
        );
        assert_eq!(metric("stlb_misses").axis_label(), "STLB misses");
        assert_eq!(metric("psc_pde_hit_rate").title, "psc pde hit rate");
        assert_eq!(metric("some_new_column").axis_label(), "some new column");
    }
}
