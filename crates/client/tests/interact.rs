//! The routed Interact stream over two real servers.

mod common;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

use common::{Server, reset, text};
use medgym_client::{Client, ClientConfig, InteractReceiver, InteractSender, pb, replica_of};
use pb::env_request::Request as Rq;
use pb::env_response::Response as Rs;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tonic::Code;

/// Longest any exchange may take before the test calls it a hang.
const PATIENCE: Duration = Duration::from_secs(30);

/// A routing client over these addresses.
async fn connect(addresses: &[SocketAddr]) -> Client {
    Client::connect(ClientConfig::new(addresses.iter().map(|a| a.to_string())))
        .await
        .expect("connect")
}

fn envelope(id: u64, request: Rq) -> pb::EnvRequest {
    pb::EnvRequest {
        id,
        request: Some(request),
    }
}

fn ask(id: u64, session: &str, question: &str) -> pb::EnvRequest {
    let q = format!("<ask>{question}</ask>");
    envelope(id, Rq::Step(text(session, &q, &id.to_string())))
}

/// Sends `requests` while reading, until `expect` answers have come; returns them in arrival
/// order. Reading and sending at once is what keeps the bounded channels moving.
async fn exchange(
    tx: &InteractSender,
    rx: &mut InteractReceiver,
    requests: Vec<pb::EnvRequest>,
    expect: usize,
) -> Vec<pb::EnvResponse> {
    let send = async {
        for r in requests {
            tx.send(r).await.expect("the stream is open");
        }
    };
    let receive = async {
        let mut answers = Vec::with_capacity(expect);
        while answers.len() < expect {
            answers.push(rx.recv().await.expect("the stream ended early"));
        }
        answers
    };
    let ((), answers) = tokio::time::timeout(PATIENCE, async { tokio::join!(send, receive) })
        .await
        .expect("answers within the patience");
    answers
}

/// Answers by id, each id exactly once and exactly those of `ids`.
fn by_id(
    answers: Vec<pb::EnvResponse>,
    ids: impl IntoIterator<Item = u64>,
) -> HashMap<u64, Option<Rs>> {
    let mut map = HashMap::new();
    for a in answers {
        assert!(
            map.insert(a.id, a.response).is_none(),
            "id {} answered twice",
            a.id
        );
    }
    let expected: HashSet<u64> = ids.into_iter().collect();
    assert_eq!(map.keys().copied().collect::<HashSet<_>>(), expected);
    map
}

