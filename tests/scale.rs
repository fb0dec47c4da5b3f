//! Rollout-farm paths over a real server: BatchStep with autoreset, many sessions on one
//! Interact stream.

use std::collections::HashMap;
use std::sync::Arc;

use medgym_env::World;
use medgym_proto::v1 as pb;
use pb::environment_client::EnvironmentClient;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

/// One parsed knowledge set for every server in this test binary.
fn shared_world() -> Arc<World> {
    static WORLD: std::sync::OnceLock<Arc<World>> = std::sync::OnceLock::new();
    Arc::clone(WORLD.get_or_init(|| Arc::new(World::embedded().expect("embedded knowledge"))))
}

async fn start() -> (EnvironmentClient<Channel>, oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let world = shared_world();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(medgym_server::run(
        listener,
        None,
        world,
        Default::default(),
        async move {
            let _ = rx.await;
        },
    ));
    let url = format!("http://{addr}");
    for _ in 0..50 {
        if let Ok(c) = EnvironmentClient::connect(url.clone()).await {
            return (c, tx);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("server did not start");
}

fn step(session: &str, kind: pb::action::Kind) -> pb::StepRequest {
    pb::StepRequest {
        session_id: session.into(),
        action: Some(pb::Action { kind: Some(kind) }),
        request_id: String::new(),
    }
}

fn diagnose() -> pb::action::Kind {
    pb::action::Kind::Text("<diagnose>migraine</diagnose>".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_sessions_through_batch_step_with_autoreset() {
    let (mut c, _stop) = start().await;
    let mut sessions = Vec::new();
    let mut seeds = Vec::new();
    for i in 0..1000u64 {
        let r = c
            .reset(pb::ResetRequest {
                seed: Some(i * 10),
                ..Default::default()
            })
            .await
            .expect("reset")
            .into_inner();
        seeds.push(r.info.expect("info").seed);
        sessions.push(r.session_id);
    }
    let batch = |kind: fn() -> pb::action::Kind| pb::BatchStepRequest {
        steps: sessions.iter().map(|s| step(s, kind())).collect(),
        autoreset: true,
    };
    let ask = || {
        pb::action::Kind::Ask(pb::Ask {
            question: "Any fever?".into(),
            finding_id: String::new(),
        })
    };

    // Step 1: a question everywhere.
    let r = c.batch_step(batch(ask)).await.expect("batch").into_inner();
    assert_eq!(r.results.len(), 1000);
    // Step 2: a diagnosis ends every episode.
    let r = c
        .batch_step(batch(diagnose))
        .await
        .expect("batch")
        .into_inner();
    let mut ended = Vec::new();
    for res in &r.results {
        let Some(pb::batch_step_result::Result::Response(s)) = &res.result else {
            panic!("{res:?}")
        };
        assert!(s.terminated);
        let info = s.info.as_ref().expect("info");
        assert!(info.truth.is_some());
        ended.push(info.episode_id.clone());
    }
    // Step 3: next-step autoreset — the action is ignored, each slot starts its next episode
    // with the next seed, and says so.
    let r = c.batch_step(batch(ask)).await.expect("batch").into_inner();
    let mut started = Vec::new();
    for (i, res) in r.results.iter().enumerate() {
        let Some(pb::batch_step_result::Result::Response(s)) = &res.result else {
            panic!("{res:?}")
        };
        let info = s.info.as_ref().expect("info");
        started.push(info.clone());
        assert!(info.autoreset, "slot {i}");
        // The info is the new episode's: its own id, no truth or totals yet.
        assert_ne!(info.episode_id, ended[i], "slot {i}");
        assert!(info.truth.is_none() && info.totals.is_none(), "slot {i}");
        assert_eq!(
            info.seed,
            medgym_env::next_seed(seeds[i]),
            "slot {i} continues its own seed chain"
        );
        assert_eq!(s.reward, 0.0);
        assert_eq!(s.observation.as_ref().expect("obs").turn, 0);
        assert!(!s.terminated && !s.truncated);
    }
    // Step 4: the new episodes play normally, and their steps' info is their reset's.
    let r = c.batch_step(batch(ask)).await.expect("batch").into_inner();
    for (i, res) in r.results.iter().enumerate() {
        let Some(pb::batch_step_result::Result::Response(s)) = &res.result else {
            panic!("{res:?}")
        };
        assert_eq!(s.observation.as_ref().expect("obs").turn, 1);
        let info = s.info.as_ref().expect("info");
        assert!(!info.autoreset);
        let reset = pb::Info {
            autoreset: false,
            ..started[i].clone()
        };
        assert_eq!(info, &reset, "slot {i}");
    }
    // Episode ids are drawn by every thread that steps: none repeats.
    let ids: std::collections::HashSet<&String> = ended
        .iter()
        .chain(started.iter().map(|i| &i.episode_id))
        .collect();
    assert_eq!(ids.len(), 2000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_interleaved_sessions_on_one_interact_stream() {
    let (mut c, _stop) = start().await;
    let (tx, rx) = mpsc::channel::<pb::EnvRequest>(64);
    let mut responses = c
        .interact(ReceiverStream::new(rx))
        .await
        .expect("interact")
        .into_inner();

    // Resets for 200 sessions, then three rounds of steps, interleaved across sessions; the
    // correlation id encodes (round, session).
    let sender = tokio::spawn({
        let tx = tx.clone();
        async move {
            for k in 0..200u64 {
                let req = pb::ResetRequest {
                    seed: Some(k),
                    ..Default::default()
                };
                tx.send(pb::EnvRequest {
                    id: k,
                    request: Some(pb::env_request::Request::Reset(req)),
                })
                .await
                .expect("send");
            }
        }
    });
    let mut session_of: HashMap<u64, String> = HashMap::new();
    while session_of.len() < 200 {
        let r = responses.next().await.expect("open").expect("ok");
        let Some(pb::env_response::Response::Reset(reset)) = r.response else {
            panic!("{r:?}")
        };
        session_of.insert(r.id, reset.session_id);
    }
    sender.await.expect("sender");

    let questions = ["Any fever?", "Any cough?", "Any pain?"];
    for (round, q) in questions.iter().enumerate() {
        for k in 0..200u64 {
            let req = step(
                &session_of[&k],
                pb::action::Kind::Ask(pb::Ask {
                    question: q.to_string(),
                    finding_id: String::new(),
                }),
            );
            let id = (round as u64 + 1) * 1000 + k;
            tx.send(pb::EnvRequest {
                id,
                request: Some(pb::env_request::Request::Step(req)),
            })
            .await
            .expect("send");
        }
        for _ in 0..200 {
            let r = responses.next().await.expect("open").expect("ok");
            let k = r.id % 1000;
            assert_eq!(
                r.id / 1000,
                round as u64 + 1,
                "answers come in request order"
            );
            let Some(pb::env_response::Response::Step(s)) = r.response else {
                panic!("{r:?}")
            };
            assert_eq!(
                s.observation.expect("obs").turn,
                round as u32 + 1,
                "session {k}"
            );
        }
    }
    // A bad envelope fails alone; the stream stays usable.
    tx.send(pb::EnvRequest {
        id: 9999,
        request: None,
    })
    .await
    .expect("send");
    let r = responses.next().await.expect("open").expect("ok");
    assert!(
        matches!(r.response, Some(pb::env_response::Response::Error(ref e)) if e.code == tonic::Code::InvalidArgument as i32)
    );
    let req = step(&session_of[&0], diagnose());
    tx.send(pb::EnvRequest {
        id: 10_000,
        request: Some(pb::env_request::Request::Step(req)),
    })
    .await
    .expect("send");
    let r = responses.next().await.expect("open").expect("ok");
    let Some(pb::env_response::Response::Step(s)) = r.response else {
        panic!("{r:?}")
    };
    assert!(s.terminated);
}
