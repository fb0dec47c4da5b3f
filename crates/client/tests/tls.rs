//! TLS (certificates from `medgym cert`'s own code) and bearer tokens, over real connections.

mod common;

use std::path::Path;

use common::{Server, reset, text};
use medgym_client::{Client, ClientConfig, ClientError};
use medgym_server::tls::{generate_certificates, write_certificates};
use tonic::Code;

const TOKEN: &str = "trainer-7f3a9c";

async fn tls_server(dir: &Path, token_file: Option<&Path>) -> Server {
    let files = write_certificates(dir, &generate_certificates(&[]).expect("certificates"))
        .expect("write certificates");
    Server::start(medgym_server::Config {
        replica_id: Some("secure".into()),
        tls_cert: Some(files.cert),
        tls_key: Some(files.key),
        auth_token_file: token_file.map(Path::to_path_buf),
        ..Default::default()
    })
    .await
}

fn config(address: String, ca: Option<&Path>, token: Option<&str>) -> ClientConfig {
    ClientConfig {
        ca_file: ca.map(Path::to_path_buf),
        token: token.map(str::to_string),
        ..ClientConfig::new([address])
    }
}

async fn refused(config: ClientConfig) -> String {
    match Client::connect(config).await {
        Ok(_) => panic!("connected"),
        Err(e) => {
            assert!(matches!(e, ClientError::NoReplica(_)), "{e:?}");
            eprintln!("refused as expected: {e}");
            e.to_string()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_the_right_ca_works_and_anything_else_fails_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = tls_server(dir.path(), None).await;
    let ca = dir.path().join("ca.pem");
    let port = server.addr.port();

    // By name (verified against the certificate's DNS name) and by IP (its IP SAN).
    for address in [
        format!("localhost:{port}"),
        format!("https://127.0.0.1:{port}"),
    ] {
        let client = Client::connect(config(address.clone(), Some(&ca), None))
            .await
            .unwrap_or_else(|e| panic!("{address}: {e}"));
        assert_eq!(client.get_spec().await.expect("spec").replica_id, "secure");
        let r = client.reset(reset(3)).await.expect("reset over TLS");
        client
            .step(text(&r.session_id, "<ask>Any fever?</ask>", "1"))
            .await
            .expect("step over TLS");
    }

    // Health (open to probes, no token) is behind the same TLS.
    let channel = tonic::transport::Endpoint::from_shared(format!("https://localhost:{port}"))
        .expect("uri")
        .tls_config(tonic::transport::ClientTlsConfig::new().ca_certificate(
            tonic::transport::Certificate::from_pem(std::fs::read(&ca).expect("ca")),
        ))
        .expect("tls")
        .connect()
        .await
        .expect("TLS connection");
    let health = tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest {
            service: "medgym.v1.Environment".into(),
        })
        .await
        .expect("health over TLS")
        .into_inner();
    assert_eq!(
        health.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    // Plaintext to a TLS port.
    let e = refused(config(format!("http://127.0.0.1:{port}"), None, None)).await;
    assert!(e.contains(&format!("127.0.0.1:{port}")), "{e}");
    assert!(
        e.contains("if the server uses TLS, give its CA file"),
        "{e}"
    );

    // A CA that did not sign the server's certificate.
    let other = tempfile::tempdir().expect("tempdir");
    let files = write_certificates(other.path(), &generate_certificates(&[]).expect("certs"))
        .expect("write");
    let e = refused(config(format!("localhost:{port}"), Some(&files.ca), None)).await;
    assert!(e.contains("invalid peer certificate: UnknownIssuer"), "{e}");

    // A name the certificate does not cover.
    let e = refused(ClientConfig {
        tls_domain: Some("medgym.example".into()),
        ..config(format!("localhost:{port}"), Some(&ca), None)
    })
    .await;
    assert!(e.contains("invalid peer certificate"), "{e}");

    // A CA file that is not one.
    let e = Client::connect(config(
        format!("localhost:{port}"),
        Some(&dir.path().join("server.key")),
        None,
    ))
    .await
    .expect_err("a key is not a CA");
    assert!(e.to_string().contains("no PEM certificate"), "{e}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_a_bearer_token_together() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, format!("# trainers\n{TOKEN}\n")).expect("token file");
    let server = tls_server(dir.path(), Some(&tokens)).await;
    let ca = dir.path().join("ca.pem");
    let address = format!("localhost:{}", server.addr.port());

    let client = Client::connect(config(address.clone(), Some(&ca), Some(TOKEN)))
        .await
        .expect("token and CA");
    let r = client.reset(reset(5)).await.expect("reset");
    let batch = client
        .batch_step(medgym_client::pb::BatchStepRequest {
            steps: vec![text(&r.session_id, "<ask>Any cough?</ask>", "1")],
            autoreset: false,
        })
        .await
        .expect("batch");
    assert_eq!(batch.results.len(), 1);
    client.close(&r.session_id).await.expect("close");

    for token in [None, Some("wrong-token")] {
        let e = refused(config(address.clone(), Some(&ca), token)).await;
        assert!(e.contains("Unauthenticated"), "{token:?}: {e}");
    }
    // The token without TLS does not reach the server at all.
    let e = refused(config(
        format!("http://127.0.0.1:{}", server.addr.port()),
        None,
        Some(TOKEN),
    ))
    .await;
    assert!(!e.contains(TOKEN), "{e}");

    // A session of this server stepped through a client that lost it is NOT_FOUND, not a hang.
    let e = client
        .step(text("elsewhere.00000000000000000000000000000000", "hi", ""))
        .await
        .expect_err("unknown replica");
    assert_eq!(e.code(), Code::NotFound);
    server.stop().await;
}
