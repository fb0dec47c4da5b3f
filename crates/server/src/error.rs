//! Server errors and the one place where they become gRPC statuses.

use medgym_env::EnvError;
use tonic::{Code, Status};

/// Errors of the medgym service.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// No live session has this id (never created, closed, or expired).
    #[error("unknown or expired session {0:?}")]
    UnknownSession(String),
    /// The request is malformed.
    #[error("{0}")]
    InvalidArgument(String),
    /// The session limit is reached.
    #[error("session limit of {0} reached; close finished sessions or retry later")]
    Capacity(usize),
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
    /// Reflection service could not be built.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
}

impl ServerError {
    /// The gRPC code of this error.
    pub fn code(&self) -> Code {
        match self {
            ServerError::UnknownSession(_) => Code::NotFound,
            ServerError::InvalidArgument(_) => Code::InvalidArgument,
            ServerError::Capacity(_) => Code::ResourceExhausted,
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
            | ServerError::Sink(_) => Code::Internal,
        }
    }
}

impl From<ServerError> for Status {
    fn from(e: ServerError) -> Status {
        let code = e.code();
        metrics::counter!(crate::metrics::ERRORS, "code" => format!("{code:?}")).increment(1);
        Status::new(code, e.to_string())
    }
}
