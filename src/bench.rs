//! `medgym bench`: the load generator. In one process it runs a bare tonic echo service that
//! answers the same messages with canned responses of the same size (the baseline), then the
//! real medgym server, and drives both with the same client patterns over loopback: unary Step
//! with 1 and 64 calls in flight, BatchStep with 64 and 256 steps per message, and an Interact
//! stream. It prints steps/s, p50/p99 latency and medgym's ratio to the baseline for each, then
//! the memory per live session. Every phase is bounded in time. With `--mix search` the server
//! has the knowledge base and one step in ten searches it; two more scenarios then time asks of
//! some sessions while other sessions search.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use medgym_env::World;
use medgym_proto::v1 as pb;
use pb::echo_client::EchoClient;
use pb::echo_server::{Echo, EchoServer};
use pb::environment_client::EnvironmentClient;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::transport::Channel;
use tonic::{Request, Response, Status, Streaming};

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Seconds each scenario runs for each target.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Live sessions to create for the memory measurement.
    #[arg(long, default_value_t = 100_000)]
    sessions: usize,
    /// Run only the scenarios whose name contains this (to profile one), e.g. "BatchStep 256".
    #[arg(long)]
    only: Option<String>,
    /// Run only against this target: "bare" or "medgym" (both by default).
    #[arg(long)]
    target: Option<String>,
    /// What each session does. `episodes`: free-text asks, exams and, where the call can
    /// reset an ended episode (BatchStep autoreset), a diagnosis every tenth step. `asks`: the
    /// first version's mix, six free-text questions in rotation in endless episodes.
    /// `search`: `episodes` with a knowledge-base search as every episode's fifth step (the
    /// server gets the knowledge base, from `--kb-cache`).
    #[arg(long, value_enum, default_value_t = Mix::Episodes)]
    mix: Mix,
    /// Sessions searching in a closed loop, one call each, beside the asks of the "beside
    /// searches" scenarios (mix `search` only).
    #[arg(long, default_value_t = 4)]
    searchers: usize,
    /// Give the server the knowledge base whatever the mix, as `serve` has it (the `search`
    /// mix always does).
    #[arg(long)]
    kb: bool,
}

impl BenchArgs {
    /// Whether the server gets the knowledge base.
    pub fn needs_kb(&self) -> bool {
        self.kb || self.mix == Mix::Search
    }
}

/// The action mix of the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Mix {
    Episodes,
    Asks,
    Search,
}

/// Canned answers of the size medgym really sends.
#[derive(Debug, Clone)]
struct EchoService {
    /// A real answer to each action of the mix, by [`action_key`].
    samples: Arc<std::collections::HashMap<String, pb::StepResponse>>,
    /// For anything else.
    step: pb::StepResponse,
}

impl EchoService {
    fn answer(&self, r: &pb::StepRequest) -> pb::StepResponse {
        self.samples
            .get(action_key(r))
            .unwrap_or(&self.step)
            .clone()
    }
}

/// What identifies an action of the mix: the question, exam id, search query or diagnosis.
fn action_key(r: &pb::StepRequest) -> &str {
    use pb::action::Kind;
    match r.action.as_ref().and_then(|a| a.kind.as_ref()) {
        Some(Kind::Ask(a)) => &a.question,
        Some(Kind::Search(s)) => &s.query,
        Some(Kind::Exam(e)) => &e.exam_id,
        Some(Kind::Diagnose(d)) => &d.primary,
        _ => "",
    }
}

