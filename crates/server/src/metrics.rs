//! Metric names, the Prometheus recorder and the `/metrics` HTTP endpoint.

use std::future::Future;
use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

/// Steps taken, by action kind.
pub const STEPS: &str = "medgym_steps_total";
/// Episodes started.
pub const RESETS: &str = "medgym_resets_total";
/// Live sessions.
pub const ACTIVE_SESSIONS: &str = "medgym_active_sessions";
/// Sessions closed by the idle TTL.
pub const EXPIRED_SESSIONS: &str = "medgym_expired_sessions_total";
/// Step latency in seconds (server side, excluding transport).
pub const STEP_LATENCY: &str = "medgym_step_latency_seconds";
/// Finished episodes written to the trajectory files.
pub const TRAJECTORIES: &str = "medgym_trajectories_written_total";
/// Finished episodes whose trajectory could not be written.
pub const TRAJECTORY_ERRORS: &str = "medgym_trajectory_errors_total";
/// RPC errors, by gRPC code.
pub const ERRORS: &str = "medgym_errors_total";
/// Clients (bearer tokens, else peer addresses) holding at least one live session. Clients are
/// never a label: that would put tokens in the output and let the label set grow without bound.
pub const ACTIVE_CLIENTS: &str = "medgym_active_clients";
/// Live sessions of the client holding the most.
pub const CLIENT_SESSIONS_MAX: &str = "medgym_client_sessions_max";
/// Resets refused by `max_sessions_per_client`.
pub const CLIENT_LIMIT_HITS: &str = "medgym_client_limit_hits_total";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide Prometheus recorder, installed on first use. A process has one recorder,
/// so servers started in the same process (tests) share it.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(STEP_LATENCY.into()),
                &[
                    1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 5e-3, 1e-2, 0.1,
                ],
            )
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder was installed first; then that one collects.
        let _ = metrics::set_global_recorder(recorder);
        spawn_upkeep(handle.clone());
        handle
    })
}

/// How often recorded histogram samples are folded into their buckets.
const UPKEEP_PERIOD: std::time::Duration = std::time::Duration::from_secs(5);

/// A histogram keeps every recorded sample (~16 bytes each) until something drains it, and
/// `build_recorder` starts nothing that does: without a Prometheus scrape the step latencies
/// grew the server by ~60 MiB a minute under load (found by tools/soak.sh). The recorder lives
/// as long as the process, so this thread does too; a plain thread needs no runtime.
fn spawn_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_PERIOD);
                handle.run_upkeep();
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no metrics upkeep thread: histograms drain only on scrape");
    }
}

/// Serves `GET /metrics` in Prometheus text format until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let handle = handle();
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || std::future::ready(handle.render())),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
