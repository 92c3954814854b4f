//! Page reference strings: [`RefList`], the `refs` list of the `refs` generator, and
//! the parser of its string form with the `(…)xN` run-length shorthand.
//!
//! In: a TOML array of page numbers or a string such as `"(1 2 3)x10 4 5"` (through
//! serde, or [`RefList::parse`]). Out: the expanded list of page numbers, at most
//! [`MAX_REFS`] long, or an error naming the position in the string.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Upper bound on the expanded length of a `refs` string; a typo such as
/// `(1 2)x1000000000000` must produce an error, not exhaust memory. Longer
/// streams are made by setting `accesses`, which repeats the list.
pub const MAX_REFS: usize = 1 << 24;

/// A page reference string.
///
/// Deserializes from an array of integers (`[1, 2, 3]`) or from a string of
/// decimal page numbers separated by whitespace and/or commas, with a
/// run-length shorthand: `"(1 2 3)x20 4 5x3"` repeats the parenthesised group
/// 20 times and `5` three times. Groups nest. Serializes as the expanded array.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RefList(pub Vec<u64>);

impl RefList {
    /// Parses the string form (see the type's documentation).
    pub fn parse(s: &str) -> Result<RefList, String> {
        let mut p = RefParser {
            s: s.as_bytes(),
            i: 0,
        };
        let mut out = Vec::new();
        p.list(&mut out, 0, true)?;
        Ok(RefList(out))
    }
}

/// Recursive-descent parser for the `refs` string form:
/// `list := item*`, `item := (number | "(" list ")") ["x" count]`.
struct RefParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl RefParser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip(&mut self, commas: bool) {
        while let Some(c) = self.peek() {
            if c.is_ascii_whitespace() || (commas && c == b',') {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    fn number(&mut self) -> Result<u64, String> {
        let start = self.i;
        let mut v: u64 = 0;
        while let Some(c) = self.peek().filter(u8::is_ascii_digit) {
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(c - b'0')))
                .ok_or_else(|| format!("number at position {start} does not fit in 64 bits"))?;
            self.i += 1;
        }
        if self.i == start {
            return Err(format!("expected a number at position {start}"));
        }
        Ok(v)
    }

    /// Whether the group opening at `open` is followed by a count of 0 (`(…)x0`). Scans
    /// to the matching `)` (each byte once per enclosing group, at most 33 times).
    fn repeated_zero_times(&self, open: usize) -> bool {
        let mut depth = 0usize;
        let mut i = open;
        while let Some(&c) = self.s.get(i) {
            i += 1;
            match c {
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
        }
        let ws = |i: &mut usize| {
            while self.s.get(*i).is_some_and(u8::is_ascii_whitespace) {
                *i += 1;
            }
        };
        ws(&mut i);
        if !matches!(self.s.get(i), Some(b'x' | b'X' | b'*')) {
            return false;
        }
        i += 1;
        ws(&mut i);
        let digits = self.s[i.min(self.s.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit());
        let mut any = false;
        for &d in digits {
            if d != b'0' {
                return false;
            }
            any = true;
        }
        any
    }

    /// Parses items until end of input (depth 0) or the matching `)`, appending their
    /// expansion to `out` when `emit`, else only measuring it; returns the expanded
    /// length. A group repeated 0 times is measured (its syntax and limits checked),
    /// never expanded, so the work is bounded by the input and the output, whatever
    /// the counts: `((1)x16777216)x0` costs nothing.
    fn list(&mut self, out: &mut Vec<u64>, depth: usize, emit: bool) -> Result<usize, String> {
        let mut total = 0usize;
        // Where this group's `(` is, for the errors about it.
        let opened = self.i.saturating_sub(1);
        loop {
            self.skip(true);
            let start = out.len();
            let item_len = match self.peek() {
                None if depth == 0 => return Ok(total),
                None => return Err(format!("unclosed `(` at position {opened}")),
                Some(b')') if depth > 0 => {
                    self.i += 1;
                    return Ok(total);
                }
                Some(b')') => return Err(format!("unmatched `)` at position {}", self.i)),
                Some(b'(') => {
                    if depth >= 32 {
                        return Err(format!(
                            "groups nested more than 32 deep at position {}",
                            self.i
                        ));
                    }
                    let inner_emit = emit && !self.repeated_zero_times(self.i);
                    self.i += 1;
                    self.list(out, depth + 1, inner_emit)?
                }
                Some(c) if c.is_ascii_digit() => {
                    let v = self.number()?;
                    if emit {
                        out.push(v);
                    }
                    1
                }
                Some(c) => {
                    return Err(format!(
                        "unexpected `{}` at position {} (expected page numbers, `(…)xN` groups, spaces or commas)",
                        c as char, self.i
                    ))
                }
            };
            // Optional repetition suffix, `x` or `*`, spaces allowed around it. Its
            // length is checked (no overflow, within the limit) before anything is
            // copied.
            let save = self.i;
            self.skip(false);
            let item_total = if matches!(self.peek(), Some(b'x' | b'X' | b'*')) {
                self.i += 1;
                self.skip(false);
                let count = self.number()?;
                let t = usize::try_from(count)
                    .ok()
                    .and_then(|c| c.checked_mul(item_len))
                    .filter(|&t| t <= MAX_REFS)
                    .ok_or_else(|| {
                        format!("repetition at position {save} expands beyond {MAX_REFS} references (use `accesses` to repeat the whole list)")
                    })?;
                if emit {
                    if count == 0 {
                        out.truncate(start);
                    } else if item_len > 0 {
                        // An empty item repeated stays empty: no loop over `count`
                        // (which may be 2^64 - 1) when there is nothing to copy.
                        for _ in 1..count {
                            out.extend_from_within(start..start + item_len);
                        }
                    }
                }
                t
            } else {
                self.i = save;
                item_len
            };
            total = total
                .checked_add(item_total)
                .filter(|&t| t <= MAX_REFS)
                .ok_or_else(|| format!("more than {MAX_REFS} references"))?;
            debug_assert!(!emit || out.len() - start == item_total);
        }
    }
}

impl Serialize for RefList {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for RefList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RefList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of page numbers or a string such as \"(1 2 3)x10 4 5\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RefList, E> {
                RefList::parse(v).map_err(E::custom)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<RefList, A::Error> {
                let mut out = Vec::with_capacity(a.size_hint().unwrap_or(0).min(MAX_REFS));
                while let Some(v) = a.next_element::<u64>()? {
                    if out.len() >= MAX_REFS {
                        return Err(serde::de::Error::custom(format!(
                            "more than {MAX_REFS} references"
                        )));
                    }
                    out.push(v);
                }
                Ok(RefList(out))
            }
        }
        d.deserialize_any(V)
    }
}
