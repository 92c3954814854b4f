//! The input generator of the randomized parser tests: mutations of valid seeds (bit and
//! byte flips, truncation, deletion, duplication, splicing, line and field edits, and
//! hostile tokens: huge and negative numbers, NaN, empty groups, deep nesting, invalid
//! UTF-8, very long lines) and purely random inputs. Deterministic: one `u64` seed.

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// How an input is structured, so mutations can respect (and break) its structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// TOML: `key = value` lines, values replaced by hostile ones.
    Toml,
    /// Line-oriented text (lackey, text traces, reference strings, JSON lines).
    Lines,
    /// Fixed records of this many bytes after a header of `header` bytes.
    Records { header: usize, record: usize },
    /// A `key.path=value` assignment.
    Assign,
}

/// Largest input produced (duplications stop growing an input past it).
pub const MAX_INPUT: usize = 32 << 10;

/// Values that break parsers: out of range, negative, not numbers, empty, nested.
pub fn hostile_values() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = [
        "18446744073709551615",
        "18446744073709551616",
        "99999999999999999999999999",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-1",
        "-0",
        "0",
        "1",
        "4294967295",
        "4294967296",
        "65536",
        "16777217",
        "0x7fffffffffffffff",
        "0xffffffffffffffff",
        "1e308",
        "-1e308",
        "1e-320",
        "nan",
        "-nan",
        "inf",
        "-inf",
        "0.5",
        "-0.5",
        "true",
        "\"\"",
        "''",
        "[]",
        "{}",
        "[[]]",
        "[{}]",
        "[1, \"a\"]",
        "\"18446744073709551615\"",
        "\"-1\"",
        "\"0KiB\"",
        "\"1TiB\"",
        "\"16EiB\"",
        "\"99999999999PiB\"",
        "\"4K\"",
        "\"1G\"",
        "\"3M\"",
        "\"lru\"",
        "\"none\"",
        "\"x\"",
        "1979-05-27T07:32:00Z",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    v.push(nested(b"[", b"]", 120));
    v.push(nested(b"{a=", b"}", 120));
    v.push(nested(b"[", b"]", 20));
    v.push(b"\xff\xfe".to_vec());
    v.push(b"\"\xc3\"".to_vec());
    v
}

/// Tokens inserted anywhere: structure characters, invalid UTF-8, control bytes.
pub fn hostile_tokens() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = [
        "\n",
        "\r\n",
        "\r",
        "\t",
        " ",
        "=",
        ".",
        ",",
        "#",
        "\"",
        "'",
        "\"\"\"",
        "'''",
        "\\",
        "[",
        "]",
        "[[",
        "]]",
        "{",
        "}",
        "(",
        ")",
        "()",
        "x",
        "*",
        "0x",
        "-",
        "+",
        "_",
        "\0",
        "\u{7f}",
        "\u{feff}",
        "é",
        "\u{10ffff}",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    v.extend([
        b"\xff".to_vec(),
        b"\xc3".to_vec(),
        b"\xe2\x82".to_vec(),
        b"\xf0\x9f\x98".to_vec(),
        b"\xed\xa0\x80".to_vec(),
    ]);
    v.extend(hostile_values());
    v
}

fn nested(open: &[u8], close: &[u8], depth: usize) -> Vec<u8> {
    let mut s = open.repeat(depth);
    s.push(b'1');
    s.extend(close.repeat(depth));
    s
}

/// 64-bit words for binary records: extremes, sign bits, the 57-bit limit.
const WORDS: &[u64] = &[
    0,
    1,
    2,
    3,
    4,
    0xff,
    0x1000,
    0xffff_ffff,
    0x1_0000_0000,
    1 << 47,
    (1 << 57) - 1,
    1 << 57,
    1 << 63,
    u64::MAX - 1,
    u64::MAX,
];

pub struct Gen {
    rng: Xoshiro256PlusPlus,
}

