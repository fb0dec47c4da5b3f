//! Hostile clients against a real server on 127.0.0.1:0: 10,000 malformed or random payloads
//! to every RPC over real connections (raw bytes through a tonic client with a bytes codec),
//! then the server must still serve the same episodes and report the errors in /metrics.
//! Also the per-client session limit (by token and by address) and the deadline of an
//! Interact stream.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use medgym_proto::v1 as pb;
use pb::environment_client::EnvironmentClient;
use prost::Message;
use prost::bytes::{Buf, BufMut};
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;

mod common;
use common::Server;

/// Bytes in, bytes out: what a client that does not speak protobuf (or lies) sends.
#[derive(Debug, Clone, Copy, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

const SERVICE: &str = "/medgym.v1.Environment/";
const UNARY: [&str; 7] = [
    "GetSpec",
    "ListTasks",
    "Reset",
    "Step",
    "Close",
    "GetTrajectory",
    "BatchStep",
];
const RPCS: usize = UNARY.len() + 1; // + Interact
const PAYLOADS: u64 = 10_000;
/// Small, so that over-size messages are cheap to send.
const MAX_MESSAGE: usize = 64 * 1024;

async fn unary(ch: &Channel, rpc: &str, body: Vec<u8>) -> Result<Vec<u8>, tonic::Status> {
    let mut g = tonic::client::Grpc::new(ch.clone());
    g.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(format!("not ready: {e}")))?;
    let path = PathAndQuery::try_from(format!("{SERVICE}{rpc}")).expect("path");
    g.unary(tonic::Request::new(body), path, Raw)
        .await
        .map(tonic::Response::into_inner)
}

/// splitmix64: every payload is a pure function of its index, so a failure names a payload
/// that can be rebuilt exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn bytes(&mut self, max: u64) -> Vec<u8> {
        let n = self.below(max + 1);
        (0..n).map(|_| self.next() as u8).collect()
    }
    fn f64(&mut self) -> f64 {
        match self.below(6) {
            0 => f64::NAN,
            1 => f64::INFINITY,
            2 => -1.0,
            3 => f64::from_bits(self.next()),
            _ => self.below(1000) as f64 / 1000.0,
        }
    }
    fn text(&mut self, live: &[String]) -> String {
        match self.below(9) {
            0 => String::new(),
            1 => String::from_utf8_lossy(&self.bytes(64)).into_owned(),
            2 => (0..self.below(40))
                .filter_map(|_| char::from_u32(self.below(0x11_0000) as u32))
                .collect(),
            // Over max_text_bytes (16 KiB).
            3 => "ask ".repeat(5000),
            4 => live[self.below(live.len() as u64) as usize].clone(),
            5 => format!("{:032x}", u128::from(self.next())),
            6 => "<diagnose>pneumonia</diagnose>".into(),
            7 => r#"{"name": "order_exam", "arguments": {"exam_id": "cbc"}}"#.into(),
            _ => [
                "fever?",
                "cbc",
                "J18.9",
                "cardiology",
                "train",
                "hard",
                "anxious",
            ][self.below(7) as usize]
                .into(),
        }
    }
}

fn random_action(rng: &mut Rng, live: &[String]) -> Option<pb::Action> {
    use pb::action::Kind;
    let kind = match rng.below(6) {
        0 => return None,
        1 => Kind::Ask(pb::Ask {
            question: rng.text(live),
            finding_id: rng.text(live),
        }),
        2 => Kind::Exam(pb::Exam {
            exam_id: rng.text(live),
            site: rng.text(live),
        }),
        3 => Kind::Search(pb::Search {
            query: rng.text(live),
            top_k: rng.next() as u32,
        }),
        4 => Kind::Diagnose(pb::Diagnose {
            primary: rng.text(live),
            differential: (0..rng.below(300))
                .map(|_| pb::RankedDiagnosis {
                    name: rng.text(live),
                    code: rng.text(live),
                    probability: rng.f64(),
                })
                .collect(),
        }),
        _ => Kind::Text(rng.text(live)),
    };
    Some(pb::Action { kind: Some(kind) })
}

fn random_step(rng: &mut Rng, live: &[String]) -> pb::StepRequest {
    pb::StepRequest {
        session_id: rng.text(live),
        action: random_action(rng, live),
        request_id: rng.text(live),
    }
}

