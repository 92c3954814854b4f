//! Trace read throughput, in accesses per second: mmusim's binary `.mmt`, valgrind lackey
//! text and ChampSim records, each a trace of at least 50 M accesses generated once into
//! a temporary folder (and read once before measuring, so it is in the page cache).
//!
//! `cargo bench --bench trace`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mmusim::addr::AccessKind;
use mmusim::trace::{champsim, open, BinaryFileWriter, TraceOptions};
use mmusim::workload::Access;
use std::io::{BufWriter, Write};
use std::path::Path;

const ACCESSES: u64 = 50_000_000;

/// A cheap deterministic generator (xorshift), so generation stays fast.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// A heap address: mostly near the previous one, sometimes anywhere in 4 GiB.
fn data_addr(rng: &mut Rng, prev: &mut u64) -> u64 {
    let r = rng.next();
    *prev = if r % 8 == 0 {
        0x7f00_0000_0000 + (r >> 16) % (4 << 30)
    } else {
        prev.wrapping_add((r >> 40) % 256) & !7
    };
    *prev
}

fn write_binary(p: &Path) {
    let mut w = BinaryFileWriter::create(p, 4096).unwrap();
    let mut rng = Rng(1);
    let mut prev = 0x7f00_0000_0000;
    for i in 0..ACCESSES {
        let kind = match i % 4 {
            0 => AccessKind::Fetch,
            1 | 2 => AccessKind::Load,
            _ => AccessKind::Store,
        };
        let vaddr = if kind == AccessKind::Fetch {
            0x40_0000 + (i & 0xffff) * 4
        } else {
            data_addr(&mut rng, &mut prev)
        };
        w.write(&Access {
            vaddr,
            kind,
            instrs: (i % 4 == 0) as u32,
        })
        .unwrap();
    }
    w.finish().unwrap();
}

/// Appends `v` as at least 8 lowercase hex digits, as valgrind prints addresses.
fn hex(out: &mut Vec<u8>, v: u64) {
    let digits = (16 - v.leading_zeros() as usize / 4).max(8);
    for k in (0..digits).rev() {
        out.push(b"0123456789abcdef"[(v >> (4 * k) & 15) as usize]);
    }
}

/// Lackey with fetches: every line is an access (I lines one each, M lines two).
fn write_lackey(p: &Path) {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(p).unwrap());
    w.write_all(b"==4242== Lackey, an example Valgrind tool\n")
        .unwrap();
    let mut rng = Rng(2);
    let mut prev = 0x7f00_0000_0000;
    let mut line = Vec::with_capacity(64);
    let mut n = 0u64;
    let mut ip = 0x40_0000u64;
    while n < ACCESSES {
        line.clear();
        let r = rng.next();
        ip = 0x40_0000 + (ip + 1 + r % 6) % (1 << 20);
        line.extend_from_slice(b"I  ");
        hex(&mut line, ip);
        line.extend_from_slice(b",3\n");
        n += 1;
        let op = match (r >> 8) % 10 {
            0..=3 => Some(b'L'),
            4 | 5 => Some(b'S'),
            6 => Some(b'M'),
            _ => None,
        };
        if let Some(op) = op {
            line.extend_from_slice(&[b' ', op, b' ']);
            hex(&mut line, data_addr(&mut rng, &mut prev));
            line.extend_from_slice(b",8\n");
            n += if op == b'M' { 2 } else { 1 };
        }
        w.write_all(&line).unwrap();
    }
    w.write_all(b"==4242== \n").unwrap();
    w.flush().unwrap();
}

fn write_champsim(p: &Path) {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(p).unwrap());
    let mut rng = Rng(3);
    let mut prev = 0x7f00_0000_0000;
    let mut n = 0u64;
    let mut i = 0u64;
    while n < ACCESSES {
        let r = rng.next();
        let mut loads = [0u64; 4];
        let mut stores = [0u64; 2];
        if r % 3 != 0 {
            loads[0] = data_addr(&mut rng, &mut prev);
        }
        if r % 5 == 0 {
            stores[0] = data_addr(&mut rng, &mut prev);
        }
        n += 1 + loads.iter().chain(&stores).filter(|&&a| a != 0).count() as u64;
        w.write_all(&champsim::encode_record(
            0x40_0000 + (i & 0xffff) * 4,
            &loads,
            &stores,
        ))
        .unwrap();
        i += 1;
    }
    w.flush().unwrap();
}

/// Text: the binary trace's accesses, converted by the library's own writer.
fn write_text(p: &Path) {
    let bin = p.with_extension("mmt");
    write_binary(&bin);
    mmusim::trace::convert(&bin, &TraceOptions::default(), p).unwrap();
    std::fs::remove_file(&bin).unwrap();
}

/// A `.refs` page reference string is held whole by its reader (at most 64 MiB of
/// text), so it is measured on fewer references.
const REFS: u64 = 5_000_000;

fn write_refs(p: &Path) {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(p).unwrap());
    let mut rng = Rng(4);
    for i in 0..REFS {
        let page = if i % 4 == 0 {
            rng.next() % 1_000_000
        } else {
            i % 5000
        };
        write!(w, "{page} ").unwrap();
    }
    w.flush().unwrap();
}

/// Reads the whole trace; returns the number of accesses.
fn read_all(p: &Path, opts: &TraceOptions, buf: &mut Vec<Access>) -> u64 {
    let mut src = open(p, opts).unwrap();
    let mut n = 0;
    loop {
        buf.clear();
        src.fill(buf, 4096).unwrap();
        if buf.is_empty() {
            return n;
        }
        n += buf.len() as u64;
    }
}

fn traces(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    type Writer = fn(&Path);
    let cases: [(&str, &str, Writer); 5] = [
        ("binary", "t.mmt", write_binary),
        ("lackey", "t.lackey", write_lackey),
        ("champsim", "t.champsim", write_champsim),
        ("text", "t.txt", write_text),
        ("refs", "t.refs", write_refs),
    ];
    let opts = TraceOptions::default();
    let mut buf = Vec::with_capacity(4096);
    for (name, file, write) in cases {
        let p = dir.path().join(file);
        write(&p);
        // Counts the accesses and puts the file in the page cache.
        let n = read_all(&p, &opts, &mut buf);
        let want = if name == "refs" { REFS } else { ACCESSES };
        assert!(n >= want, "{name}: {n}");
        let mut g = c.benchmark_group("trace_read");
        g.sample_size(10);
        g.throughput(Throughput::Elements(n));
        g.bench_function(name, |b| b.iter(|| read_all(&p, &opts, &mut buf)));
        g.finish();
    }
}

criterion_group!(benches, traces);
criterion_main!(benches);
