//! Search steps run off the reactor. The server gets a knowledge base whose searches are held
//! until the test lets them go; while unary, BatchStep and Interact searches are all held, on a
//! server runtime of two reactor threads (fewer than the searches), asks of other sessions are
//! answered over all three, on the searching streams too. Once the searches are let go, every
//! call has its own answer, each batch its results in order and each session on a stream its
//! answers in request order.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use medgym_env::{Passage, SearchIndex, World};
use medgym_proto::v1 as pb;
use pb::environment_client::EnvironmentClient;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::transport::Channel;

/// How long a held search waits before letting itself go, so that a server whose reactor is
/// stuck in searches fails the test instead of hanging it.
const WATCHDOG: Duration = Duration::from_secs(15);

/// How long the test waits for an answer that should come while the searches are held.
const PATIENCE: Duration = Duration::from_secs(5);

/// A knowledge base whose searches block (as a CPU-bound search occupies its thread) until
/// [`HeldIndex::release`]; a passage's title is the query, so an answer shows what it answers.
#[derive(Default)]
struct HeldIndex {
    state: Mutex<Held>,
    changed: Condvar,
}

#[derive(Default)]
struct Held {
    /// Searches that have started.
    started: usize,
    /// Whether searches may finish.
    released: bool,
}

impl HeldIndex {
    fn started(&self) -> usize {
        self.state.lock().expect("lock").started
    }

    fn released(&self) -> bool {
        self.state.lock().expect("lock").released
    }

    fn release(&self) {
        self.state.lock().expect("lock").released = true;
        self.changed.notify_all();
    }
}

impl SearchIndex for HeldIndex {
    fn search(&self, query: &str, _top_k: usize) -> Vec<Passage> {
        let deadline = Instant::now() + WATCHDOG;
        let mut held = self.state.lock().expect("lock");
        held.started += 1;
        while !held.released {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                held.released = true;
                break;
            }
            held = self.changed.wait_timeout(held, left).expect("lock").0;
        }
        vec![Passage {
            id: "test:1".into(),
            source: "test".into(),
            title: query.into(),
            snippet: "a held passage".into(),
        }]
    }
}

fn step(session: &str, kind: pb::action::Kind) -> pb::StepRequest {
    pb::StepRequest {
        session_id: session.into(),
        action: Some(pb::Action { kind: Some(kind) }),
        request_id: String::new(),
    }
}

fn ask(session: &str) -> pb::StepRequest {
    step(
        session,
        pb::action::Kind::Ask(pb::Ask {
            question: "Do you have a fever?".into(),
            finding_id: String::new(),
        }),
    )
}

fn search(session: &str, query: &str) -> pb::StepRequest {
    step(
        session,
        pb::action::Kind::Search(pb::Search {
            query: query.into(),
            top_k: 0,
        }),
    )
}

/// The same search as raw agent text, which the server must recognise before parsing it.
fn search_text(session: &str, query: &str) -> pb::StepRequest {
    step(
        session,
        pb::action::Kind::Text(format!("Let me look that up.\n<search>{query}</search>")),
    )
}

/// What a step answer should be: the answer to an ask (`None`) or a search for the query.
fn check(answer: &pb::StepResponse, turn: u32, search: Option<&str>) {
    let obs = answer.observation.as_ref().expect("observation");
    assert!(obs.feedback.as_ref().is_none_or(|f| f.valid), "{obs:?}");
    assert_eq!(obs.turn, turn, "{obs:?}");
    match search {
        Some(query) => assert_eq!(obs.text, format!("[1] {query} (test:1): a held passage")),
        None => assert!(!obs.text.contains("held passage"), "{obs:?}"),
    }
}

/// Opens an Interact stream with every envelope already queued; answers as they arrive.
async fn interact(
    c: &EnvironmentClient<Channel>,
    envelopes: Vec<pb::StepRequest>,
) -> tonic::Streaming<pb::EnvResponse> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    for (id, r) in envelopes.into_iter().enumerate() {
        let request = Some(pb::env_request::Request::Step(r));
        tx.send(pb::EnvRequest {
            id: id as u64,
            request,
        })
        .expect("queued");
    }
    let mut c = c.clone();
    tokio::time::timeout(PATIENCE, c.interact(UnboundedReceiverStream::new(rx)))
        .await
        .expect("the stream did not open: the server is held up")
        .expect("interact")
        .into_inner()
}

