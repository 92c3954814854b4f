//! Compressed traces (issue 21 item 3): zstd written and read back, magic over suffix,
//! corrupt and truncated streams failing with the file and the decompressed offset, the
//! decoder thread giving the same run as raw bytes read on the simulation's thread, and
//! a run that stops before its trace ends not waiting for the decoder.

use mmusim::trace::compress::Sink;
use mmusim::trace::{self, BinaryFileWriter, TraceOptions};
use mmusim::workload::Access;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

fn run(dir: &Path, args: &[&str], secs: u64) -> (i32, String, String) {
    let (code, out, err) = crate::mmusim_bounded(Some(dir), args, b"", Duration::from_secs(secs));
    assert_ne!(
        code, -1,
        "mmusim {args:?} still running after {secs} s: {err}"
    );
    (code, out, err)
}

/// Every access of the trace at `p`, read in batches of 1000.
fn read_all(p: &Path) -> Vec<Access> {
    let mut src = trace::open(p, &TraceOptions::default()).unwrap();
    let (mut all, mut buf) = (Vec::new(), Vec::new());
    loop {
        buf.clear();
        src.fill(&mut buf, 1000).unwrap();
        if buf.is_empty() {
            return all;
        }
        all.extend_from_slice(&buf);
    }
}

/// Accesses that exercise every field: three kinds, instruction counts up to u32::MAX,
/// addresses up to the top of the address space.
fn accesses(n: u64) -> Vec<Access> {
    use mmusim::addr::AccessKind::*;
    (0..n)
        .map(|i| Access {
            vaddr: i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (i % 8),
            kind: [Load, Store, Fetch][(i % 3) as usize],
            instrs: if i % 1000 == 7 {
                u32::MAX
            } else {
                (i % 5) as u32
            },
        })
        .collect()
}

/// `.mmt.zst` written by the writer reads back as the same accesses, and the file is
/// a zstd frame (magic 28 B5 2F FD), not raw records.
#[test]
fn zstd_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.mmt.zst");
    let want = accesses(300_000);
    let mut w = BinaryFileWriter::create(&p, 4096).unwrap();
    w.write_all_accesses(&want).unwrap();
    w.finish().unwrap();
    let bytes = std::fs::read(&p).unwrap();
    assert_eq!(bytes[..4], [0x28, 0xB5, 0x2F, 0xFD]);
    // Compressed: under the raw size (32-byte header, 300,000 16-byte records), even
    // with these scrambled addresses.
    assert!(bytes.len() < 32 + 300_000 * 16, "{}", bytes.len());
    assert_eq!(read_all(&p), want);
}

/// The magic bytes decide, whatever the suffix says: zstd named `.mmt` or `.mmt.xz`,
/// raw records named `.mmt.zst`, all read as the same accesses.
#[test]
fn zstd_magic_wins_over_the_suffix() {
    let dir = tempfile::tempdir().unwrap();
    let want = accesses(20_000);
    let zst = dir.path().join("a.mmt.zst");
    let raw = dir.path().join("a.mmt");
    for p in [&zst, &raw] {
        let mut w = BinaryFileWriter::create(p, 4096).unwrap();
        w.write_all_accesses(&want).unwrap();
        w.finish().unwrap();
    }
    let (zbytes, rbytes) = (std::fs::read(&zst).unwrap(), std::fs::read(&raw).unwrap());
    for (name, bytes) in [
        ("z-as.mmt", &zbytes),
        ("z-as.mmt.xz", &zbytes),
        ("z-as.mmt.gz", &zbytes),
        ("r-as.mmt.zst", &rbytes),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        assert_eq!(read_all(&p), want, "{name}");
    }
}

/// `trace convert` to a name without a suffix writes `.mmt.zst` and says so; `.mmt`
/// stays raw (the name says what the file holds).
#[test]
fn convert_defaults_to_zstd() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("in.txt"), "R 0x1000\nW 0x2000\nF 0x400000\n").unwrap();
    let (code, _, err) = run(d, &["trace", "convert", "in.txt", "plain"], 30);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("3 accesses written to plain.mmt.zst"), "{err}");
    assert!(!d.join("plain").exists());
    assert_eq!(
        std::fs::read(d.join("plain.mmt.zst")).unwrap()[..4],
        [0x28, 0xB5, 0x2F, 0xFD]
    );
    let (code, _, err) = run(d, &["trace", "convert", "in.txt", "raw.mmt"], 30);
    assert_eq!(code, 0, "{err}");
    assert_eq!(&std::fs::read(d.join("raw.mmt")).unwrap()[..8], b"MMUTRACE");
    assert_eq!(
        read_all(&d.join("plain.mmt.zst")),
        read_all(&d.join("raw.mmt"))
    );
}

