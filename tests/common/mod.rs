//! What the integration tests share: a real server in process on 127.0.0.1:0, and the real binary
//! as a child process that a failing assertion cannot leave running.

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use medgym_env::World;
use medgym_proto::v1 as pb;
use pb::environment_client::EnvironmentClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tonic::transport::Channel;

/// One parsed knowledge set for every server in a test binary.
pub fn shared_world() -> Arc<World> {
    static WORLD: std::sync::OnceLock<Arc<World>> = std::sync::OnceLock::new();
    Arc::clone(WORLD.get_or_init(|| Arc::new(World::embedded().expect("embedded knowledge"))))
}

/// `medgym_server::run` on loopback ports, stopped by [`Server::stop`].
pub struct Server {
    pub addr: SocketAddr,
    pub metrics: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), medgym_server::ServerError>>,
}

impl Server {
    pub async fn start(config: medgym_server::Config) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let metrics = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let metrics_addr = metrics.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(medgym_server::run(
            listener,
            Some(metrics),
            shared_world(),
            config,
            async move {
                let _ = rx.await;
            },
        ));
        Server {
            addr,
            metrics: metrics_addr,
            stop: Some(tx),
            task,
        }
    }

    pub async fn channel(&self) -> Channel {
        // The listener is bound before `run` starts, so the first connect can succeed; retry a
        // bounded number of times in case the accept loop is not polled yet.
        let url = format!("http://{}", self.addr);
        for _ in 0..50 {
            if let Ok(c) = Channel::from_shared(url.clone())
                .expect("url")
                .connect()
                .await
            {
                return c;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("server at {url} did not accept connections");
    }

    pub async fn client(&self) -> EnvironmentClient<Channel> {
        EnvironmentClient::new(self.channel().await)
    }

    /// The Prometheus text of `GET /metrics`.
    pub async fn metrics_text(&self) -> String {
        let mut tcp = tokio::net::TcpStream::connect(self.metrics)
            .await
            .expect("metrics");
        tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        let mut body = String::new();
        tcp.read_to_string(&mut body).await.expect("read");
        assert!(body.starts_with("HTTP/1.1 200"), "{body}");
        body
    }

    /// Sends the shutdown signal without waiting for the drain.
    pub fn begin_stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.task.await.expect("join").expect("server ran cleanly");
    }
}

/// The health status of `service` ("" for the process) over `channel`.
pub async fn health_status(
    channel: Channel,
    service: &str,
) -> tonic_health::pb::health_check_response::ServingStatus {
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: service.into(),
        })
        .await
        .expect("health")
        .into_inner()
        .status;
    tonic_health::pb::health_check_response::ServingStatus::try_from(status).expect("a status")
}

/// A child process killed and reaped when dropped.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `medgym serve` on free loopback ports (gRPC and metrics) with `extra` flags, stderr piped so
/// that the caller can read the address from the log.
pub fn serve_command(extra: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_medgym"));
    command
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--metrics-addr",
            "127.0.0.1:0",
        ])
        .args(extra)
        .stderr(std::process::Stdio::piped());
    command
}

/// A `medgym serve` child process that has logged its address; killed and reaped when dropped.
pub struct Running {
    pub child: std::process::Child,
    /// The gRPC address from the "medgym serving" log line.
    pub addr: String,
    /// That log line (it also names the replica and whether TLS is on).
    pub line: String,
    log: Option<std::thread::JoinHandle<Vec<String>>>,
}

impl Running {
    /// Spawns `command` (a `medgym serve` with stderr piped, e.g. from [`serve_command`]) and
    /// reads its log until it names the address; the rest of the log is drained in the
    /// background so the server never blocks on a full pipe.
    pub fn spawn(mut command: std::process::Command) -> Running {
        use std::io::{BufRead, BufReader};
        let mut child = command.spawn().expect("spawn medgym serve");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr piped")).lines();
        let mut seen = Vec::new();
        for line in lines.by_ref() {
            let line = line.expect("log line");
            seen.push(line.clone());
            if line.contains("medgym serving")
                && let Some(rest) = line.split("addr=").nth(1)
            {
                let addr = rest.split_whitespace().next().expect("address").to_string();
                let log = std::thread::spawn(move || {
                    seen.extend(lines.map_while(Result::ok));
                    seen
                });
                return Running {
                    child,
                    addr,
                    line,
                    log: Some(log),
                };
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("server exited before serving:\n{}", seen.join("\n"));
    }

    /// Sends a signal by name ("-TERM", "-KILL", "-HUP").
    pub fn signal(&self, sig: &str) {
        let status = std::process::Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits (bounded) for the process to exit; returns (success, its whole log).
    pub fn wait(mut self) -> (bool, String) {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        let exit = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "server did not exit within 15 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let log = self.log.take().expect("log").join().expect("log");
        (exit.success(), log.join("\n"))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `medgym serve` with `extra` flags, running.
pub fn serve(extra: &[&str]) -> Running {
    Running::spawn(serve_command(extra))
}
