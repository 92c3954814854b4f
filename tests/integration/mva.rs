//! `mmusim mva` end to end: the exam's thrashing model from the committed config, a
//! lifetime table giving the same answers as the formula it samples, textbook closed
//! forms through the binary, deterministic files, and bad inputs named by file, line and
//! key with exit code 2.

use std::path::Path;
use std::process::Command;

const EXAM: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/configs/mva/exam-thrashing.toml"
);

fn tmpdir(tag: &str) -> tempfile::TempDir {
    // A fresh folder per call (tempfile): a name from the pid alone is shared by the
    // tests of one process and by a later process with the same pid (issue 17 item 16).
    tempfile::Builder::new()
        .prefix(&format!("mmusim-mva-{tag}-"))
        .tempdir()
        .unwrap()
}

/// (exit code, stdout, stderr)
fn mva(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mmusim"))
        .arg("mva")
        .args(args)
        .output()
        .expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The CSV as (header, rows of fields).
fn csv(dir: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(dir.join("mva.csv")).unwrap();
    let mut lines = text.lines();
    let head = lines.next().unwrap().split(',').map(String::from).collect();
    let rows = lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    (head, rows)
}

fn col(head: &[String], rows: &[Vec<String>], name: &str) -> Vec<f64> {
    let i = head
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("{name}"));
    rows.iter().map(|r| r[i].parse().unwrap()).collect()
}

fn rel(a: f64, b: f64) -> f64 {
    ((a - b) / b).abs()
}

#[test]
fn exam_problem_2_end_to_end() {
    let tmp = tmpdir("exam");
    let dir = tmp.path();
    let (code, out, err) = mva(&["--config", EXAM, "--out", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    // Knee: L(m)/m = min(0.5/m, 0.005 m) is largest at m = 10, N = 100/10 = 10.
    assert!(
        out.contains("m = 10 pages, L = 0.5 s; N at the knee = M/m = 10 -> N = 10"),
        "{out}"
    );
    // Balance: L(100/N) = S2 = 0.02 s <=> 0.005 (100/N)^2 = 0.02 <=> N = 50, beyond 30.
    assert!(
        out.contains(
            "balance point D1 = D2(N): N = 50 (nearest integer 50; m = 2 pages), beyond N max = 30"
        ),
        "{out}"
    );
    // 1/D3 = 1/(10 x 0.01 s) = 10 jobs/s against the CPU's 1/5 s = 0.2.
    assert!(
        out.contains("I/O bound 1/D3 = 10 jobs/s never binds for N = 1..30"),
        "{out}"
    );
    let (head, rows) = csv(dir);
    assert_eq!(rows.len(), 30);
    let x = col(&head, &rows, "x_exact");
    let r = col(&head, &rows, "r_exact");
    let faults = col(&head, &rows, "faults");
    // N = 1: one job alternates thinking 30 s and being served D = 5 + 0.2 + 0.1 s.
    assert!(rel(x[0], 1.0 / 35.3) < 1e-12);
    assert!(rel(r[0], 5.3) < 1e-12);
    // F(N) = D1 / L(100/N): 10 while m >= 10, N^2/10 below.
    for (i, f) in faults.iter().enumerate() {
        let n = (i + 1) as f64;
        let want = if n <= 10.0 { 10.0 } else { n * n / 10.0 };
        assert!(rel(*f, want) < 1e-12, "N={n}: {f}");
    }
    // Interactive response time law, R = N/X - Z.
    for (i, (x, r)) in x.iter().zip(&r).enumerate() {
        assert!(rel(*r, (i + 1) as f64 / x - 30.0) < 1e-9);
    }
    // Every bound column holds: X <= min of them.
    let bound = col(&head, &rows, "bound");
    for name in ["bound_cpu", "bound_disk", "bound_io", "bound_light_load"] {
        for (b, x) in col(&head, &rows, name).iter().zip(&x) {
            assert!(x <= &(b * (1.0 + 1e-12)));
        }
    }
    for (b, x) in bound.iter().zip(&x) {
        assert!(x <= &(b * (1.0 + 1e-12)));
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("mva.json")).unwrap()).unwrap();
    assert_eq!(json["knee"]["n_nearest"], 10);
    assert_eq!(json["balance"]["n_nearest"], 50);
    assert_eq!(json["rows"].as_array().unwrap().len(), 30);
    assert_eq!(json["rows"][0]["bounds"]["binding"], "light load");
    let lifetime = std::fs::read_to_string(dir.join("lifetime.svg")).unwrap();
    assert!(lifetime.contains("knee m = 10 (N = 10)"));
    let tp = std::fs::read_to_string(dir.join("throughput.svg")).unwrap();
    assert!(tp.contains("X(N) exact MVA") && tp.contains("CPU bound 1/D1"));
}

#[test]
fn same_input_same_bytes() {
    let (ta, tb) = (tmpdir("det-a"), tmpdir("det-b"));
    let (a, b) = (ta.path(), tb.path());
    for d in [&a, &b] {
        let (code, _, err) = mva(&[
            "--config",
            EXAM,
            "--n-max",
            "60",
            "--out",
            d.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{err}");
    }
    for f in ["mva.json", "mva.csv", "throughput.svg", "lifetime.svg"] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f}"
        );
    }
}

