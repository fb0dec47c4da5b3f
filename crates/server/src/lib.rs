//! The medgym gRPC server: the `medgym.v1.Environment` service over a shared [`World`], with
//! health, reflection, Prometheus metrics and graceful shutdown.
//!
//! Invariant: this crate is the transport edge. It converts wire messages, delegates to
//! `medgym-env`, and turns errors into statuses in one place (`error.rs`); no clinical logic
//! lives here.
//!
//! [`run`] takes bound listeners and a shutdown future, so tests bind `127.0.0.1:0` and the
//! binary passes a signal.

pub mod auth;
pub mod clients;
pub mod convert;
mod error;
pub mod harness;
pub mod metrics;
pub mod replica;
mod service;
mod sessions;
pub mod tls;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use medgym_env::{EpisodeOptions, World};
use medgym_proto::v1::environment_server::EnvironmentServer;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use error::ServerError;
pub use service::Service;
pub use sessions::{Session, Sessions};

/// Limits and defaults of a server; also the schema of the `--config` TOML file (see
/// `medgym.toml` at the repository root, which documents every default).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Maximum live sessions.
    pub max_sessions: usize,
    /// Maximum live sessions of one client: its bearer token when authentication is on, else
    /// its peer IP address. The default lets one trainer fill the server; lower it when
    /// several share one.
    pub max_sessions_per_client: usize,
    /// Idle seconds before a session is closed.
    pub session_ttl_seconds: u64,
    /// Maximum bytes of any text in an action.
    pub max_text_bytes: usize,
    /// Maximum size of a decoded request message.
    pub max_message_bytes: usize,
    /// Options applied where a reset leaves a field unset.
    pub default_options: EpisodeOptions,
    /// Directory for trajectory files of finished episodes (none: not written).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trajectory_dir: Option<std::path::PathBuf>,
    /// Size in bytes at which a trajectory file is closed and the next one started.
    pub trajectory_rotate_bytes: u64,
    /// File of accepted bearer tokens, one per line (none: no authentication). Reloaded on
    /// SIGHUP. Health checks stay open for probes; every other service requires a token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_token_file: Option<std::path::PathBuf>,
    /// This server's name among replicas, the prefix of its session ids: 1 to 63 of a-z, 0-9,
    /// - (a DNS label, so a pod name fits). None: 8 random hex characters per process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica_id: Option<String>,
    /// PEM certificate chain for TLS on the gRPC port (with `tls_key`; none: plaintext).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// PEM private key of `tls_cert`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<std::path::PathBuf>,
}