impl Gen {
    pub fn new(seed: u64) -> Gen {
        Gen {
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
        }
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.rng.next_u64() % n as u64) as usize
        }
    }

    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    /// A random position in `s` (0..=len).
    fn pos(&mut self, s: &[u8]) -> usize {
        self.below(s.len() + 1)
    }

    /// A short range of `s`, biased to small lengths.
    fn range(&mut self, s: &[u8]) -> (usize, usize) {
        let a = self.below(s.len() + 1);
        let max = (s.len() - a).min(if self.chance(80) { 16 } else { 4096 });
        (a, a + self.below(max + 1))
    }

    /// Purely random input: raw bytes, or characters of `alphabet`, or tokens.
    pub fn random(&mut self, alphabet: &[u8], tokens: &[Vec<u8>]) -> Vec<u8> {
        let most = if self.chance(90) { 64 } else { 2048 };
        let len = self.below(most);
        let mut s = Vec::with_capacity(len);
        match self.below(3) {
            0 => s.extend((0..len).map(|_| self.rng.next_u64() as u8)),
            1 => s.extend((0..len).map(|_| *self.pick(alphabet))),
            _ => {
                while s.len() < len {
                    if self.chance(50) {
                        let t = self.pick(tokens).clone();
                        s.extend(t);
                    } else {
                        s.push(*self.pick(alphabet));
                    }
                }
            }
        }
        s
    }

    /// One to four mutations of a seed.
    pub fn mutate(
        &mut self,
        seeds: &[Vec<u8>],
        shape: Shape,
        values: &[Vec<u8>],
        tokens: &[Vec<u8>],
    ) -> Vec<u8> {
        let mut s = self.pick(seeds).clone();
        let n = 1 + self.below(4);
        for _ in 0..n {
            self.mutate_once(&mut s, seeds, shape, values, tokens);
        }
        s
    }

    fn mutate_once(
        &mut self,
        s: &mut Vec<u8>,
        seeds: &[Vec<u8>],
        shape: Shape,
        values: &[Vec<u8>],
        tokens: &[Vec<u8>],
    ) {
        match self.below(16) {
            // Structure-aware edits, the most productive ones: twice as likely.
            0..=3 => match shape {
                Shape::Toml | Shape::Assign => self.replace_value(s, values),
                Shape::Lines => self.replace_field(s, values, tokens),
                Shape::Records { header, record } => self.overwrite_word(s, header, record),
            },
            4 => self.line_edit(s),
            5 => {
                let p = self.pos(s);
                if !s.is_empty() {
                    let i = p.min(s.len() - 1);
                    s[i] ^= 1 << self.below(8);
                }
            }
            6 => {
                if !s.is_empty() {
                    let i = self.below(s.len());
                    s[i] = if self.chance(50) {
                        self.rng.next_u64() as u8
                    } else {
                        *self.pick(b"\0\xff\n\"'[]{}=.,#()x-+0123456789 ")
                    };
                }
            }
            7 | 8 => {
                let p = self.pos(s);
                let t = self.pick(tokens).clone();
                s.splice(p..p, t);
            }
            9 => {
                let (a, b) = self.range(s);
                s.drain(a..b);
            }
            10 => {
                let (a, b) = self.range(s);
                if s.len() + (b - a) <= MAX_INPUT {
                    let piece = s[a..b].to_vec();
                    let p = self.pos(s);
                    s.splice(p..p, piece);
                }
            }
            11 => {
                let p = self.pos(s);
                s.truncate(p);
            }
            12 => {
                // Splice: a prefix of this input, a suffix of another seed.
                let other = self.pick(seeds);
                let p = self.pos(s);
                let q = self.below(other.len() + 1);
                s.truncate(p);
                s.extend_from_slice(&other[q..]);
            }
            13 => {
                // A very long line (or record run).
                let most = if self.chance(95) { 4000 } else { 60_000 };
                let len = 1000 + self.below(most);
                let b = *self.pick(b"a9 ,\"[x(");
                let p = self.pos(s);
                s.splice(p..p, std::iter::repeat_n(b, len));
            }
            14 => {
                let p = self.pos(s);
                let v = self.pick(values).clone();
                s.splice(p..p, v);
            }
            _ => {
                // Repeat the whole input (many tables, many records).
                if s.len() <= 4096 {
                    let copy = s.clone();
                    s.extend_from_slice(&copy);
                }
            }
        }
        s.truncate(MAX_INPUT);
    }

    /// Replace what follows a random `=` on its line with a hostile value.
    fn replace_value(&mut self, s: &mut Vec<u8>, values: &[Vec<u8>]) {
        let eqs: Vec<usize> = (s.iter().enumerate())
            .filter(|(_, &b)| b == b'=')
            .map(|(i, _)| i)
            .collect();
        let v = self.pick(values).clone();
        if eqs.is_empty() {
            let p = self.pos(s);
            s.splice(p..p, v);
            return;
        }
        let at = *self.pick(&eqs) + 1;
        let end =
            (s[at..].iter().position(|&b| b == b'\n' || b == b',')).map_or(s.len(), |e| at + e);
        let mut with = b" ".to_vec();
        with.extend(v);
        s.splice(at..end, with);
    }

    /// Replace one whitespace- or comma-separated field of a random line.
    fn replace_field(&mut self, s: &mut Vec<u8>, values: &[Vec<u8>], tokens: &[Vec<u8>]) {
        let seps: Vec<usize> = (s.iter().enumerate())
            .filter(|(_, &b)| matches!(b, b' ' | b',' | b'\n' | b'\t' | b':' | b'='))
            .map(|(i, _)| i)
            .collect();
        let v = if self.chance(70) {
            self.pick(values).clone()
        } else {
            self.pick(tokens).clone()
        };
        let Some(&start) = (!seps.is_empty()).then(|| self.pick(&seps)) else {
            s.splice(0..0, v);
            return;
        };
        let a = start + 1;
        let b = (s[a..]
            .iter()
            .position(|&b| matches!(b, b' ' | b',' | b'\n' | b'\t')))
        .map_or(s.len(), |e| a + e);
        s.splice(a..b, v);
    }

    fn line_edit(&mut self, s: &mut Vec<u8>) {
        let starts: Vec<usize> = std::iter::once(0)
            .chain(
                (s.iter().enumerate())
                    .filter(|(_, &b)| b == b'\n')
                    .map(|(i, _)| i + 1),
            )
            .filter(|&i| i <= s.len())
            .collect();
        let line = |i: usize| {
            let a = starts[i];
            let b = starts.get(i + 1).copied().unwrap_or(s.len());
            (a, b)
        };
        let (a, b) = line(self.below(starts.len()));
        match self.below(3) {
            0 => {
                s.drain(a..b);
            }
            1 => {
                if s.len() + (b - a) <= MAX_INPUT {
                    let l = s[a..b].to_vec();
                    let p = starts[self.below(starts.len())];
                    s.splice(p..p, l);
                }
            }
            _ => {
                let (c, d) = line(self.below(starts.len()));
                if b <= c {
                    let (x, y) = (s[a..b].to_vec(), s[c..d].to_vec());
                    s.splice(c..d, x);
                    s.splice(a..b, y);
                }
            }
        }
    }

    /// Overwrite an aligned word of a record (or the header) with an extreme value, or
    /// cut the input at a record boundary give or take a byte.
    fn overwrite_word(&mut self, s: &mut Vec<u8>, header: usize, record: usize) {
        if self.chance(20) {
            let n = s.len().saturating_sub(header) / record;
            let cut = header + self.below(n + 1) * record;
            let cut = match self.below(3) {
                0 => cut.saturating_sub(1),
                1 => cut + 1,
                _ => cut,
            };
            s.truncate(cut);
            return;
        }
        if s.len() < 8 {
            return;
        }
        let at = 4 * self.below((s.len() - 4) / 4 + 1);
        let w = *self.pick(WORDS);
        if at + 8 <= s.len() && self.chance(70) {
            s[at..at + 8].copy_from_slice(&w.to_le_bytes());
        } else if at + 4 <= s.len() {
            s[at..at + 4].copy_from_slice(&(w as u32).to_le_bytes());
        }
    }
}

/// `s` as a Rust byte-string literal, cut to `max` bytes, for failure messages.
pub fn escape(s: &[u8], max: usize) -> String {
    let mut out = String::from("b\"");
    for &b in &s[..s.len().min(max)] {
        match b {
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    if s.len() > max {
        out.push_str(&format!(" (first {max} of {} bytes)", s.len()));
    }
    out
}
