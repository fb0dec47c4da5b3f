//! A routing client for medgym: one environment over one or many `medgym serve` replicas.
//!
//! A session lives in the memory of one server process, and its id names that process:
//! `{replica_id}.{32 hex}` (docs/deploy.md, "Session ids and routing"). The client connects to
//! every address it is given (a DNS name may resolve to many, as a Kubernetes headless Service
//! does) and asks each for its `replica_id` (GetSpec). Then resets go to the live replicas in
//! turn; every call on a session goes to the replica its id names; a BatchStep is split by
//! replica and answered in request order. A replica that stops answering (UNAVAILABLE) leaves
//! the reset rotation until a background probe finds it again, and its sessions are NOT_FOUND,
//! so the caller resets elsewhere; a restarted process is a new replica, since its sessions
//! died with the old one.
//!
//! [`Client::interact`] is the Interact envelope stream routed the same way: one stream per
//! replica underneath, opened when first needed, resets round robin, a session's envelopes to
//! its replica, the answers merged with their ids. A replica whose stream breaks answers its
//! outstanding envelopes with errors (NOT_FOUND once it is gone, UNAVAILABLE if it still
//! answers) while the others go on.
//!
//! ```no_run
//! # async fn demo() -> Result<(), medgym_client::ClientError> {
//! use medgym_client::{Client, ClientConfig, pb};
//! let client = Client::connect(ClientConfig::new(["10.0.0.1:50051", "10.0.0.2:50051"])).await?;
//! let reset = client.reset(pb::ResetRequest::default()).await?;
//! let action = pb::Action { kind: Some(pb::action::Kind::Text("<ask>Any fever?</ask>".into())) };
//! let step = client
//!     .step(pb::StepRequest { session_id: reset.session_id.clone(), action: Some(action), request_id: "0".into() })
//!     .await?;
//! # let _ = step; Ok(()) }
//! ```

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

pub use medgym_proto::v1 as pb;
use pb::environment_client::EnvironmentClient;
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Request, Status};

mod interact;
pub use interact::{InteractReceiver, InteractSender};

/// Largest response accepted (a BatchStep over many sessions, a long trajectory).
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// Where and how to connect.
#[derive(Clone)]
pub struct ClientConfig {
    /// Server addresses: `host:port`, `http://host:port` or `https://host:port`. A host name is
    /// resolved, and every address it resolves to is probed as a replica.
    pub addresses: Vec<String>,
    /// Sent as `authorization: Bearer <token>` on every call.
    pub token: Option<String>,
    /// PEM certificate(s) of the CA that signed the servers' certificates. Turns TLS on for
    /// addresses without a scheme; `https://` without a CA file trusts the web PKI roots.
    pub ca_file: Option<PathBuf>,
    /// Name to verify in the servers' certificates [default: the host of each address].
    pub tls_domain: Option<String>,
    /// Time to connect (TCP and TLS) and get a replica's spec before it counts as unreachable.
    pub connect_timeout: Duration,
    /// Deadline of each call, sent as `grpc-timeout` so the server drops work nobody waits
    /// for [default: none].
    pub timeout: Option<Duration>,
    /// How often unreachable replicas, and DNS names, are probed again.
    pub reprobe_interval: Duration,
}

impl ClientConfig {
    /// A plaintext, unauthenticated configuration over these addresses.
    pub fn new<S: Into<String>>(addresses: impl IntoIterator<Item = S>) -> Self {
        ClientConfig {
            addresses: addresses.into_iter().map(Into::into).collect(),
            ..Default::default()
        }
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            addresses: Vec::new(),
            token: None,
            ca_file: None,
            tls_domain: None,
            connect_timeout: Duration::from_secs(3),
            timeout: None,
            reprobe_interval: Duration::from_secs(2),
        }
    }
}

// By hand, so that the token never reaches a log.
impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("addresses", &self.addresses)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("ca_file", &self.ca_file)
            .field("tls_domain", &self.tls_domain)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("reprobe_interval", &self.reprobe_interval)
            .finish()
    }
}