/// An Interact stream's answers, read in as many goes as wanted; each session's must come
/// in request (`id`) order across all of them.
struct Answers {
    stream: tonic::Streaming<pb::EnvResponse>,
    envelopes: Vec<pb::StepRequest>,
    last: HashMap<String, u64>,
}

impl Answers {
    async fn open(c: &EnvironmentClient<Channel>, envelopes: Vec<pb::StepRequest>) -> Self {
        Answers {
            stream: interact(c, envelopes.clone()).await,
            envelopes,
            last: HashMap::new(),
        }
    }

    /// The next `n` answers, in `id` order, within [`PATIENCE`].
    async fn next(&mut self, n: usize, what: &str) -> Vec<pb::EnvResponse> {
        let mut out = Vec::new();
        for _ in 0..n {
            let r = tokio::time::timeout(PATIENCE, self.stream.next())
                .await
                .unwrap_or_else(|_| panic!("{what}: no answer"))
                .expect("open")
                .expect("answer");
            let session = &self.envelopes[r.id as usize].session_id;
            if let Some(previous) = self.last.insert(session.clone(), r.id) {
                assert!(
                    previous < r.id,
                    "{session}: {} answered after {previous}",
                    r.id
                );
            }
            out.push(r);
        }
        out.sort_by_key(|r| r.id);
        out
    }
}

fn step_answer(r: &pb::EnvResponse) -> &pb::StepResponse {
    match &r.response {
        Some(pb::env_response::Response::Step(s)) => s,
        other => panic!("{other:?}"),
    }
}

