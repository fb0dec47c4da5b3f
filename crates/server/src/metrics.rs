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
        handle
    })
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