fn error_of(r: &Option<Rs>) -> &pb::Status {
    match r {
        Some(Rs::Error(e)) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

fn step_of(r: &Option<Rs>) -> &pb::StepResponse {
    match r {
        Some(Rs::Step(s)) => s,
        other => panic!("expected a step, got {other:?}"),
    }
}

/// Resets `n` sessions with seeds `0..n` over the stream; returns their ids by seed.
async fn open_sessions(tx: &InteractSender, rx: &mut InteractReceiver, n: u64) -> Vec<String> {
    let resets = (0..n).map(|seed| envelope(seed, Rq::Reset(reset(seed))));
    let answers = by_id(exchange(tx, rx, resets.collect(), n as usize).await, 0..n);
    (0..n)
        .map(|seed| match &answers[&seed] {
            Some(Rs::Reset(r)) => {
                assert_eq!(r.info.as_ref().map(|i| i.seed), Some(seed));
                r.session_id.clone()
            }
            other => panic!("reset {seed}: {other:?}"),
        })
        .collect()
}

fn count_by_replica(sessions: &[String]) -> HashMap<&str, usize> {
    let mut n = HashMap::new();
    for s in sessions {
        *n.entry(replica_of(s).expect("prefixed")).or_default() += 1;
    }
    n
}

/// Drops the sending half and expects the receiver to end, with no answer left over.
async fn finish(tx: InteractSender, mut rx: InteractReceiver) {
    drop(tx);
    let rest = tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .expect("the stream ends once the senders are gone");
    assert!(rest.is_none(), "an answer nobody asked for: {rest:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_sessions_interleaved_over_one_routed_stream() {
    let alpha = Server::replica("alpha").await;
    let beta = Server::replica("beta").await;
    let client = connect(&[alpha.addr, beta.addr]).await;
    let (tx, mut rx) = client.interact();

    let sessions = open_sessions(&tx, &mut rx, 100).await;
    assert_eq!(
        count_by_replica(&sessions),
        HashMap::from([("alpha", 50), ("beta", 50)]),
        "resets go round robin"
    );

    // Four questions per session, rounds interleaving every session (each round in another
    // order), plus an envelope for a replica nobody knows and one with no request in the
    // middle: those two are answered with errors and the stream goes on.
    let questions = [
        "Do you have a fever?",
        "Any cough?",
        "Where does it hurt?",
        "How long has this been going on?",
    ];
    let mut requests = Vec::new();
    for (round, q) in questions.iter().enumerate() {
        let mut order: Vec<usize> = (0..sessions.len()).collect();
        order.rotate_left(round * 37 % sessions.len());
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            requests.push(ask(1000 * (round as u64 + 1) + i as u64, &sessions[i], q));
        }
        if round == 1 {
            requests.push(ask(7, "nobody.00000000000000000000000000000000", "Hi?"));
            requests.push(pb::EnvRequest {
                id: 8,
                request: None,
            });
        }
    }
    let sent: Vec<u64> = requests.iter().map(|r| r.id).collect();
    let arrived = exchange(&tx, &mut rx, requests, sent.len()).await;
    let arrival: Vec<u64> = arrived.iter().map(|a| a.id).collect();
    let answers = by_id(arrived, sent.iter().copied());

    let unknown = error_of(&answers[&7]);
    assert_eq!(unknown.code, Code::NotFound as i32);
    assert!(unknown.message.contains("replica nobody"), "{unknown:?}");
    assert_eq!(error_of(&answers[&8]).code, Code::InvalidArgument as i32);

    // Each answer belongs to its envelope's session (seed i is session i's), and one session's
    // answers came in the order its questions were sent: turns 1, 2, 3, 4.
    let mut turns: HashMap<u64, Vec<u32>> = HashMap::new();
    for id in arrival.into_iter().filter(|&id| id >= 1000) {
        let (round, i) = (id / 1000, id % 1000);
        let step = step_of(&answers[&id]);
        assert_eq!(step.info.as_ref().map(|info| info.seed), Some(i), "id {id}");
        let turn = step.observation.as_ref().expect("observation").turn;
        assert_eq!(
            turn, round as u32,
            "id {id}: the session's answers out of order"
        );
        turns.entry(i).or_default().push(turn);
    }
    assert_eq!(turns.len(), 100);
    assert!(turns.values().all(|t| *t == [1, 2, 3, 4]));

    // Closes go to the owners; a step on a closed session is the server's NOT_FOUND.
    let closes = sessions.iter().enumerate().map(|(i, s)| {
        envelope(
            5000 + i as u64,
            Rq::Close(pb::CloseRequest {
                session_id: s.clone(),
            }),
        )
    });
    let mut requests: Vec<_> = closes.collect();
    requests.push(ask(9, &sessions[0], "Still there?"));
    let answers = by_id(
        exchange(&tx, &mut rx, requests, 101).await,
        (5000..5100).chain([9]),
    );
    for id in 5000..5100 {
        assert!(
            matches!(answers[&id], Some(Rs::Close(_))),
            "{:?}",
            answers[&id]
        );
    }
    assert_eq!(error_of(&answers[&9]).code, Code::NotFound as i32);

    finish(tx, rx).await;
    alpha.stop().await;
    beta.stop().await;
}

/// A TCP relay in front of a server: it can hold back the server's bytes, cut the connections
/// it carries (the server stays reachable through it), or die (connections cut, new ones
/// refused, as for a crashed process).
struct Relay {
    addr: SocketAddr,
    paused: watch::Sender<bool>,
    /// Bumped to cut every connection.
    cuts: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn to(upstream: SocketAddr) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (paused, paused_rx) = watch::channel(false);
        let (cuts, cuts_rx) = watch::channel(0);
        let task = tokio::spawn(async move {
            // Dropped with the task: every connection is cut.
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((down, _)) = listener.accept().await {
                let mut paused = paused_rx.clone();
                let mut cut = cuts_rx.clone();
                cut.mark_unchanged();
                connections.spawn(async move {
                    let Ok(up) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (mut down_r, mut down_w) = down.into_split();
                    let (mut up_r, mut up_w) = up.into_split();
                    let requests = tokio::io::copy(&mut down_r, &mut up_w);
                    let answers = async {
                        let mut buf = vec![0u8; 16 * 1024];
                        loop {
                            let n = up_r.read(&mut buf).await?;
                            if n == 0 {
                                return Ok::<_, std::io::Error>(());
                            }
                            // Held here, after the read, so nothing slips through a pause.
                            if paused.wait_for(|p| !*p).await.is_err() {
                                return Ok(());
                            }
                            down_w.write_all(&buf[..n]).await?;
                        }
                    };
                    // The cut first: it comes with an unpause, which must not let the
                    // held bytes through.
                    tokio::select! {
                        biased;
                        _ = cut.changed() => {}
                        _ = async { tokio::join!(requests, answers) } => {}
                    }
                });
            }
        });
        Relay {
            addr,
            paused,
            cuts,
            task,
        }
    }

    /// Holds back the server's bytes, once what is on the way has passed.
    async fn pause(&self) {
        self.paused.send_replace(true);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    /// Cuts the connections and lets new ones through unpaused.
    fn cut(&self) {
        self.cuts.send_modify(|n| *n += 1);
        self.paused.send_replace(false);
    }

    async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_or_lost_replica_answers_its_outstanding_envelopes_and_the_other_goes_on() {
    let alpha = Server::replica("alpha").await;
    let beta = Server::replica("beta").await;
    let relay = Relay::to(beta.addr).await;
    let client = connect(&[alpha.addr, relay.addr]).await;
    let (tx, mut rx) = client.interact();
    let sessions = open_sessions(&tx, &mut rx, 20).await;
    assert_eq!(
        count_by_replica(&sessions),
        HashMap::from([("alpha", 10), ("beta", 10)])
    );
    let on = |replica: &str| -> Vec<u64> {
        (0..sessions.len() as u64)
            .filter(|&i| replica_of(&sessions[i as usize]) == Some(replica))
            .collect()
    };
    let (on_alpha, on_beta) = (on("alpha"), on("beta"));
    let round = |base: u64| -> Vec<pb::EnvRequest> {
        let ids = 0..sessions.len() as u64;
        ids.map(|i| ask(base + i, &sessions[i as usize], "Any cough?"))
            .collect()
    };
    let turn = |r: &Option<Rs>| step_of(r).observation.as_ref().map(|o| o.turn);

    // Beta's answers are held back, so a question to every session leaves beta's outstanding
    // while alpha's are all answered: one stalled replica does not hold up the other.
    relay.pause().await;
    let arrived = exchange(&tx, &mut rx, round(100), on_alpha.len()).await;
    for (_, r) in by_id(arrived, on_alpha.iter().map(|i| 100 + i)) {
        assert_eq!(turn(&r), Some(1));
    }

    // Beta's connection breaks but beta still answers: its outstanding envelopes are
    // UNAVAILABLE, and sent again (same request_id) they are answered as the steps applied
    // the first time, not applied twice.
    relay.cut();
    let arrived = exchange(&tx, &mut rx, Vec::new(), on_beta.len()).await;
    for (id, r) in by_id(arrived, on_beta.iter().map(|i| 100 + i)) {
        let e = error_of(&r);
        assert_eq!(e.code, Code::Unavailable as i32, "id {id}: {e:?}");
        assert!(e.message.contains("may be retried"), "{e:?}");
    }
    let retries: Vec<_> = round(100)
        .into_iter()
        .filter(|r| on_beta.contains(&(r.id - 100)))
        .collect();
    let arrived = exchange(&tx, &mut rx, retries, on_beta.len()).await;
    for (_, r) in by_id(arrived, on_beta.iter().map(|i| 100 + i)) {
        assert_eq!(turn(&r), Some(1));
    }

    // Held back again, then beta dies: its outstanding envelopes are NOT_FOUND (it no longer
    // answers as itself) instead of hanging; alpha's were answered all along.
    relay.pause().await;
    let arrived = exchange(&tx, &mut rx, round(200), on_alpha.len()).await;
    for (_, r) in by_id(arrived, on_alpha.iter().map(|i| 200 + i)) {
        assert_eq!(turn(&r), Some(2));
    }
    relay.kill().await;
    let arrived = exchange(&tx, &mut rx, Vec::new(), on_beta.len()).await;
    for (id, r) in by_id(arrived, on_beta.iter().map(|i| 200 + i)) {
        let e = error_of(&r);
        assert_eq!(e.code, Code::NotFound as i32, "id {id}: {e:?}");
        assert!(e.message.contains("replica beta"), "{e:?}");
    }

    // The stream goes on: alpha's sessions step, beta's are NOT_FOUND at once, and new
    // episodes all start on alpha.
    let mut requests = round(300);
    requests.extend((400..404).map(|k| envelope(k, Rq::Reset(reset(k)))));
    let answers = by_id(
        exchange(&tx, &mut rx, requests, sessions.len() + 4).await,
        (300..300 + sessions.len() as u64).chain(400..404),
    );
    for i in &on_alpha {
        assert_eq!(turn(&answers[&(300 + i)]), Some(3));
    }
    for i in &on_beta {
        assert_eq!(error_of(&answers[&(300 + i)]).code, Code::NotFound as i32);
    }
    for k in 400..404 {
        match &answers[&k] {
            Some(Rs::Reset(r)) => assert_eq!(replica_of(&r.session_id), Some("alpha")),
            other => panic!("reset {k}: {other:?}"),
        }
    }
    assert!(
        client.replicas().iter().any(|r| r.id == "beta" && !r.live),
        "beta left the rotation"
    );

    finish(tx, rx).await;
    alpha.stop().await;
    beta.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_stops_reading_holds_the_senders_back() {
    let alpha = Server::replica("alpha").await;
    let beta = Server::replica("beta").await;
    let client = connect(&[alpha.addr, beta.addr]).await;
    let (tx, mut rx) = client.interact();
    // Sessions the servers do not have: each envelope goes to a replica and comes back as
    // its NOT_FOUND. Every buffer on the way together took about 400 when this was written.
    let n = 5_000u64;
    let sender = tokio::spawn(async move {
        for id in 0..n {
            let replica = if id % 2 == 0 { "alpha" } else { "beta" };
            let session = format!("{replica}.{id:032x}");
            tx.send(ask(id, &session, "Hi?")).await.expect("open");
        }
        tx
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !sender.is_finished(),
        "with nobody reading, the sender waits instead of the stream buffering everything"
    );
    let mut seen = vec![false; n as usize];
    for _ in 0..n {
        let answer = tokio::time::timeout(PATIENCE, rx.recv())
            .await
            .expect("answers keep coming")
            .expect("open");
        assert!(!std::mem::replace(&mut seen[answer.id as usize], true));
        let e = error_of(&answer.response);
        assert_eq!(e.code, Code::NotFound as i32, "{e:?}");
    }
    let tx = sender.await.expect("the sender finished");
    finish(tx, rx).await;
    alpha.stop().await;
    beta.stop().await;
}
