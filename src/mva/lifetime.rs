//! Lifetime curves L(m): the mean CPU time between page faults of a program given m pages
//! of memory (Belady and Kuehner, 1969; Denning, 1980). The thrashing model reads the
//! faults per job from it.
//!
//! In: a formula over `m` (`min(0.5, 0.005*m^2)`) or a CSV table (columns `m` and
//! `lifetime`, as `mmusim analyze --out` writes them, in references per fault, with a
//! factor converting references to seconds). Out: [`Lifetime::eval`] at any real m, and
//! the curve's knee ([`Lifetime::knee`]), the point of maximum L(m)/m, where a ray from
//! the origin touches the curve.
//!
//! The formula is parsed by recursive descent into postfix code and evaluated on a
//! small stack, so evaluation needs no recursion however long the expression.

use std::fmt;

/// A formula error: what is wrong and the 1-based column (in characters) where.
#[derive(Clone, Debug, PartialEq)]
pub struct FormulaError {
    pub column: usize,
    pub msg: String,
}

impl fmt::Display for FormulaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.column, self.msg)
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Num(f64),
    M,
    Neg,
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Min,
    Max,
}

/// A parsed formula in one variable, `m`.
#[derive(Clone, Debug, PartialEq)]
pub struct Formula {
    text: String,
    code: Vec<Op>,
    /// Deepest the evaluation stack gets.
    depth: usize,
}

/// Deepest nesting of parentheses, function calls, signs and powers accepted; keeps the
/// recursive parser's stack use bounded on hostile input.
const MAX_NESTING: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Tok {
    Num(f64),
    Ident(usize, usize),
    Plus,
    Minus,
    Star,
    Slash,
    Caret,
    LParen,
    RParen,
    Comma,
    End,
}

fn describe(t: Tok, src: &[char]) -> String {
    match t {
        Tok::Num(_) => "a number".into(),
        Tok::Ident(a, b) => format!("`{}`", src[a..b].iter().collect::<String>()),
        Tok::Plus => "`+`".into(),
        Tok::Minus => "`-`".into(),
        Tok::Star => "`*`".into(),
        Tok::Slash => "`/`".into(),
        Tok::Caret => "`^`".into(),
        Tok::LParen => "`(`".into(),
        Tok::RParen => "`)`".into(),
        Tok::Comma => "`,`".into(),
        Tok::End => "the end of the formula".into(),
    }
}

struct Parser<'a> {
    src: &'a [char],
    pos: usize,
    /// The current token and the index of its first character.
    tok: Tok,
    tok_at: usize,
    code: Vec<Op>,
    nesting: usize,
}

impl<'a> Parser<'a> {
    fn err<T>(&self, at: usize, msg: impl Into<String>) -> Result<T, FormulaError> {
        Err(FormulaError {
            column: at + 1,
            msg: msg.into(),
        })
    }

    fn advance(&mut self) -> Result<(), FormulaError> {
        let s = self.src;
        while self.pos < s.len() && s[self.pos].is_whitespace() {
            self.pos += 1;
        }
        self.tok_at = self.pos;
        let Some(&c) = s.get(self.pos) else {
            self.tok = Tok::End;
            return Ok(());
        };
        let single = match c {
            '+' => Some(Tok::Plus),
            '-' => Some(Tok::Minus),
            '*' => Some(Tok::Star),
            '/' => Some(Tok::Slash),
            '^' => Some(Tok::Caret),
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            ',' => Some(Tok::Comma),
            _ => None,
        };
        if let Some(t) = single {
            self.pos += 1;
            self.tok = t;
            return Ok(());
        }
        if c.is_ascii_digit() || c == '.' {
            // digits [. digits] [e [+-] digits]
            let start = self.pos;
            let digits = |p: &mut usize| {
                let from = *p;
                while *p < s.len() && s[*p].is_ascii_digit() {
                    *p += 1;
                }
                *p - from
            };
            let mut p = self.pos;
            let mut n = digits(&mut p);
            if p < s.len() && s[p] == '.' {
                p += 1;
                n += digits(&mut p);
            }
            if n == 0 {
                return self.err(start, "`.` without digits");
            }
            if p < s.len() && (s[p] == 'e' || s[p] == 'E') {
                let mut q = p + 1;
                if q < s.len() && (s[q] == '+' || s[q] == '-') {
                    q += 1;
                }
                if digits(&mut q) == 0 {
                    return self.err(p, "exponent without digits");
                }
                p = q;
            }
            let text: String = s[start..p].iter().collect();
            let v: f64 = text.parse().map_err(|_| FormulaError {
                column: start + 1,
                msg: format!("bad number `{text}`"),
            })?;
            if !v.is_finite() {
                return self.err(start, format!("number `{text}` is out of range"));
            }
            self.pos = p;
            self.tok = Tok::Num(v);
            return Ok(());
        }
        if c.is_alphabetic() || c == '_' {
            let start = self.pos;
            while self.pos < s.len() && (s[self.pos].is_alphanumeric() || s[self.pos] == '_') {
                self.pos += 1;
            }
            self.tok = Tok::Ident(start, self.pos);
            return Ok(());
        }
        self.err(self.pos, format!("unexpected character `{c}`"))
    }