fn random_reset(rng: &mut Rng, live: &[String]) -> pb::ResetRequest {
    let options = (rng.below(2) == 0).then(|| pb::EpisodeOptions {
        noise: (rng.below(2) == 0).then(|| pb::NoiseConfig {
            preset: rng.text(live),
            probabilities: (0..rng.below(4))
                .map(|_| (rng.text(live), rng.f64()))
                .collect(),
        }),
        persona: rng.text(live),
        reward: (rng.below(2) == 0).then(|| pb::RewardWeights {
            diagnosis: rng.f64(),
            differential: rng.f64(),
            cost: rng.f64(),
            explicit: rng.below(2) == 0,
            ..Default::default()
        }),
        max_turns: rng.next() as u32,
        budget_usd: rng.f64(),
    });
    pb::ResetRequest {
        task_id: rng.text(live),
        domain: rng.text(live),
        split: rng.text(live),
        seed: (rng.below(2) == 0).then(|| rng.next()),
        options,
    }
}

/// A valid encoding of the RPC's request type with random field values.
fn valid(rng: &mut Rng, rpc: usize, live: &[String]) -> Vec<u8> {
    match rpc {
        0 => pb::GetSpecRequest {}.encode_to_vec(),
        1 => pb::ListTasksRequest {
            domain: rng.text(live),
            split: rng.text(live),
            page_size: rng.next() as u32,
            page_token: rng.text(live),
        }
        .encode_to_vec(),
        2 => random_reset(rng, live).encode_to_vec(),
        3 => random_step(rng, live).encode_to_vec(),
        4 => pb::CloseRequest {
            session_id: rng.text(live),
        }
        .encode_to_vec(),
        5 => pb::GetTrajectoryRequest {
            session_id: rng.text(live),
            include_record: rng.below(2) == 0,
        }
        .encode_to_vec(),
        6 => pb::BatchStepRequest {
            steps: (0..rng.below(80)).map(|_| random_step(rng, live)).collect(),
            autoreset: rng.below(2) == 0,
        }
        .encode_to_vec(),
        _ => random_envelope(rng, live).encode_to_vec(),
    }
}

fn random_envelope(rng: &mut Rng, live: &[String]) -> pb::EnvRequest {
    use pb::env_request::Request as Rq;
    let request = match rng.below(5) {
        // An envelope with nothing in it.
        0 => None,
        1 => Some(Rq::Reset(random_reset(rng, live))),
        2 => Some(Rq::Close(pb::CloseRequest {
            session_id: rng.text(live),
        })),
        _ => Some(Rq::Step(random_step(rng, live))),
    };
    pb::EnvRequest {
        id: rng.next(),
        request,
    }
}

/// One hostile payload for an RPC: raw bytes, a valid message with random fields, a
/// truncated or bit-flipped one, or one larger than the server accepts.
fn payload(rng: &mut Rng, rpc: usize, live: &[String]) -> Vec<u8> {
    match rng.below(10) {
        0..=2 => rng.bytes(300),
        3..=5 => valid(rng, rpc, live),
        6 | 7 => {
            let mut b = valid(rng, rpc, live);
            let keep = rng.below(b.len() as u64) as usize;
            b.truncate(keep);
            b
        }
        8 => {
            let mut b = valid(rng, rpc, live);
            for _ in 0..=rng.below(4) {
                if !b.is_empty() {
                    let at = rng.below(b.len() as u64) as usize;
                    b[at] ^= 1 << rng.below(8);
                }
            }
            b
        }
        _ => {
            if rng.below(8) == 0 {
                // Past max_message_bytes: refused before decoding.
                vec![0x0a; MAX_MESSAGE + 1 + rng.below(1000) as usize]
            } else {
                valid(rng, rpc, live)
            }
        }
    }
}

#[derive(Debug, Default)]
struct Tally {
    /// Codes seen by the client: RPC statuses and statuses inside BatchStep/Interact answers.
    codes: BTreeMap<String, u64>,
    calls: u64,
    envelopes: u64,
}

