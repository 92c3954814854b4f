//! Components by name in key paths, and "did you mean" suggestions.
//!
//! Owns two things the loader's errors and overrides share:
//!
//! * **name segments**: in a key path, a bare key that meets an array of tables
//!   (`tlb`, `walker.psc`, `memory.cache`) names the element whose `name` equals it,
//!   so `tlb.stlb.entries` is `tlb[5].entries` on a config whose sixth `[[tlb]]` is
//!   named `stlb`. An exact name wins; otherwise the [`Roles`] the caller gave (the
//!   system config's TLB roles, see [`crate::config::tlb::TLB_ROLES`]) may resolve
//!   it; no match or several is an error listing the names that exist.
//!   [`resolve`] rewrites a path's name segments into indices against the tree.
//! * **suggestions**: [`did_you_mean`] picks the candidate closest to a misspelt
//!   word (Damerau-Levenshtein distance, at most a third of the word's length), for
//!   unknown keys, variants, presets, components and metrics.

use super::{format_path, Seg};

/// Names an array's elements answer to besides their own `name` (roles a name plays
/// in whatever config is loaded, e.g. `stlb` for the last-level data TLB).
#[derive(Clone, Copy, Debug)]
pub struct Roles {
    /// (array path, role) pairs, listed in errors.
    pub names: &'static [(&'static str, &'static str)],
    /// The elements of `elements` (the array at path `array`) that role `name` means.
    pub resolve: fn(array: &str, elements: &[toml::Value], name: &str) -> Vec<usize>,
}

/// The closest of `candidates` to `word`, when it is close enough to be what was
/// meant: a Damerau-Levenshtein distance (case ignored) of at most a third of the
/// longer word, at least 1. Ties go to the earlier candidate.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let w = word.to_lowercase();
    let mut best: Option<(usize, &str)> = None;
    let wn = w.chars().count();
    for c in candidates {
        let cn = c.chars().count();
        let limit = (wn.max(cn) / 3).max(1);
        // Each edit changes the length by one at most: a word whose length differs by
        // more than the limit cannot be close, and its quadratic distance is skipped
        // (a 30,000-character misspelt name took 0.25 s against the presets).
        if wn.abs_diff(cn) > limit {
            continue;
        }
        let d = strsim::damerau_levenshtein(&w, &c.to_lowercase());
        if c != word && d <= limit && best.is_none_or(|(b, _)| d < b) {
            best = Some((d, c));
        }
    }
    best.map(|b| b.1)
}

/// `"; did you mean `x`?"` when [`did_you_mean`] finds one, else nothing.
pub fn hint<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    did_you_mean(word, candidates).map_or(String::new(), |c| format!("; did you mean `{c}`?"))
}

/// The name list of a serde "unknown field/variant" message: after `expected one
/// of`, the backticked words; after `expected`, the one word.
pub(super) fn expected_names(msg: &str) -> Vec<&str> {
    let Some(at) = msg.find("expected") else {
        return Vec::new();
    };
    msg[at..].split('`').skip(1).step_by(2).collect()
}

/// Appends a suggestion to serde's "unknown field `x`, expected one of …" and
/// "unknown variant `x`, expected …" messages.
pub(super) fn suggest_in_message(msg: &str) -> String {
    for prefix in ["unknown field `", "unknown variant `"] {
        if let Some(word) = super::backticked_after(msg, prefix) {
            return format!("{msg}{}", hint(word, expected_names(msg)));
        }
    }
    msg.to_owned()
}

/// `segs` with every key that meets an array of `root` replaced by the index of the
/// element it names. Past the part of the path that exists, segments are kept as
/// they are (an override may create tables there). On error: how many segments name
/// the offending one, and what is wrong.
pub(super) fn resolve(
    root: &toml::Table,
    segs: &[Seg],
    roles: Option<Roles>,
) -> Result<Vec<Seg>, (usize, String)> {
    let mut out: Vec<Seg> = Vec::with_capacity(segs.len());
    let Some((Seg::Key(first), rest)) = segs.split_first() else {
        return Ok(segs.to_vec());
    };
    out.push(Seg::Key(first.clone()));
    let mut cur = root.get(first);
    for (d, seg) in rest.iter().enumerate() {
        let Some(node) = cur else {
            out.extend(rest[d..].iter().cloned());
            return Ok(out);
        };
        cur = match (node, seg) {
            (toml::Value::Array(a), Seg::Key(name)) => {
                let i = find(a, name, &format_path(&out), roles).map_err(|m| (d + 2, m))?;
                out.push(Seg::Index(i));
                a.get(i)
            }
            (_, Seg::Key(k)) => {
                out.push(seg.clone());
                node.as_table().and_then(|t| t.get(k))
            }
            (_, Seg::Index(i)) => {
                out.push(seg.clone());
                node.as_array().and_then(|a| a.get(*i))
            }
        };
    }
    Ok(out)
}