    fn expect(&mut self, want: Tok, what: &str) -> Result<(), FormulaError> {
        if self.tok != want {
            return self.err(
                self.tok_at,
                format!("expected {what}, found {}", describe(self.tok, self.src)),
            );
        }
        self.advance()
    }

    fn nest(&mut self) -> Result<(), FormulaError> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return self.err(
                self.tok_at,
                format!("nested more than {MAX_NESTING} levels deep"),
            );
        }
        Ok(())
    }

    /// expr := term (('+' | '-') term)*
    fn expr(&mut self) -> Result<(), FormulaError> {
        self.term()?;
        loop {
            let op = match self.tok {
                Tok::Plus => Op::Add,
                Tok::Minus => Op::Sub,
                _ => return Ok(()),
            };
            self.advance()?;
            self.term()?;
            self.code.push(op);
        }
    }

    /// term := unary (('*' | '/') unary)*
    fn term(&mut self) -> Result<(), FormulaError> {
        self.unary()?;
        loop {
            let op = match self.tok {
                Tok::Star => Op::Mul,
                Tok::Slash => Op::Div,
                _ => return Ok(()),
            };
            self.advance()?;
            self.unary()?;
            self.code.push(op);
        }
    }

    /// unary := ('-' | '+') unary | power. A sign binds looser than `^`, so -2^2 = -4.
    fn unary(&mut self) -> Result<(), FormulaError> {
        match self.tok {
            Tok::Minus | Tok::Plus => {
                let neg = self.tok == Tok::Minus;
                self.nest()?;
                self.advance()?;
                self.unary()?;
                if neg {
                    self.code.push(Op::Neg);
                }
                self.nesting -= 1;
                Ok(())
            }
            _ => self.power(),
        }
    }

    /// power := primary ('^' unary)?, right-associative: 2^3^2 = 2^9.
    fn power(&mut self) -> Result<(), FormulaError> {
        self.primary()?;
        if self.tok == Tok::Caret {
            self.nest()?;
            self.advance()?;
            self.unary()?;
            self.code.push(Op::Pow);
            self.nesting -= 1;
        }
        Ok(())
    }

    /// primary := number | 'm' | '(' expr ')' | ('min' | 'max') '(' expr ',' expr ')'
    fn primary(&mut self) -> Result<(), FormulaError> {
        match self.tok {
            Tok::Num(v) => {
                self.code.push(Op::Num(v));
                self.advance()
            }
            Tok::LParen => {
                self.nest()?;
                self.advance()?;
                self.expr()?;
                self.expect(Tok::RParen, "`)`")?;
                self.nesting -= 1;
                Ok(())
            }
            Tok::Ident(a, b) => {
                let name: String = self.src[a..b].iter().collect();
                let op = match name.as_str() {
                    "m" => {
                        self.code.push(Op::M);
                        return self.advance();
                    }
                    "min" => Op::Min,
                    "max" => Op::Max,
                    _ => {
                        return self.err(
                            a,
                            format!(
                                "unknown name `{name}` (the variable is `m`; functions: min, max)"
                            ),
                        )
                    }
                };
                self.nest()?;
                self.advance()?;
                self.expect(Tok::LParen, &format!("`(` after `{name}`"))?;
                self.expr()?;
                self.expect(Tok::Comma, &format!("`,` ({name} takes two arguments)"))?;
                self.expr()?;
                self.expect(Tok::RParen, &format!("`)` ({name} takes two arguments)"))?;
                self.code.push(op);
                self.nesting -= 1;
                Ok(())
            }
            t => self.err(
                self.tok_at,
                format!(
                    "expected a number, `m`, `(`, min or max, found {}",
                    describe(t, self.src)
                ),
            ),
        }
    }
}

