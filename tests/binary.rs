//! The `medgym` binary as a user runs it: `serve` on port 0, real clients, signals.

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use medgym_proto::v1 as pb;
use pb::environment_client::EnvironmentClient;

mod common;
use common::serve;

#[test]
fn serve_answers_then_stops_cleanly_on_sigterm() {
    let server = serve(&[]);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let mut c = EnvironmentClient::connect(format!("http://{}", server.addr))
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
    server.signal("-TERM");
    let (ok, log) = server.wait();
    assert!(ok, "{log}");
    assert!(log.contains("medgym stopped"), "{log}");
}

/// Plays short episodes on `clients` concurrent sessions until the server goes away; returns the
/// ids of episodes whose final step the server acknowledged.
async fn roll_until_gone(
    addr: String,
    clients: usize,
    signal_after: Duration,
    signal: impl FnOnce(),
) -> HashSet<String> {
    let done = Arc::new(Mutex::new(HashSet::new()));
    let mut tasks = Vec::new();
    for k in 0..clients {
        let addr = addr.clone();
        let done = Arc::clone(&done);
        tasks.push(tokio::spawn(async move {
            let Ok(mut c) = EnvironmentClient::connect(format!("http://{addr}")).await else {
                return;
            };
            for i in 0..100_000u64 {
                let Ok(r) = c
                    .reset(pb::ResetRequest {
                        seed: Some(k as u64 * 1_000_000 + i),
                        ..Default::default()
                    })
                    .await
                else {
                    return;
                };
                let sid = r.into_inner().session_id;
                let actions = [
                    pb::action::Kind::Ask(pb::Ask {
                        question: "Any fever?".into(),
                        finding_id: String::new(),
                    }),
                    pb::action::Kind::Exam(pb::Exam {
                        exam_id: "cbc".into(),
                        site: String::new(),
                    }),
                    pb::action::Kind::Text(
                        r#"{"name": "diagnose", "arguments": {"primary": "migraine"}}"#.into(),
                    ),
                ];
                for kind in actions {
                    let step = pb::StepRequest {
                        session_id: sid.clone(),
                        action: Some(pb::Action { kind: Some(kind) }),
                        request_id: String::new(),
                    };
                    let Ok(s) = c.step(step).await else { return };
                    let s = s.into_inner();
                    if s.terminated {
                        let id = s.info.expect("info").episode_id;
                        done.lock().expect("lock").insert(id);
                    }
                }
                let _ = c.close(pb::CloseRequest { session_id: sid }).await;
            }
        }));
    }
    // Signal mid-rollout: after `signal_after`, and once some episodes have finished (a loaded
    // CI machine may need longer), bounded at 60 s.
    tokio::time::sleep(signal_after).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while done.lock().expect("lock").len() < 10 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    signal();
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(20), t).await;
    }
    done.lock().expect("lock").clone()
}

fn episodes_in(dir: &Path) -> Vec<String> {
    medgym_sink::read_all(dir)
        .expect("every trajectory line parses")
        .into_iter()
        .map(|r| r.episode_id)
        .collect()
}

/// Starts a server writing trajectories, rolls out until `sig` stops it mid-rollout; returns the
/// trajectory directory, the acknowledged episode ids, and whether the server exited cleanly.
fn rollout_interrupted_by(sig: &'static str) -> (tempfile::TempDir, HashSet<String>, bool, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = serve(&["--trajectory-dir", dir.path().to_str().expect("utf-8")]);
    let pid = server.child.id();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let acknowledged = rt.block_on(roll_until_gone(
        server.addr.clone(),
        8,
        Duration::from_millis(700),
        || {
            let _ = Command::new("kill").args([sig, &pid.to_string()]).status();
        },
    ));
    let (ok, log) = server.wait();
    (dir, acknowledged, ok, log)
}

#[test]
fn sigterm_during_a_rollout_loses_no_finished_episode() {
    let (dir, acknowledged, ok, log) = rollout_interrupted_by("-TERM");
    assert!(ok, "{log}");
    assert!(
        !acknowledged.is_empty(),
        "the rollout finished some episodes before the signal"
    );
    let written = episodes_in(dir.path());
    let unique: HashSet<_> = written.iter().cloned().collect();
    assert_eq!(unique.len(), written.len(), "no episode is written twice");
    eprintln!(
        "SIGTERM: {} acknowledged, {} written",
        acknowledged.len(),
        unique.len()
    );
    let missing: Vec<_> = acknowledged.difference(&unique).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged episodes missing: {missing:?}",
        missing.len()
    );
}

#[test]
fn sigkill_during_a_rollout_leaves_parseable_files_and_only_loses_unacknowledged_episodes() {
    let (dir, acknowledged, _, _) = rollout_interrupted_by("-KILL");
    assert!(!acknowledged.is_empty());
    // What a restarted server does first: repair torn tails, then every line parses.
    drop(
        medgym_sink::TrajectoryWriter::open(dir.path(), medgym_sink::DEFAULT_ROTATE_BYTES)
            .expect("reopen"),
    );
    let written: HashSet<_> = episodes_in(dir.path()).into_iter().collect();
    eprintln!(
        "SIGKILL: {} acknowledged, {} written",
        acknowledged.len(),
        written.len()
    );
    let missing: Vec<_> = acknowledged.difference(&written).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged episodes missing: {missing:?}",
        missing.len()
    );
}

#[test]
fn a_token_file_guards_every_rpc_but_health_and_reloads_on_sighup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, "first-token\n").expect("write");
    let server = serve(&["--auth-token-file", tokens.to_str().expect("utf-8")]);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let addr = server.addr.clone();
    let reset = |token: Option<&'static str>| {
        let addr = addr.clone();
        async move {
            let mut c = EnvironmentClient::connect(format!("http://{addr}"))
                .await
                .expect("connect");
            let mut r = tonic::Request::new(pb::ResetRequest {
                seed: Some(1),
                ..Default::default()
            });
            if let Some(t) = token {
                r.metadata_mut().insert(
                    "authorization",
                    format!("Bearer {t}").parse().expect("ascii"),
                );
            }
            c.reset(r).await.map(drop).map_err(|s| s.code())
        }
    };
    rt.block_on(async {
        assert_eq!(reset(None).await, Err(tonic::Code::Unauthenticated));
        assert_eq!(
            reset(Some("wrong")).await,
            Err(tonic::Code::Unauthenticated)
        );
        assert_eq!(reset(Some("first-token")).await, Ok(()));
        let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
            .expect("url")
            .connect()
            .await
            .expect("connect");
        let health = tonic_health::pb::health_client::HealthClient::new(channel)
            .check(tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            })
            .await;
        assert!(health.is_ok(), "health stays open for probes: {health:?}");
    });
    std::fs::write(&tokens, "second-token\n").expect("write");
    server.signal("-HUP");
    rt.block_on(async {
        // The reload is asynchronous: poll (bounded) until the new token is accepted.
        for _ in 0..100 {
            if reset(Some("second-token")).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(reset(Some("second-token")).await, Ok(()));
        assert_eq!(
            reset(Some("first-token")).await,
            Err(tonic::Code::Unauthenticated)
        );
    });
    server.signal("-TERM");
    let (ok, log) = server.wait();
    assert!(ok, "{log}");
    assert!(
        !log.contains("first-token") && !log.contains("second-token"),
        "tokens are never logged"
    );
}
