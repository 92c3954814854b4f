//! Bounding a list of validation problems: a config with a thousand bad structures has
//! a thousand problems of one kind, and printing them all buries the others. Problems
//! of one kind (the same key path, array indices aside: `tlb[*].ways`) are shown up to
//! [`PER_KIND`], then one line says how many more there are.

use std::collections::HashMap;

/// Problems of one kind shown before the rest are counted.
pub const PER_KIND: usize = 10;

/// The kind of a problem at `path`: the path with every array index written `*`.
fn kind(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_index = false;
    for c in path.chars() {
        match c {
            '[' => {
                in_index = true;
                out.push_str("[*");
            }
            ']' => {
                in_index = false;
                out.push(']');
            }
            _ if in_index => {}
            _ => out.push(c),
        }
    }
    out
}

/// `problems` (key path, message) with at most [`PER_KIND`] of each kind, in order;
/// after the last one shown of a kind with more, a problem at the root path (`""`):
/// `... and N more problems at tlb[*].ways`.
pub fn cap_problems(problems: Vec<(String, String)>) -> Vec<(String, String)> {
    // Per kind: problems met, and the position after its last one kept.
    let mut kinds: HashMap<String, (usize, usize)> = HashMap::new();
    let mut out = Vec::new();
    for (path, msg) in problems {
        let k = kinds.entry(kind(&path)).or_default();
        k.0 += 1;
        if k.0 <= PER_KIND {
            out.push((path, msg));
            k.1 = out.len();
        }
    }
    // Sorted by position (each kind's is distinct), inserted from the back so the
    // positions of the others hold.
    let mut more: Vec<(usize, String, usize)> = (kinds.into_iter())
        .filter(|(_, (n, _))| *n > PER_KIND)
        .map(|(k, (n, at))| (at, k, n - PER_KIND))
        .collect();
    more.sort();
    for (at, k, n) in more.into_iter().rev() {
        out.insert(
            at,
            (String::new(), format!("... and {n} more problems at {k}")),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_ignore_indices() {
        assert_eq!(kind("tlb[12].ways"), "tlb[*].ways");
        assert_eq!(kind("a[1][2].b"), "a[*][*].b");
        assert_eq!(kind("sim.cores"), "sim.cores");
    }

    #[test]
    fn at_most_per_kind_then_a_count_after_the_last_shown() {
        let p = |s: &str| (s.to_string(), "x".to_string());
        let mut list = vec![p("sim.cores")];
        list.extend((0..25).map(|i| p(&format!("tlb[{i}].ways"))));
        list.push(p("os.page_size"));
        list.extend((0..12).map(|i| p(&format!("walker.psc[{i}].level"))));
        let out = cap_problems(list);
        // 1 + 10 + 1 (count) + 1 + 10 + 1 (count)
        assert_eq!(out.len(), 24);
        assert_eq!(out[10].0, "tlb[9].ways");
        assert_eq!(
            out[11],
            (
                String::new(),
                "... and 15 more problems at tlb[*].ways".into()
            )
        );
        assert_eq!(out[12].0, "os.page_size");
        assert_eq!(out[23].1, "... and 2 more problems at walker.psc[*].level");
        // Short lists are left alone.
        let few = vec![p("a"), p("a"), p("b")];
        assert_eq!(cap_problems(few.clone()), few);
    }
}