/// A `.mmt` trace of `n` accesses, compressed by `name`'s suffix.
fn compressed(name: &Path, n: u64) -> Vec<u8> {
    let mut w = BinaryFileWriter::create(name, 4096).unwrap();
    w.write_all_accesses(&accesses(n)).unwrap();
    w.finish().unwrap();
    std::fs::read(name).unwrap()
}

/// Rows in the style of `bad_inputs`: a corrupt or truncated `.zst` and `.xz` under
/// `run`, `trace stats` and `trace convert` exits 2 (no panic, no hang) and stderr
/// names the file, the decompressed byte offset and the codec.
#[test]
fn corrupt_and_truncated_streams_exit_2_with_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 200,000 records = 3.2 MB decompressed: many decoder chunks before the damage.
    for (suffix, codec) in [("zst", "zstd"), ("xz", "xz")] {
        let good = compressed(&d.join(format!("good.mmt.{suffix}")), 200_000);
        let mut flipped = good.clone();
        let mid = flipped.len() / 2;
        for b in &mut flipped[mid..mid + 32] {
            *b ^= 0xA5;
        }
        let cut = good[..good.len() * 3 / 4].to_vec();
        for (what, bytes) in [("flipped", flipped), ("cut", cut)] {
            let name = format!("{what}.mmt.{suffix}");
            std::fs::write(d.join(&name), bytes).unwrap();
            for args in [
                vec!["run", "-q", "--trace", &name, "--out", "o"],
                vec!["trace", "stats", &name],
                vec!["trace", "convert", &name, "back.mmt"],
            ] {
                let (code, _, err) = run(d, &args, 60);
                assert_eq!(code, 2, "{args:?}: {err}");
                assert!(!err.contains("panicked"), "{args:?}: {err}");
                let at = err
                    .find(&format!("{name}: byte "))
                    .unwrap_or_else(|| panic!("{args:?}: {err}"));
                let rest = &err[at + name.len() + ": byte ".len()..];
                let (off, msg) = rest.split_once(": ").unwrap();
                let off: u64 = off.parse().unwrap_or_else(|_| panic!("{err}"));
                assert!(msg.starts_with(&format!("{codec} stream: ")), "{err}");
                // Truncation keeps a prefix of the 32 + 3.2 M decompressed bytes.
                if what == "cut" {
                    assert!(off < 32 + 200_000 * 16, "{err}");
                }
            }
            assert!(!d.join("back.mmt").exists());
        }
    }
}

/// The decoder thread hands the simulation the same bytes as a raw file read on the
/// simulation's own thread: the committed gzip trace (xz, decoded on the thread), the
/// same bytes raw and recompressed as zstd, each under the committed file's name in a
/// copy of the workload folder (the magic decides), give byte-identical result.json.
#[test]
fn decoder_thread_gives_the_same_result_as_raw_bytes() {
    let xz = std::fs::read("workloads/traces/gzip.mmt.xz").unwrap();
    let mut raw = Vec::new();
    // Decompressed independently of mmusim's reader.
    liblzma::read::XzDecoder::new(&xz[..])
        .read_to_end(&mut raw)
        .unwrap();
    let wl = std::fs::read("workloads/trace-gzip.toml").unwrap();
    let results: Vec<(String, String)> = [
        ("xz", xz),
        ("raw", raw.clone()),
        ("zstd", {
            let mut e = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
            e.write_all(&raw).unwrap();
            e.finish().unwrap()
        }),
    ]
    .into_iter()
    .map(|(what, bytes)| {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("traces")).unwrap();
        std::fs::write(d.join("traces/gzip.mmt.xz"), bytes).unwrap();
        std::fs::write(d.join("trace-gzip.toml"), &wl).unwrap();
        let (code, _, err) = run(
            d,
            &["run", "-q", "-w", "trace-gzip.toml", "--out", "o"],
            300,
        );
        assert_eq!(code, 0, "{what}: {err}");
        let json = std::fs::read_to_string(d.join("o/result.json")).unwrap();
        (what.to_string(), json)
    })
    .collect();
    assert!(results[0].1.contains("\"accesses\""));
    for (what, json) in &results[1..] {
        assert!(json == &results[0].1, "{what} differs from xz");
    }
}