type EchoStream = Pin<Box<dyn Stream<Item = Result<pb::EnvResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Echo for EchoService {
    async fn step(
        &self,
        r: Request<pb::StepRequest>,
    ) -> Result<Response<pb::StepResponse>, Status> {
        Ok(Response::new(self.answer(r.get_ref())))
    }

    async fn batch_step(
        &self,
        r: Request<pb::BatchStepRequest>,
    ) -> Result<Response<pb::BatchStepResponse>, Status> {
        let results = r
            .into_inner()
            .steps
            .iter()
            .map(|s| pb::BatchStepResult {
                result: Some(pb::batch_step_result::Result::Response(self.answer(s))),
            })
            .collect();
        Ok(Response::new(pb::BatchStepResponse { results }))
    }

    type InteractStream = EchoStream;

    async fn interact(
        &self,
        r: Request<Streaming<pb::EnvRequest>>,
    ) -> Result<Response<Self::InteractStream>, Status> {
        let mut inbound = r.into_inner();
        let (tx, rx) = mpsc::channel(256);
        let echo = self.clone();
        tokio::spawn(async move {
            while let Some(Ok(req)) = inbound.next().await {
                let step = match &req.request {
                    Some(pb::env_request::Request::Step(s)) => echo.answer(s),
                    _ => echo.step.clone(),
                };
                let resp = pb::EnvResponse {
                    id: req.id,
                    response: Some(pb::env_response::Response::Step(step)),
                };
                if tx.send(Ok(resp)).await.is_err() {
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

/// The two targets, behind one interface.
#[derive(Clone)]
enum Target {
    Echo(EchoClient<Channel>),
    Medgym(EnvironmentClient<Channel>),
}

impl Target {
    async fn step(&mut self, r: pb::StepRequest) -> Result<(), Status> {
        match self {
            Target::Echo(c) => c.step(r).await.map(drop),
            Target::Medgym(c) => c.step(r).await.map(drop),
        }
    }

    /// A BatchStep whose every result must be a step: an error inside (an ended episode, an
    /// unknown session) would be counted as a cheap step, so it fails the run instead.
    async fn batch(&mut self, r: pb::BatchStepRequest) -> Result<(), Status> {
        let results = match self {
            Target::Echo(c) => c.batch_step(r).await?.into_inner().results,
            Target::Medgym(c) => c.batch_step(r).await?.into_inner().results,
        };
        for r in results {
            if let Some(pb::batch_step_result::Result::Error(e)) = r.result {
                return Err(Status::new(e.code.into(), e.message));
            }
        }
        Ok(())
    }

    async fn interact(
        &mut self,
        rx: mpsc::Receiver<pb::EnvRequest>,
    ) -> Result<Streaming<pb::EnvResponse>, Status> {
        let s = ReceiverStream::new(rx);
        match self {
            Target::Echo(c) => c.interact(s).await.map(Response::into_inner),
            Target::Medgym(c) => c.interact(s).await.map(Response::into_inner),
        }
    }
}

const QUESTIONS: [&str; 6] = [
    "Do you have a fever?",
    "Any pain in your chest?",
    "Have you been coughing?",
    "When did it start?",
    "Any nausea or vomiting?",
    "Do you get short of breath?",
];

/// The free-text questions of the `episodes` mix: single and "X or Y" questions, follow-ups,
/// one that names nothing (as benches/ask.rs).
const EPISODE_QUESTIONS: [&str; 12] = [
    "Have you had any fever or chills?",
    "Any pain in your chest?",
    "Do you get short of breath when you walk up stairs?",
    "When did it start?",
    "Do you feel sick to your stomach?",
    "How bad is the pain, 1 to 10?",
    "Are you more tired than usual?",
    "Have you noticed any blood in your stools or black, tarry bowel movements?",
    "What do you do for a living?",
    "Do you have to rush to the toilet to pee, or get up at night to go?",
    "Does bright light bother your eyes?",
    "Has your speech become slurred?",
];

/// Exams of the `episodes` mix: a blood panel, a bedside exam and an image.
const EXAMS: [&str; 3] = ["cbc", "cardiac_auscultation", "abdominal_ultrasound"];

/// Knowledge-base queries of the `search` mix: presentations of a few findings, as an agent
/// would search them, and single-term lookups (crates/kb/benches/search.rs has both kinds).
const SEARCHES: [&str; 6] = [
    "fever neck stiffness photophobia",
    "chest pain radiating to the left arm sweating",
    "productive cough fever pleuritic chest pain",
    "right lower quadrant abdominal pain vomiting",
    "photophobia",
    "polyuria polydipsia weight loss",
];

fn search(i: usize) -> pb::action::Kind {
    pb::action::Kind::Search(pb::Search {
        query: SEARCHES[i % SEARCHES.len()].into(),
        top_k: 0,
    })
}
/// The action of a session's `i`th step. In the `episodes` mix an episode is ten steps:
/// seven asks, two exams and, with `diagnose` (calls that autoreset), a diagnosis as the
/// tenth; without it the tenth is another ask and episodes never end. The `search` mix
/// searches instead of the fifth ask.
fn action(mix: Mix, i: usize, diagnose: bool) -> pb::action::Kind {
    let ask = |q: &str| {
        pb::action::Kind::Ask(pb::Ask {
            question: q.into(),
            finding_id: String::new(),
        })
    };
    if mix == Mix::Asks {
        return ask(QUESTIONS[i % QUESTIONS.len()]);
    }
    // Which episode this is, so that successive episodes ask different questions.
    let episode = i / 10;
    match i % 10 {
        2 | 6 => pb::action::Kind::Exam(pb::Exam {
            exam_id: EXAMS[(episode + i / 6) % EXAMS.len()].into(),
            site: String::new(),
        }),
        9 if diagnose => pb::action::Kind::Diagnose(pb::Diagnose {
            primary: "community-acquired pneumonia".into(),
            differential: Vec::new(),
        }),
        4 if mix == Mix::Search => search(episode),
        step => ask(EPISODE_QUESTIONS[(episode * 5 + step) % EPISODE_QUESTIONS.len()]),
    }
}

fn step_request(session: &str, mix: Mix, i: usize, diagnose: bool) -> pb::StepRequest {
    pb::StepRequest {
        session_id: session.to_string(),
        action: Some(pb::Action {
            kind: Some(action(mix, i, diagnose)),
        }),
        request_id: String::new(),
    }
}

/// Steps and per-call latencies of one scenario on one target.
#[derive(Debug, Default)]
struct Tally {
    steps: u64,
    latencies_us: Vec<u32>,
    elapsed: f64,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.steps += other.steps;
        self.latencies_us.extend(other.latencies_us);
    }

    fn rate(&self) -> f64 {
        self.steps as f64 / self.elapsed
    }

    fn percentile(&mut self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        self.latencies_us.sort_unstable();
        let i = ((self.latencies_us.len() - 1) as f64 * p).round() as usize;
        f64::from(self.latencies_us[i])
    }
}

/// `workers` loops, each stepping its own sessions `per_call` at a time until the deadline.
async fn closed_loop(
    target: &Target,
    sessions: &[String],
    workers: usize,
    per_call: usize,
    seconds: f64,
    mix: Mix,
) -> Result<Tally> {
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let mut handles = Vec::new();
    for w in 0..workers {
        let mut target = target.clone();
        let mine: Vec<String> = sessions
            .iter()
            .skip(w * per_call)
            .take(per_call)
            .cloned()
            .collect();
        handles.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut i = w;
            while Instant::now() < deadline {
                let t = Instant::now();
                if per_call == 1 {
                    target.step(step_request(&mine[0], mix, i, false)).await?;
                } else {
                    // Batches autoreset, so their episodes can end with a diagnosis.
                    let steps = mine.iter().map(|s| step_request(s, mix, i, true)).collect();
                    target
                        .batch(pb::BatchStepRequest {
                            steps,
                            autoreset: true,
                        })
                        .await?;
                }
                tally
                    .latencies_us
                    .push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                tally.steps += per_call as u64;
                i += 1;
            }
            Ok::<_, Status>(tally)
        }));
    }
    let mut total = Tally::default();
    for h in handles {
        total.merge(h.await.context("worker panicked")??);
    }
    total.elapsed = start.elapsed().as_secs_f64();
    Ok(total)
}

/// One Interact stream with `window` requests in flight over `sessions` sessions.
async fn stream_loop(
    target: &Target,
    sessions: &[String],
    window: usize,
    seconds: f64,
    mix: Mix,
) -> Result<Tally> {
    let mut target = target.clone();
    let (tx, rx) = mpsc::channel(window);
    let mut responses = target.interact(rx).await?;
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let mut sent_at: Vec<Instant> = Vec::new();
    let mut next = 0u64;
    let request = |n: u64| pb::EnvRequest {
        id: n,
        request: Some(pb::env_request::Request::Step(step_request(
            &sessions[n as usize % sessions.len()],
            mix,
            // Each session follows its own script (the first version cycled on `n`).
            match mix {
                Mix::Episodes | Mix::Search => n as usize / sessions.len(),
                Mix::Asks => n as usize,
            },
            false,
        ))),
    };
    for _ in 0..window {
        sent_at.push(Instant::now());
        tx.send(request(next)).await.context("stream closed")?;
        next += 1;
    }
    let mut tally = Tally::default();
    while let Some(r) = responses.next().await {
        let r = r?;
        // As in BatchStep, an error answer is not a step.
        if let Some(pb::env_response::Response::Error(e)) = r.response {
            return Err(Status::new(e.code.into(), e.message).into());
        }
        let t = sent_at[r.id as usize];
        tally
            .latencies_us
            .push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
        tally.steps += 1;
        if Instant::now() < deadline {
            sent_at.push(Instant::now());
            tx.send(request(next)).await.context("stream closed")?;
            next += 1;
        } else if tally.steps == next {
            break;
        }
    }
    tally.elapsed = start.elapsed().as_secs_f64();
    Ok(tally)
}

/// Asks of some sessions while `searchers` other sessions search in a closed loop, one unary
/// call each: the asks are `ask_workers` unary callers one call in flight each (`stream`:
/// one Interact stream with `ask_workers` in flight instead). Returns the asks' tally and the
/// searches per second.
async fn beside_searches(
    target: &Target,
    ask_sessions: &[String],
    search_sessions: &[String],
    ask_workers: usize,
    stream: bool,
    seconds: f64,
) -> Result<(Tally, f64)> {
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let mut searchers = Vec::new();
    for (w, session) in search_sessions.iter().enumerate() {
        let mut target = target.clone();
        let session = session.clone();
        searchers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                let r = pb::StepRequest {
                    session_id: session.clone(),
                    action: Some(pb::Action {
                        kind: Some(search(w + n as usize)),
                    }),
                    request_id: String::new(),
                };
                target.step(r).await?;
                n += 1;
            }
            Ok::<_, Status>(n)
        }));
    }
    let asks = if stream {
        stream_loop(target, ask_sessions, ask_workers, seconds, Mix::Asks).await?
    } else {
        closed_loop(target, ask_sessions, ask_workers, 1, seconds, Mix::Asks).await?
    };
    let mut searches = 0;
    for h in searchers {
        searches += h.await.context("searcher panicked")??;
    }
    Ok((asks, searches as f64 / start.elapsed().as_secs_f64()))
}

