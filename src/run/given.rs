//! Inputs given as text rather than as files: the entry points of callers that hold a
//! config or workload in memory (the Python package's `run(config=dict or TOML)`, an
//! address stream from an array), beside the command line's paths.
//!
//! In: a [`Given`] per input (a path or preset name, as the command line takes them, or
//! TOML text with a name for its errors and a folder for its relative paths), JSON
//! objects to turn into TOML ([`json_to_toml`]), addresses to run ([`AddressTrace`]).
//! Out: the same [`Inputs`](super::Inputs) and errors as [`super::load_inputs_for_run`]:
//! a given text is loaded by the very code that loads a file's text, so a run of the
//! text and a run of a file holding it give the same `result.json`.

use crate::loader::ConfigError;
use std::path::{Path, PathBuf};

/// Where a config or a workload comes from.
#[derive(Clone, Copy, Debug)]
pub enum Given<'a> {
    /// A file, or for a config a preset's name: what the command line's flags take.
    Path(&'a str),
    /// TOML text: `name` stands for a file in errors (`<config>:3: tlb[0].ways: ...`),
    /// and relative paths in it (`extends`, a trace's `path`) start at `dir`.
    Text {
        name: &'a str,
        text: &'a str,
        dir: &'a Path,
    },
}

impl<'a> Given<'a> {
    /// The input's name (for errors and reports), its text and the folder its relative
    /// paths start at; `presets` are looked up for a name that is not a file.
    pub(super) fn read(
        &self,
        presets: &[(&str, &str)],
    ) -> Result<(String, String, PathBuf), ConfigError> {
        match *self {
            Given::Path(p) => {
                let (file, text) = crate::loader::read_source(p, presets)?;
                let dir = Path::new(p).parent().map(Path::to_path_buf);
                Ok((file, text, dir.unwrap_or_default()))
            }
            Given::Text { name, text, dir } => {
                Ok((name.to_string(), text.to_string(), dir.to_path_buf()))
            }
        }
    }

    /// The name a report gives the input: the path or preset as given, or the text's
    /// name.
    pub(super) fn name(&self) -> &'a str {
        match *self {
            Given::Path(p) => p,
            Given::Text { name, .. } => name,
        }
    }
}

/// [`super::load_inputs_for_run`] with inputs given as paths or text; `trace` is a trace
/// file run in place of a workload (`--trace`). The defaults (Skylake-like preset,
/// `workloads/default.toml`) stand in for an input not given.
pub fn load_given(
    config: Option<Given>,
    workload: Option<Given>,
    trace: Option<&str>,
    sets: &[String],
) -> Result<super::Inputs, Vec<ConfigError>> {
    super::load(config, workload, trace, sets, true)
}

/// [`load_given`] for inputs loaded ahead of their runs (as `compare` loads every pair
/// first): the same as [`super::load_inputs_with`] with paths.
pub fn load_given_ahead(
    config: Option<Given>,
    workload: Option<Given>,
    trace: Option<&str>,
    sets: &[String],
) -> Result<super::Inputs, Vec<ConfigError>> {
    super::load(config, workload, trace, sets, false)
}

/// TOML text holding the JSON object `json` (a config or workload handed over as a
/// dictionary): tables become tables, arrays of tables `[[...]]`. JSON's `null` has no
/// TOML form and is refused with the key that holds it; so is anything but an object
/// at the top.
pub fn json_to_toml(name: &str, json: &str) -> Result<String, ConfigError> {
    let err = |path: String, msg: String| ConfigError {
        file: name.to_string(),
        line: None,
        path,
        msg,
    };
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| err(String::new(), format!("not JSON: {e}")))?;
    if let Some(path) = find_null(&value, String::new()) {
        return Err(err(
            path,
            "None (null) has no TOML form: leave the key out".into(),
        ));
    }
    let serde_json::Value::Object(_) = value else {
        return Err(err(
            String::new(),
            "a config or workload is a dict of keys".into(),
        ));
    };
    let table: toml::Table =
        serde_json::from_value(value).map_err(|e| err(String::new(), e.to_string()))?;
    toml::to_string(&table).map_err(|e| err(String::new(), e.to_string()))
}