/// A table sampling the formula at every integer m, in references per fault with 1 ms
/// per reference, is the same curve at integer m. X(N) depends only on the demands of
/// population N, so wherever M/N = 100/N is an integer the two runs must agree exactly;
/// the knee (among the table's points) is the formula's knee m = 10.
#[test]
fn a_lifetime_table_gives_the_formula_answers_at_its_points() {
    let tmp = tmpdir("table");
    let dir = tmp.path();
    let mut table = String::from("m,faults,lifetime\n");
    for m in 0..=100u32 {
        let l = (0.5f64).min(0.005 * f64::from(m * m)); // seconds
        table.push_str(&format!("{m},0,{}\n", l * 1000.0)); // references, 1 ms each
    }
    std::fs::write(dir.join("lru.csv"), table).unwrap();
    let cfg = std::fs::read_to_string(EXAM).unwrap().replace(
        "lifetime = \"min(0.5, 0.005*m^2)\"",
        "table = \"lru.csv\"\nseconds_per_reference = 0.001",
    );
    std::fs::write(dir.join("t.toml"), cfg).unwrap();
    let (ft, tt) = (dir.join("formula"), dir.join("table"));
    let (code, _, err) = mva(&["--config", EXAM, "--out", ft.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = mva(&[
        "--config",
        dir.join("t.toml").to_str().unwrap(),
        "--out",
        tt.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("m = 10 pages"), "{out}");
    let (hf, rf) = csv(&ft);
    let (ht, rt) = csv(&tt);
    let (xf, xt) = (col(&hf, &rf, "x_exact"), col(&ht, &rt, "x_exact"));
    for n in [1usize, 2, 4, 5, 10, 20, 25] {
        assert!(
            rel(xt[n - 1], xf[n - 1]) < 1e-12,
            "N={n}: {} vs {}",
            xt[n - 1],
            xf[n - 1]
        );
    }
    // Between sample points the table interpolates linearly, above the convex m^2
    // piece: more lifetime, fewer faults. N = 30 (m = 3.33) differs.
    let (ff, fto) = (col(&hf, &rf, "faults"), col(&ht, &rt, "faults"));
    assert!(fto[29] < ff[29]);
}

#[test]
fn textbook_closed_forms_through_the_binary() {
    let tmp = tmpdir("closed");
    let dir = tmp.path();
    // One queueing station, no think time: X(N) = 1/D = 4, R(N) = N D.
    std::fs::write(dir.join("one.toml"), "n_max = 6\n[cpu]\ndemand = 0.25\n").unwrap();
    let out = dir.join("one");
    let (code, _, err) = mva(&[
        "--config",
        dir.join("one.toml").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let (h, rows) = csv(&out);
    for (i, (x, r)) in col(&h, &rows, "x_exact")
        .iter()
        .zip(col(&h, &rows, "r_exact"))
        .enumerate()
    {
        assert!(rel(*x, 4.0) < 1e-14);
        assert!(rel(r, 0.25 * (i + 1) as f64) < 1e-14);
    }
    // Two stations D = 1 and 2 (a fixed disk demand), N = 2, no think time:
    // G(2) = 1 + 1*2 + 2^2 = 7, G(1) = 3, X(2) = 3/7.
    std::fs::write(
        dir.join("two.toml"),
        "n_max = 2\n[cpu]\ndemand = 1\n[disk]\ndemand = 2\n",
    )
    .unwrap();
    let out = dir.join("two");
    let (code, text, err) = mva(&[
        "--config",
        dir.join("two.toml").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(!text.contains("knee") && !text.contains("balance"));
    let (h, rows) = csv(&out);
    assert!(rel(col(&h, &rows, "x_exact")[1], 3.0 / 7.0) < 1e-14);
    assert!(!out.join("lifetime.svg").exists());
}

#[test]
fn bad_inputs_exit_2_naming_file_line_and_key() {
    let tmp = tmpdir("bad");
    let dir = tmp.path();
    let exam = std::fs::read_to_string(EXAM).unwrap();
    let line_of = |needle: &str| exam[..exam.find(needle).unwrap()].matches('\n').count() + 1;
    let cases: Vec<(&str, String, String)> = vec![
        (
            "unknown key",
            exam.replace("think_time = 30.0", "think_tme = 30.0"),
            format!(
                ":{}: think_tme: unknown field `think_tme`",
                line_of("think_time")
            ),
        ),
        (
            "bad formula",
            exam.replace("min(0.5, 0.005*m^2)", "min(0.5; 0.005*m^2)"),
            format!(
                ":{}: memory.lifetime: column 8: unexpected character `;`",
                line_of("lifetime =")
            ),
        ),
        (
            "missing table",
            exam.replace(
                "lifetime = \"min(0.5, 0.005*m^2)\"",
                "table = \"missing.csv\"",
            ),
            format!(":{}: memory.table: ", line_of("lifetime =")),
        ),
        (
            "bad table row",
            exam.replace("lifetime = \"min(0.5, 0.005*m^2)\"", "table = \"bad.csv\""),
            "bad.csv:3: lifetime: `oops` is not a number".to_owned(),
        ),
        (
            "no convergence",
            format!("{exam}\n[schweitzer]\nmax_iterations = 2\n"),
            "Schweitzer MVA did not converge for N = 2 within 2 iterations".to_owned(),
        ),
    ];
    std::fs::write(dir.join("bad.csv"), "m,lifetime\n1,0.1\n2,oops\n").unwrap();
    for (name, text, want) in cases {
        let f = dir.join(format!("{}.toml", name.replace(' ', "-")));
        std::fs::write(&f, text).unwrap();
        let (code, _, err) = mva(&["--config", f.to_str().unwrap()]);
        assert_eq!(code, 2, "{name}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(&want),
            "{name}:\n got: {err}\nwant: {want}"
        );
        assert_eq!(err.lines().count(), 1, "{name}: {err}");
    }
    let (code, _, err) = mva(&["--config", EXAM, "--n-max", "0"]);
    assert_eq!(
        (code, err.trim()),
        (2, "error: --n-max: 0: must be 1..=10000")
    );
    let (code, _, err) = mva(&["--config", "no/such.toml"]);
    assert_eq!(code, 2);
    assert!(err.starts_with("error: no/such.toml: cannot read"), "{err}");
}