impl Formula {
    /// Parse `text`: numbers (`2`, `0.5`, `1e-3`), the variable `m`, `+ - * / ^`
    /// (usual precedence; `^` right-associative and tighter than a sign), parentheses,
    /// `min(a, b)` and `max(a, b)`.
    pub fn parse(text: &str) -> Result<Formula, FormulaError> {
        let chars: Vec<char> = text.chars().collect();
        let mut p = Parser {
            src: &chars,
            pos: 0,
            tok: Tok::End,
            tok_at: 0,
            code: Vec::new(),
            nesting: 0,
        };
        p.advance()?;
        if p.tok == Tok::End {
            return p.err(0, "empty formula");
        }
        p.expr()?;
        if p.tok != Tok::End {
            return p.err(
                p.tok_at,
                format!(
                    "expected an operator or the end of the formula, found {}",
                    describe(p.tok, &chars)
                ),
            );
        }
        let mut depth = 0usize;
        let mut max_depth = 0usize;
        for op in &p.code {
            match op {
                Op::Num(_) | Op::M => depth += 1,
                Op::Neg => {}
                _ => depth -= 1,
            }
            max_depth = max_depth.max(depth);
        }
        Ok(Formula {
            text: text.trim().to_owned(),
            code: p.code,
            depth: max_depth,
        })
    }

    /// The formula as written (trimmed).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Value at `m`.
    pub fn eval(&self, m: f64) -> f64 {
        let mut st: Vec<f64> = Vec::with_capacity(self.depth);
        for op in &self.code {
            // The parser emits well-formed postfix code: every operator finds its
            // operands, so the pops below always succeed.
            let v = match *op {
                Op::Num(v) => v,
                Op::M => m,
                Op::Neg => -st.pop().unwrap_or(f64::NAN),
                bin => {
                    let b = st.pop().unwrap_or(f64::NAN);
                    let a = st.pop().unwrap_or(f64::NAN);
                    match bin {
                        Op::Add => a + b,
                        Op::Sub => a - b,
                        Op::Mul => a * b,
                        Op::Div => a / b,
                        Op::Pow => pow(a, b),
                        Op::Min => a.min(b),
                        _ => a.max(b),
                    }
                }
            };
            st.push(v);
        }
        st.pop().unwrap_or(f64::NAN)
    }
}

/// a^b, by repeated multiplication for small integer exponents (exact where the product
/// is, and defined for negative a).
fn pow(a: f64, b: f64) -> f64 {
    if b == b.trunc() && b.abs() <= 64.0 {
        a.powi(b as i32)
    } else {
        a.powf(b)
    }
}

/// A lifetime curve sampled at points, linear between them, constant outside.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// (m, lifetime in seconds), strictly increasing m.
    pub points: Vec<(f64, f64)>,
    /// Where it came from (for messages).
    pub source: String,
}

/// A table-reading problem at a line of the CSV file.
#[derive(Clone, Debug, PartialEq)]
pub struct TableError {
    /// 1-based line, `None` for the file as a whole.
    pub line: Option<usize>,
    pub msg: String,
}