/// The index of the element of `a` (the array at path `array`) named `name`.
fn find(a: &[toml::Value], name: &str, array: &str, roles: Option<Roles>) -> Result<usize, String> {
    let names: Vec<&str> = a
        .iter()
        .filter_map(|e| e.as_table()?.get("name")?.as_str())
        .collect();
    if names.is_empty() {
        return Err(format!(
            "`{array}` is an array without named elements: address them by position, `{array}[0]`"
        ));
    }
    let named: Vec<usize> = (0..a.len())
        .filter(|&i| a[i].get("name").and_then(toml::Value::as_str) == Some(name))
        .collect();
    let found = match named[..] {
        [] => roles.map_or(Vec::new(), |r| (r.resolve)(array, a, name)),
        _ => named,
    };
    let role_names: Vec<&str> = roles
        .map(|r| r.names)
        .unwrap_or_default()
        .iter()
        .filter(|(arr, _)| *arr == array)
        .map(|(_, role)| *role)
        .collect();
    let roles_text = if role_names.is_empty() {
        String::new()
    } else {
        format!("; roles: {}", role_names.join(", "))
    };
    match found[..] {
        [i] => Ok(i),
        [] => Err(format!(
            "no element of `{array}` is named `{name}` (names: {}{roles_text}){}",
            names.join(", "),
            hint(name, names.iter().chain(&role_names).copied())
        )),
        _ => Err(format!(
            "`{name}` is ambiguous in `{array}`: it could be {}; give the name itself",
            found
                .iter()
                .map(|&i| {
                    let n = a[i]
                        .get("name")
                        .and_then(toml::Value::as_str)
                        .unwrap_or("?");
                    format!("`{n}` ({array}[{i}])")
                })
                .collect::<Vec<_>>()
                .join(" or ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> toml::Table {
        toml::from_str(text).unwrap()
    }

    fn paths(root: &toml::Table, p: &str, roles: Option<Roles>) -> Result<String, String> {
        let segs = super::super::parse_path(p).unwrap();
        resolve(root, &segs, roles)
            .map(|s| format_path(&s))
            .map_err(|(d, m)| format!("{}: {m}", format_path(&segs[..d])))
    }

    const T: &str = "[[tlb]]\nname = \"a\"\n[[tlb]]\nname = \"stlb\"\n[[tlb]]\nname = \"b\"\nx = [{name = \"q\"}, {name = \"r\", y = 1}]\n[sim]\ncores = [1, 2]\n";

    /// Resolves any element called "role" to the last element, and "both" to two.
    const ROLES: Roles = Roles {
        names: &[("tlb", "role"), ("tlb", "both")],
        resolve: |array, elements, name| match (array, name) {
            ("tlb", "role") => vec![elements.len() - 1],
            ("tlb", "both") => vec![0, 1],
            _ => Vec::new(),
        },
    };

    #[test]
    fn names_become_indices_and_the_rest_stays() {
        let t = tree(T);
        assert_eq!(
            paths(&t, "tlb.stlb.entries", None).unwrap(),
            "tlb[1].entries"
        );
        assert_eq!(paths(&t, "tlb[1].entries", None).unwrap(), "tlb[1].entries");
        assert_eq!(paths(&t, "tlb.b.x.r.y", None).unwrap(), "tlb[2].x[1].y");
        assert_eq!(paths(&t, "tlb.a", None).unwrap(), "tlb[0]");
        assert_eq!(paths(&t, "new.deep.key", None).unwrap(), "new.deep.key");
        assert_eq!(paths(&t, "sim.cores[1]", None).unwrap(), "sim.cores[1]");
        // An exact name wins over a role; a role resolves when no name matches.
        assert_eq!(paths(&t, "tlb.a.k", Some(ROLES)).unwrap(), "tlb[0].k");
        assert_eq!(paths(&t, "tlb.role.k", Some(ROLES)).unwrap(), "tlb[2].k");
    }

    #[test]
    fn unknown_and_ambiguous_names_list_what_exists() {
        let t = tree(T);
        assert_eq!(
            paths(&t, "tlb.stbl.entries", None).unwrap_err(),
            "tlb.stbl: no element of `tlb` is named `stbl` (names: a, stlb, b); did you mean `stlb`?"
        );
        assert_eq!(
            paths(&t, "tlb.zzzz.entries", Some(ROLES)).unwrap_err(),
            "tlb.zzzz: no element of `tlb` is named `zzzz` (names: a, stlb, b; roles: role, both)"
        );
        assert_eq!(
            paths(&t, "tlb.both.k", Some(ROLES)).unwrap_err(),
            "tlb.both: `both` is ambiguous in `tlb`: it could be `a` (tlb[0]) or `stlb` (tlb[1]); give the name itself"
        );
        assert_eq!(
            paths(&t, "sim.cores.one", None).unwrap_err(),
            "sim.cores.one: `sim.cores` is an array without named elements: address them by position, `sim.cores[0]`"
        );
    }

    #[test]
    fn suggestions_are_close_words_only() {
        let c = ["ways", "entries", "latency", "replacement"];
        assert_eq!(did_you_mean("wayz", c), Some("ways"));
        assert_eq!(did_you_mean("entires", c), Some("entries"));
        assert_eq!(did_you_mean("Latency", c), Some("latency"));
        assert_eq!(did_you_mean("colour", c), None);
        assert_eq!(
            did_you_mean("skylak", ["skylake", "icelake", "zen4"]),
            Some("skylake")
        );
        assert_eq!(
            did_you_mean("zen5", ["skylake", "icelake", "zen4"]),
            Some("zen4")
        );
        assert_eq!(hint("x", c), "");
        // At the length limit (a third of the longer word) a suggestion still comes:
        // "replacemen" drops 1 of 11; a word far longer than any candidate gets none.
        assert_eq!(did_you_mean("replacemen", c), Some("replacement"));
        assert_eq!(
            did_you_mean("skylake-vm-shadoww", ["skylake-vm-shadow"]),
            Some("skylake-vm-shadow")
        );
        let long = format!("skyla{}", "a".repeat(30_000));
        assert_eq!(did_you_mean(&long, ["skylake", "skylake-vm"]), None);
        assert_eq!(
            suggest_in_message("unknown field `wayz`, expected one of `ways`, `entries`"),
            "unknown field `wayz`, expected one of `ways`, `entries`; did you mean `ways`?"
        );
        assert_eq!(
            suggest_in_message("unknown variant `radx`, expected `radix`"),
            "unknown variant `radx`, expected `radix`; did you mean `radix`?"
        );
        assert_eq!(suggest_in_message("missing field `x`"), "missing field `x`");
    }
}
