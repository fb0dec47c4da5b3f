//! `medgym soak` against a real `medgym serve` for a few seconds: the short form of the
//! 10-minute run recorded in benches/README.md (tools/soak.sh). Episodes must end and restart
//! through autoreset, nothing may fail, and the CSV, plot and summary must say so.

use std::process::Command;
use std::time::{Duration, Instant};

mod common;

#[test]
fn a_short_soak_steps_every_session_without_errors_and_records_rss() {
    let server = common::serve(&[]);
    let addr = server.addr.clone();

    let out = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let soak = Command::new(env!("CARGO_BIN_EXE_medgym"))
        .args(["soak", "--server", &format!("http://{addr}")])
        .args(["--server-pid", &server.child.id().to_string()])
        .args(["--sessions", "200", "--batch", "50", "--workers", "2"])
        .args(["--minutes", "0.08", "--interval", "1", "--warmup", "2"])
        .args(["--no-errors", "--out"])
        .arg(out.path())
        .output()
        .expect("run medgym soak");
    let stdout = String::from_utf8_lossy(&soak.stdout);
    drop(server);
    assert!(
        soak.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&soak.stderr)
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "bounded in time"
    );

    let csv = std::fs::read_to_string(out.path().join("soak.csv")).expect("soak.csv");
    let mut rows = csv.lines();
    assert_eq!(
        rows.next(),
        Some("elapsed_s,rss_kib,steps,steps_per_s,episodes,errors")
    );
    let rows: Vec<Vec<&str>> = rows.map(|r| r.split(',').collect()).collect();
    assert!(rows.len() >= 4, "a sample a second over ~5 s:\n{csv}");
    for r in &rows {
        let rss: u64 = r[1].parse().expect("RSS sampled from /proc");
        assert!(rss > 10 * 1024, "server RSS {rss} KiB");
        assert_eq!(r[5], "0", "no errors:\n{csv}");
    }
    let last = rows.last().expect("rows");
    let steps: u64 = last[2].parse().expect("steps");
    let episodes: u64 = last[4].parse().expect("episodes");
    assert!(steps >= 200, "every session stepped at least once: {steps}");
    // The random policy diagnoses within the 30-turn limit, so episodes end and autoreset.
    assert!(episodes > 0, "episodes ended: {csv}");

    let summary = std::fs::read_to_string(out.path().join("summary.txt")).expect("summary");
    assert!(summary.contains("errors: 0"), "{summary}");
    assert!(summary.contains("server RSS: first"), "{summary}");
    assert!(summary.contains("steady state (from"), "{summary}");
    let svg = std::fs::read_to_string(out.path().join("soak.svg")).expect("soak.svg");
    assert!(
        svg.starts_with("<svg") && svg.contains("server RSS"),
        "an SVG plot"
    );
}