impl Config {
    /// Parses a TOML config; unset keys keep their defaults, unknown keys are an error.
    pub fn from_toml(text: &str) -> Result<Self, ServerError> {
        let config: Config =
            toml::from_str(text).map_err(|e| ServerError::Config(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what the types do not: episode options, the replica id, TLS files in pairs.
    /// [`run`] calls it, so flags that override the file are checked too.
    pub fn validate(&self) -> Result<(), ServerError> {
        self.default_options
            .validate()
            .map_err(|e| ServerError::Config(e.to_string()))?;
        if let Some(name) = &self.replica_id {
            replica::validate_replica_id(name)?;
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => Err(ServerError::Config(
                "tls_cert is set without tls_key: TLS needs both (or neither)".into(),
            )),
            (None, Some(_)) => Err(ServerError::Config(
                "tls_key is set without tls_cert: TLS needs both (or neither)".into(),
            )),
            _ => Ok(()),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_sessions: 100_000,
            max_sessions_per_client: 100_000,
            session_ttl_seconds: 600,
            max_text_bytes: 16 * 1024,
            max_message_bytes: 16 * 1024 * 1024,
            default_options: EpisodeOptions::default(),
            trajectory_dir: None,
            trajectory_rotate_bytes: medgym_sink::DEFAULT_ROTATE_BYTES,
            auth_token_file: None,
            replica_id: None,
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// Re-reads the token file on every SIGHUP until `done`.
fn spawn_reload_on_sighup(auth: auth::Auth, done: impl Future<Output = ()> + Send + 'static) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::warn!("cannot listen for SIGHUP; tokens will not reload");
            return;
        };
        tokio::pin!(done);
        loop {
            tokio::select! {
                _ = &mut done => break,
                _ = hup.recv() => match auth.reload() {
                    Ok(n) => tracing::info!(tokens = n, "token file reloaded"),
                    Err(e) => tracing::error!(error = %e, "token file not reloaded; old tokens stay"),
                },
            }
        }
    });
    #[cfg(not(unix))]
    drop((auth, done));
}

/// Accepted connections with Nagle off: a small response held back for a delayed ACK costs
/// ~40 ms per call.
fn incoming(listener: TcpListener) -> tonic::transport::server::TcpIncoming {
    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// Serves until `shutdown` completes, then stops accepting, lets in-flight calls finish and
/// returns. `metrics` (optional) gets the Prometheus `/metrics` endpoint.
pub async fn run(
    listener: TcpListener,
    metrics: Option<TcpListener>,
    world: Arc<World>,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    config.validate()?;
    // Read before anything is spawned, so a bad certificate stops the server at startup.
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(tls::server_config(cert, key)?),
        _ => None,
    };
    crate::metrics::handle();
    let max_message = config.max_message_bytes;
    let sink = match &config.trajectory_dir {
        Some(dir) => {
            let writer = medgym_sink::TrajectoryWriter::open(dir, config.trajectory_rotate_bytes)?;
            tracing::info!(file = %writer.path().display(), "writing trajectories");
            Some(Arc::new(parking_lot::Mutex::new(writer)))
        }
        None => None,
    };
    let mut service = Service::new(world, config.clone());
    if let Some(sink) = &sink {
        service = service.with_sink(Arc::clone(sink));
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = move |mut rx: watch::Receiver<bool>| async move {
        // Resolves once stop is signalled (or the sender is gone).
        let _ = rx.wait_for(|s| *s).await;
    };

    let reaper = {
        let sessions = Arc::clone(service.sessions());
        let period = Duration::from_secs(config.session_ttl_seconds.clamp(1, 20) / 4 + 1);
        let done = stopped(stop_rx.clone());
        tokio::spawn(async move {
            tokio::pin!(done);
            let mut tick = tokio::time::interval(period);
            loop {
                tokio::select! {
                    _ = &mut done => break,
                    _ = tick.tick() => {
                        let n = sessions.expire(Instant::now());
                        if n > 0 {
                            tracing::info!(expired = n, live = sessions.len(), "closed idle sessions");
                        }
                    }
                }
            }
        })
    };

    let metrics_task = metrics.map(|l| {
        let done = stopped(stop_rx.clone());
        tokio::spawn(crate::metrics::serve(l, done))
    });

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<EnvironmentServer<Service>>().await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(medgym_proto::FILE_DESCRIPTOR_SET)
        .build_v1()?;

    tracing::info!(
        addr = %listener.local_addr()?,
        replica = service.sessions().replica(),
        tls = tls.is_some(),
        "medgym serving"
    );
    let grpc_done = stopped(stop_rx.clone());
    let draining = health.clone();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: finishing in-flight calls");
        // Before the drain, not after it: a client watching health learns at once that this
        // replica takes no new episodes. The process itself ("") stays SERVING for liveness.
        draining
            .set_not_serving::<EnvironmentServer<Service>>()
            .await;
        let _ = stop_tx.send(true);
    };
    tokio::spawn(signal);

    let auth = match &config.auth_token_file {
        Some(path) => Some(auth::Auth::load(path)?),
        None => None,
    };
    if let Some(auth) = &auth {
        tracing::info!(file = %config.auth_token_file.as_deref().unwrap_or(std::path::Path::new("")).display(), "bearer-token authentication on");
        spawn_reload_on_sighup(auth.clone(), stopped(stop_rx.clone()));
    }
    // Without a token file every request passes; with one, a request without a valid token is
    // refused here, before it reaches the service.
    let check = move |r: tonic::Request<()>| match &auth {
        Some(a) => a.check(r),
        None => Ok(r),
    };
    let environment = tonic::service::interceptor::InterceptedService::new(
        error::CountErrors(EnvironmentServer::new(service).max_decoding_message_size(max_message)),
        check.clone(),
    );
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        // Health and reflection share the port, so they are encrypted too.
        builder = builder.tls_config(tls)?;
    }
    let result = builder
        .add_service(health_service)
        .add_service(tonic::service::interceptor::InterceptedService::new(
            reflection, check,
        ))
        .add_service(environment)
        .serve_with_incoming_shutdown(incoming(listener), grpc_done)
        .await;

    if let Some(sink) = &sink {
        // In-flight steps have finished; make their records durable before exiting.
        let mut w = sink.lock();
        w.sync()?;
        tracing::info!(episodes = w.episodes(), "trajectories flushed");
    }
    let _ = reaper.await;
    if let Some(t) = metrics_task {
        let _ = t.await;
    }
    result?;
    tracing::info!("medgym stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_config_is_the_default() {
        let text = include_str!("../../../medgym.toml");
        assert_eq!(Config::from_toml(text).expect("parses"), Config::default());
    }

    #[test]
    fn partial_and_bad_configs() {
        let c = Config::from_toml("max_sessions = 7\n[default_options.reward]\ncost = 0.3\n")
            .expect("partial config");
        assert_eq!(c.max_sessions, 7);
        assert_eq!(c.default_options.reward.cost, 0.3);
        assert_eq!(c.default_options.reward.diagnosis, 1.0);
        let c = Config::from_toml("replica_id = \"medgym-7f9c-2\"").expect("replica id");
        assert_eq!(c.replica_id.as_deref(), Some("medgym-7f9c-2"));
        for bad in [
            "max_sesions = 7",
            "max_sessions = -1",
            "[default_options.noise]\npreset = \"loud\"",
            "[default_options]\nbudget_usd = 0.0",
            "replica_id = \"Pod_1\"",
            "replica_id = \"\"",
            "tls_cert = \"server.pem\"",
            "tls_key = \"server.key\"",
        ] {
            assert!(
                Config::from_toml(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }
}