/// The key path (`tlb[1].ways`) of the first `null` in `v`, if any.
fn find_null(v: &serde_json::Value, at: String) -> Option<String> {
    let join = |k: &str| {
        if at.is_empty() {
            k.to_string()
        } else {
            format!("{at}.{k}")
        }
    };
    match v {
        serde_json::Value::Null => Some(at),
        serde_json::Value::Array(a) => {
            (a.iter().enumerate()).find_map(|(i, x)| find_null(x, format!("{at}[{i}]")))
        }
        serde_json::Value::Object(o) => o.iter().find_map(|(k, x)| find_null(x, join(k))),
        _ => None,
    }
}

/// Accesses to run as a trace (addresses as loads of one instruction each, or accesses
/// of any kind), held in a raw `.mmt` file of a folder of its own that is removed when
/// this is dropped. The run
/// reads it as it reads any `--trace` file (the same reader, warm-up count and report),
/// so an array of addresses and a trace file of the same loads give the same
/// statistics.
pub struct AddressTrace {
    dir: PathBuf,
}

/// The `.mmt` file's name in its folder: what the workload's `path` says.
pub const ADDRESS_FILE: &str = "addresses.mmt";

impl AddressTrace {
    /// Write `addresses` to a new folder under the system's temporary folder, as
    /// loads of one instruction each.
    pub fn write(addresses: &[u64]) -> Result<AddressTrace, String> {
        let load = |vaddr| crate::workload::Access {
            vaddr,
            kind: crate::addr::AccessKind::Load,
            instrs: 1,
        };
        Self::write_accesses(addresses.iter().map(|&a| load(a)))
    }

    /// Write `accesses` (each with its kind and instruction count, as a trace file
    /// holds them) to a new folder under the system's temporary folder.
    pub fn write_accesses(
        accesses: impl IntoIterator<Item = crate::workload::Access>,
    ) -> Result<AddressTrace, String> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nanos = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH))
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "mmusim-addresses-{}-{n}-{nanos}",
            std::process::id()
        ));
        let fail = |e: std::io::Error| format!("{}: {e}", dir.display());
        std::fs::create_dir(&dir).map_err(fail)?;
        let trace = AddressTrace { dir };
        let path = trace.dir.join(ADDRESS_FILE);
        let fail = |e: std::io::Error| format!("{}: {e}", path.display());
        let mut w = crate::trace::binary::BinaryFileWriter::create(&path, 4096).map_err(fail)?;
        for a in accesses {
            w.write(&a).map_err(fail)?;
        }
        w.finish().map_err(fail)?;
        Ok(trace)
    }

    /// The folder holding [`ADDRESS_FILE`]: the workload's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The workload that runs the addresses, named `name`, from [`Self::dir`].
    pub fn workload_text(&self, name: &str) -> String {
        let q = |s: &str| toml::Value::String(s.to_string()).to_string();
        format!(
            "name = {}\n[generator]\nkind = \"trace\"\npath = {}\nformat = \"binary\"\n",
            q(name),
            q(ADDRESS_FILE)
        )
    }
}

impl Drop for AddressTrace {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The override that a trace's `--format` (or `format=` from Python) stands for, put
/// first so that a `--set` may still change it.
pub fn with_trace_format(sets: &mut Vec<String>, format: impl std::fmt::Display) {
    sets.insert(0, format!("workload.generator.format={format}"));
}

/// The built-in presets' names, each with the first line of its file (what it models).
pub fn preset_titles() -> Vec<(&'static str, &'static str)> {
    (super::PRESETS.iter())
        .map(|(name, text)| {
            let first = text.lines().next().unwrap_or("");
            (*name, first.trim_start_matches("# "))
        })
        .collect()
}
