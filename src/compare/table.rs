//! The figures of a comparison and their renderings: the terminal table (a column per
//! system, ratios to the baseline), compare.csv and the normalised bar charts.
//!
//! Every figure is read from the run's report serialised as `result.json` is (the
//! `stats.total` tree and `stats.page_tables`), so compare shows what `mmusim run`
//! writes, whatever fields other parts of the simulator add. The page-table design's
//! own counters are whatever numbers its stats object holds (nested objects flattened
//! with dots, arrays left out) except those its config holds too (parameters such as
//! radix `levels`); with a table per address space, counts are summed and fractions
//! averaged, and the row says so.

use super::Comparison;
use crate::report::columns::{Layout, StatsView};
use crate::report::RunReport;
use serde_json::Value;

/// One figure of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    /// Column of compare.csv and stem of its SVG.
    pub key: String,
    /// Row label of the table.
    pub label: String,
    /// `None` when the run has no such figure (no walks, another design).
    pub value: Option<f64>,
    /// A count (printed without decimals).
    pub integer: bool,
    /// Shown in the table only when some run's value is not zero.
    pub when_any: bool,
}

type Getter = fn(&Value) -> Option<f64>;

/// The figures every run has, in table order: (key, label, count?, only when any
/// is non-zero?, getter over `stats.total`).
const FIXED: &[(&str, &str, bool, bool, Getter)] = &[
    ("cycles", "cycles", true, false, |t| t["cycles"].as_f64()),
    (
        "translation_share",
        "translation share of cycles",
        false,
        false,
        |t| t["translation_share"].as_f64(),
    ),
    (
        "translation_cycles",
        "translation cycles (incl. faults)",
        true,
        false,
        |t| t["translation_cycles"]["total"].as_f64(),
    ),
    (
        "translation_cycles_excl_faults",
        "translation cycles (excl. faults)",
        true,
        false,
        |t| {
            let c = &t["translation_cycles"];
            Some(c["total"].as_f64()? - c["fault"].as_f64()?)
        },
    ),
    ("walks", "page walks", true, false, |t| {
        t["walks"]["walks"].as_f64()
    }),
    (
        "pte_reads_per_walk",
        "PTE reads per walk",
        false,
        false,
        |t| per_walk(t, t["walks"]["pte_reads"].as_f64()?),
    ),
    (
        "dram_reads_per_walk",
        "PTE reads from DRAM per walk",
        false,
        false,
        |t| per_walk(t, t["walks"]["dram_pte_reads"].as_f64()?),
    ),
    (
        "stlb_mpki",
        "STLB (last-level TLB) MPKI",
        false,
        false,
        |t| t["tlb_levels"].as_array()?.last()?["mpki"].as_f64(),
    ),
    (
        "walk_latency_mean",
        "mean walk latency (cycles)",
        false,
        false,
        |t| {
            per_walk(t, 1.0)?;
            t["walks"]["latency"]["mean"].as_f64()
        },
    ),
    ("minor_faults", "minor faults", true, false, |t| {
        t["minor_faults"].as_f64()
    }),
    ("major_faults", "major faults", true, false, |t| {
        t["paging"]["major_faults"].as_f64()
    }),
    ("shootdowns", "TLB shootdowns", true, true, |t| {
        t["shootdown"]["shootdowns"].as_f64()
    }),
    ("shootdown_ipis", "shootdown IPIs sent", true, true, |t| {
        t["shootdown"]["ipis_sent"].as_f64()
    }),
    (
        "shootdown_share",
        "shootdown share of cycles",
        false,
        true,
        |t| t["shootdown"]["share_of_cycles"].as_f64(),
    ),
];