impl Table {
    /// Parse CSV text whose header names columns `m` and `lifetime` (others are
    /// ignored), lifetimes in references per fault, scaled by `seconds_per_reference`.
    /// Blank lines and lines starting with `#` are skipped. `m` must increase strictly.
    pub fn parse_csv(
        source: &str,
        text: &str,
        seconds_per_reference: f64,
    ) -> Result<Table, TableError> {
        let at = |line: usize, msg: String| TableError {
            line: Some(line),
            msg,
        };
        let mut rows = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
        let Some((hline, header)) = rows.next() else {
            return Err(TableError {
                line: None,
                msg: "empty file: expected a header with columns `m` and `lifetime`".into(),
            });
        };
        let cols: Vec<&str> = header
            .split(',')
            .map(|c| c.trim().trim_matches('"'))
            .collect();
        let find = |name: &str| {
            cols.iter().position(|c| *c == name).ok_or_else(|| {
                at(
                    hline,
                    format!(
                        "the header has no `{name}` column (it has: {})",
                        cols.join(", ")
                    ),
                )
            })
        };
        let (im, il) = (find("m")?, find("lifetime")?);
        let mut points: Vec<(f64, f64)> = Vec::new();
        for (line, row) in rows {
            let fields: Vec<&str> = row.split(',').map(str::trim).collect();
            let get = |i: usize, name: &str| -> Result<f64, TableError> {
                let f = fields.get(i).ok_or_else(|| {
                    at(
                        line,
                        format!("{} field(s), no `{name}` (column {})", fields.len(), i + 1),
                    )
                })?;
                let v: f64 = f
                    .parse()
                    .map_err(|_| at(line, format!("{name}: `{f}` is not a number")))?;
                if !v.is_finite() || v < 0.0 {
                    return Err(at(
                        line,
                        format!("{name}: `{f}` must be a finite number >= 0"),
                    ));
                }
                Ok(v)
            };
            let m = get(im, "m")?;
            let l = get(il, "lifetime")?;
            if let Some(&(prev, _)) = points.last() {
                if m <= prev {
                    return Err(at(
                        line,
                        format!("m: {m} does not increase (previous row has {prev})"),
                    ));
                }
            }
            points.push((m, l * seconds_per_reference));
        }
        if points.is_empty() {
            return Err(TableError {
                line: None,
                msg: "no data rows after the header".into(),
            });
        }
        Ok(Table {
            points,
            source: source.to_owned(),
        })
    }

    /// Linear interpolation between points; the first / last value outside them.
    pub fn eval(&self, m: f64) -> f64 {
        let p = &self.points;
        let i = p.partition_point(|&(x, _)| x <= m);
        if i == 0 {
            return p[0].1;
        }
        if i == p.len() {
            return p[p.len() - 1].1;
        }
        let ((x0, y0), (x1, y1)) = (p[i - 1], p[i]);
        y0 + (y1 - y0) * (m - x0) / (x1 - x0)
    }
}

/// A lifetime curve, in seconds of CPU time between faults.
#[derive(Clone, Debug, PartialEq)]
pub enum Lifetime {
    Formula(Formula),
    Table(Table),
}

/// The knee of a lifetime curve: where L(m)/m is largest.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Knee {
    pub m: f64,
    pub lifetime: f64,
}

/// Grid points for the knee search of a formula over (0, M].
const KNEE_GRID: u32 = 100_000;

impl Lifetime {
    pub fn eval(&self, m: f64) -> f64 {
        match self {
            Lifetime::Formula(f) => f.eval(m),
            Lifetime::Table(t) => t.eval(m),
        }
    }

    /// Short description for reports.
    pub fn describe(&self) -> String {
        match self {
            Lifetime::Formula(f) => format!("L(m) = {}", f.text()),
            Lifetime::Table(t) => format!("L(m) from {} ({} points)", t.source, t.points.len()),
        }
    }