/// A run that ends long before its trace (1,000 of the 3 M accesses of the committed
/// python trace) ends promptly and cleanly: the decoder thread, blocked on a full
/// channel, does not keep the process alive or make it wait.
#[test]
fn a_run_shorter_than_its_trace_does_not_wait_for_the_decoder() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let wl = Path::new("workloads/trace-python.toml")
        .canonicalize()
        .unwrap();
    let wl = wl.to_str().unwrap();
    let (code, _, err) = run(
        d,
        &[
            "run",
            "-q",
            "-w",
            wl,
            "--set",
            "workload.accesses=1000",
            "--set",
            "sim.warmup_accesses=0",
            "--out",
            "o",
        ],
        60,
    );
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("o/result.json")).unwrap()).unwrap();
    assert_eq!(json["stats"]["total"]["accesses"], 1000);
}

/// What a `Sink` writes for each suffix is what the reader decodes (xz through
/// liblzma, zstd, gzip, raw), including an empty stream.
#[test]
fn every_sink_codec_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..1_000_000u32)
        .map(|i| (i % 253) as u8 ^ (i >> 12) as u8)
        .collect();
    for suffix in ["bin", "gz", "xz", "zst"] {
        for payload in [&data[..], &[][..]] {
            let p = dir.path().join(format!("d.{suffix}"));
            let mut s = Sink::new(std::fs::File::create(&p).unwrap(), &p).unwrap();
            s.write_all(payload).unwrap();
            s.finish().unwrap();
            let (mut r, _) = trace::compress::open_read(&p).unwrap();
            let mut back = Vec::new();
            r.read_to_end(&mut back).unwrap();
            assert!(back == payload, "{suffix} {}", payload.len());
        }
    }
}

/// `trace record` writes zstd when the name does not say otherwise: without `--out`
/// (PROGRAM.mmt.zst) and for a name without a suffix (+ .mmt.zst); `.mmt` stays raw.
#[test]
fn record_writes_zstd_by_default() {
    if std::process::Command::new("valgrind")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("skipped: valgrind not found (CI installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (args, file, magic) in [
        (vec![], "true.mmt.zst", &[0x28u8, 0xB5, 0x2F, 0xFD][..]),
        (
            vec!["--out", "bare"],
            "bare.mmt.zst",
            &[0x28, 0xB5, 0x2F, 0xFD][..],
        ),
        (vec!["--out", "r.mmt"], "r.mmt", &b"MMUTRACE"[..]),
    ] {
        let mut all = vec!["trace", "record"];
        all.extend(args);
        all.extend(["--", "/bin/true"]);
        let (code, _, err) = run(d, &all, 120);
        assert_eq!(code, 0, "{all:?}: {err}");
        assert!(err.contains(&format!("recorded to {file}")), "{err}");
        let bytes = std::fs::read(d.join(file)).unwrap();
        assert_eq!(&bytes[..magic.len()], magic, "{file}");
        // /bin/true under valgrind: thousands of accesses (the dynamic loader).
        assert!(read_all(&d.join(file)).len() > 1000, "{file}");
    }
    assert!(!d.join("bare").exists());
}