/// The figures of a virtualized run (`stats.total.virt`), after all others and only
/// for such a run, so a native comparison's table and CSV stay as they were. Same
/// shape as [`FIXED`].
const VIRT: &[(&str, &str, bool, bool, Getter)] = &[
    (
        "virt_refs_per_walk",
        "nested walk: references per walk",
        false,
        false,
        |t| t["virt"]["refs_per_walk"].as_f64(),
    ),
    (
        "virt_host_refs_per_walk",
        "nested walk: host references per walk",
        false,
        false,
        |t| {
            let v = &t["virt"];
            let host =
                v["host_refs_for_guest_entries"].as_f64()? + v["host_refs_for_data"].as_f64()?;
            let w = v["nested_walks"].as_f64()?;
            (w > 0.0).then(|| host / w)
        },
    ),
    (
        "virt_ntlb_hit_rate",
        "nested TLB hit rate",
        false,
        true,
        |t| {
            let v = &t["virt"];
            let n = v["host_lookups"].as_f64()?;
            (n > 0.0).then(|| v["ntlb_hits"].as_f64().unwrap_or(0.0) / n)
        },
    ),
    // Every cause: EPT violations (in translation, at OS events), a guest shootdown's
    // IPI sends and hypercalls, kicks out of the guest, shadow paging's exits, VM
    // switches (several VMs; absent otherwise).
    ("virt_exits", "VM exits", true, false, |t| {
        let v = &t["virt"];
        let others = [
            "event_ept_violations",
            "vipi_send_exits",
            "vipi_hypercall_exits",
            "vipi_kicks",
            "host_kicks",
        ];
        let switches = v.get("vm_switches").into_iter();
        let shadow = v["shadow"]["exits"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.values());
        let causes = (v["exits"].as_object()?.values())
            .chain(others.iter().map(|k| &v[*k]))
            .chain(shadow)
            .chain(switches);
        causes.map(Value::as_f64).sum()
    }),
    (
        "virt_exit_and_host_fault_cycles",
        "VM exit + host fault cycles",
        true,
        false,
        |t| Some(t["virt"]["exit_cycles"].as_f64()? + t["virt"]["host_fault_cycles"].as_f64()?),
    ),
    (
        "virt_splintered_fills",
        "splintered TLB fills (guest page > host page)",
        true,
        true,
        |t| t["virt"]["splintered_fills"].as_f64(),
    ),
];

/// `x / walks`, none without walks.
fn per_walk(t: &Value, x: f64) -> Option<f64> {
    let w = t["walks"]["walks"].as_f64()?;
    (w > 0.0).then(|| x / w)
}

/// The figures of run `r`: the fixed ones, the page-table bytes, the design's, then a
/// virtualized run's.
pub fn metrics(r: &RunReport) -> Vec<Metric> {
    let v = serde_json::to_value(r).unwrap_or(Value::Null);
    let t = &v["stats"]["total"];
    // A figure of a table above, read from `t`.
    let row = |&(key, label, integer, when_any, get): &(&str, &str, bool, bool, Getter)| Metric {
        key: key.into(),
        label: label.into(),
        value: get(t),
        integer,
        when_any,
    };
    let mut out: Vec<Metric> = FIXED.iter().map(row).collect();
    out.push(Metric {
        key: "page_table_bytes".into(),
        label: "page-table bytes".into(),
        value: v["stats"]["page_table_bytes"].as_f64(),
        integer: true,
        when_any: false,
    });
    // (key, sum, tables holding it, all integers)
    let mut design: Vec<(String, f64, usize, bool)> = Vec::new();
    for table in v["stats"]["page_tables"].as_array().into_iter().flatten() {
        flatten(table, "", &mut design);
    }
    let config = &v["config"]["page_table"];
    let kind = config["kind"].as_str().unwrap_or("design");
    // A number its config also holds (radix `levels`, cuckoo `ways`) is a parameter
    // echoed in the stats, not a counter to sum.
    design.retain(|d| config.get(&d.0).is_none());
    // The design's own counters are the table's, kept over the whole run: warm-up
    // included, unlike every figure above (the label says so).
    out.extend(design.into_iter().map(|(k, sum, n, int)| Metric {
        label: match (n, int) {
            (1, _) => format!("{kind} (whole run): {k}"),
            (_, true) => format!("{kind} (whole run): {k} (sum of {n} tables)"),
            (_, false) => format!("{kind} (whole run): {k} (mean of {n} tables)"),
        },
        key: format!("page_table.{k}"),
        value: Some(if int { sum } else { sum / n as f64 }),
        integer: int,
        when_any: false,
    }));
    reach_metrics(t, &mut out);
    if t["virt"].is_object() {
        out.extend(VIRT.iter().map(row));
    }
    out
}