#[test]
fn asks_are_answered_while_searches_of_other_sessions_run() {
    let index = Arc::new(HeldIndex::default());
    let mut world = World::embedded().expect("embedded knowledge");
    world.search = Some(Arc::clone(&index) as Arc<dyn SearchIndex>);

    // The server on a runtime of its own with two reactor threads, as on a 2-core machine:
    // two searches on the reactor would stop it.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("server runtime");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    listener.set_nonblocking(true).expect("nonblocking");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = server_rt.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
        let config = medgym_server::Config::default();
        medgym_server::run(listener, None, Arc::new(world), config, async {
            let _ = stopped.await;
        })
        .await
    });

    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("client runtime");
    client_rt.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .expect("url")
            .connect()
            .await
            .expect("connect");
        let c = EnvironmentClient::new(channel);
        let mut s = Vec::new();
        for seed in 0..36 {
            let reset = pb::ResetRequest {
                seed: Some(seed),
                ..Default::default()
            };
            s.push(
                c.clone()
                    .reset(reset)
                    .await
                    .expect("reset")
                    .into_inner()
                    .session_id,
            );
        }

        // Searches, at least two of each kind of call so that any one kind run on the
        // reactor would occupy both its threads: four unary calls (two typed, two as agent
        // text), two short BatchSteps with one among asks, and two Interact streams mixing
        // them on two sessions each.
        let unary: Vec<_> = (0..4)
            .map(|i| {
                let query = format!("unary query {i}");
                let r = if i % 2 == 0 {
                    search(&s[i], &query)
                } else {
                    search_text(&s[i], &query)
                };
                let mut c = c.clone();
                tokio::spawn(async move { c.step(r).await })
            })
            .collect();
        let batches: Vec<_> = (0..2)
            .map(|b| {
                let first = 4 + 3 * b;
                let query = format!("batch query {b}");
                let steps = vec![
                    ask(&s[first]),
                    search(&s[first + 1], &query),
                    ask(&s[first + 2]),
                ];
                let mut c = c.clone();
                tokio::spawn(async move {
                    c.batch_step(pb::BatchStepRequest {
                        steps,
                        autoreset: false,
                    })
                    .await
                })
            })
            .collect();
        // On each stream, besides its two searching sessions, six sessions that only ask:
        // whichever lane they share, their answers must not wait for a search.
        let mut streams = Vec::new();
        for m in 0..2 {
            let (a, b) = (&s[20 + 8 * m], &s[21 + 8 * m]);
            let mut mixed = vec![
                search(a, &format!("first of {m}a")),
                ask(b),
                ask(a),
                search_text(b, &format!("first of {m}b")),
                search(a, &format!("second of {m}a")),
                ask(b),
            ];
            mixed.extend(s[22 + 8 * m..28 + 8 * m].iter().map(|other| ask(other)));
            streams.push(Answers::open(&c, mixed).await);
        }

        // Four unary, two batches and two on each stream (a's first, and b's after its
        // first ask), all held at once.
        let t = Instant::now();
        while index.started() < 10 {
            assert!(
                t.elapsed() < PATIENCE,
                "only {} of 10 searches started: searches are holding up the server",
                index.started()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }

        // Meanwhile, asks of other sessions over every kind of call.
        for turn in 1..=3 {
            for session in &s[14..16] {
                let answer = tokio::time::timeout(PATIENCE, c.clone().step(ask(session)))
                    .await
                    .expect("a unary ask waited for searches")
                    .expect("step")
                    .into_inner();
                check(&answer, turn, None);
            }
        }
        let asks = pb::BatchStepRequest {
            steps: vec![ask(&s[16]), ask(&s[17])],
            autoreset: false,
        };
        let results = tokio::time::timeout(PATIENCE, c.clone().batch_step(asks))
            .await
            .expect("a batch of asks waited for searches")
            .expect("batch")
            .into_inner()
            .results;
        for r in &results {
            let Some(pb::batch_step_result::Result::Response(answer)) = &r.result else {
                panic!("{r:?}")
            };
            check(answer, 1, None);
        }
        let plain = vec![ask(&s[18]), ask(&s[19]), ask(&s[18]), ask(&s[19])];
        let mut plain = Answers::open(&c, plain).await;
        let answers = plain.next(4, "a stream of asks beside the searches").await;
        for (r, turn) in answers.iter().zip([1, 1, 2, 2]) {
            check(step_answer(r), turn, None);
        }
        // On the mixed streams: the asks of the six sessions, and b's first ask (its search
        // comes after it); the rest waits for a search of its own session.
        for stream in &mut streams {
            let answers = stream.next(7, "an ask on a stream with searches").await;
            assert_eq!(answers[0].id, 1);
            check(step_answer(&answers[0]), 1, None);
            for r in &answers[1..] {
                assert!(r.id >= 6, "{r:?}");
                check(step_answer(r), 1, None);
            }
        }
        assert!(
            !index.released(),
            "the asks were answered only once the searches were let go"
        );

        // Let go: every search answers its own query, batches in order, streams each
        // session's answers in request order (checked as they arrive) with the right turns.
        index.release();
        for (i, h) in unary.into_iter().enumerate() {
            let answer = h.await.expect("task").expect("step").into_inner();
            check(&answer, 1, Some(&format!("unary query {i}")));
        }
        for (b, h) in batches.into_iter().enumerate() {
            let results = h.await.expect("task").expect("batch").into_inner().results;
            let query = format!("batch query {b}");
            let wanted = [None, Some(query.as_str()), None];
            assert_eq!(results.len(), wanted.len());
            for (r, want) in results.iter().zip(wanted) {
                let Some(pb::batch_step_result::Result::Response(answer)) = &r.result else {
                    panic!("{r:?}")
                };
                check(answer, 1, want);
            }
        }
        for (m, stream) in streams.iter_mut().enumerate() {
            let answers = stream.next(5, "the rest of a stream with searches").await;
            let wanted = [
                (0, 1, Some(format!("first of {m}a"))),
                (2, 2, None),
                (3, 2, Some(format!("first of {m}b"))),
                (4, 3, Some(format!("second of {m}a"))),
                (5, 3, None),
            ];
            for (r, (id, turn, want)) in answers.iter().zip(wanted) {
                assert_eq!(r.id, id);
                check(step_answer(r), turn, want.as_deref());
            }
        }
    });

    let _ = stop.send(());
    server_rt
        .block_on(server)
        .expect("server task")
        .expect("server");
}