/// A run's automatic warm-up from a compressed trace is counted on the thread that
/// decodes the trace once for the count and the run, while the run goes: the same
/// warm-up, rule and result.json as the same bytes raw (whose length the file's size
/// tells), on one core and on two cores running two processes each (a core's stream is
/// then two traces long).
#[test]
fn a_warmup_counted_during_the_run_equals_the_raw_traces() {
    let xz = std::fs::read("workloads/traces/gzip.mmt.xz").unwrap();
    let mut raw = Vec::new();
    liblzma::read::XzDecoder::new(&xz[..])
        .read_to_end(&mut raw)
        .unwrap();
    let records = (raw.len() as u64 - 32) / 16;
    for (sets, per_core) in [
        (vec![], records),
        (
            vec!["--set", "sim.cores=2", "--set", "os.sched.processes=4"],
            2 * records,
        ),
    ] {
        let results: Vec<String> = [&xz, &raw]
            .iter()
            .map(|bytes| {
                let dir = tempfile::tempdir().unwrap();
                let d = dir.path();
                // Both under one name (the magic decides), so result.json may be equal.
                std::fs::write(d.join("t.mmt.xz"), bytes).unwrap();
                let mut args = vec!["run", "-q", "--trace", "t.mmt.xz", "--out", "o"];
                args.extend(&sets);
                let (code, _, err) = run(d, &args, 300);
                assert_eq!(code, 0, "{args:?}: {err}");
                std::fs::read_to_string(d.join("o/result.json")).unwrap()
            })
            .collect();
        let json: serde_json::Value = serde_json::from_str(&results[0]).unwrap();
        assert_eq!(
            json["warmup"]["accesses_per_core"],
            per_core / 2,
            "{sets:?}"
        );
        assert_eq!(
            json["warmup"]["rule"],
            format!("auto: half of each core's trace stream ({per_core} accesses)")
        );
        assert_eq!(json["warmup"]["reached"], true);
        assert!(results[0] == results[1], "{sets:?}: xz and raw differ");
    }
}

/// The count's error wins over the simulation's: a `.mmt.zst` whose records decode
/// intact but whose content checksum (the frame's last bytes) is wrong, and whose
/// 1,000th access lies beyond the page table's reach. The run meets that address long
/// before the decoder meets the checksum at the end of 3.2 MB, yet it reports the
/// codec's error, naming the file, as the counting pass before the run did (exit 2).
#[test]
fn a_corrupt_stream_is_the_codecs_error_even_when_the_simulation_fails_first() {
    use mmusim::addr::AccessKind::Load;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = d.join("bad.mmt.zst");
    let mut w = BinaryFileWriter::create(&p, 4096).unwrap();
    for i in 0..200_000u64 {
        let vaddr = if i == 1000 {
            1 << 62
        } else {
            0x1000_0000 + (i % 512) * 4096
        };
        let a = Access {
            vaddr,
            kind: Load,
            instrs: 1,
        };
        w.write(&a).unwrap();
    }
    w.finish().unwrap();
    // The same records raw: the simulation's own error.
    let (code, _, err) = run(
        d,
        &["run", "-q", "--trace", "bad.mmt.zst", "--out", "o"],
        60,
    );
    assert_eq!(code, 2, "{err}");
    assert!(!err.contains("zstd stream"), "{err}");
    let mut bytes = std::fs::read(&p).unwrap();
    *bytes.last_mut().unwrap() ^= 0xFF;
    std::fs::write(&p, &bytes).unwrap();
    let (code, _, err) = run(
        d,
        &["run", "-q", "--trace", "bad.mmt.zst", "--out", "o"],
        60,
    );
    assert_eq!(code, 2, "{err}");
    // At the end of the records, where the checksum is (32 + 200,000 x 16 bytes).
    assert!(
        err.contains("bad.mmt.zst: byte 3200032: zstd stream: "),
        "{err}"
    );
    assert!(!err.contains("reach"), "{err}");
}

/// A folder with the recorded gzip trace as `g.mmt.xz` and, made by `trace convert`,
/// `g.txt`, `g.txt.xz` and `g.mmt`; and its record count.
fn gzip_in_three_forms() -> (tempfile::TempDir, u64) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::copy("workloads/traces/gzip.mmt.xz", d.join("g.mmt.xz")).unwrap();
    for out in ["g.txt", "g.txt.xz", "g.mmt"] {
        let (code, _, err) = run(d, &["trace", "convert", "g.mmt.xz", out], 120);
        assert_eq!(code, 0, "convert to {out}: {err}");
    }
    let records = read_all(&d.join("g.mmt")).len() as u64;
    (dir, records)
}