/// Errors of the client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The configuration cannot work (no address, an address without a port, a token that is
    /// not valid header text...).
    #[error("invalid client configuration: {0}")]
    Config(String),
    /// The CA file could not be read or holds no certificate.
    #[error("CA file {}: {reason}", path.display())]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// No replica answered; each address with the reason it failed.
    #[error("no medgym replica reachable: {0}")]
    NoReplica(String),
    /// The session's replica is unknown to this client or unreachable: the session is gone
    /// (NOT_FOUND); reset to start another episode on a live replica.
    #[error("session {session_id:?} not found: {reason}")]
    SessionLost {
        /// The session.
        session_id: String,
        /// Why: which replica, and what happened to it.
        reason: String,
    },
    /// The server answered with an error status.
    #[error("{:?}: {}", .0.code(), .0.message())]
    Status(#[from] Status),
    /// An envelope sent on a routed Interact stream whose receiver was dropped.
    #[error("the Interact stream has ended (its receiver was dropped)")]
    StreamClosed,
}

impl ClientError {
    /// The gRPC code this error corresponds to: NOT_FOUND for a lost session, whether the
    /// server said so or the client found its replica gone.
    pub fn code(&self) -> Code {
        match self {
            ClientError::Config(_) | ClientError::CaFile { .. } => Code::InvalidArgument,
            ClientError::NoReplica(_) => Code::Unavailable,
            ClientError::SessionLost { .. } => Code::NotFound,
            ClientError::Status(s) => s.code(),
            ClientError::StreamClosed => Code::Cancelled,
        }
    }
}

/// The replica id a session id names (the part before the first `.`), if any.
pub fn replica_of(session_id: &str) -> Option<&str> {
    session_id
        .split_once('.')
        .map(|(replica, _)| replica)
        .filter(|r| !r.is_empty())
}

/// What the client knows about one replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaInfo {
    /// Its replica id.
    pub id: String,
    /// The address it answered on.
    pub address: String,
    /// Whether it is in the reset rotation.
    pub live: bool,
}

/// A routing client; cheap to clone (clones share connections and routing state).
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: ClientConfig,
    /// One entry per configured address.
    addresses: Vec<Address>,
    /// TLS settings shared by the TLS addresses (each adds its own domain name).
    tls: Option<ClientTlsConfig>,
    requester: Requester,
    state: Mutex<State>,
    /// Round-robin position for resets.
    next: AtomicUsize,
    /// One probe at a time; callers that find one running do not wait for it.
    probing: tokio::sync::Mutex<()>,
}

#[derive(Debug, Clone)]
struct Address {
    /// As configured, for messages.
    given: String,
    tls: bool,
    host: String,
    port: u16,
}

#[derive(Debug, Default)]
struct State {
    /// Resolved endpoints (`http(s)://ip:port`) with their address index, in order.
    targets: Vec<(String, usize)>,
    /// Replicas found, by id.
    replicas: HashMap<String, Replica>,
    /// Replica ids in the order found: the reset rotation (live ones only are used).
    rotation: Vec<String>,
    /// Why each unreachable endpoint failed, for `NoReplica`.
    errors: HashMap<String, String>,
}

#[derive(Debug, Clone)]
struct Replica {
    uri: String,
    client: EnvironmentClient<Channel>,
    live: bool,
    /// Why it left the rotation.
    down: Option<String>,
}

impl Client {
    /// Resolves the addresses, probes every endpoint (GetSpec) and returns once at least one
    /// replica answered. Unreachable endpoints are probed again in the background.
    pub async fn connect(config: ClientConfig) -> Result<Client, ClientError> {
        if config.addresses.is_empty() {
            return Err(ClientError::Config("no server address given".into()));
        }
        let addresses = config
            .addresses
            .iter()
            .map(|a| parse_address(a, config.ca_file.is_some()))
            .collect::<Result<Vec<_>, _>>()?;
        let tls = if addresses.iter().any(|a| a.tls) {
            Some(tls_config(&config)?)
        } else {
            None
        };
        let auth = match &config.token {
            Some(token) => {
                let mut v = AsciiMetadataValue::try_from(format!("Bearer {}", token.trim()))
                    .map_err(|_| {
                        ClientError::Config("the token is not valid header text".into())
                    })?;
                // Kept out of HPACK tables and Debug output.
                v.set_sensitive(true);
                Some(v)
            }
            None => None,
        };
        let requester = Requester {
            auth,
            timeout: config.timeout,
        };
        let inner = Arc::new(Inner {
            config,
            addresses,
            tls,
            requester,
            state: Mutex::new(State::default()),
            next: AtomicUsize::new(0),
            probing: tokio::sync::Mutex::new(()),
        });
        {
            let _guard = inner.probing.lock().await;
            inner.probe().await;
        }
        if inner.live().is_empty() {
            return Err(ClientError::NoReplica(inner.failures()));
        }
        spawn_reprober(Arc::downgrade(&inner));
        Ok(Client { inner })
    }

