//! The `medgym.v1.Environment` service: converts, delegates to the environment, converts back.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use medgym_env::record::EpisodeRecord;
use medgym_env::{self as env, Env, ResetArgs, World};
use medgym_proto::v1 as pb;
use medgym_sink::TrajectoryWriter;
use pb::environment_server::Environment;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_stream::{Stream, StreamExt, wrappers::UnboundedReceiverStream};
use tonic::{Request, Response, Status, Streaming};

use crate::clients::Caller;
use crate::sessions::{Session, Sessions};
use crate::{Config, ServerError, convert, metrics as m};

/// Default and maximum page sizes of ListTasks.
const PAGE_DEFAULT: usize = 100;
const PAGE_MAX: usize = 1000;

/// The environment service shared by all connections.
#[derive(Debug, Clone)]
pub struct Service {
    world: Arc<World>,
    sessions: Arc<Sessions>,
    config: Arc<Config>,
    sink: Option<Arc<parking_lot::Mutex<TrajectoryWriter>>>,
    step_metrics: Arc<StepMetrics>,
}

/// The `action` label of each action kind, in the order of [`action_kind`].
const ACTION_KINDS: [&str; 5] = ["ask", "exam", "search", "diagnose", "text"];

/// The step path's metric handles, resolved once: looking a labelled counter up in the
/// registry (hashing its key) on every step cost more than incrementing it.
#[derive(Debug)]
struct StepMetrics {
    /// By action kind, in the order of [`action_kind`].
    steps: [metrics::Counter; ACTION_KINDS.len()],
    latency: metrics::Histogram,
    /// Resets, autoresets included.
    resets: metrics::Counter,
}

impl StepMetrics {
    fn new() -> Self {
        StepMetrics {
            steps: ACTION_KINDS.map(|kind| metrics::counter!(m::STEPS, "action" => kind)),
            latency: metrics::histogram!(m::STEP_LATENCY),
            resets: metrics::counter!(m::RESETS),
        }
    }
}

/// Steps a [`StepTally`] holds before it records them.
const TALLY_STEPS: usize = 32;

/// What steps add to the step metrics, recorded a run of steps at a time (when full, and when
/// dropped): the counters and the histogram are shared by every thread, and recording each
/// step as it happened made the cores take turns on their cache lines (≈ 4% of a BatchStep
/// profile).
#[derive(Debug)]
struct StepTally<'a> {
    metrics: &'a StepMetrics,
    steps: [u64; ACTION_KINDS.len()],
    resets: u64,
    latencies: [f64; TALLY_STEPS],
    len: usize,
}

impl<'a> StepTally<'a> {
    fn new(metrics: &'a StepMetrics) -> Self {
        StepTally {
            metrics,
            steps: [0; ACTION_KINDS.len()],
            resets: 0,
            latencies: [0.0; TALLY_STEPS],
            len: 0,
        }
    }

    fn step(&mut self, kind: usize, latency: Duration) {
        self.steps[kind] += 1;
        self.latencies[self.len] = latency.as_secs_f64();
        self.len += 1;
        if self.len == TALLY_STEPS {
            self.record();
        }
    }

    fn record(&mut self) {
        for (counter, n) in self.metrics.steps.iter().zip(&mut self.steps) {
            if *n > 0 {
                counter.increment(std::mem::take(n));
            }
        }
        if self.resets > 0 {
            self.metrics
                .resets
                .increment(std::mem::take(&mut self.resets));
        }
        for &latency in &self.latencies[..self.len] {
            self.metrics.latency.record(latency);
        }
        self.len = 0;
    }
}

impl Drop for StepTally<'_> {
    fn drop(&mut self) {
        self.record();
    }
}

/// The index of an action's kind in [`StepMetrics::steps`].
fn action_kind(action: &env::Action) -> usize {
    match action {
        env::Action::Ask(_) => 0,
        env::Action::Exam(_) => 1,
        env::Action::Search(_) => 2,
        env::Action::Diagnose(_) => 3,
        env::Action::Text(_) => 4,
    }
}