/// The one-decode path counts a trace by reading it (not by its size) when the run
/// caps the stream (`workload.accesses`) or the trace is text: a capped `.mmt.xz`, and
/// the same trace as `.txt.xz`, give the same result.json as their bytes raw, with the
/// warm-up at half the capped length. The text trace is made by `trace convert`.
#[test]
fn capped_and_text_traces_counted_while_decoding_equal_their_raw_bytes() {
    let (dir, records) = gzip_in_three_forms();
    let d = dir.path();
    let cap = records / 3;
    for (compressed, raw, sets) in [
        (
            "g.mmt.xz",
            "g.mmt",
            vec![format!("workload.accesses={cap}")],
        ),
        ("g.txt.xz", "g.txt", vec![]),
        (
            "g.txt.xz",
            "g.txt",
            vec![format!("workload.accesses={cap}")],
        ),
    ] {
        let results: Vec<String> = [compressed, raw]
            .iter()
            .map(|file| {
                // Both under the compressed name (the magic decides), so that the
                // workload's path in result.json is the same.
                let sub = tempfile::tempdir_in(d).unwrap();
                std::fs::copy(d.join(file), sub.path().join(compressed)).unwrap();
                let mut args = vec!["run", "-q", "--trace", compressed, "--out", "o"];
                for s in &sets {
                    args.extend(["--set", s.as_str()]);
                }
                let (code, _, err) = run(sub.path(), &args, 300);
                assert_eq!(code, 0, "{file} {sets:?}: {err}");
                std::fs::read_to_string(sub.path().join("o/result.json")).unwrap()
            })
            .collect();
        let json: serde_json::Value = serde_json::from_str(&results[0]).unwrap();
        let len = if sets.is_empty() { records } else { cap };
        assert_eq!(
            json["warmup"]["accesses_per_core"],
            len / 2,
            "{compressed} {sets:?}"
        );
        assert_eq!(json["warmup"]["reached"], true, "{compressed} {sets:?}");
        assert!(
            results[0] == results[1],
            "{compressed} {sets:?}: compressed and raw differ"
        );
    }
}

/// A trace whose decoded bytes do not fit the queue (`MMUSIM_QUEUE_MAX` lowers the
/// bound from 384 MiB so that a small trace takes that path): the run reads what the
/// queue holds, then decodes the file again itself and skips those bytes, while the
/// thread goes on counting. With no byte queued, one 2 MiB chunk and two, the whole
/// `.mmt.xz` (counted by its decoded size), a capped one and a `.txt.xz` (counted by a
/// reader) each give the result.json of their raw bytes. Would catch bytes skipped
/// twice or not at all where the queue stopped, or a count lost on that path.
#[test]
fn traces_longer_than_the_queue_decoded_twice_equal_their_raw_bytes() {
    let (dir, records) = gzip_in_three_forms();
    let d = dir.path();
    // Decoded, the .mmt trace is 16 bytes per record: the bounds must cut it.
    assert!(
        records * 16 > 5 << 20,
        "{records} records: too short to cut"
    );
    let cap = format!("workload.accesses={}", records * 2 / 3);
    let cases: [(&str, &str, Option<&str>); 3] = [
        ("g.mmt.xz", "g.mmt", None),
        ("g.mmt.xz", "g.mmt", Some(cap.as_str())),
        ("g.txt.xz", "g.txt", None),
    ];
    let result = |file: &str, name: &str, set: Option<&str>, bound: Option<&str>| {
        let sub = tempfile::tempdir_in(d).unwrap();
        std::fs::copy(d.join(file), sub.path().join(name)).unwrap();
        let mut args = vec!["run", "-q", "--trace", name, "--out", "o"];
        if let Some(s) = set {
            args.extend(["--set", s]);
        }
        let env: Vec<(&str, &str)> = bound.iter().map(|b| ("MMUSIM_QUEUE_MAX", *b)).collect();
        let (code, _, err) = crate::mmusim_bounded_env(
            Some(sub.path()),
            &args,
            b"",
            std::time::Duration::from_secs(300),
            &env,
        );
        assert_eq!(code, 0, "{file} {set:?} {bound:?}: {err}");
        std::fs::read_to_string(sub.path().join("o/result.json")).unwrap()
    };
    for (compressed, raw, set) in cases {
        // Under the compressed name (the magic decides), so the paths in result.json agree.
        let want = result(raw, compressed, set, None);
        let json: serde_json::Value = serde_json::from_str(&want).unwrap();
        assert_eq!(json["warmup"]["reached"], true, "{compressed} {set:?}");
        for bound in ["0", "2097152", "4194304"] {
            let got = result(compressed, compressed, set, Some(bound));
            assert!(
                got == want,
                "{compressed} {set:?}, queue bound {bound}: compressed and raw differ"
            );
        }
    }
}