/// The reach-extending designs' figures (issue 19), only in runs that have them: the
/// share of accesses a direct segment served, RMM's range TLB hits and range walks, per
/// coalescing TLB the pages a fill covered on average and the pages its entries cover at
/// the end (its reach), a POM-TLB's cost per lookup and share of reads from DRAM, and
/// Victima's share of STLB misses served by blocks and their reach.
fn reach_metrics(t: &Value, out: &mut Vec<Metric>) {
    let m = |key: String, label: String, value, integer| Metric {
        key,
        label,
        value,
        integer,
        when_any: false,
    };
    if let Some(ds) = t.get("direct_segment").filter(|d| d.is_object()) {
        out.push(m(
            "direct_segment_share".into(),
            "accesses served by the direct segment".into(),
            ds["share_of_accesses"].as_f64(),
            false,
        ));
    }
    if let Some(v) = t.get("victima").filter(|v| v.is_object()) {
        out.push(m(
            "victima.hit_rate".into(),
            "STLB misses served by Victima's TLB blocks".into(),
            v["hit_rate"].as_f64(),
            false,
        ));
        out.push(m(
            "victima.reach_bytes".into(),
            "bytes Victima's blocks in the L2 cover at the end".into(),
            v["reach_bytes"].as_f64(),
            true,
        ));
    }
    // Speculative translation (issue 20): SpecTLB's two figures, the size predictor's
    // accuracy and probes per lookup.
    if let Some(v) = t.get("spectlb").filter(|v| v.is_object()) {
        out.push(m(
            "spectlb.overlapped_walk_share".into(),
            "walks overlapped with correct speculation (SpecTLB)".into(),
            v["overlapped_walk_share"].as_f64(),
            false,
        ));
        out.push(m(
            "spectlb.misprediction_rate".into(),
            "SpecTLB mispredictions per STLB miss".into(),
            v["misprediction_rate"].as_f64(),
            false,
        ));
    }
    if let Some(v) = t.get("size_prediction").filter(|v| v.is_object()) {
        out.push(m(
            "size_prediction.accuracy".into(),
            "L1 page-size predictions right".into(),
            v["accuracy"].as_f64(),
            false,
        ));
        out.push(m(
            "size_prediction.probes_per_lookup".into(),
            "L1 probes per lookup (size prediction)".into(),
            v["probes_per_lookup"].as_f64(),
            false,
        ));
    }
    if let Some(p) = t.get("prefetch").filter(|p| p.is_object()) {
        let rows = [
            (
                "coverage",
                "last-level misses the prefetch buffer served",
                false,
            ),
            ("accuracy", "prefetched translations used", false),
            ("late_share", "buffer hits still in flight (late)", false),
            ("walks", "prefetch walks", true),
            ("walk_reads", "prefetch walks' page-table reads", true),
            (
                "lines_brought_in",
                "lines prefetch walks brought into the caches",
                true,
            ),
        ];
        for (k, label, integer) in rows {
            out.push(m(
                format!("prefetch.{k}"),
                label.into(),
                p[k].as_f64(),
                integer,
            ));
        }
    }
    if let Some(r) = t.get("rmm").filter(|r| r.is_object()) {
        out.push(m(
            "rmm.range_tlb_hits".into(),
            "range TLB hits (RMM)".into(),
            r["range_tlb_hits"].as_f64(),
            true,
        ));
        out.push(m(
            "rmm.range_walks".into(),
            "range walks (RMM, in the background)".into(),
            r["range_walks"].as_f64(),
            true,
        ));
    }
    for tlb in t["tlb"].as_array().into_iter().flatten() {
        let (Some(c), Some(name)) = (tlb.get("coalesced"), tlb["name"].as_str()) else {
            continue;
        };
        out.push(m(
            format!("coalesced.{name}.pages_per_fill"),
            format!("{name} (coalesced): pages per fill"),
            c["mean_pages_per_fill"].as_f64(),
            false,
        ));
        out.push(m(
            format!("coalesced.{name}.pages_held"),
            format!("{name} (coalesced): pages its entries cover at the end"),
            c["pages_held"].as_f64(),
            true,
        ));
    }
    // A POM-TLB (its hits and misses are rows of the TLB table): its reads and what
    // they cost a lookup, and the share of them DRAM served.
    if let Some(tm) = t.get("tlb_memory").filter(|d| d.is_object()) {
        let reads = tm["reads"].as_f64();
        let dram =
            (tm["served_by"].as_array().and_then(|l| l.last())).and_then(|l| l["reads"].as_f64());
        out.push(m(
            "tlb_memory.cycles_per_lookup".into(),
            "POM-TLB: cycles per lookup (its line reads)".into(),
            tm["mean_cycles_per_lookup"].as_f64(),
            false,
        ));
        out.push(m(
            "tlb_memory.dram_share".into(),
            "POM-TLB: share of its reads from DRAM".into(),
            dram.zip(reads)
                .map(|(d, r)| if r > 0.0 { d / r } else { 0.0 }),
            false,
        ));
    }
}