impl Service {
    /// A service over a world with the given limits and defaults, under `config.replica_id`
    /// (checked by [`Config::validate`]) or else a random replica id.
    pub fn new(world: Arc<World>, config: Config) -> Self {
        let mut sessions = Sessions::new(
            config.max_sessions,
            Duration::from_secs(config.session_ttl_seconds),
        );
        if let Some(replica) = &config.replica_id {
            sessions = sessions.with_replica(replica.clone());
        }
        sessions = sessions.with_client_limit(config.max_sessions_per_client);
        Service {
            world,
            sessions: Arc::new(sessions),
            config: Arc::new(config),
            sink: None,
            step_metrics: Arc::new(StepMetrics::new()),
        }
    }

    /// Writes every finished episode to `sink` before its last step is answered.
    pub fn with_sink(mut self, sink: Arc<parking_lot::Mutex<TrajectoryWriter>>) -> Self {
        self.sink = Some(sink);
        self
    }

    fn record(&self, env: &Env) {
        let Some(sink) = &self.sink else { return };
        let Some(record) = env
            .trajectory()
            .as_ref()
            .and_then(EpisodeRecord::from_trajectory)
        else {
            return;
        };
        if let Err(e) = sink.lock().write(&record) {
            // The step itself succeeded; losing its record is reported, not hidden.
            tracing::error!(error = %e, episode = %record.episode_id, "trajectory not written");
            metrics::counter!(m::TRAJECTORY_ERRORS).increment(1);
        } else {
            metrics::counter!(m::TRAJECTORIES).increment(1);
        }
    }

    /// The session store (for the TTL reaper).
    pub fn sessions(&self) -> &Arc<Sessions> {
        &self.sessions
    }

    fn reset_args(&self, r: pb::ResetRequest) -> ResetArgs {
        ResetArgs {
            task_id: (!r.task_id.is_empty()).then_some(r.task_id),
            domain: r.domain,
            split: r.split,
            // No seed given: the server picks one and reports it, so the episode can be replayed.
            seed: r.seed.unwrap_or_else(random_seed),
            options: convert::options(r.options, &self.config.default_options),
            episode_id: None,
        }
    }

    /// Whether a step may search the knowledge base. A search (tantivy, p50 ≈ 0.5 ms, p99
    /// ≈ 2 ms) costs as much as 30–100 asks, long enough to stall a reactor thread and every
    /// call waiting on it, so it runs on the blocking pool; every other step takes a few
    /// microseconds, about what the hop to another thread would add, and runs where it is.
    /// Decided before the step runs, without parsing agent text (`text_may_search` never
    /// misses a search).
    fn searches(&self, r: &pb::StepRequest) -> bool {
        use pb::action::Kind;
        self.world.search.is_some()
            && match r.action.as_ref().and_then(|a| a.kind.as_ref()) {
                Some(Kind::Search(_)) => true,
                // Oversize text is refused without being read.
                Some(Kind::Text(t)) => {
                    t.len() <= self.config.max_text_bytes && env::text_may_search(t)
                }
                _ => false,
            }
    }

    /// Who sent a request: keyed by bearer token when authentication is on.
    fn caller<T>(&self, r: &Request<T>) -> Caller {
        Caller::of(r, self.config.auth_token_file.is_some())
    }

    /// Starts an episode in a new session counted against the caller.
    pub fn do_reset(
        &self,
        r: pb::ResetRequest,
        caller: &Caller,
    ) -> Result<pb::ResetResponse, ServerError> {
        // A session the client no longer waits for would only hold a slot until the TTL.
        caller.check_deadline()?;
        let args = self.reset_args(r);
        let mut env = Env::new(Arc::clone(&self.world));
        let (obs, info) = env.reset(ResetArgs {
            episode_id: Some(random_id()),
            ..args.clone()
        })?;
        let session_id = self
            .sessions
            .insert(Session::new(env, args).for_client(caller.client.clone()))?;
        self.step_metrics.resets.increment(1);
        Ok(pb::ResetResponse {
            session_id,
            observation: Some(convert::observation(obs)),
            info: Some(convert::info(info)),
        })
    }

    /// Steps a session; with `autoreset`, a step on an ended episode starts the next one.
    /// A step whose deadline has passed once the session is ours (it may have queued behind
    /// other steps of the same session) is refused without touching the episode.
    pub fn do_step(
        &self,
        r: pb::StepRequest,
        autoreset: bool,
        caller: &Caller,
    ) -> Result<pb::StepResponse, ServerError> {
        let mut tally = StepTally::new(&self.step_metrics);
        self.tallied_step(r, autoreset, caller, &mut tally)
    }