impl Tally {
    fn add(&mut self, code: Code) {
        *self.codes.entry(format!("{code:?}")).or_default() += 1;
    }
    fn merge(&mut self, other: Tally) {
        for (k, v) in other.codes {
            *self.codes.entry(k).or_default() += v;
        }
        self.calls += other.calls;
        self.envelopes += other.envelopes;
    }
}

/// A proper status: one the server chose for a bad request. Never UNKNOWN (an unmapped
/// error), UNAVAILABLE or CANCELLED (a dropped connection or a panicked handler), and
/// INTERNAL only for a body that is not protobuf (tonic's decode error).
fn assert_proper(status: &tonic::Status, what: &str) {
    let ok = match status.code() {
        Code::InvalidArgument
        | Code::NotFound
        | Code::FailedPrecondition
        | Code::ResourceExhausted
        | Code::OutOfRange => true,
        Code::Internal => status.message().contains("decode"),
        _ => false,
    };
    assert!(ok, "{what}: improper status {status:?}");
}

fn check_in_band(status: &pb::Status, tally: &mut Tally, what: &str) {
    let code = Code::from_i32(status.code);
    assert_proper(&tonic::Status::new(code, status.message.clone()), what);
    tally.add(code);
}

async fn send(ch: &Channel, index: u64, live: &[String]) -> Tally {
    let mut rng = Rng(index);
    let rpc = (index % RPCS as u64) as usize;
    let mut tally = Tally {
        calls: 1,
        ..Default::default()
    };
    if rpc < UNARY.len() {
        let body = payload(&mut rng, rpc, live);
        let what = format!("payload {index} to {}", UNARY[rpc]);
        match unary(ch, UNARY[rpc], body).await {
            Ok(answer) if UNARY[rpc] == "BatchStep" => {
                let r = pb::BatchStepResponse::decode(answer.as_slice()).expect("batch answer");
                for item in &r.results {
                    if let Some(pb::batch_step_result::Result::Error(s)) = &item.result {
                        check_in_band(s, &mut tally, &what);
                    }
                }
            }
            Ok(_) => {}
            Err(status) => {
                assert_proper(&status, &what);
                tally.add(status.code());
            }
        }
        return tally;
    }

    // Interact: a stream of hostile envelopes, some of them not envelopes at all.
    let n = 1 + rng.below(6);
    let envelopes: Vec<Vec<u8>> = (0..n).map(|_| payload(&mut rng, rpc, live)).collect();
    tally.envelopes = n;
    let what = format!("payload {index} to Interact");
    let mut g = tonic::client::Grpc::new(ch.clone());
    g.ready().await.expect("ready");
    let path = PathAndQuery::from_static("/medgym.v1.Environment/Interact");
    let request = tonic::Request::new(tokio_stream::iter(envelopes));
    let mut answers = match g.streaming(request, path, Raw).await {
        Ok(r) => r.into_inner(),
        Err(status) => {
            assert_proper(&status, &what);
            tally.add(status.code());
            return tally;
        }
    };
    loop {
        match answers.message().await {
            Ok(Some(bytes)) => {
                let r = pb::EnvResponse::decode(bytes.as_slice()).expect("envelope answer");
                match r.response {
                    Some(pb::env_response::Response::Error(s)) => {
                        check_in_band(&s, &mut tally, &what)
                    }
                    Some(_) => {}
                    None => panic!("{what}: an answer without a response"),
                }
            }
            Ok(None) => break,
            Err(status) => {
                assert_proper(&status, &what);
                tally.add(status.code());
                break;
            }
        }
    }
    tally
}

fn reset(seed: u64) -> pb::ResetRequest {
    pb::ResetRequest {
        seed: Some(seed),
        ..Default::default()
    }
}

fn ask(session: &str, q: &str, request_id: &str) -> pb::StepRequest {
    pb::StepRequest {
        session_id: session.into(),
        action: Some(pb::Action {
            kind: Some(pb::action::Kind::Ask(pb::Ask {
                question: q.into(),
                finding_id: String::new(),
            })),
        }),
        request_id: request_id.into(),
    }
}