    /// The point of maximum L(m)/m with 0 < m <= `max_m`.
    ///
    /// A table: among its points with m > 0 (its curve is piecewise linear, and L(m)/m
    /// along a segment is monotone between its ends, so the maximum is at a point); if
    /// none lies in (0, max_m], among all its points with m > 0. A formula: on a grid of
    /// 100,000 points m = max_m i / 100000, then refined by golden-section search over the
    /// two grid cells around the best point (exact for a curve unimodal there, such as a
    /// kink where two pieces of `min` meet). Ties keep the smaller m. `None` if L(m)/m is
    /// nowhere finite and positive.
    pub fn knee(&self, max_m: f64) -> Option<Knee> {
        let ratio = |m: f64, l: f64| {
            if l.is_finite() && l > 0.0 {
                l / m
            } else {
                f64::NAN
            }
        };
        match self {
            Lifetime::Table(t) => {
                let best = |in_range: bool| {
                    let mut best: Option<(f64, f64, f64)> = None;
                    for &(m, l) in &t.points {
                        if m <= 0.0 || (in_range && m > max_m) {
                            continue;
                        }
                        let r = ratio(m, l);
                        if r.is_finite() && best.is_none_or(|(_, _, b)| r > b) {
                            best = Some((m, l, r));
                        }
                    }
                    best
                };
                best(true)
                    .or_else(|| best(false))
                    .map(|(m, l, _)| Knee { m, lifetime: l })
            }
            Lifetime::Formula(f) => {
                if !(max_m > 0.0 && max_m.is_finite()) {
                    return None;
                }
                let g = f64::from(KNEE_GRID);
                let at = |i: u32| max_m * f64::from(i) / g;
                let mut best: Option<(u32, f64)> = None;
                for i in 1..=KNEE_GRID {
                    let m = at(i);
                    let r = ratio(m, f.eval(m));
                    if r.is_finite() && best.is_none_or(|(_, b)| r > b) {
                        best = Some((i, r));
                    }
                }
                let (i, r) = best?;
                let (mut a, mut b) = (at(i - 1), at((i + 1).min(KNEE_GRID)));
                let value = |m: f64| {
                    let r = ratio(m, f.eval(m));
                    if r.is_finite() {
                        r
                    } else {
                        f64::NEG_INFINITY
                    }
                };
                let phi = (5f64.sqrt() - 1.0) / 2.0;
                let (mut c, mut d) = (b - phi * (b - a), a + phi * (b - a));
                let (mut fc, mut fd) = (value(c), value(d));
                for _ in 0..200 {
                    if b - a <= 1e-15 * b {
                        break;
                    }
                    if fc >= fd {
                        b = d;
                        (d, fd) = (c, fc);
                        c = b - phi * (b - a);
                        fc = value(c);
                    } else {
                        a = c;
                        (c, fc) = (d, fd);
                        d = a + phi * (b - a);
                        fd = value(d);
                    }
                }
                let mid = 0.5 * (a + b);
                let m = if value(mid) > r { mid } else { at(i) };
                Some(Knee {
                    m,
                    lifetime: f.eval(m),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_formulas() {
        // (formula, m, value worked out by hand)
        let cases: &[(&str, f64, f64)] = &[
            ("1+2*3", 0.0, 7.0),
            ("(1+2)*3", 0.0, 9.0),
            ("2-3-4", 0.0, -5.0),  // left-associative
            ("10/4/5", 0.0, 0.5),  // left-associative
            ("2^3^2", 0.0, 512.0), // right-associative: 2^9
            ("-2^2", 0.0, -4.0),   // the sign binds looser than ^
            ("2^-1", 0.0, 0.5),
            ("--3", 0.0, 3.0),
            ("+m", 4.0, 4.0),
            ("m^0.5", 16.0, 4.0),
            ("1e-3*m", 2000.0, 2.0),
            ("2.5E+1", 0.0, 25.0),
            (".5", 0.0, 0.5),
            ("3.", 0.0, 3.0),
            ("min(0.5, 0.005*m^2)", 5.0, 0.125),
            ("min(0.5, 0.005*m^2)", 20.0, 0.5),
            ("min(0.5, 0.005*m^2)", 10.0, 0.5),
            ("max(m, 2)/4", 1.0, 0.5),
            ("max(m, 2)/4", 6.0, 1.5),
            ("min(max(m,1),3)", 7.0, 3.0),
            ("  m * ( m + 1 ) ", 3.0, 12.0),
            ("2*0.1/(1+(3/m)^2)", 3.0, 0.1), // Chamberlin-style curve
        ];
        for &(text, m, want) in cases {
            let f = Formula::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            let got = f.eval(m);
            assert!(
                (got - want).abs() <= 1e-12 * want.abs().max(1.0),
                "{text} at m={m}: {got}, want {want}"
            );
        }
    }

    #[test]
    fn bad_formulas_name_the_column() {
        // (formula, column, fragment of the message)
        let cases: &[(&str, usize, &str)] = &[
            ("", 1, "empty formula"),
            ("   ", 1, "empty formula"),
            ("m +", 4, "found the end of the formula"),
            ("min(1)", 6, "`,` (min takes two arguments)"),
            ("min(1,2,3)", 8, "`)` (min takes two arguments)"),
            ("foo(1,2)", 1, "unknown name `foo`"),
            ("0.5*x", 5, "unknown name `x`"),
            ("2 3", 3, "expected an operator"),
            ("(m", 3, "expected `)`"),
            (
                "m)",
                2,
                "expected an operator or the end of the formula, found `)`",
            ),
            ("1..2", 3, "expected an operator"),
            ("1+.", 3, "`.` without digits"),
            ("m^", 3, "found the end"),
            ("max(1 2)", 7, "`,`"),
            ("m @ 2", 3, "unexpected character `@`"),
            ("1e", 2, "exponent without digits"),
            ("1e999", 1, "out of range"),
            ("min 1, 2", 5, "`(` after `min`"),
            ("*m", 1, "expected a number"),
            ("m**2", 3, "found `*`"),
            ("(,)", 2, "found `,`"),
        ];
        for &(text, column, frag) in cases {
            let e = Formula::parse(text).expect_err(text);
            assert_eq!(e.column, column, "{text}: {e}");
            assert!(e.msg.contains(frag), "{text}: {e}");
        }
        let deep = format!("{}m{}", "(".repeat(1000), ")".repeat(1000));
        assert!(Formula::parse(&deep).unwrap_err().msg.contains("nested"));
        let deep = format!("{}m", "-".repeat(100_000));
        assert!(Formula::parse(&deep).is_err());
        // Long flat chains are fine (iterative in the parser and the evaluator).
        let long = vec!["m"; 100_000].join("+");
        assert_eq!(Formula::parse(&long).unwrap().eval(1.0), 100_000.0);
    }

    #[test]
    fn knee_of_the_exam_curve() {
        // L(m)/m = min(0.5/m, 0.005 m): rising up to 0.5/m = 0.005 m, i.e. m^2 = 100.
        let l = Lifetime::Formula(Formula::parse("min(0.5, 0.005*m^2)").unwrap());
        let k = l.knee(100.0).unwrap();
        assert!((k.m - 10.0).abs() < 1e-9, "{k:?}");
        assert!((k.lifetime - 0.5).abs() < 1e-9);
        // A smooth curve: L = m^2 / (1 + m^3) has L/m = m / (1 + m^3), maximum where
        // 1 + m^3 = 3 m^3, m = 2^(-1/3), far from any grid point of (0, 7].
        let l = Lifetime::Formula(Formula::parse("m^2/(1+m^3)").unwrap());
        let k = l.knee(7.0).unwrap();
        assert!((k.m - 0.5f64.cbrt()).abs() < 1e-7, "{k:?}");
    }

    #[test]
    fn tables_interpolate_clamp_and_find_the_knee_among_points() {
        let csv = "# written by analyze\nm,faults,lifetime\n1,100,1\n2,50,2\n\n4,10,10\n8,9,11\n";
        let t = Table::parse_csv("t.csv", csv, 0.5).unwrap();
        let l = Lifetime::Table(t);
        assert_eq!(l.eval(0.0), 0.5); // clamped below
        assert_eq!(l.eval(1.5), 0.75); // halfway between 0.5 and 1
        assert_eq!(l.eval(3.0), 3.0); // halfway between 1 and 5
        assert_eq!(l.eval(100.0), 5.5); // clamped above
                                        // L/m at the points: 0.5, 0.5, 1.25, 0.6875 -> m = 4.
        assert_eq!(
            l.knee(100.0),
            Some(Knee {
                m: 4.0,
                lifetime: 5.0
            })
        );
        // Only points within (0, max_m] count while there are some.
        assert_eq!(
            l.knee(3.0),
            Some(Knee {
                m: 1.0,
                lifetime: 0.5
            })
        );
    }

    #[test]
    fn bad_tables_name_the_line() {
        let cases: &[(&str, Option<usize>, &str)] = &[
            ("", None, "empty file"),
            (
                "m,faults\n1,2\n",
                Some(1),
                "no `lifetime` column (it has: m, faults)",
            ),
            ("lifetime\n1\n", Some(1), "no `m` column"),
            ("m,lifetime\n", None, "no data rows"),
            (
                "m,lifetime\n1,2\n2,x\n",
                Some(3),
                "lifetime: `x` is not a number",
            ),
            ("m,lifetime\n1,2\n\n1,3\n", Some(4), "does not increase"),
            ("m,lifetime\n1\n", Some(2), "1 field(s), no `lifetime`"),
            (
                "m,lifetime\n1,-2\n",
                Some(2),
                "must be a finite number >= 0",
            ),
            ("m,lifetime\n1,inf\n", Some(2), "finite"),
        ];
        for &(text, line, frag) in cases {
            let e = Table::parse_csv("t.csv", text, 1.0).expect_err(text);
            assert_eq!(e.line, line, "{text:?}: {}", e.msg);
            assert!(e.msg.contains(frag), "{text:?}: {}", e.msg);
        }
    }
}