    /// [`Service::do_step`], adding its metrics to `tally`.
    fn tallied_step(
        &self,
        r: pb::StepRequest,
        autoreset: bool,
        caller: &Caller,
        tally: &mut StepTally,
    ) -> Result<pb::StepResponse, ServerError> {
        let started = Instant::now();
        let action = convert::action(r.action, self.config.max_text_bytes)?;
        let kind = action_kind(&action);
        let session = self.sessions.get(&r.session_id)?;
        let mut s = session.lock();
        caller.check_deadline()?;
        // The step's start is recent enough for the idle TTL and saves reading the clock.
        s.last_used = started;
        if let Some(previous) = s.replay(&r.request_id) {
            return Ok(previous.clone());
        }
        let response = if autoreset && s.env.done() {
            // Gymnasium next-step autoreset: this step's action is ignored and the slot starts
            // its next episode with the next seed of its own chain.
            let args = ResetArgs {
                seed: env::next_seed(s.last_reset.seed),
                episode_id: Some(random_id()),
                ..s.last_reset.clone()
            };
            let seed = args.seed;
            let (obs, info) = s.env.reset(args)?;
            s.last_reset.seed = seed;
            tally.resets += 1;
            let mut info = convert::info(info);
            info.autoreset = true;
            pb::StepResponse {
                observation: Some(convert::observation(obs)),
                reward: 0.0,
                reward_components: convert::zero_reward_components(),
                terminated: false,
                truncated: false,
                info: Some(info),
            }
        } else {
            let outcome = s.env.step(action)?;
            if outcome.terminated || outcome.truncated {
                self.record(&s.env);
            }
            convert::step(outcome)
        };
        s.remember(&r.request_id, &response);
        drop(s);
        tally.step(kind, started.elapsed());
        Ok(response)
    }

    fn do_close(&self, r: pb::CloseRequest) -> Result<pb::CloseResponse, ServerError> {
        let s = self.sessions.remove(&r.session_id)?;
        let finished = s.lock().env.done();
        Ok(pb::CloseResponse {
            episode_finished: finished,
        })
    }

    fn spec(&self) -> pb::EnvSpec {
        let k = &self.world.knowledge;
        let domains = k
            .manifest
            .domains
            .iter()
            .map(|d| pb::DomainInfo {
                name: d.clone(),
                task_count: k.tasks(d, "").len() as u32,
            })
            .filter(|d| d.task_count > 0)
            .collect();
        pb::EnvSpec {
            version: env!("CARGO_PKG_VERSION").to_string(),
            domains,
            splits: k.manifest.splits.clone(),
            exams: k
                .exams
                .iter()
                .map(|e| pb::ExamInfo {
                    id: e.id.clone(),
                    name: e.name.clone(),
                    kind: e.kind.as_str().to_string(),
                    cost_usd: e.cost_usd,
                    discomfort: u32::from(e.discomfort),
                    minutes: e.minutes,
                })
                .collect(),
            tools: env::tools()
                .into_iter()
                .map(|t| pb::ToolSchema {
                    name: t.name.to_string(),
                    description: t.description.to_string(),
                    parameters_json: t.parameters.to_string(),
                })
                .collect(),
            default_options: Some(convert::options_to_pb(&self.config.default_options)),
            limits: Some(pb::Limits {
                max_sessions: self.config.max_sessions as u32,
                max_text_bytes: self.config.max_text_bytes as u32,
                session_ttl_seconds: self.config.session_ttl_seconds as u32,
                max_top_k: env::MAX_TOP_K,
                max_differential: env::MAX_DIFFERENTIAL as u32,
                max_message_bytes: self.config.max_message_bytes as u32,
                max_sessions_per_client: self.config.max_sessions_per_client as u32,
                max_stream_in_flight: STREAM_WINDOW as u32,
            }),
            noise_presets: env::NOISE_PRESETS.iter().map(|s| s.to_string()).collect(),
            personas: env::PERSONAS.iter().map(|s| s.to_string()).collect(),
            replica_id: self.sessions.replica().to_string(),
        }
    }