    /// The replicas found so far.
    pub fn replicas(&self) -> Vec<ReplicaInfo> {
        let st = self.inner.state();
        st.rotation
            .iter()
            .filter_map(|id| {
                st.replicas.get(id).map(|r| ReplicaInfo {
                    id: id.clone(),
                    address: r.uri.clone(),
                    live: r.live,
                })
            })
            .collect()
    }

    /// Probes unreachable endpoints (and re-resolves names) now instead of waiting for the
    /// background probe.
    pub async fn refresh(&self) {
        let _guard = self.inner.probing.lock().await;
        self.inner.probe().await;
    }

    /// The spec of one live replica (they serve the same knowledge; `replica_id` differs).
    pub async fn get_spec(&self) -> Result<pb::EnvSpec, ClientError> {
        self.any_replica(|mut c, r| async move { c.get_spec(r.wrap(pb::GetSpecRequest {})).await })
            .await
    }

    /// Tasks of one live replica.
    pub async fn list_tasks(
        &self,
        request: pb::ListTasksRequest,
    ) -> Result<pb::ListTasksResponse, ClientError> {
        self.any_replica(|mut c, r| {
            let request = request.clone();
            async move { c.list_tasks(r.wrap(request)).await }
        })
        .await
    }

    /// Starts an episode on the next live replica; an unreachable one is taken out of the
    /// rotation and the next tried.
    pub async fn reset(&self, request: pb::ResetRequest) -> Result<pb::ResetResponse, ClientError> {
        let (id, response) = self
            .any_replica_with_id(|mut c, r| {
                let request = request.clone();
                async move { c.reset(r.wrap(request)).await }
            })
            .await?;
        // A process restarted at the same address is a new replica: learn its id from the
        // session it just issued, or its sessions would look unknown.
        if let Some(owner) = replica_of(&response.session_id)
            && owner != id
        {
            self.inner.rename(&id, owner);
        }
        Ok(response)
    }

    /// Steps a session on its replica.
    pub async fn step(&self, request: pb::StepRequest) -> Result<pb::StepResponse, ClientError> {
        let session = request.session_id.clone();
        self.on_session(
            &session,
            |mut c, r| async move { c.step(r.wrap(request)).await },
        )
        .await
    }

    /// Closes a session on its replica.
    pub async fn close(&self, session_id: &str) -> Result<pb::CloseResponse, ClientError> {
        let request = pb::CloseRequest {
            session_id: session_id.to_string(),
        };
        self.on_session(session_id, |mut c, r| async move {
            c.close(r.wrap(request)).await
        })
        .await
    }

    /// The trajectory of a session's episode, from its replica.
    pub async fn trajectory(&self, session_id: &str) -> Result<pb::Trajectory, ClientError> {
        let request = pb::GetTrajectoryRequest {
            session_id: session_id.to_string(),
            include_record: false,
        };
        self.on_session(session_id, |mut c, r| async move {
            c.get_trajectory(r.wrap(request)).await
        })
        .await
    }

    /// The episode's trajectory record, the JSONL line (without its newline) the session's
    /// replica writes to its trajectory files; `None` while the episode runs (the record holds
    /// the hidden case).
    pub async fn record(&self, session_id: &str) -> Result<Option<String>, ClientError> {
        let request = pb::GetTrajectoryRequest {
            session_id: session_id.to_string(),
            include_record: true,
        };
        let trajectory = self
            .on_session(session_id, |mut c, r| async move {
                c.get_trajectory(r.wrap(request)).await
            })
            .await?;
        Ok(Some(trajectory.record_json).filter(|r| !r.is_empty()))
    }