/// Adds the numbers under `v` to `acc` by dotted key; the design's name, its seed
/// and its byte count (a row of its own) are not counters.
fn flatten(v: &Value, prefix: &str, acc: &mut Vec<(String, f64, usize, bool)>) {
    let Some(obj) = v.as_object() else { return };
    for (k, x) in obj {
        let key = format!("{prefix}{k}");
        if prefix.is_empty() && matches!(k.as_str(), "design" | "seed" | "bytes") {
            continue;
        }
        match x {
            Value::Number(n) => {
                let f = n.as_f64().unwrap_or(f64::NAN);
                match acc.iter_mut().find(|a| a.0 == key) {
                    Some(a) => {
                        a.1 += f;
                        a.2 += 1;
                        a.3 &= n.is_u64() || n.is_i64();
                    }
                    None => acc.push((key, f, 1, n.is_u64() || n.is_i64())),
                }
            }
            Value::Object(_) => flatten(x, &format!("{key}."), acc),
            _ => {}
        }
    }
}

/// A figure for the table: counts with digit groups, others to 4 significant digits.
fn show(v: Option<f64>, integer: bool) -> String {
    let Some(v) = v else { return "-".into() };
    if !v.is_finite() {
        return v.to_string();
    }
    if integer && v.fract() == 0.0 && v.abs() < 9.0e15 {
        let digits = (v.abs() as u64).to_string();
        let mut s = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                s.push(',');
            }
            s.push(c);
        }
        return if v < 0.0 { format!("-{s}") } else { s };
    }
    if v == 0.0 {
        return "0".into();
    }
    if v.abs() < 1e-3 {
        return format!("{v:.3e}");
    }
    let mag = v.abs().log10().floor() as i32;
    let decimals = (3 - mag).clamp(0, 6) as usize;
    format!("{v:.decimals$}")
}

/// `value / baseline`, when both exist and the baseline is not zero.
fn ratio(v: Option<f64>, base: Option<f64>) -> Option<f64> {
    match (v, base) {
        (Some(v), Some(b)) if b != 0.0 => Some(v / b),
        _ => None,
    }
}

/// The union of the figures of `runs`, in first-met order (fixed ones first).
fn keys(runs: &[&Vec<Metric>]) -> Vec<(String, String, bool, bool)> {
    let mut out: Vec<(String, String, bool, bool)> = Vec::new();
    for m in runs.iter().flat_map(|r| r.iter()) {
        if !out.iter().any(|k| k.0 == m.key) {
            out.push((m.key.clone(), m.label.clone(), m.integer, m.when_any));
        }
    }
    out
}

