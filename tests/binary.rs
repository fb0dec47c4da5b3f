//! The `medgym` binary as a user runs it: `serve` on port 0, a real client, SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use medgym_proto::v1 as pb;
use pb::environment_client::EnvironmentClient;

/// Reads the server's log until it names its gRPC address.
fn bound_addr(
    stderr: impl std::io::Read + Send + 'static,
) -> (String, std::thread::JoinHandle<Vec<String>>) {
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.expect("log line");
        seen.push(line.clone());
        if line.contains("medgym serving")
            && let Some(rest) = line.split("addr=").nth(1)
        {
            let addr = rest.split_whitespace().next().expect("address").to_string();
            // Keep draining stderr so the server never blocks on a full pipe.
            let drain = std::thread::spawn(move || lines.map_while(Result::ok).collect());
            return (addr, drain);
        }
    }
    panic!("server exited before serving:\n{}", seen.join("\n"));
}

#[test]
fn serve_answers_then_stops_cleanly_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_medgym"))
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--metrics-addr",
            "127.0.0.1:0",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn medgym serve");
    let (addr, drain) = bound_addr(child.stderr.take().expect("stderr"));

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let mut c = EnvironmentClient::connect(format!("http://{addr}"))
            .await
            .expect("connect");
        let r = c
            .reset(pb::ResetRequest {
                seed: Some(11),
                ..Default::default()
            })
            .await
            .expect("reset")
            .into_inner();
        assert!(!r.session_id.is_empty());
        assert!(
            r.observation
                .expect("observation")
                .text
                .contains("year-old")
        );
    });

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "server did not stop within 10 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let log = drain.join().expect("log").join("\n");
    assert!(exit.success(), "exit {exit:?}\n{log}");
    assert!(log.contains("medgym stopped"), "{log}");
}