    fn list_tasks(&self, r: pb::ListTasksRequest) -> Result<pb::ListTasksResponse, ServerError> {
        let k = &self.world.knowledge;
        let tasks = k.tasks(&r.domain, &r.split);
        let start: usize = if r.page_token.is_empty() {
            0
        } else {
            r.page_token
                .parse()
                .ok()
                .filter(|&s| s <= tasks.len())
                .ok_or_else(|| {
                    ServerError::InvalidArgument(format!("bad page_token {:?}", r.page_token))
                })?
        };
        let size = match r.page_size as usize {
            0 => PAGE_DEFAULT,
            n => n.min(PAGE_MAX),
        };
        let end = (start + size).min(tasks.len());
        Ok(pb::ListTasksResponse {
            tasks: tasks[start..end]
                .iter()
                .map(|&t| {
                    let c = k.case(t);
                    pb::TaskInfo {
                        task_id: c.id.clone(),
                        domain: k.domain_of(t).to_string(),
                        split: c.split.clone(),
                        difficulty: u32::from(c.difficulty),
                    }
                })
                .collect(),
            next_page_token: if end < tasks.len() {
                end.to_string()
            } else {
                String::new()
            },
            total: tasks.len() as u32,
        })
    }

    fn step_all(
        &self,
        steps: Vec<pb::StepRequest>,
        autoreset: bool,
        caller: &Caller,
    ) -> Vec<pb::BatchStepResult> {
        let mut tally = StepTally::new(&self.step_metrics);
        steps
            .into_iter()
            .map(|s| pb::BatchStepResult {
                result: Some(match self.tallied_step(s, autoreset, caller, &mut tally) {
                    Ok(resp) => pb::batch_step_result::Result::Response(resp),
                    Err(e) => pb::batch_step_result::Result::Error(status_of(e)),
                }),
            })
            .collect()
    }

    fn handle_envelope(&self, req: pb::EnvRequest, caller: &Caller) -> pb::EnvResponse {
        use pb::env_request::Request as Rq;
        use pb::env_response::Response as Rs;
        let result = match req.request {
            Some(Rq::Reset(r)) => self.do_reset(r, caller).map(Rs::Reset),
            Some(Rq::Step(r)) => self.do_step(r, false, caller).map(Rs::Step),
            Some(Rq::Close(r)) => self.do_close(r).map(Rs::Close),
            None => Err(ServerError::InvalidArgument(
                "the envelope has no request".into(),
            )),
        };
        pb::EnvResponse {
            id: req.id,
            response: Some(result.unwrap_or_else(|e| Rs::Error(status_of(e)))),
        }
    }
}

/// An error answered inside a BatchStep or Interact response rather than as the RPC's status.
fn status_of(e: ServerError) -> pb::Status {
    crate::error::count(e.code());
    let s = Status::from(e);
    pb::Status {
        code: s.code() as i32,
        message: s.message().to_string(),
    }
}

fn random_seed() -> u64 {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("OS random number generator unavailable");
    u64::from_le_bytes(b)
}

/// An episode id: 64 bits that look random. They must be unique, not secret, so each thread
/// draws a start from the OS once and then counts on, scrambled by a bijection: a system
/// call per autoreset cost more than the rest of its bookkeeping.
fn random_id() -> String {
    thread_local! {
        static NEXT: std::cell::Cell<u64> = std::cell::Cell::new(random_seed());
    }
    let n = NEXT.with(|next| next.replace(next.get().wrapping_add(1)));
    // The SplitMix64 finaliser: invertible, so distinct counts give distinct ids.
    let mut z = n;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    format!("{:016x}", z ^ (z >> 31))
}

/// Batches at least this long are split across cores, into chunks of at most this many steps
/// unless they search (see [`Service::searches`]); shorter ones run where they arrive, unless
/// they search.
const PARALLEL_BATCH: usize = 32;

/// The cores to spread work over, read once: `available_parallelism` reads the cgroup
/// files on every call, which cost more than the rest of a batch's bookkeeping.
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Whether every step of a batch names a different session. Compares 64-bit hashes of the
/// ids (a SipHash set of the ids cost more than a step's session lookup); equal hashes
/// count as a repeat, which only costs that batch its parallelism.
fn distinct_sessions(steps: &[pb::StepRequest]) -> bool {
    let mut hashes: Vec<u64> = steps
        .iter()
        .map(|s| {
            s.session_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            })
        })
        .collect();
    hashes.sort_unstable();
    hashes.windows(2).all(|w| w[0] != w[1])
}