fn value(run: &[Metric], key: &str) -> Option<f64> {
    run.iter().find(|m| m.key == key).and_then(|m| m.value)
}

/// `figures[w][s]` of every run.
fn all_metrics(c: &Comparison) -> Vec<Vec<Vec<Metric>>> {
    (c.reports.iter())
        .map(|row| row.iter().map(metrics).collect())
        .collect()
}

pub(super) fn render(c: &Comparison) -> String {
    let figs = all_metrics(c);
    let base = &c.systems[c.baseline];
    let mut o = String::new();
    for (w, wl) in c.workloads.iter().enumerate() {
        let runs: Vec<&Vec<Metric>> = figs[w].iter().collect();
        let name = c.reports[w][0].workload["name"].as_str().unwrap_or("?");
        o.push_str(&format!(
            "workload `{}` ({name}): ratios to `{}`\n",
            wl.text, base.label
        ));
        let mut rows: Vec<Vec<String>> = vec![std::iter::once(String::new())
            .chain(c.systems.iter().map(|s| s.label.clone()))
            .collect()];
        for (key, label, integer, when_any) in keys(&runs) {
            let vals: Vec<Option<f64>> = runs.iter().map(|r| value(r, &key)).collect();
            if when_any && !vals.iter().any(|v| v.is_some_and(|x| x != 0.0)) {
                continue;
            }
            let mut row = vec![label];
            for (s, v) in vals.iter().enumerate() {
                let mut cell = show(*v, integer);
                if s != c.baseline {
                    if let Some(r) = ratio(*v, vals[c.baseline]) {
                        cell.push_str(&format!(" ({r:.3}x)"));
                    }
                }
                row.push(cell);
            }
            rows.push(row);
        }
        let widths: Vec<usize> = (0..rows[0].len())
            .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
            .collect();
        for r in &rows {
            let mut line = format!("{:<w$}", r[0], w = widths[0]);
            for (i, cell) in r.iter().enumerate().skip(1) {
                line.push_str(&format!("  {cell:>w$}", w = widths[i]));
            }
            o.push_str(line.trim_end());
            o.push('\n');
        }
        o.push('\n');
    }
    for s in c.systems.iter().filter(|s| s.label != s.text) {
        o.push_str(&format!("{} = {}\n", s.label, s.text));
    }
    o
}

/// A figure for the CSV: full precision, counts without decimals, absent empty.
fn csv_num(v: Option<f64>, integer: bool) -> String {
    match v {
        None => String::new(),
        Some(v) if integer && v.fract() == 0.0 && v.abs() < 9.0e15 => format!("{}", v as i64),
        Some(v) => format!("{v}"),
    }
}

pub(super) fn csv(c: &Comparison) -> Result<String, String> {
    let figs = all_metrics(c);
    let runs: Vec<&Vec<Metric>> = figs.iter().flatten().collect();
    let keys = keys(&runs);
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = [
        "system",
        "workload",
        "workload_name",
        "config",
        "design",
        "seed",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for k in &keys {
        header.push(k.0.clone());
        header.push(format!("{}_ratio", k.0));
    }
    // Then every statistic result.csv has (every TLB, walk cache, design and shootdown
    // counter; absent structures empty), under result.csv's names; those the compare
    // columns already hold (same figure, same name) are not repeated.
    let totals: Vec<Value> = (c.reports.iter().flatten())
        .map(|r| serde_json::to_value(&r.stats.total).expect("stats serialise"))
        .collect();
    let views: Vec<StatsView> = (c.reports.iter().flatten().zip(&totals))
        .map(|(r, t)| StatsView {
            total: t,
            page_tables: &r.stats.page_tables,
        })
        .collect();
    let layout = Layout::of(&views);
    let run_header = layout.header();
    let extra: Vec<usize> = (0..run_header.len())
        .filter(|&i| !header.contains(&run_header[i]))
        .collect();
    header.extend(extra.iter().map(|&i| run_header[i].clone()));
    w.write_record(&header).map_err(|e| e.to_string())?;
    let mut view = views.iter();
    for (wi, wl) in c.workloads.iter().enumerate() {
        for (si, s) in c.systems.iter().enumerate() {
            let r = &c.reports[wi][si];
            let text = |v: &Value| v.as_str().map_or(v.to_string(), str::to_string);
            let mut rec = vec![
                s.text.clone(),
                wl.text.clone(),
                text(&r.workload["name"]),
                text(&r.config["name"]),
                text(&r.config["page_table"]["kind"]),
                r.seed.to_string(),
            ];
            for (key, _, integer, _) in &keys {
                let v = value(&figs[wi][si], key);
                rec.push(csv_num(v, *integer));
                let b = value(&figs[wi][c.baseline], key);
                rec.push(csv_num(ratio(v, b), false));
            }
            let cells = layout.row(view.next().expect("a view per run"));
            rec.extend(extra.iter().map(|&i| cells[i].to_string()));
            w.write_record(&rec).map_err(|e| e.to_string())?;
        }
    }
    let bytes = w.into_inner().map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|e| e.to_string())
}