    /// Opens a routed Interact stream: send [`pb::EnvRequest`] envelopes with ids of your
    /// choosing, receive one [`pb::EnvResponse`] per envelope with its id. Resets go to the
    /// live replicas in turn, steps and closes to the session's replica; a session of an
    /// unknown or unreachable replica, or an envelope without a request, is answered with an
    /// `error` (NOT_FOUND, INVALID_ARGUMENT) and the stream goes on. One session's answers
    /// come in request order; different sessions' interleave. If a replica's stream breaks on
    /// the way, its outstanding envelopes are answered with NOT_FOUND (the replica is gone) or
    /// UNAVAILABLE (it still answers; send them again, a step with the same `request_id` is
    /// applied once), resets always with UNAVAILABLE; if the replica ends the stream with a
    /// status of its own (UNAUTHENTICATED, RESOURCE_EXHAUSTED, an oversize envelope's
    /// INVALID_ARGUMENT), its outstanding envelopes get that status. A reset finding no live
    /// replica is UNAVAILABLE at once (the background probe brings replicas back).
    ///
    /// Both halves are bounded: read the answers while sending (another task), as on any
    /// bidirectional stream, or sending stalls; a replica whose stream is full holds up the
    /// envelopes behind the one waiting for it, whatever their replica. The configured `timeout` is not sent on the
    /// replica streams, since it would bound the stream's whole life rather than each
    /// envelope. Must be called within a Tokio runtime.
    pub fn interact(&self) -> (InteractSender, InteractReceiver) {
        interact::open(Arc::clone(&self.inner))
    }

    /// Steps many sessions: one BatchStep per replica, concurrently, answered in request order.
    /// A step whose replica is unknown or unreachable gets a NOT_FOUND result; any other error
    /// of a replica fails the call, as it would on a single server.
    pub async fn batch_step(
        &self,
        request: pb::BatchStepRequest,
    ) -> Result<pb::BatchStepResponse, ClientError> {
        let n = request.steps.len();
        let mut results: Vec<Option<pb::BatchStepResult>> = vec![None; n];
        let mut groups: Vec<(String, EnvironmentClient<Channel>, Vec<usize>)> = Vec::new();
        for (i, step) in request.steps.iter().enumerate() {
            match self.inner.owner(&step.session_id) {
                Ok((id, client)) => match groups.iter_mut().find(|g| g.0 == id) {
                    Some(g) => g.2.push(i),
                    None => groups.push((id, client, vec![i])),
                },
                Err(e) => results[i] = Some(not_found_result(&e)),
            }
        }
        let mut steps: Vec<Option<pb::StepRequest>> = request.steps.into_iter().map(Some).collect();
        let mut calls = tokio::task::JoinSet::new();
        for (id, client, indices) in groups {
            let sub = pb::BatchStepRequest {
                steps: indices.iter().filter_map(|&i| steps[i].take()).collect(),
                autoreset: request.autoreset,
            };
            let req = self.inner.requester.wrap(sub);
            calls.spawn(async move {
                let outcome = client.clone().batch_step(req).await;
                (id, client, indices, outcome)
            });
        }
        while let Some(joined) = calls.join_next().await {
            let (id, client, indices, outcome) =
                joined.map_err(|e| Status::internal(format!("batch call task failed: {e}")))?;
            match outcome {
                Ok(response) => {
                    let answers = response.into_inner().results;
                    if answers.len() != indices.len() {
                        return Err(Status::internal(format!(
                            "replica {id} answered {} results for {} steps",
                            answers.len(),
                            indices.len()
                        ))
                        .into());
                    }
                    for (i, answer) in indices.into_iter().zip(answers) {
                        results[i] = Some(answer);
                    }
                }
                Err(status) if transport_failure(&status) => {
                    let result = match self.inner.after_failure(&id, client, &status).await {
                        Ok(retryable) => error_result(Code::Unavailable, retryable.message()),
                        Err(reason) => error_result(Code::NotFound, &reason),
                    };
                    for i in indices {
                        results[i] = Some(result.clone());
                    }
                }
                Err(status) => return Err(status.into()),
            }
        }
        Ok(pb::BatchStepResponse {
            results: results.into_iter().map(Option::unwrap_or_default).collect(),
        })
    }

