//! Server errors and the one place where they become gRPC statuses.

use medgym_env::EnvError;
use tonic::{Code, Status};

/// Errors of the medgym service.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// No live session has this id (never created, closed, or expired).
    #[error("unknown or expired session {0:?}")]
    UnknownSession(String),
    /// The session id names another replica: the client sent it to the wrong server (or the
    /// owner restarted under a new id). NOT_FOUND, so a routing client resets elsewhere.
    #[error("session belongs to replica {owner}; this is replica {replica}")]
    ForeignSession {
        /// The replica named by the session id.
        owner: String,
        /// This server's replica id.
        replica: String,
    },
    /// The request is malformed.
    #[error("{0}")]
    InvalidArgument(String),
    /// The session limit is reached.
    #[error("session limit of {0} reached; close finished sessions or retry later")]
    Capacity(usize),
    /// This client (bearer token, else peer address) holds its share of sessions.
    #[error(
        "max_sessions_per_client limit of {0} reached for this client; close finished sessions or retry later"
    )]
    ClientCapacity(usize),
    /// The client's deadline passed before the request ran; nothing was executed.
    #[error("the client deadline passed {0:?} before the request would run; it was not executed")]
    DeadlineExceeded(std::time::Duration),
    /// The environment refused the call.
    #[error(transparent)]
    Env(#[from] EnvError),
    /// Transport failure while serving.
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// Socket failure.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// Trajectory files could not be written.
    #[error(transparent)]
    Sink(#[from] medgym_sink::SinkError),
    /// The configuration file is invalid.
    #[error("invalid config: {0}")]
    Config(String),
    /// The TLS certificate or key could not be read or used.
    #[error("TLS: {0}")]
    Tls(String),
    /// Reflection service could not be built.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// A step run on the blocking pool panicked (or the runtime shut down under it).
    #[error("step worker failed: {0}")]
    Worker(#[from] tokio::task::JoinError),
}

impl ServerError {
    /// The gRPC code of this error.
    pub fn code(&self) -> Code {
        match self {
            ServerError::UnknownSession(_) | ServerError::ForeignSession { .. } => Code::NotFound,
            ServerError::InvalidArgument(_) => Code::InvalidArgument,
            ServerError::Capacity(_) | ServerError::ClientCapacity(_) => Code::ResourceExhausted,
            ServerError::DeadlineExceeded(_) => Code::DeadlineExceeded,
            ServerError::Env(e) => match e {
                EnvError::UnknownTask(_) | EnvError::NoTasks { .. } | EnvError::Options(_) => {
                    Code::InvalidArgument
                }
                EnvError::EpisodeOver | EnvError::NoEpisode => Code::FailedPrecondition,
                EnvError::Knowledge(_) => Code::Internal,
            },
            ServerError::Transport(_)
            | ServerError::Io(_)
            | ServerError::Reflection(_)
            | ServerError::Config(_)
            | ServerError::Tls(_)
            | ServerError::Sink(_)
            | ServerError::Worker(_) => Code::Internal,
        }
    }
}

impl From<ServerError> for Status {
    fn from(e: ServerError) -> Status {
        // Not counted here: an RPC's status is counted by `CountErrors` as it leaves, together
        // with the ones tonic makes itself (a body that does not decode), and a status carried
        // inside a BatchStep or Interact answer is counted where it is put there (`count`).
        Status::new(e.code(), bounded(e.to_string()))
    }
}

/// Longest status message in bytes. Messages quote the client's input (a session id, a task
/// id, a page token), and the message travels in a header: past the client's header limit
/// (16 KiB in h2 by default) the call dies with a protocol error instead of reporting this one.
const MAX_STATUS_MESSAGE: usize = 1024;

fn bounded(mut message: String) -> String {
    if message.len() > MAX_STATUS_MESSAGE {
        let mut cut = MAX_STATUS_MESSAGE;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push_str("… (truncated)");
    }
    message
}

/// Counts one error in `medgym_errors_total{code}`.
pub(crate) fn count(code: Code) {
    if code != Code::Ok {
        metrics::counter!(crate::metrics::ERRORS, "code" => format!("{code:?}")).increment(1);
    }
}

/// Wraps the environment service so that every RPC that ends in an error status is counted by
/// code, whoever made the status: the service's own errors, and tonic's for a request that
/// does not decode or is too large. Errors end a unary RPC as a trailers-only response, so the
/// status is in the response headers; the errors of an Interact stream come after its headers
/// and are counted where the service forwards them.
#[derive(Debug, Clone)]
pub(crate) struct CountErrors<S>(pub S);

impl<S: tonic::server::NamedService> tonic::server::NamedService for CountErrors<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B, R> tonic::codegen::Service<tonic::codegen::http::Request<B>> for CountErrors<S>
where
    S: tonic::codegen::Service<
            tonic::codegen::http::Request<B>,
            Response = tonic::codegen::http::Response<R>,
        >,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: tonic::codegen::http::Request<B>) -> Self::Future {
        let response = self.0.call(request);
        Box::pin(async move {
            let response = response.await?;
            if let Some(status) = response.headers().get("grpc-status") {
                count(Code::from_bytes(status.as_bytes()));
            }
            Ok(response)
        })
    }
}
