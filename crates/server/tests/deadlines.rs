//! Client deadlines, through the real handlers in process: a step that waited behind another
//! one on its session until its deadline passed is not executed, and a retry runs normally.
//! (tests/hostile.rs checks the same over a real connection with an Interact stream.)

use std::sync::Arc;
use std::time::Duration;

use medgym_env::World;
use medgym_proto::v1 as pb;
use medgym_server::{Config, Service};
use pb::environment_server::Environment;
use tonic::{Code, Request};

fn service() -> Service {
    let world = Arc::new(World::embedded().expect("embedded knowledge"));
    Service::new(world, Config::default())
}

fn ask(session: &str, request_id: &str) -> pb::StepRequest {
    pb::StepRequest {
        session_id: session.into(),
        action: Some(pb::Action {
            kind: Some(pb::action::Kind::Ask(pb::Ask {
                question: "Do you have a fever?".into(),
                finding_id: String::new(),
            })),
        }),
        request_id: request_id.into(),
    }
}

fn with_timeout<T>(message: T, timeout: &str) -> Request<T> {
    let mut r = Request::new(message);
    r.metadata_mut()
        .insert("grpc-timeout", timeout.parse().expect("ascii"));
    r
}

async fn reset(service: &Service, seed: u64) -> String {
    let r = pb::ResetRequest {
        seed: Some(seed),
        ..Default::default()
    };
    Environment::reset(service, Request::new(r))
        .await
        .expect("reset")
        .into_inner()
        .session_id
}

fn steps_taken(service: &Service, session: &str) -> usize {
    let s = service.sessions().get(session).expect("session");
    let t = s.lock().env.trajectory().expect("trajectory");
    t.steps.len()
}

/// How long the test holds a session, standing in for a slow step ahead in its queue: far
/// longer than the 20 ms deadlines, so a late-starting handler thread still finds it held.
const HOLD: Duration = Duration::from_millis(400);

/// Runs a handler on its own thread, as a second connection's request would be.
fn spawn<F, T>(f: F) -> std::thread::JoinHandle<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(f)
    })
}

#[tokio::test]
async fn a_step_queued_past_its_deadline_is_not_executed_and_its_retry_is() {
    let svc = service();
    let id = reset(&svc, 11).await;
    let session = svc.sessions().get(&id).expect("session");

    let held = session.lock();
    let late = {
        let (svc, id) = (svc.clone(), id.clone());
        spawn(async move { Environment::step(&svc, with_timeout(ask(&id, "q1"), "20m")).await })
    };
    std::thread::sleep(HOLD);
    drop(held);
    let err = late.join().expect("thread").expect_err("deadline passed");
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    assert!(err.message().contains("not executed"), "{}", err.message());
    assert_eq!(steps_taken(&svc, &id), 0, "the episode is unchanged");

    // The retry (same request id, a fresh deadline) executes, and is then remembered.
    let first = Environment::step(&svc, with_timeout(ask(&id, "q1"), "10S"))
        .await
        .expect("retry runs")
        .into_inner();
    assert_eq!(steps_taken(&svc, &id), 1);
    let again = Environment::step(&svc, Request::new(ask(&id, "q1")))
        .await
        .expect("replayed")
        .into_inner();
    assert_eq!(first, again);
    assert_eq!(steps_taken(&svc, &id), 1, "a replay takes no turn");

    // A deadline that has already passed on arrival: refused before any work.
    let err = Environment::step(&svc, with_timeout(ask(&id, "q2"), "0n"))
        .await
        .expect_err("expired on arrival");
    assert_eq!(err.code(), Code::DeadlineExceeded);
    let err = Environment::reset(&svc, with_timeout(pb::ResetRequest::default(), "0n"))
        .await
        .expect_err("expired reset");
    assert_eq!(err.code(), Code::DeadlineExceeded);
    assert_eq!(svc.sessions().len(), 1, "an expired reset opens no session");
}

#[tokio::test]
async fn batch_items_past_the_deadline_fail_alone() {
    let svc = service();
    let a = reset(&svc, 1).await;
    let b = reset(&svc, 2).await;
    let session_b = svc.sessions().get(&b).expect("session");

    let held = session_b.lock();
    let batch = pb::BatchStepRequest {
        steps: vec![ask(&a, "a1"), ask(&b, "b1"), ask(&a, "a2")],
        autoreset: false,
    };
    let late = {
        let svc = svc.clone();
        spawn(async move { Environment::batch_step(&svc, with_timeout(batch, "20m")).await })
    };
    std::thread::sleep(HOLD);
    drop(held);
    let results = late
        .join()
        .expect("thread")
        .expect("the batch itself answers")
        .into_inner()
        .results;
    use pb::batch_step_result::Result as R;
    let codes: Vec<i32> = results
        .iter()
        .map(|r| match &r.result {
            Some(R::Response(_)) => 0,
            Some(R::Error(s)) => s.code,
            None => -1,
        })
        .collect();
    let exceeded = Code::DeadlineExceeded as i32;
    assert_eq!(
        codes,
        [0, exceeded, exceeded],
        "in time, then queued past the deadline"
    );
    assert_eq!(steps_taken(&svc, &a), 1);
    assert_eq!(steps_taken(&svc, &b), 0);
}
