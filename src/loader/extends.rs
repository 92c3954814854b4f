//! Where a config's text comes from: a file or a built-in preset ([`read_source`]), and
//! `extends` chains ([`resolve_extends`]): a file may start from a preset or another
//! file and give only the keys it changes. Each file of a chain is read as any input
//! is (a regular file of at most [`super::MAX_INPUT_BYTES`]), a path is relative to the
//! file that names it, a cycle or a chain of more than [`MAX_EXTENDS`] files is
//! refused, and every error names the file and line of the `extends` at fault.

use super::read::read_input;
use super::{did_you_mean, hint, ConfigError, ConfigSource};
use std::path::{Path, PathBuf};

/// The longest `extends` chain followed (the shipped presets use one step).
pub const MAX_EXTENDS: usize = 16;

/// Read a file, or a preset when `arg` names one and no such file exists.
pub fn read_source(arg: &str, presets: &[(&str, &str)]) -> Result<(String, String), ConfigError> {
    let path = Path::new(arg);
    // A folder of the same name (say, a run's output called `skylake`) is not a config.
    if !path.is_file() {
        if let Some((name, text)) = presets.iter().find(|(n, _)| *n == arg) {
            return Ok((format!("<preset {name}>"), text.to_string()));
        }
    }
    read_input(path)
        .map(|t| (arg.to_string(), t))
        .map_err(|mut e| {
            // A missing file whose name is close to a preset's was likely meant as one.
            if std::fs::symlink_metadata(path).is_err() {
                let name = path
                    .file_name()
                    .map_or(String::new(), |n| n.to_string_lossy().into_owned());
                if let Some(p) = did_you_mean(&name, presets.iter().map(|p| p.0)) {
                    e.msg += &format!("; not a preset either: did you mean preset `{p}`?");
                }
            }
            e
        })
}

/// Deep-merge `top` over `base`: tables merge key by key, anything else replaces. A
/// table that names a different `kind` (another design) replaces the base's whole.
fn merge(base: &mut toml::Table, top: toml::Table) {
    for (k, v) in top {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(t))
                if t.get("kind").is_none() || t.get("kind") == b.get("kind") =>
            {
                merge(b, t)
            }
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// What tells two files of a chain apart: the canonical path of a file (so `a.toml`
/// and `./a.toml` are one), the shown name of a preset.
fn identity(shown: &str, path: Option<&Path>) -> PathBuf {
    path.and_then(|p| std::fs::canonicalize(p).ok())
        .unwrap_or_else(|| PathBuf::from(shown))
}

/// Follow the `extends` chain of `src` (whose `value` loses its `extends` key): each
/// file names a preset (by name) or a file (by a path relative to itself); the keys a
/// file sets are merged over those of the file it extends (tables key by key).
pub fn resolve_extends(
    src: &mut ConfigSource,
    presets: &[(&str, &str)],
) -> Result<(), ConfigError> {
    // The file whose `extends` is followed, and the line of that `extends`.
    let mut at = (src.file.clone(), src.line_of("extends"));
    // (shown name, identity) of every file of the chain so far.
    let top = Path::new(&src.file);
    let mut chain = vec![(src.file.clone(), identity(&src.file, Some(top)))];
    let mut next = src.value.remove("extends");
    while let Some(ext) = next {
        let err = |msg: String| ConfigError::new(&at.0, at.1, "extends", msg);
        let Some(name) = ext.as_str() else {
            return Err(err("must be a preset name or a file path".into()));
        };
        let (shown, text, id) = match presets.iter().find(|(n, _)| *n == name) {
            Some((n, text)) => {
                let shown = format!("<preset {n}>");
                let id = identity(&shown, None);
                (shown, text.to_string(), id)
            }
            None => {
                let dir = Path::new(&at.0).parent().unwrap_or(Path::new(""));
                let path = dir.join(name);
                let shown = path.display().to_string();
                if std::fs::symlink_metadata(&path).is_err() {
                    let names: Vec<&str> = presets.iter().map(|p| p.0).collect();
                    return Err(err(format!(
                        "`{name}` is neither a preset nor a file ({shown}: not found); the presets are {}{}",
                        names.join(", "),
                        hint(name, names.iter().copied())
                    )));
                }
                let text = read_input(&path).map_err(|mut e| {
                    let line = at.1.map_or(String::new(), |l| format!(":{l}"));
                    e.msg += &format!(" (extended at {}{line})", at.0);
                    e
                })?;
                let id = identity(&shown, Some(&path));
                (shown, text, id)
            }
        };
        if let Some(i) = chain.iter().position(|c| c.1 == id) {
            // The files from the one met again, and it once more at the end.
            let names: Vec<&str> = (chain[i..].iter().map(|c| c.0.as_str()))
                .chain([shown.as_str()])
                .collect();
            if names.len() == 2 {
                return Err(err(format!("`{name}` extends itself")));
            }
            let mut cycle = format!("{} extends {}", names[0], names[1]);
            for n in &names[2..] {
                cycle += &format!(", which extends {n}");
            }
            return Err(err(format!("`{name}` closes a cycle: {cycle}")));
        }
        if chain.len() > MAX_EXTENDS {
            return Err(err(format!(
                "the chain of `extends` is longer than {MAX_EXTENDS} files"
            )));
        }
        let mut base = ConfigSource::parse(&shown, &text)?;
        next = base.value.remove("extends");
        at = (shown.clone(), base.line_of("extends"));
        merge(&mut base.value, std::mem::take(&mut src.value));
        src.value = std::mem::take(&mut base.value);
        src.bases.push(base);
        chain.push((shown, id));
    }
    Ok(())
}