/// A fixed episode: every observation of it, for comparison before and after the barrage.
async fn script(c: &mut EnvironmentClient<Channel>, seed: u64) -> Vec<String> {
    let r = c.reset(reset(seed)).await.expect("reset").into_inner();
    let mut out = vec![format!(
        "{:?} {:?}",
        r.observation,
        r.info.map(|i| i.task_id)
    )];
    for q in ["Do you have a fever?", "Any chest pain?", "Since when?"] {
        let s = c
            .step(ask(&r.session_id, q, ""))
            .await
            .expect("step")
            .into_inner();
        out.push(format!("{:?} {:?}", s.observation, s.reward_components));
    }
    out
}

fn metric_counts(body: &str, name: &str) -> BTreeMap<String, u64> {
    // Lines like: medgym_errors_total{code="NotFound"} 12
    body.lines()
        .filter_map(|l| l.strip_prefix(name)?.strip_prefix("{code=\""))
        .filter_map(|l| {
            let (code, rest) = l.split_once("\"}")?;
            Some((code.to_string(), rest.trim().parse::<f64>().ok()? as u64))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_hostile_payloads_leave_the_server_correct() {
    let started = Instant::now();
    let server = Server::start(medgym_server::Config {
        max_message_bytes: MAX_MESSAGE,
        ..Default::default()
    })
    .await;
    let channel = server.channel().await;
    let mut client = EnvironmentClient::new(channel.clone());
    let before = script(&mut client, 42).await;

    // Live sessions to aim at, so that random steps reach real episodes too.
    let mut live = Vec::new();
    for seed in 0..16 {
        live.push(
            client
                .reset(reset(seed))
                .await
                .expect("reset")
                .into_inner()
                .session_id,
        );
    }
    let live = Arc::new(live);

    // Several connections, each with several calls in flight.
    const WORKERS: u64 = 16;
    let mut channels = vec![channel.clone()];
    for _ in 1..4 {
        channels.push(server.channel().await);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..WORKERS {
        let ch = channels[(w % 4) as usize].clone();
        let live = Arc::clone(&live);
        tasks.spawn(async move {
            let mut tally = Tally::default();
            let mut i = w;
            while i < PAYLOADS {
                tally.merge(send(&ch, i, &live).await);
                i += WORKERS;
            }
            tally
        });
    }
    let mut tally = Tally::default();
    while let Some(t) = tasks.join_next().await {
        tally.merge(t.expect("a worker panicked"));
    }
    let barrage = started.elapsed();
    assert_eq!(tally.calls, PAYLOADS);
    eprintln!(
        "{} calls ({} Interact envelopes) in {barrage:.1?}; codes seen: {:?}",
        tally.calls, tally.envelopes, tally.codes
    );
    for code in ["InvalidArgument", "NotFound", "Internal", "OutOfRange"] {
        assert!(
            tally.codes.get(code).is_some_and(|&n| n > 0),
            "the barrage should provoke {code}: {:?}",
            tally.codes
        );
    }

    // Still serving, on the connection that carried the barrage, and the same episode.
    let after = script(&mut client, 42).await;
    assert_eq!(before, after, "same seed, same episode after the barrage");
    assert_eq!(
        common::health_status(channel, "medgym.v1.Environment").await,
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );

    // Every error the clients saw is counted by code. (The recorder is shared by the servers
    // of this test binary, so the counts may be higher, never lower.)
    let counted = metric_counts(&server.metrics_text().await, "medgym_errors_total");
    for (code, &seen) in &tally.codes {
        let n = counted.get(code).copied().unwrap_or(0);
        assert!(
            n >= seen,
            "{code}: clients saw {seen}, /metrics counts {n}: {counted:?}"
        );
    }
    server.stop().await;
}

/// Presents a bearer token on every call.
#[derive(Debug, Clone, Copy)]
struct Token(&'static str);

impl tonic::service::Interceptor for Token {
    fn call(&mut self, mut r: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let value = format!("Bearer {}", self.0).parse().expect("ascii");
        r.metadata_mut().insert("authorization", value);
        Ok(r)
    }
}

fn with_token(
    channel: Channel,
    token: &'static str,
) -> EnvironmentClient<tonic::service::interceptor::InterceptedService<Channel, Token>> {
    EnvironmentClient::with_interceptor(channel, Token(token))
}

#[tokio::test]
async fn sessions_are_limited_per_token_and_freed_by_close() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, "alpha-secret-1\nbeta-secret-2\n").expect("write");
    let server = Server::start(medgym_server::Config {
        max_sessions_per_client: 3,
        auth_token_file: Some(tokens),
        ..Default::default()
    })
    .await;
    let mut alpha = with_token(server.channel().await, "alpha-secret-1");
    // The same token on another connection is the same client.
    let mut alpha2 = with_token(server.channel().await, "alpha-secret-1");
    let mut beta = with_token(server.channel().await, "beta-secret-2");

    let limits = alpha
        .get_spec(pb::GetSpecRequest {})
        .await
        .expect("spec")
        .into_inner()
        .limits
        .expect("limits");
    assert_eq!(limits.max_sessions_per_client, 3);
    assert!(limits.max_stream_in_flight > 0);

    let first = alpha.reset(reset(1)).await.expect("1").into_inner();
    alpha.reset(reset(2)).await.expect("2");
    alpha2.reset(reset(3)).await.expect("3");
    let err = alpha2.reset(reset(4)).await.expect_err("over the limit");
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert!(
        err.message().contains("max_sessions_per_client"),
        "{}",
        err.message()
    );
    beta.reset(reset(5))
        .await
        .expect("another token has its own share");
    alpha
        .close(pb::CloseRequest {
            session_id: first.session_id,
        })
        .await
        .expect("close");
    alpha.reset(reset(6)).await.expect("closing freed a slot");

    let body = server.metrics_text().await;
    assert!(body.contains("medgym_active_clients 2"), "{body}");
    assert!(body.contains("medgym_client_sessions_max 3"), "{body}");
    assert!(body.contains("medgym_client_limit_hits_total"), "{body}");
    assert!(!body.contains("secret"), "no token in metrics: {body}");
    server.stop().await;
}

#[tokio::test]
async fn without_auth_sessions_are_limited_per_address() {
    let server = Server::start(medgym_server::Config {
        max_sessions_per_client: 2,
        ..Default::default()
    })
    .await;
    let mut a = EnvironmentClient::new(server.channel().await);
    let mut b = EnvironmentClient::new(server.channel().await);
    a.reset(reset(1)).await.expect("1");
    b.reset(reset(2)).await.expect("2");
    let err = b
        .reset(reset(3))
        .await
        .expect_err("both connections come from 127.0.0.1");
    assert_eq!(err.code(), Code::ResourceExhausted);
    server.stop().await;
}

#[tokio::test]
async fn an_interact_stream_runs_no_step_after_its_deadline() {
    use pb::env_request::Request as Rq;
    use pb::env_response::Response as Rs;
    let server = Server::start(Default::default()).await;
    let channel = server.channel().await;
    let mut c = EnvironmentClient::new(channel.clone());

    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut request = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
    request.set_timeout(Duration::from_millis(500));
    let mut answers = c.interact(request).await.expect("stream").into_inner();
    tx.send(pb::EnvRequest {
        id: 1,
        request: Some(Rq::Reset(reset(3))),
    })
    .await
    .expect("send");
    let Some(Rs::Reset(r)) = answers
        .message()
        .await
        .expect("answer")
        .and_then(|a| a.response)
    else {
        panic!("the reset within the deadline runs");
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    tx.send(pb::EnvRequest {
        id: 2,
        request: Some(Rq::Step(ask(&r.session_id, "Any fever?", "late-1"))),
    })
    .await
    .expect("send");
    let late = answers.message().await.expect("answer").expect("one");
    let Some(Rs::Error(status)) = late.response else {
        panic!("a step after the deadline must not run: {late:?}");
    };
    assert_eq!(Code::from_i32(status.code), Code::DeadlineExceeded);
    drop(tx);

    let trajectory = c
        .get_trajectory(pb::GetTrajectoryRequest {
            session_id: r.session_id.clone(),
            include_record: false,
        })
        .await
        .expect("trajectory")
        .into_inner();
    assert!(trajectory.steps.is_empty(), "the episode is unchanged");
    // The retry, without a deadline, runs.
    let s = c
        .step(ask(&r.session_id, "Any fever?", "late-1"))
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(s.observation.expect("obs").turn, 1);
    let counted = metric_counts(&server.metrics_text().await, "medgym_errors_total");
    assert!(counted.get("DeadlineExceeded").is_some_and(|&n| n >= 1));
    server.stop().await;
}