    /// Runs `call` on the replica owning `session_id`.
    async fn on_session<T, F, Fut>(&self, session_id: &str, call: F) -> Result<T, ClientError>
    where
        F: FnOnce(EnvironmentClient<Channel>, Requester) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let (id, client) = self.inner.owner(session_id)?;
        match call(client.clone(), self.inner.requester.clone()).await {
            Ok(r) => Ok(r.into_inner()),
            Err(status) if transport_failure(&status) => {
                match self.inner.after_failure(&id, client, &status).await {
                    Ok(retryable) => Err(retryable.into()),
                    Err(reason) => Err(ClientError::SessionLost {
                        session_id: session_id.to_string(),
                        reason,
                    }),
                }
            }
            Err(status) => Err(status.into()),
        }
    }

    async fn any_replica<T, F, Fut>(&self, call: F) -> Result<T, ClientError>
    where
        F: FnMut(EnvironmentClient<Channel>, Requester) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        Ok(self.any_replica_with_id(call).await?.1)
    }

    /// Runs `call` on the live replicas in turn until one answers; a replica that is
    /// unreachable leaves the rotation. With none live, probes once before giving up.
    async fn any_replica_with_id<T, F, Fut>(&self, mut call: F) -> Result<(String, T), ClientError>
    where
        F: FnMut(EnvironmentClient<Channel>, Requester) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let inner = &self.inner;
        let mut probed = false;
        let mut failures = 0;
        loop {
            let live = inner.live();
            if live.is_empty() {
                if probed {
                    return Err(ClientError::NoReplica(inner.failures()));
                }
                probed = true;
                let _guard = inner.probing.lock().await;
                inner.probe().await;
                continue;
            }
            let (id, client) =
                live[inner.next.fetch_add(1, Ordering::Relaxed) % live.len()].clone();
            match call(client.clone(), inner.requester.clone()).await {
                Ok(r) => return Ok((id, r.into_inner())),
                // Tried elsewhere only when the call did not get through: a Reset that reached
                // a server but lost its answer leaves a session that expires by its TTL.
                Err(status) if transport_failure(&status) => {
                    if let Ok(retryable) = inner.after_failure(&id, client, &status).await {
                        // The replica is still there; give up after one try on each.
                        failures += 1;
                        if failures > live.len() {
                            return Err(retryable.into());
                        }
                    }
                }
                Err(status) => return Err(status.into()),
            }
        }
    }
}

/// Wraps messages into requests with the token and the deadline.
#[derive(Debug, Clone)]
struct Requester {
    auth: Option<AsciiMetadataValue>,
    timeout: Option<Duration>,
}

impl Requester {
    fn wrap<T>(&self, message: T) -> Request<T> {
        let mut r = self.authorized(message);
        if let Some(t) = self.timeout {
            r.set_timeout(t);
        }
        r
    }

    /// With the token but no deadline (for streams, which a per-call deadline would cut).
    fn authorized<T>(&self, message: T) -> Request<T> {
        let mut r = Request::new(message);
        if let Some(auth) = &self.auth {
            r.metadata_mut().insert("authorization", auth.clone());
        }
        r
    }
}

fn not_found_result(e: &ClientError) -> pb::BatchStepResult {
    error_result(Code::NotFound, &e.to_string())
}

fn error_result(code: Code, message: &str) -> pb::BatchStepResult {
    pb::BatchStepResult {
        result: Some(pb::batch_step_result::Result::Error(pb::Status {
            code: code as i32,
            message: message.to_string(),
        })),
    }
}

