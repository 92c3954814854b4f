//! Truncated and corrupted inputs for every reader (issue 17): each small valid trace of
//! each format, raw and behind gzip and xz, cut at every byte and with bytes replaced by
//! hostile ones, must read to an end or to an error naming the file, quickly; never a
//! panic or a hang. (The broad randomized harness lives elsewhere; this one is small and
//! systematic.)

use super::compress::testing::{gz, xz, zst};
use super::*;
use crate::addr::AccessKind;
use std::time::{Duration, Instant};

/// Reads the trace `bytes` named `name` (format by name, codec by magic bytes) as
/// `open` does, from memory; returns the number of accesses read or the error.
fn read_mem(name: &str, bytes: &[u8], fetches: bool) -> Result<usize, TraceError> {
    let opts = TraceOptions {
        fetches,
        ..TraceOptions::default()
    };
    let (r, _) = compress::wrap_read(Box::new(Cursor::new(bytes.to_vec())))
        .map_err(|e| TraceError::io(name, &e))?;
    let format = format_from_name(Path::new(name)).expect("test names say their format");
    let mut src = NonEmpty {
        inner: open_stream(name.to_string(), r, format, &opts)?,
        name: name.to_string(),
        fetches,
        seen: false,
    };
    let mut buf = Vec::new();
    let mut n = 0;
    loop {
        buf.clear();
        src.next_batch(&mut buf, 512)?;
        assert!(buf.len() <= 512, "{name}: {} > 512", buf.len());
        if buf.is_empty() {
            return Ok(n);
        }
        n += buf.len();
        // A corrupt header may promise a long stream; nothing here holds more.
        assert!(
            n < 1 << 25,
            "{name}: {n} accesses from {} bytes",
            bytes.len()
        );
    }
}

/// Small valid traces of every format, each with its access count (fetches on).
fn samples() -> Vec<(&'static str, Vec<u8>, usize)> {
    let lackey = b"==7== Lackey\nI  0040100a,3\n L 7ff0001000,8\n S 7ff0001ffc,8\n \
        M 00601ffe,4\nI  00400ffe,5\n==7== end\n"
        .to_vec();
    let text = b"# t\nR 0x1000\nW 4096 8\nF 0x400000 i=2\nmunmap 0x1000 0x2000\n\
        R 0x1ffc 8 i=0\nmprotect 0x1000 0x1000 r\n"
        .to_vec();
    let refs = b"1 2 (3 4)x3 # c\n(5 (6)x2)x2, 7\n".to_vec();
    let mut champsim = Vec::new();
    for (ip, loads, stores) in [
        (0x401000u64, &[0x7000_0010u64, 0x7000_2000][..], &[][..]),
        (0x401004, &[], &[0xdead_b000u64][..]),
        (
            0x401008,
            &[0x5000, 0x6000, 0x7000, 0x8000],
            &[0x9000, 0xa000],
        ),
    ] {
        champsim.extend_from_slice(&champsim::encode_record(ip, loads, stores));
    }
    // With its record count in the header (patched at the end).
    let mut w = BinaryWriter::new(Cursor::new(Vec::new()), 4096).unwrap();
    for i in 0..4u64 {
        w.write(&Access {
            vaddr: 0x1000 * (i + 1),
            kind: AccessKind::Load,
            instrs: 1,
        })
        .unwrap();
    }
    let mmt = w.finish_seekable().unwrap().into_inner();
    vec![
        // I, L, S (2 pages), M (2 x 2 pages), I (2 pages).
        ("s.lackey", lackey.clone(), 10),
        // R, W, F, R (2 pages); the two events make no access.
        ("s.txt", text, 5),
        ("s.refs", refs, 15),
        // 1 + 2, 1 + 1, 1 + 6.
        ("s.champsim", champsim.clone(), 12),
        ("s.mmt", mmt.clone(), 4),
        ("s.lackey.gz", gz(&lackey), 10),
        ("s.lackey.xz", xz(&lackey), 10),
        ("s.champsim.gz", gz(&champsim), 12),
        ("s.mmt.xz", xz(&mmt), 4),
        ("s.mmt.zst", zst(&mmt), 4),
        ("s.lackey.zst", zst(&lackey), 10),
    ]
}