/// Responses in flight per Interact stream before the server stops reading requests.
const STREAM_WINDOW: usize = 256;

type EnvStream = Pin<Box<dyn Stream<Item = Result<pb::EnvResponse, Status>> + Send>>;

/// An answer on an Interact stream with its place in the stream's window, given back when
/// the answer is taken by the transport.
type StreamAnswer = (
    Result<pb::EnvResponse, Status>,
    Option<OwnedSemaphorePermit>,
);

/// The lane of an envelope about `session`: a stable hash, so that every envelope of one
/// session goes to the same lane and runs in request order.
fn lane_of(session: &str, lanes: usize) -> usize {
    let h = session.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (h % lanes as u64) as usize
}

impl Service {
    /// One lane of an Interact stream: runs its envelopes in order, except that a search
    /// goes to the blocking pool and the lane goes on with the next envelopes meanwhile
    /// (waiting for it would hold up every session of the lane). The searching session's
    /// later envelopes are chained after the search, so each session's envelopes still run,
    /// and are answered, in request order; other sessions' answers may overtake them.
    async fn run_lane(
        self,
        mut queue: mpsc::UnboundedReceiver<(pb::EnvRequest, OwnedSemaphorePermit)>,
        caller: Caller,
        out: mpsc::UnboundedSender<StreamAnswer>,
    ) {
        use pb::env_request::Request as Rq;
        // Per session with a search in flight, the task that answers its last envelope.
        let mut busy: HashMap<String, JoinHandle<()>> = HashMap::new();
        while let Some((req, permit)) = queue.recv().await {
            let session = match &req.request {
                Some(Rq::Step(r)) => Some(&r.session_id),
                Some(Rq::Close(r)) => Some(&r.session_id),
                Some(Rq::Reset(_)) | None => None,
            };
            if !busy.is_empty() {
                busy.retain(|_, task| !task.is_finished());
            }
            let before = session.and_then(|s| busy.remove(s));
            let search = matches!(&req.request, Some(Rq::Step(r)) if self.searches(r));
            if before.is_none() && !search {
                // The common case: answered here and now.
                let answer = self.handle_envelope(req, &caller);
                if out.send((Ok(answer), Some(permit))).is_err() {
                    break;
                }
                continue;
            }
            let session = session.cloned().unwrap_or_default();
            let (service, caller, out) = (self.clone(), caller.clone(), out.clone());
            let task = tokio::spawn(async move {
                if let Some(before) = before {
                    let _ = before.await;
                }
                let answer = if search {
                    let id = req.id;
                    tokio::task::spawn_blocking(move || service.handle_envelope(req, &caller))
                        .await
                        .unwrap_or_else(|e| pb::EnvResponse {
                            id,
                            response: Some(pb::env_response::Response::Error(status_of(e.into()))),
                        })
                } else {
                    service.handle_envelope(req, &caller)
                };
                let _ = out.send((Ok(answer), Some(permit)));
            });
            busy.insert(session, task);
        }
        // Done only once every answer is sent: a final status goes after them.
        for (_, task) in busy {
            let _ = task.await;
        }
    }