/// Whether a call failed on the way rather than in the server: no connection (UNAVAILABLE),
/// or a connection that broke mid-call (UNKNOWN with the transport error as its source, as
/// when a server process dies with the call in flight).
fn transport_failure(s: &Status) -> bool {
    s.code() == Code::Unavailable
        || std::error::Error::source(s)
            .is_some_and(|e| e.downcast_ref::<tonic::transport::Error>().is_some())
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        // State is updated in single assignments; a panic elsewhere leaves it consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Live replicas in rotation order.
    fn live(&self) -> Vec<(String, EnvironmentClient<Channel>)> {
        let st = self.state();
        st.rotation
            .iter()
            .filter_map(|id| {
                st.replicas
                    .get(id)
                    .filter(|r| r.live)
                    .map(|r| (id.clone(), r.client.clone()))
            })
            .collect()
    }

    /// The live replica owning a session.
    fn owner(&self, session_id: &str) -> Result<(String, EnvironmentClient<Channel>), ClientError> {
        let lost = |reason: String| ClientError::SessionLost {
            session_id: session_id.to_string(),
            reason,
        };
        let Some(id) = replica_of(session_id) else {
            return Err(lost("the id names no replica".into()));
        };
        let st = self.state();
        match st.replicas.get(id) {
            Some(r) if r.live => Ok((id.to_string(), r.client.clone())),
            Some(r) => Err(lost(format!(
                "replica {id} at {} is unreachable ({})",
                r.uri,
                r.down.as_deref().unwrap_or("down")
            ))),
            None => {
                let mut known: Vec<&str> = st.rotation.iter().map(String::as_str).collect();
                known.sort_unstable();
                Err(lost(format!(
                    "replica {id} is not among the known replicas ({})",
                    known.join(", ")
                )))
            }
        }
    }

    /// After a call to replica `id` failed on the way: asks the replica for its spec. If it
    /// still answers as itself, the call may be retried (the returned UNAVAILABLE says so); if
    /// not, it leaves the rotation and its sessions are lost (the error names why). A broken
    /// connection alone must not cost a live replica all its sessions.
    async fn after_failure(
        &self,
        id: &str,
        mut client: EnvironmentClient<Channel>,
        status: &Status,
    ) -> Result<Status, String> {
        let mut check = tokio::time::timeout(
            self.config.connect_timeout * 2,
            client.get_spec(self.requester.wrap(pb::GetSpecRequest {})),
        )
        .await;
        // A probe right after the break may still be put on the dying connection (CANCELLED,
        // "connection closed"); the channel connects afresh for the next call, so one more
        // try tells a cut connection from a dead replica.
        if let Ok(Err(e)) = &check
            && transport_failure(e)
        {
            check = tokio::time::timeout(
                self.config.connect_timeout * 2,
                client.get_spec(self.requester.wrap(pb::GetSpecRequest {})),
            )
            .await;
        }
        match check {
            Ok(Ok(spec)) if spec.get_ref().replica_id == id => Ok(Status::unavailable(format!(
                "a call to replica {id} failed on the way ({}); the replica still answers, so \
                 it may be retried (a step with the same request_id is applied once)",
                status_text(status)
            ))),
            _ => Err(self.mark_down(id, status)),
        }
    }

    /// Takes a replica out of the rotation; returns why, for the caller's error.
    fn mark_down(&self, id: &str, status: &Status) -> String {
        let why = status_text(status);
        let mut st = self.state();
        if let Some(r) = st.replicas.get_mut(id)
            && r.live
        {
            tracing::warn!(replica = id, address = %r.uri, error = %why, "replica unreachable; out of the reset rotation");
            r.live = false;
            r.down = Some(why.clone());
        }
        format!("replica {id} is unreachable: {why}")
    }

    /// The replica answering at `from`'s address now calls itself `to`.
    fn rename(&self, from: &str, to: &str) {
        let mut st = self.state();
        if let Some(r) = st.replicas.remove(from) {
            tracing::info!(old = from, new = to, address = %r.uri, "replica restarted under a new id");
            st.rotation.retain(|id| id != from);
            if !st.rotation.iter().any(|id| id == to) {
                st.rotation.push(to.to_string());
            }
            st.replicas.insert(to.to_string(), r);
        }
    }

    fn failures(&self) -> String {
        let st = self.state();
        let mut lines: Vec<String> = st
            .errors
            .iter()
            .map(|(target, e)| format!("{target}: {e}"))
            .collect();
        lines.sort();
        if lines.is_empty() {
            "every known replica is unreachable".into()
        } else {
            lines.join("; ")
        }
    }

    /// Re-resolves the addresses and probes every endpoint that is not a live replica.
    async fn probe(&self) {
        let mut targets = Vec::new();
        let mut errors = HashMap::new();
        for (i, a) in self.addresses.iter().enumerate() {
            match resolve(a).await {
                Ok(uris) => targets.extend(uris.into_iter().map(|u| (u, i))),
                Err(e) => {
                    errors.insert(a.given.clone(), e);
                }
            }
        }
        // One endpoint listed twice (two names for one address) is probed once.
        let mut seen = std::collections::HashSet::new();
        targets.retain(|(uri, _)| seen.insert(uri.clone()));
        let live_uris: std::collections::HashSet<String> = {
            let st = self.state();
            st.replicas
                .values()
                .filter(|r| r.live)
                .map(|r| r.uri.clone())
                .collect()
        };
        let mut probes = tokio::task::JoinSet::new();
        for (uri, i) in &targets {
            if live_uris.contains(uri) {
                continue;
            }
            let endpoint = self.endpoint(uri, &self.addresses[*i]);
            let request = self.requester.wrap(pb::GetSpecRequest {});
            let uri = uri.clone();
            let timeout = self.config.connect_timeout;
            let tls = self.addresses[*i].tls;
            probes.spawn(async move { (uri, probe(endpoint, tls, request, timeout).await) });
        }
        let mut found = Vec::new();
        while let Some(joined) = probes.join_next().await {
            let Ok((uri, outcome)) = joined else { continue };
            match outcome {
                Ok((id, client)) => found.push((uri, id, client)),
                Err(e) => {
                    tracing::debug!(address = %uri, error = %e, "probe failed");
                    errors.insert(uri, e);
                }
            }
        }
        // Deterministic rotation order whatever the probes' timing.
        found.sort_by(|a, b| a.0.cmp(&b.0));
        let mut st = self.state();
        st.targets = targets;
        st.errors = errors;
        for (uri, id, client) in found {
            // An address now answering under another id was restarted: its old id is gone.
            let stale: Vec<String> = st
                .replicas
                .iter()
                .filter(|(old, r)| r.uri == uri && **old != id)
                .map(|(old, _)| old.clone())
                .collect();
            for old in stale {
                st.replicas.remove(&old);
                st.rotation.retain(|r| *r != old);
            }
            if st.replicas.get(&id).is_some_and(|r| r.live) {
                // The same replica under a second address (a name and its IP): keep the first.
                continue;
            }
            tracing::info!(replica = %id, address = %uri, "replica found");
            st.replicas.insert(
                id.clone(),
                Replica {
                    uri,
                    client,
                    live: true,
                    down: None,
                },
            );
            if !st.rotation.contains(&id) {
                st.rotation.push(id);
            }
        }
    }

    fn endpoint(&self, uri: &str, address: &Address) -> Result<Endpoint, String> {
        let mut e = Endpoint::from_shared(uri.to_string())
            .map_err(|e| error_chain(&e))?
            .connect_timeout(self.config.connect_timeout)
            .tcp_nodelay(true);
        if address.tls {
            let tls = self.tls.clone().unwrap_or_default();
            let domain = self
                .config
                .tls_domain
                .clone()
                .unwrap_or_else(|| address.host.clone());
            e = e
                .tls_config(tls.domain_name(domain))
                .map_err(|e| error_chain(&e))?;
        }
        Ok(e)
    }

    /// Whether a background probe could find anything: a replica is down or a name may
    /// resolve to new endpoints.
    fn worth_probing(&self) -> bool {
        let names = self
            .addresses
            .iter()
            .any(|a| a.host.parse::<std::net::IpAddr>().is_err());
        names || {
            let st = self.state();
            let live = st.replicas.values().filter(|r| r.live).count();
            live < st.targets.len() || st.replicas.values().any(|r| !r.live)
        }
    }
}

