//! Real medgym servers on 127.0.0.1:0, in process, for the client's tests.

#![allow(dead_code)] // each test binary uses part of this

use std::net::SocketAddr;
use std::sync::Arc;

use medgym_client::pb;
use medgym_env::World;
use tokio::sync::oneshot;

/// One parsed knowledge set for every server of a test binary.
pub fn shared_world() -> Arc<World> {
    static WORLD: std::sync::OnceLock<Arc<World>> = std::sync::OnceLock::new();
    Arc::clone(WORLD.get_or_init(|| Arc::new(World::embedded().expect("embedded knowledge"))))
}

/// A server running on this test's runtime until stopped.
pub struct Server {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), medgym_server::ServerError>>,
}

impl Server {
    pub async fn start(config: medgym_server::Config) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(medgym_server::run(
            listener,
            None,
            shared_world(),
            config,
            async move {
                let _ = rx.await;
            },
        ));
        Server {
            addr,
            stop: Some(tx),
            task,
        }
    }

    /// A server named `replica`.
    pub async fn replica(replica: &str) -> Server {
        Server::start(medgym_server::Config {
            replica_id: Some(replica.into()),
            ..Default::default()
        })
        .await
    }

    /// Graceful shutdown: the port closes, calls to it fail with UNAVAILABLE.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.task.await.expect("join").expect("server ran cleanly");
    }
}

pub fn reset(seed: u64) -> pb::ResetRequest {
    pb::ResetRequest {
        seed: Some(seed),
        ..Default::default()
    }
}

pub fn text(session: &str, t: &str, request_id: &str) -> pb::StepRequest {
    pb::StepRequest {
        session_id: session.into(),
        action: Some(pb::Action {
            kind: Some(pb::action::Kind::Text(t.into())),
        }),
        request_id: request_id.into(),
    }
}
