//! Two real servers with different replica ids behind one routing client.

mod common;

use std::collections::HashMap;

use common::{Server, reset, text};
use medgym_client::{Client, ClientConfig, pb, replica_of};
use pb::environment_client::EnvironmentClient;
use tonic::Code;

fn diagnose(session: &str) -> pb::StepRequest {
    pb::StepRequest {
        session_id: session.into(),
        action: Some(pb::Action {
            kind: Some(pb::action::Kind::Diagnose(pb::Diagnose {
                primary: "influenza".into(),
                differential: vec![],
            })),
        }),
        request_id: "dx".into(),
    }
}

async fn direct(server: &Server) -> EnvironmentClient<tonic::transport::Channel> {
    EnvironmentClient::connect(format!("http://{}", server.addr))
        .await
        .expect("direct connection")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_follow_their_replica_and_a_lost_replica_costs_only_its_sessions() {
    let alpha = Server::replica("alpha").await;
    let beta = Server::replica("beta").await;
    let client = Client::connect(ClientConfig::new([
        alpha.addr.to_string(),
        format!("http://{}", beta.addr),
    ]))
    .await
    .expect("connect");
    let mut found: Vec<String> = client.replicas().into_iter().map(|r| r.id).collect();
    found.sort();
    assert_eq!(found, ["alpha", "beta"]);
    let spec = client.get_spec().await.expect("spec");
    assert!(["alpha", "beta"].contains(&spec.replica_id.as_str()));

    // 40 resets spread over both replicas (round robin: exactly half each).
    let mut sessions = Vec::new();
    for seed in 0..40 {
        let r = client.reset(reset(seed)).await.expect("reset");
        assert_eq!(r.info.as_ref().map(|i| i.seed), Some(seed));
        sessions.push(r.session_id);
    }
    let mut per_replica: HashMap<&str, usize> = HashMap::new();
    for s in &sessions {
        *per_replica
            .entry(replica_of(s).expect("prefixed"))
            .or_default() += 1;
    }
    assert_eq!(per_replica.get("alpha"), Some(&20), "{per_replica:?}");
    assert_eq!(per_replica.get("beta"), Some(&20), "{per_replica:?}");

    // A question on each session one by one, then every diagnosis in one BatchStep whose order
    // interleaves the replicas (reversed); results come back in request order.
    for s in &sessions {
        let r = client
            .step(text(s, "<ask>Do you have a fever?</ask>", "q"))
            .await
            .expect("step reaches the owner");
        assert!(!r.terminated);
    }
    let order: Vec<usize> = (0..sessions.len()).rev().collect();
    let batch = client
        .batch_step(pb::BatchStepRequest {
            steps: order.iter().map(|&i| diagnose(&sessions[i])).collect(),
            autoreset: false,
        })
        .await
        .expect("batch");
    assert_eq!(batch.results.len(), sessions.len());
    for (k, result) in batch.results.iter().enumerate() {
        let Some(pb::batch_step_result::Result::Response(r)) = &result.result else {
            panic!("step {k} failed: {result:?}");
        };
        assert!(r.terminated, "the diagnosis ends episode {k}");
        // Seed i is session i's: the answer in slot k belongs to the request in slot k.
        assert_eq!(r.info.as_ref().map(|i| i.seed), Some(order[k] as u64));
    }

    // Every step reached its owner: the owner holds the whole episode, the other replica has
    // never heard of it and says whose it is.
    let (mut to_alpha, mut to_beta) = (direct(&alpha).await, direct(&beta).await);
    for s in &sessions {
        let (owner, other, other_name) = if replica_of(s) == Some("alpha") {
            (&mut to_alpha, &mut to_beta, "beta")
        } else {
            (&mut to_beta, &mut to_alpha, "alpha")
        };
        let t = owner
            .get_trajectory(pb::GetTrajectoryRequest {
                session_id: s.clone(),
                include_record: false,
            })
            .await
            .expect("the owner has the session")
            .into_inner();
        assert_eq!(t.steps.len(), 2, "one question and one diagnosis");
        let e = other
            .get_trajectory(pb::GetTrajectoryRequest {
                session_id: s.clone(),
                include_record: false,
            })
            .await
            .expect_err("only the owner has it");
        assert_eq!(e.code(), Code::NotFound);
        let owner_name = replica_of(s).expect("prefixed");
        assert_eq!(
            e.message(),
            format!("session belongs to replica {owner_name}; this is replica {other_name}")
        );
        // The router finds it too.
        let t = client.trajectory(s).await.expect("routed trajectory");
        assert_eq!(t.steps.len(), 2);
    }

    // Live episodes on both replicas, then beta goes away.
    let mut open = Vec::new();
    for seed in 100..110 {
        open.push(client.reset(reset(seed)).await.expect("reset").session_id);
    }
    let on_beta = open
        .iter()
        .filter(|s| replica_of(s) == Some("beta"))
        .count();
    assert_eq!(on_beta, 5);
    drop(to_beta);
    beta.stop().await;

    let batch = client
        .batch_step(pb::BatchStepRequest {
            steps: open
                .iter()
                .map(|s| text(s, "<ask>Any cough?</ask>", "q"))
                .collect(),
            autoreset: false,
        })
        .await
        .expect("a batch with a lost replica still answers");
    for (s, result) in open.iter().zip(&batch.results) {
        match (replica_of(s), &result.result) {
            (Some("alpha"), Some(pb::batch_step_result::Result::Response(r))) => {
                assert!(!r.terminated)
            }
            (Some("beta"), Some(pb::batch_step_result::Result::Error(e))) => {
                assert_eq!(e.code, Code::NotFound as i32, "{e:?}");
                assert!(e.message.contains("beta"), "{}", e.message);
            }
            other => panic!("{s}: unexpected {other:?}"),
        }
    }
    for s in &open {
        let r = client.step(text(s, "<ask>Any pain?</ask>", "p")).await;
        if replica_of(s) == Some("beta") {
            let e = r.expect_err("beta is gone");
            assert_eq!(e.code(), Code::NotFound, "{e}");
        } else {
            r.expect("alpha still steps");
        }
    }
    assert_eq!(
        client
            .replicas()
            .into_iter()
            .map(|r| (r.id, r.live))
            .collect::<HashMap<_, _>>(),
        HashMap::from([("alpha".to_string(), true), ("beta".to_string(), false)])
    );

    // New resets all land on the survivor.
    for seed in 200..210 {
        let r = client
            .reset(reset(seed))
            .await
            .expect("reset on the survivor");
        assert_eq!(replica_of(&r.session_id), Some("alpha"));
    }

    // Stepping an old beta session straight at alpha: NOT_FOUND naming both replicas.
    let beta_session = open
        .iter()
        .find(|s| replica_of(s) == Some("beta"))
        .expect("a beta session");
    let e = to_alpha
        .step(text(beta_session, "<ask>Any pain?</ask>", ""))
        .await
        .expect_err("foreign session");
    assert_eq!(e.code(), Code::NotFound);
    assert_eq!(
        e.message(),
        "session belongs to replica beta; this is replica alpha"
    );
    alpha.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_comes_back_rejoins_the_rotation() {
    let alpha = Server::replica("alpha").await;
    // Reserve a port for gamma, which is not up yet.
    let parked = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let gamma_addr = parked.local_addr().expect("addr");
    drop(parked);
    let client = Client::connect(ClientConfig {
        reprobe_interval: std::time::Duration::from_millis(100),
        ..ClientConfig::new([alpha.addr.to_string(), gamma_addr.to_string()])
    })
    .await
    .expect("one live replica is enough");
    assert_eq!(client.replicas().len(), 1);

    let listener = tokio::net::TcpListener::bind(gamma_addr)
        .await
        .expect("rebind");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let gamma = tokio::spawn(medgym_server::run(
        listener,
        None,
        common::shared_world(),
        medgym_server::Config {
            replica_id: Some("gamma".into()),
            ..Default::default()
        },
        async move {
            let _ = rx.await;
        },
    ));
    // The background probe finds it within a few intervals.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while client.replicas().len() < 2 {
        assert!(std::time::Instant::now() < deadline, "gamma never joined");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let mut owners = std::collections::HashSet::new();
    for seed in 0..4 {
        let r = client.reset(reset(seed)).await.expect("reset");
        owners.insert(replica_of(&r.session_id).expect("prefixed").to_string());
    }
    assert_eq!(owners.len(), 2, "{owners:?}");

    let unknown = client
        .step(text(
            "nobody.00000000000000000000000000000000",
            "<ask>Hi?</ask>",
            "",
        ))
        .await
        .expect_err("unknown replica");
    assert_eq!(unknown.code(), Code::NotFound);
    assert!(unknown.to_string().contains("replica nobody"), "{unknown}");

    let _ = tx.send(());
    gamma.await.expect("join").expect("gamma ran");
    alpha.stop().await;
}
