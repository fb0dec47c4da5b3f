//! Two `medgym serve` processes behind one `medgym rollout --server a,b`: killing one mid-run
//! loses only its in-flight episodes, which start again on the other, so the output is the same
//! as a run against one server, and as a run in process.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

fn serve(replica: &str) -> common::Running {
    let running = common::serve(&["--replica-id", replica]);
    assert!(
        running.line.contains(&format!("replica=\"{replica}\"")),
        "{}",
        running.line
    );
    running
}

/// Every record of a rollout file without its `episode_id`, which servers draw at random.
fn records(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .expect("rollout output")
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).expect("a JSON record");
            v.as_object_mut().expect("object").remove("episode_id");
            v
        })
        .collect()
}

/// How many whole records a rollout has written so far.
fn written(path: &std::path::Path) -> usize {
    std::fs::read(path).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
}

fn rollout(servers: &str, out: &std::path::Path, episodes: u32) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_medgym"));
    c.args(["rollout", "--policy", "infogain", "--server", servers])
        .args(["--episodes", &episodes.to_string(), "--concurrency", "16"])
        .arg("--out")
        .arg(out);
    c
}

#[test]
fn killing_one_of_two_servers_mid_rollout_loses_no_episode() {
    const EPISODES: u32 = 400;
    let dir = tempfile::tempdir().expect("tempdir");
    let a = serve("alpha");
    let mut b = serve("beta");
    let both = format!("{},{}", a.addr, b.addr);

    let out = dir.path().join("two.jsonl");
    let mut run = rollout(&both, &out, EPISODES)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rollout");
    let stderr = run.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    let log = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line.clone());
            lines.push(line);
        }
        lines
    });
    // Kill beta once the rollout has been stepping on both for a moment (it connects after
    // loading its knowledge); SIGKILL, so its in-flight calls break mid-way.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the rollout connects");
        if line.starts_with("replicas:") {
            break;
        }
    }
    // Wait on progress, not on a clock: a release build plays all the episodes in well under a
    // second, a debug build takes many seconds. A tenth of the records written means the rollout
    // is stepping on both replicas with most of its episodes still to come.
    let started = Instant::now();
    let progress_deadline = Instant::now() + Duration::from_secs(120);
    while written(&out) < EPISODES as usize / 10 {
        assert!(
            Instant::now() < progress_deadline,
            "the rollout wrote no records"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let at = written(&out);
    let _ = Command::new("kill")
        .args(["-KILL", &b.child.id().to_string()])
        .status();
    let _ = b.child.wait();
    let status = run.wait().expect("rollout ran");
    let log = log.join().expect("log").join("\n");
    eprintln!(
        "rollout over two servers: {:?} after connecting, beta killed after {at} records",
        started.elapsed()
    );
    assert!(status.success(), "{log}");
    let replicas = log
        .lines()
        .find_map(|l| l.strip_prefix("replicas: "))
        .expect("the rollout names its replicas");
    let mut replicas: Vec<&str> = replicas.split(", ").collect();
    replicas.sort_unstable();
    assert_eq!(replicas, ["alpha", "beta"]);
    let restarted = log.matches("starting it again").count();
    eprintln!("{restarted} episodes restarted after the kill");
    assert!(
        restarted > 0,
        "beta was killed before or after the rollout stepped on it; nothing was tested:\n{log}"
    );

    // The same episodes as against one server, whatever replica played them.
    let reference = dir.path().join("one.jsonl");
    let status = rollout(&a.addr, &reference, EPISODES)
        .stderr(Stdio::null())
        .status()
        .expect("reference rollout");
    assert!(status.success());
    let (got, want) = (records(&out), records(&reference));
    assert_eq!(got.len(), EPISODES as usize);
    assert!(
        got == want,
        "the rollout's records differ from a one-server run"
    );

    // And the same as in process: a record over gRPC is the server's own, made by the same code.
    let local = dir.path().join("local.jsonl");
    let status = Command::new(env!("CARGO_BIN_EXE_medgym"))
        .args(["rollout", "--policy", "infogain"])
        .args(["--episodes", &EPISODES.to_string()])
        .arg("--out")
        .arg(&local)
        .stderr(Stdio::null())
        .status()
        .expect("in-process rollout");
    assert!(status.success());
    assert!(
        records(&local) == want,
        "records over gRPC differ from the in-process ones (episode ids aside)"
    );
}