pub(super) fn svgs(c: &Comparison) -> Vec<(String, String)> {
    let figs = all_metrics(c);
    let groups: Vec<String> = c.workloads.iter().map(|w| w.label.clone()).collect();
    let series: Vec<String> = c.systems.iter().map(|s| s.label.clone()).collect();
    let base = &c.systems[c.baseline].label;
    let mut out = Vec::new();
    // A virtualized figure gets a chart only where a ratio exists (a virtualized
    // baseline): none for native runs.
    for &(key, label, ..) in FIXED.iter().chain(VIRT) {
        let values: Vec<Vec<f64>> = (0..c.workloads.len())
            .map(|w| {
                let b = value(&figs[w][c.baseline], key);
                (0..c.systems.len())
                    .map(|s| ratio(value(&figs[w][s], key), b).unwrap_or(f64::NAN))
                    .collect()
            })
            .collect();
        if !values.iter().flatten().any(|v| v.is_finite()) {
            continue;
        }
        let svg = crate::svg::grouped_bars(
            &format!("{label}, relative to {base}"),
            &format!("{label} / {base}'s"),
            &groups,
            &series,
            &values,
        );
        out.push((format!("{key}.svg"), svg));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_readably_in_the_table_and_exactly_in_the_csv() {
        assert_eq!(show(Some(1234567.0), true), "1,234,567");
        assert_eq!(show(Some(123.0), true), "123");
        assert_eq!(show(Some(0.99754), false), "0.9975");
        assert_eq!(show(Some(211.8333), false), "211.8");
        assert_eq!(show(Some(3.0), false), "3.000");
        assert_eq!(show(Some(0.0), false), "0");
        assert_eq!(show(Some(5.967e-7), false), "5.967e-7");
        assert_eq!(show(None, false), "-");
        assert_eq!(csv_num(Some(1234567.0), true), "1234567");
        assert_eq!(
            csv_num(Some(211.83333333333334), false),
            "211.83333333333334"
        );
        assert_eq!(csv_num(None, true), "");
        assert_eq!(ratio(Some(3.0), Some(2.0)), Some(1.5));
        assert_eq!(ratio(Some(3.0), Some(0.0)), None);
    }

    #[test]
    fn design_counters_sum_counts_and_average_fractions() {
        let mut acc = Vec::new();
        for t in [
            serde_json::json!({"design": "x", "seed": 9, "bytes": 1, "probes": 3, "load": 0.5, "t": {"n": 1}, "h": [1, 2]}),
            serde_json::json!({"design": "x", "seed": 9, "bytes": 1, "probes": 4, "load": 0.25, "t": {"n": 2}}),
        ] {
            flatten(&t, "", &mut acc);
        }
        assert_eq!(
            acc,
            vec![
                ("load".to_string(), 0.75, 2, false),
                ("probes".to_string(), 7.0, 2, true),
                ("t.n".to_string(), 3.0, 2, true),
            ]
        );
    }
}