/// The error names the file, and the reading took less than `limit`.
fn check(name: &str, r: &Result<usize, TraceError>, took: Duration, what: &str) {
    assert!(took < Duration::from_secs(2), "{name} {what}: {took:?}");
    if let Err(e) = r {
        assert_eq!(e.file, name, "{name} {what}: {e}");
        assert!(!e.msg.is_empty(), "{name} {what}");
    }
}

#[test]
fn samples_read_whole() {
    for (name, bytes, n) in samples() {
        assert_eq!(read_mem(name, &bytes, true).unwrap(), n, "{name}");
    }
}

/// Every prefix of every sample: an end or an error naming the file. A prefix of a
/// compressed stream or of a counted `.mmt` is always an error (never a silently
/// shorter trace); so is a ChampSim prefix that ends inside a record, and the empty
/// prefix of every format.
#[test]
fn truncated_at_every_byte() {
    let mut variants = 0;
    for (name, bytes, _) in samples() {
        for cut in 0..bytes.len() {
            let start = Instant::now();
            let r = read_mem(name, &bytes[..cut], true);
            check(name, &r, start.elapsed(), &format!("cut at {cut}"));
            let must_fail = cut == 0
                || name.ends_with(".gz")
                || name.ends_with(".xz")
                || name.ends_with(".mmt")
                || (name.ends_with(".champsim") && cut % champsim::RECORD != 0);
            if must_fail {
                assert!(r.is_err(), "{name} cut at {cut}: read {r:?}");
            }
            variants += 1;
        }
    }
    assert!(variants > 600, "{variants}");
}

/// Bytes replaced by hostile ones (NUL, 0xFF, a newline, group syntax, digits, a
/// comment sign, a UTF-8 lead byte) at every position of every raw sample, and one
/// byte flipped at spread positions of the compressed ones.
#[test]
fn corrupted_bytes() {
    let hostile = [0u8, 0xFF, b'\n', b'(', b')', b'x', b'9', b'#', b'M', 0xC3];
    let mut variants = 0;
    let mut errors = 0;
    for (name, bytes, _) in samples() {
        let compressed = name.ends_with(".gz") || name.ends_with(".xz");
        let step = if compressed { 3 } else { 1 };
        for at in (0..bytes.len()).step_by(step) {
            let subs: Vec<u8> = if compressed {
                vec![bytes[at] ^ 0x10]
            } else {
                hostile
                    .iter()
                    .copied()
                    .filter(|&b| b != bytes[at])
                    .collect()
            };
            for b in subs {
                let mut v = bytes.clone();
                v[at] = b;
                for fetches in [true, false] {
                    let start = Instant::now();
                    let r = read_mem(name, &v, fetches);
                    check(name, &r, start.elapsed(), &format!("byte {at} = {b:#x}"));
                    errors += usize::from(r.is_err());
                    variants += 1;
                }
            }
        }
    }
    // Both outcomes occur: the sweep reaches decoding and error paths.
    assert!(variants > 5000 && errors > 1000, "{variants} {errors}");
}

/// Reference strings built to exhaust time or memory: empty groups repeated 2^64 - 1
/// times, products past the limit, deep nesting, numbers past 64 bits.
#[test]
fn hostile_reference_strings() {
    let deep = format!("{}1{}", "(".repeat(40), ")".repeat(40));
    let cases: Vec<(String, Option<usize>)> = vec![
        ("1 ()x18446744073709551615".into(), Some(1)),
        (
            "(()x18446744073709551615)x18446744073709551615 2".into(),
            Some(1),
        ),
        ("((1)x0)x18446744073709551615 3 4".into(), Some(2)),
        // Groups repeated 0 times are measured, never expanded then dropped.
        (format!("{}2", "((1)x16777216)x0 ".repeat(500)), Some(1)),
        ("(1 2)x18446744073709551615".into(), None),
        ("((1)x65536)x65536".into(), None),
        ("1x18446744073709551616".into(), None),
        ("99999999999999999999".into(), None),
        (deep, None),
        ("(".repeat(10_000), None),
        (")".repeat(10_000), None),
        ("x5".into(), None),
        ("()".into(), None),
        ("".into(), None),
    ];
    for (text, want) in cases {
        let start = Instant::now();
        let r = read_mem("h.refs", text.as_bytes(), true);
        check("h.refs", &r, start.elapsed(), &text[..text.len().min(40)]);
        match want {
            Some(n) => assert_eq!(r.unwrap(), n, "{text}"),
            None => assert!(r.is_err(), "{text}: {r:?}"),
        }
    }
}