/// Connects to one endpoint and asks for its replica id.
async fn probe(
    endpoint: Result<Endpoint, String>,
    tls: bool,
    request: Request<pb::GetSpecRequest>,
    timeout: Duration,
) -> Result<(String, EnvironmentClient<Channel>), String> {
    let endpoint = endpoint?;
    let work = async {
        let channel = endpoint.connect().await.map_err(|e| error_chain(&e))?;
        let mut client =
            EnvironmentClient::new(channel).max_decoding_message_size(MAX_RESPONSE_BYTES);
        let spec = client
            .get_spec(request)
            .await
            .map_err(|s| {
                let text = format!("GetSpec: {:?}: {}", s.code(), status_text(&s));
                // A TLS port answers a plaintext HTTP/2 preface with a TLS alert, which h2
                // only sees as a broken connection.
                if !tls
                    && (transport_failure(&s) || matches!(s.code(), Code::Unknown | Code::Internal))
                {
                    format!(
                        "{text} (if the server uses TLS, give its CA file or an https:// address)"
                    )
                } else {
                    text
                }
            })?
            .into_inner();
        Ok::<_, String>((spec.replica_id, client))
    };
    let (id, client) = tokio::time::timeout(timeout * 2, work)
        .await
        .map_err(|_| format!("no answer within {:?}", timeout * 2))??;
    if id.is_empty() {
        return Err(
            "the server reports no replica_id (it predates replica-aware session ids)".into(),
        );
    }
    Ok((id, client))
}

