//! Key paths, one syntax everywhere (overrides, lines, errors, sweep axes): dotted keys
//! with bracketed array indices (`tlb[2].entries`), a key that is not bare written
//! quoted (`labels."l1.d"`). Parsing, printing, and the canonical form two spellings
//! of one path share ([`canonical_path`]).

use super::Seg;

pub(super) fn is_bare_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Longest key path accepted. Overrides build and decode nested values
/// recursively, so an unbounded path could exhaust the stack; the TOML parser
/// bounds nesting in the file the same way (at 80 levels).
pub(super) const MAX_PATH_SEGMENTS: usize = 100;

/// Parse `a.b[2]."c.d"` into segments. The empty string is the root.
pub(super) fn parse_path(s: &str) -> Result<Vec<Seg>, String> {
    let s = s.trim();
    let mut segs = Vec::new();
    if s.is_empty() {
        return Ok(segs);
    }
    let mut chars = s.chars().peekable();
    loop {
        let key = match chars.peek() {
            Some(&q @ ('"' | '\'')) => {
                chars.next();
                let mut k = String::new();
                loop {
                    match chars.next() {
                        None => return Err(format!("unterminated quoted key in `{s}`")),
                        Some(c) if c == q => break,
                        // Basic strings may escape the quote; keep it simple and
                        // take the escaped character literally.
                        Some('\\') if q == '"' => match chars.next() {
                            Some(c) => k.push(c),
                            None => return Err(format!("unterminated quoted key in `{s}`")),
                        },
                        Some(c) => k.push(c),
                    }
                }
                k
            }
            _ => {
                let mut k = String::new();
                while let Some(&c) = chars.peek() {
                    if !is_bare_key_char(c) {
                        break;
                    }
                    k.push(c);
                    chars.next();
                }
                if k.is_empty() {
                    return Err(format!("expected a key in `{s}`"));
                }
                k
            }
        };
        segs.push(Seg::Key(key));
        while chars.peek() == Some(&'[') {
            chars.next();
            let mut digits = String::new();
            while let Some(&c) = chars.peek() {
                if !c.is_ascii_digit() {
                    break;
                }
                digits.push(c);
                chars.next();
            }
            if chars.next() != Some(']') || digits.is_empty() {
                return Err(format!("expected `[index]` in `{s}`"));
            }
            let index = digits
                .parse()
                .map_err(|_| format!("index `{digits}` is too large in `{s}`"))?;
            segs.push(Seg::Index(index));
        }
        if segs.len() > MAX_PATH_SEGMENTS {
            return Err(format!(
                "key path is deeper than {MAX_PATH_SEGMENTS} levels"
            ));
        }
        match chars.next() {
            None => return Ok(segs),
            Some('.') => {}
            Some(c) => return Err(format!("unexpected `{c}` in key path `{s}`")),
        }
    }
}

pub(super) fn format_path(segs: &[Seg]) -> String {
    let mut out = String::new();
    for seg in segs {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                if !k.is_empty() && k.chars().all(is_bare_key_char) {
                    out.push_str(k);
                } else {
                    out.push('"');
                    for c in k.chars() {
                        if c == '"' || c == '\\' {
                            out.push('\\');
                        }
                        out.push(c);
                    }
                    out.push('"');
                }
            }
            Seg::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
    out
}

/// The one spelling of key path `s` (`tlb."stlb".entries` and `tlb.stlb.entries` are
/// both `tlb.stlb.entries`), or `None` when it is no key path.
pub fn canonical_path(s: &str) -> Option<String> {
    parse_path(s).ok().map(|segs| format_path(&segs))
}