    /// Serves one Interact stream: envelopes of different sessions run in parallel on
    /// `lanes` tasks, those of one session in request order on one lane (so its answers
    /// leave in request order). At most [`STREAM_WINDOW`] answers are executing or waiting
    /// to be sent; beyond that this stops reading the stream, so a client that stops
    /// reading is pushed back instead of buffered for.
    async fn serve_stream(
        self,
        mut inbound: Streaming<pb::EnvRequest>,
        caller: Caller,
        out: mpsc::UnboundedSender<StreamAnswer>,
        lanes: usize,
    ) {
        use pb::env_request::Request as Rq;
        let window = Arc::new(Semaphore::new(STREAM_WINDOW));
        let mut queues = Vec::with_capacity(lanes);
        let mut workers = Vec::with_capacity(lanes);
        for _ in 0..lanes {
            // Unbounded, but the window's permits bound what all lanes hold together.
            let (tx, rx) = mpsc::unbounded_channel();
            let lane = self.clone().run_lane(rx, caller.clone(), out.clone());
            workers.push(tokio::spawn(lane));
            queues.push(tx);
        }
        let mut resets = 0;
        loop {
            let Ok(permit) = Arc::clone(&window).acquire_owned().await else {
                break;
            };
            let Some(msg) = inbound.next().await else {
                break;
            };
            match msg {
                Ok(req) => {
                    let lane = match &req.request {
                        Some(Rq::Step(r)) => lane_of(&r.session_id, lanes),
                        Some(Rq::Close(r)) => lane_of(&r.session_id, lanes),
                        // A new session has no earlier envelope to keep order with.
                        Some(Rq::Reset(_)) | None => {
                            resets += 1;
                            resets % lanes
                        }
                    };
                    if queues[lane].send((req, permit)).is_err() {
                        break;
                    }
                }
                // A message that does not decode ends the stream with tonic's status, which
                // leaves after the response headers: count it here. It goes out after every
                // answer to the envelopes before it.
                Err(status) => {
                    crate::error::count(status.code());
                    drop(queues);
                    for w in workers {
                        let _ = w.await;
                    }
                    let _ = out.send((Err(status), None));
                    return;
                }
            }
        }
    }
}

#[tonic::async_trait]
impl Environment for Service {
    async fn get_spec(
        &self,
        _: Request<pb::GetSpecRequest>,
    ) -> Result<Response<pb::EnvSpec>, Status> {
        Ok(Response::new(self.spec()))
    }

    async fn list_tasks(
        &self,
        r: Request<pb::ListTasksRequest>,
    ) -> Result<Response<pb::ListTasksResponse>, Status> {
        Ok(Response::new(self.list_tasks(r.into_inner())?))
    }

    async fn reset(
        &self,
        r: Request<pb::ResetRequest>,
    ) -> Result<Response<pb::ResetResponse>, Status> {
        let caller = self.caller(&r);
        Ok(Response::new(self.do_reset(r.into_inner(), &caller)?))
    }

    async fn step(
        &self,
        r: Request<pb::StepRequest>,
    ) -> Result<Response<pb::StepResponse>, Status> {
        let caller = self.caller(&r);
        let r = r.into_inner();
        let response = if self.searches(&r) {
            let service = self.clone();
            tokio::task::spawn_blocking(move || service.do_step(r, false, &caller))
                .await
                .map_err(ServerError::from)??
        } else {
            self.do_step(r, false, &caller)?
        };
        Ok(Response::new(response))
    }

    async fn close(
        &self,
        r: Request<pb::CloseRequest>,
    ) -> Result<Response<pb::CloseResponse>, Status> {
        Ok(Response::new(self.do_close(r.into_inner())?))
    }

    async fn get_trajectory(
        &self,
        r: Request<pb::GetTrajectoryRequest>,
    ) -> Result<Response<pb::Trajectory>, Status> {
        let r = r.into_inner();
        let session = self.sessions.get(&r.session_id)?;
        let t = session.lock().env.trajectory();
        let t = t.ok_or(ServerError::Env(env::EnvError::NoEpisode))?;
        Ok(Response::new(convert::trajectory(t, r.include_record)))
    }

    async fn batch_step(
        &self,
        r: Request<pb::BatchStepRequest>,
    ) -> Result<Response<pb::BatchStepResponse>, Status> {
        let caller = self.caller(&r);
        let r = r.into_inner();
        let searches = r.steps.iter().any(|s| self.searches(s));
        if r.steps.len() < PARALLEL_BATCH && !searches {
            let results = self.step_all(r.steps, r.autoreset, &caller);
            return Ok(Response::new(pb::BatchStepResponse { results }));
        }
        // Split across cores. A batch that names a session twice keeps its order: its chunks
        // run one after another.
        let distinct = distinct_sessions(&r.steps);
        let parts = if distinct { cores() } else { 1 };
        let total = r.steps.len();
        let mut size = total.div_ceil(parts);
        if !searches {
            // Chunks of cheap steps run as tasks on the runtime's workers, each about as long
            // as a short batch that runs where it arrives. Handing them to the blocking pool
            // instead cost a thread wake-up per chunk and made the steps' allocations be freed
            // on another thread than made them (8-10% of a BatchStep profile).
            size = size.min(PARALLEL_BATCH);
        }
        let mut steps = r.steps.into_iter();
        let mut results = Vec::with_capacity(total);
        let mut running = Vec::new();
        while !steps.as_slice().is_empty() {
            let chunk: Vec<_> = steps.by_ref().take(size).collect();
            let (service, caller) = (self.clone(), caller.clone());
            let run = move || service.step_all(chunk, r.autoreset, &caller);
            let handle = if searches {
                tokio::task::spawn_blocking(run)
            } else {
                tokio::spawn(async move { run() })
            };
            if distinct {
                running.push(handle);
            } else {
                results.extend(handle.await.map_err(ServerError::from)?);
            }
        }
        for h in running {
            results.extend(h.await.map_err(ServerError::from)?);
        }
        Ok(Response::new(pb::BatchStepResponse { results }))
    }