async fn connect(addr: SocketAddr) -> Result<Channel> {
    let url = format!("http://{addr}");
    for _ in 0..100 {
        if let Ok(c) = Channel::from_shared(url.clone())?.connect().await {
            return Ok(c);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    anyhow::bail!("{url} did not accept connections")
}

fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

pub fn run(args: BenchArgs, world: Arc<World>) -> Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(run_async(args, world))
}

async fn run_async(args: BenchArgs, world: Arc<World>) -> Result<()> {
    // Endless episodes: the load test measures steps, not episode boundaries.
    let options = medgym_env::EpisodeOptions {
        max_turns: u32::MAX,
        budget_usd: 1e15,
        ..Default::default()
    };
    let config = medgym_server::Config {
        max_sessions: args.sessions + 10_000,
        // The load generator is one client holding every session.
        max_sessions_per_client: args.sessions + 10_000,
        default_options: options,
        ..Default::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let medgym_addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(medgym_server::run(
        listener,
        None,
        world,
        config,
        async move {
            let _ = stop_rx.await;
        },
    ));
    let mut medgym =
        EnvironmentClient::new(connect(medgym_addr).await?).max_decoding_message_size(64 << 20);

    // Sessions for every scenario, one more for sampling, and a real StepResponse to each
    // action of the mix for the echo to send back.
    // The scenarios below step the first 64 + 4 × 256; the "beside searches" ones, 64 more
    // asking and `searchers` searching.
    let stepped = 64 + 4 * 256;
    let needed = stepped + 64 + args.searchers + 1;
    let mut sessions = Vec::with_capacity(needed);
    for i in 0..needed {
        let r = medgym
            .reset(pb::ResetRequest {
                seed: Some(i as u64),
                ..Default::default()
            })
            .await?
            .into_inner();
        sessions.push(r.session_id);
    }
    let sampler = sessions.pop().context("no sampling session")?;
    let mut samples = std::collections::HashMap::new();
    let cycle = if args.mix == Mix::Asks {
        QUESTIONS.len()
    } else {
        10 * SEARCHES.len()
    };
    for i in 0..cycle {
        let r = step_request(&sampler, args.mix, i, false);
        let key = action_key(&r).to_string();
        let response = medgym.step(r).await?.into_inner();
        samples.entry(key).or_insert(response);
    }
    let diagnosis = step_request(&sampler, args.mix, 9, true);
    if action_key(&diagnosis) != action_key(&step_request(&sampler, args.mix, 9, false)) {
        let key = action_key(&diagnosis).to_string();
        samples.insert(key, medgym.step(diagnosis).await?.into_inner());
    }
    let sample = samples
        .get(QUESTIONS[0])
        .or_else(|| samples.values().next())
        .cloned()
        .context("no sample response")?;

    let echo_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let echo_addr = echo_listener.local_addr()?;
    let echo = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(EchoServer::new(EchoService {
                samples: Arc::new(samples),
                step: sample,
            }))
            .serve_with_incoming(
                tonic::transport::server::TcpIncoming::from(echo_listener).with_nodelay(Some(true)),
            ),
    );
    let echo_client =
        EchoClient::new(connect(echo_addr).await?).max_decoding_message_size(64 << 20);

    let targets = [
        ("bare tonic", Target::Echo(echo_client)),
        ("medgym", Target::Medgym(medgym.clone())),
    ];
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "medgym bench: {cpus} CPUs, {:.1} s per scenario and target, loopback, client and servers in one process, mix {:?}\n",
        args.seconds, args.mix
    );
    println!(
        "{:<22} {:<11} {:>12} {:>10} {:>10} {:>7}",
        "scenario", "target", "steps/s", "p50 µs", "p99 µs", "ratio"
    );
    let scenarios: [(&str, usize, usize, bool); 5] = [
        ("unary Step, 1 in flight", 1, 1, false),
        ("unary Step, 64 in flight", 64, 1, false),
        ("BatchStep 64/msg x4", 4, 64, false),
        ("BatchStep 256/msg x4", 4, 256, false),
        ("Interact, 64 in flight", 1, 64, true),
    ];
    let mut unary64 = 0.0;
    for (name, workers, per_call, stream) in scenarios {
        if args
            .only
            .as_ref()
            .is_some_and(|o| !name.contains(o.as_str()))
        {
            continue;
        }
        let mut base = 0.0;
        for (label, target) in &targets {
            if args
                .target
                .as_ref()
                .is_some_and(|t| !label.starts_with(t.as_str()))
            {
                continue;
            }
            // Unary calls and the stream step the first 64 sessions, whose episodes never end;
            // batches (which end episodes with a diagnosis and autoreset) the next 1,024.
            let mut t = if stream {
                stream_loop(target, &sessions[..64], per_call, args.seconds, args.mix).await?
            } else if per_call == 1 {
                closed_loop(target, &sessions, workers, 1, args.seconds, args.mix).await?
            } else {
                let batched = &sessions[64..];
                closed_loop(target, batched, workers, per_call, args.seconds, args.mix).await?
            };
            let rate = t.rate();
            let ratio = if base > 0.0 { rate / base } else { 1.0 };
            if base == 0.0 {
                base = rate;
            }
            if name.starts_with("unary Step, 64") && *label == "medgym" {
                unary64 = ratio;
            }
            println!(
                "{name:<22} {label:<11} {rate:>12.0} {:>10.0} {:>10.0} {ratio:>7.2}",
                t.percentile(0.5),
                t.percentile(0.99)
            );
        }
    }

    if args.mix == Mix::Search {
        // Only medgym searches: the echo has nothing to compare with here.
        println!(
            "\n{:<40} {:>9} {:>8} {:>8} {:>8} {:>11}",
            "asks beside searches (medgym)", "asks/s", "p50 µs", "p99 µs", "p99.9 µs", "searches/s"
        );
        let beside: [(&str, usize, bool); 2] = [
            ("unary ask, 1 in flight", 1, false),
            ("Interact asks, 64 in flight", 64, true),
        ];
        // Sessions none of the scenarios above stepped, so the asks run in fresh episodes.
        let (ask_sessions, search_sessions) = sessions[stepped..].split_at(64);
        for (name, workers, stream) in beside {
            if args
                .only
                .as_ref()
                .is_some_and(|o| !name.contains(o.as_str()))
            {
                continue;
            }
            let name = format!("{name}, {} searchers", search_sessions.len());
            let target = Target::Medgym(medgym.clone());
            let (mut asks, searches) = beside_searches(
                &target,
                &ask_sessions[..workers],
                search_sessions,
                workers,
                stream,
                args.seconds,
            )
            .await?;
            println!(
                "{name:<40} {:>9.0} {:>8.0} {:>8.0} {:>8.0} {searches:>11.0}",
                asks.rate(),
                asks.percentile(0.5),
                asks.percentile(0.99),
                asks.percentile(0.999),
            );
        }
    }

    // Memory per live session: RSS growth over `sessions` fresh resets (64 in flight).
    let before = rss_bytes();
    let started = Instant::now();
    let per_task = args.sessions.div_ceil(64);
    let mut handles = Vec::new();
    for w in 0..64 {
        let mut c = medgym.clone();
        handles.push(tokio::spawn(async move {
            for i in 0..per_task {
                c.reset(pb::ResetRequest {
                    seed: Some((w * per_task + i) as u64),
                    ..Default::default()
                })
                .await?;
            }
            Ok::<_, Status>(())
        }));
    }
    for h in handles {
        h.await??;
    }
    let created = per_task * 64;
    if let (Some(a), Some(b)) = (before, rss_bytes()) {
        println!(
            "\n{created} more live sessions in {:.1} s: RSS {:.0} MiB -> {:.0} MiB, {:.2} KiB per session",
            started.elapsed().as_secs_f64(),
            a as f64 / 1048576.0,
            b as f64 / 1048576.0,
            (b.saturating_sub(a)) as f64 / created as f64 / 1024.0
        );
    }

    let _ = stop_tx.send(());
    echo.abort();
    let _ = server.await;
    println!("\nratio unary-64 (medgym / bare tonic): {unary64:.2}");
    Ok(())
}