/// Re-probes in the background until the client is dropped.
fn spawn_reprober(inner: Weak<Inner>) {
    let Some(interval) = inner.upgrade().map(|i| i.config.reprobe_interval) else {
        return;
    };
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            let Some(inner) = inner.upgrade() else { return };
            if inner.worth_probing()
                && let Ok(_guard) = inner.probing.try_lock()
            {
                inner.probe().await;
            }
        }
    });
}

fn parse_address(given: &str, ca_file: bool) -> Result<Address, ClientError> {
    let (tls, rest) = if let Some(r) = given.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = given.strip_prefix("http://") {
        if ca_file {
            return Err(ClientError::Config(format!(
                "{given:?} is plaintext (http://) but a CA file was given: use https:// or no scheme"
            )));
        }
        (false, r)
    } else {
        (ca_file, given)
    };
    let rest = rest.trim_end_matches('/');
    let bad = || {
        ClientError::Config(format!(
            "address {given:?} is not host:port (e.g. localhost:50051, [::1]:50051, https://medgym:50051)"
        ))
    };
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (host, port) = v6.split_once("]:").ok_or_else(bad)?;
        (host, port)
    } else {
        rest.rsplit_once(':').ok_or_else(bad)?
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok(Address {
        given: given.to_string(),
        tls,
        host: host.to_string(),
        port: port.parse().map_err(|_| bad())?,
    })
}

/// Every endpoint an address stands for: one for an IP, all that a name resolves to.
async fn resolve(a: &Address) -> Result<Vec<String>, String> {
    let scheme = if a.tls { "https" } else { "http" };
    let addrs: Vec<std::net::SocketAddr> = match a.host.parse::<std::net::IpAddr>() {
        Ok(ip) => vec![std::net::SocketAddr::new(ip, a.port)],
        Err(_) => tokio::net::lookup_host((a.host.as_str(), a.port))
            .await
            .map_err(|e| format!("resolving {}: {e}", a.host))?
            .collect(),
    };
    let mut uris: Vec<String> = addrs.iter().map(|s| format!("{scheme}://{s}")).collect();
    uris.sort();
    uris.dedup();
    Ok(uris)
}

fn tls_config(config: &ClientConfig) -> Result<ClientTlsConfig, ClientError> {
    let tls = ClientTlsConfig::new();
    Ok(match &config.ca_file {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| ClientError::CaFile {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
                return Err(ClientError::CaFile {
                    path: path.clone(),
                    reason: "no PEM certificate in it (-----BEGIN CERTIFICATE-----)".into(),
                });
            }
            tls.ca_certificate(Certificate::from_pem(pem))
        }
        None => tls.with_webpki_roots(),
    })
}

/// An error with its sources: tonic's transport errors keep the useful part there (the
/// refused connection, the certificate that did not verify).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// A status's message and whatever caused it (a transport status says only "transport error").
fn status_text(s: &Status) -> String {
    let mut text = s.message().to_string();
    if let Some(source) = std::error::Error::source(s) {
        let cause = error_chain(source);
        if cause.starts_with(&text) {
            text = cause;
        } else if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let a = parse_address("localhost:50051", false).expect("plain");
        assert_eq!(
            (a.tls, a.host.as_str(), a.port),
            (false, "localhost", 50051)
        );
        let a = parse_address("https://medgym.example:443/", false).expect("https");
        assert_eq!(
            (a.tls, a.host.as_str(), a.port),
            (true, "medgym.example", 443)
        );
        let a = parse_address("[::1]:7", true).expect("v6");
        assert_eq!((a.tls, a.host.as_str(), a.port), (true, "::1", 7));
        for bad in ["localhost", "http://:80", "host:port", "[::1]"] {
            assert!(parse_address(bad, false).is_err(), "{bad}");
        }
        assert!(parse_address("http://localhost:1", true).is_err());
    }

    #[test]
    fn session_ids_name_replicas() {
        assert_eq!(replica_of("pod-1.00ff"), Some("pod-1"));
        assert_eq!(replica_of("00ff"), None);
        assert_eq!(replica_of(".00ff"), None);
    }

    #[test]
    fn the_token_stays_out_of_debug_output() {
        let c = ClientConfig {
            token: Some("s3cret".into()),
            ..ClientConfig::new(["localhost:1"])
        };
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