    type InteractStream = EnvStream;

    async fn interact(
        &self,
        r: Request<Streaming<pb::EnvRequest>>,
    ) -> Result<Response<Self::InteractStream>, Status> {
        // The stream's deadline, if any, bounds every envelope on it.
        let caller = self.caller(&r);
        let (tx, rx) = mpsc::unbounded_channel();
        let lanes = cores();
        tokio::spawn(self.clone().serve_stream(r.into_inner(), caller, tx, lanes));
        // Taking an answer gives its permit back to the window.
        Ok(Response::new(Box::pin(
            UnboundedReceiverStream::new(rx).map(|(answer, _permit)| answer),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(session: &str) -> pb::StepRequest {
        pb::StepRequest {
            session_id: session.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_batch_naming_a_session_twice_is_not_distinct() {
        let ids: Vec<String> = (0..256).map(|i| format!("r.{i:032x}")).collect();
        let mut batch: Vec<_> = ids.iter().map(|i| step(i)).collect();
        assert!(distinct_sessions(&batch));
        batch.push(step(&ids[17]));
        assert!(!distinct_sessions(&batch));
        assert!(distinct_sessions(&[]));
    }

    /// Steps of 4 sessions, interleaved, far more than the window, sent without reading the
    /// answers: the server runs ahead by the window (and what the transport takes) and then
    /// stops; once read, every answer is there and each session's come in its request order.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn interact_keeps_each_sessions_order_and_stops_reading_when_unread() {
        use pb::environment_client::EnvironmentClient;
        let world = Arc::new(World::embedded().expect("embedded knowledge"));
        let config = crate::Config {
            default_options: env::EpisodeOptions {
                max_turns: u32::MAX,
                ..Default::default()
            },
            ..Default::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(crate::run(listener, None, world, config, async {
            let _ = stopped.await;
        }));
        // Small HTTP/2 windows, so that unread answers back up to the server quickly.
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .expect("url")
            .initial_stream_window_size(65_535)
            .initial_connection_window_size(65_535)
            .connect()
            .await
            .expect("connect");
        let mut c = EnvironmentClient::new(channel);
        let mut sessions = Vec::new();
        for seed in 0..4 {
            let r = c
                .reset(pb::ResetRequest {
                    seed: Some(seed),
                    ..Default::default()
                })
                .await
                .expect("reset");
            sessions.push(r.into_inner().session_id);
        }
        const ROUNDS: u64 = 750;
        let total = ROUNDS * sessions.len() as u64;
        let (tx, rx) = mpsc::unbounded_channel();
        for id in 0..total {
            let session = sessions[(id % 4) as usize].clone();
            let question = ["Any fever?", "Any cough?", "Does it hurt?"][(id % 3) as usize];
            let req = pb::StepRequest {
                session_id: session,
                action: Some(pb::Action {
                    kind: Some(pb::action::Kind::Ask(pb::Ask {
                        question: question.into(),
                        finding_id: String::new(),
                    })),
                }),
                request_id: String::new(),
            };
            let envelope = pb::EnvRequest {
                id,
                request: Some(pb::env_request::Request::Step(req)),
            };
            tx.send(envelope).expect("queued");
        }
        // Every envelope is queued: the request stream ends once they are read.
        drop(tx);
        let mut answers = c
            .clone()
            .interact(UnboundedReceiverStream::new(rx))
            .await
            .expect("interact")
            .into_inner();

        // Steps taken so far, from the trajectories, on a connection of its own (the
        // stream's unread answers fill the first one's window).
        let other = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .expect("url")
            .connect()
            .await
            .expect("connect");
        let mut other = EnvironmentClient::new(other);
        let taken = |c: &mut EnvironmentClient<_>| {
            let sessions = sessions.clone();
            let mut c = c.clone();
            async move {
                let mut n = 0;
                for s in &sessions {
                    let t = c
                        .get_trajectory(pb::GetTrajectoryRequest {
                            session_id: s.clone(),
                            include_record: false,
                        })
                        .await
                        .expect("trajectory");
                    n += t.into_inner().steps.len();
                }
                n
            }
        };
        let mut before = usize::MAX;
        let mut now = taken(&mut other).await;
        for _ in 0..100 {
            // Settled: no step ran for 200 ms once the window's worth had.
            if now == before && now >= STREAM_WINDOW {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            before = now;
            now = taken(&mut other).await;
        }
        assert!(
            now >= STREAM_WINDOW && (now as u64) < total,
            "{now} of {total} envelopes ran with none of their answers read"
        );

        let mut last_turn = std::collections::HashMap::new();
        for _ in 0..total {
            let r = answers.next().await.expect("open").expect("answer");
            let Some(pb::env_response::Response::Step(s)) = r.response else {
                panic!("{r:?}")
            };
            let turn = s.observation.expect("observation").turn;
            let previous = last_turn.insert(r.id % 4, turn).unwrap_or(0);
            assert_eq!(turn, previous + 1, "session {} out of order", r.id % 4);
            assert_eq!(u64::from(turn), r.id / 4 + 1);
        }
        assert!(
            answers.next().await.is_none(),
            "the stream ends after the last answer"
        );
        let _ = stop.send(());
        server.await.expect("server task").expect("server");
    }

    /// A knowledge base that finds nothing: only whether there is one matters here.
    struct NoPassages;

    impl env::SearchIndex for NoPassages {
        fn search(&self, _: &str, _: usize) -> Vec<env::Passage> {
            Vec::new()
        }
    }

    #[test]
    fn only_steps_that_may_search_the_knowledge_base_go_off_the_reactor() {
        use pb::action::Kind;
        let mut world = World::embedded().expect("embedded knowledge");
        let without = Service::new(
            Arc::new(World::embedded().expect("embedded")),
            Config::default(),
        );
        world.search = Some(Arc::new(NoPassages));
        let with = Service::new(Arc::new(world), Config::default());
        let with_kind = |kind: Kind| pb::StepRequest {
            action: Some(pb::Action { kind: Some(kind) }),
            ..step("r.0")
        };
        let typed = with_kind(Kind::Search(pb::Search {
            query: "photophobia".into(),
            top_k: 0,
        }));
        let text = with_kind(Kind::Text("<search>photophobia</search>".into()));
        assert!(with.searches(&typed) && with.searches(&text));
        // Without a knowledge base a search is an invalid action, answered at once.
        assert!(!without.searches(&typed) && !without.searches(&text));
        let cheap = [
            Kind::Ask(pb::Ask {
                question: "Do you search for words?".into(),
                finding_id: String::new(),
            }),
            Kind::Exam(pb::Exam {
                exam_id: "cbc".into(),
                site: String::new(),
            }),
            Kind::Text("<ask>Any fever?</ask>".into()),
            // Refused for its length before anything reads it.
            Kind::Text(format!("<search>{}</search>", "x".repeat(64 * 1024))),
        ];
        for kind in cheap {
            assert!(!with.searches(&with_kind(kind)));
        }
        assert!(!with.searches(&step("r.0")));
    }

    #[test]
    fn a_session_keeps_its_lane_and_sessions_spread_over_lanes() {
        let ids: Vec<String> = (0..1000).map(|i| format!("r.{i:032x}")).collect();
        let mut per_lane = [0usize; 4];
        for id in &ids {
            let lane = lane_of(id, 4);
            assert_eq!(lane, lane_of(&id.clone(), 4));
            per_lane[lane] += 1;
        }
        assert!(per_lane.iter().all(|&n| n > 150), "{per_lane:?}");
    }
}
