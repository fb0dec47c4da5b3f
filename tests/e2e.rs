//! End to end: a real server on 127.0.0.1:0, a real tonic client.

use std::collections::HashSet;

use medgym_clinic::Knowledge;
use medgym_proto::v1 as pb;
use pb::environment_client::EnvironmentClient;
use tonic::Code;
use tonic::transport::Channel;

mod common;
use common::Server;

fn reset(seed: u64) -> pb::ResetRequest {
    pb::ResetRequest {
        seed: Some(seed),
        ..Default::default()
    }
}

fn ask(session: &str, q: &str) -> pb::StepRequest {
    pb::StepRequest {
        session_id: session.into(),
        action: Some(pb::Action {
            kind: Some(pb::action::Kind::Ask(pb::Ask {
                question: q.into(),
                finding_id: String::new(),
            })),
        }),
        request_id: String::new(),
    }
}

fn text(session: &str, t: &str) -> pb::StepRequest {
    pb::StepRequest {
        session_id: session.into(),
        action: Some(pb::Action {
            kind: Some(pb::action::Kind::Text(t.into())),
        }),
        request_id: String::new(),
    }
}

fn exam(session: &str, id: &str) -> pb::StepRequest {
    pb::StepRequest {
        session_id: session.into(),
        action: Some(pb::Action {
            kind: Some(pb::action::Kind::Exam(pb::Exam {
                exam_id: id.into(),
                site: String::new(),
            })),
        }),
        request_id: String::new(),
    }
}

fn diagnose(session: &str, name: &str) -> pb::StepRequest {
    pb::StepRequest {
        session_id: session.into(),
        action: Some(pb::Action {
            kind: Some(pb::action::Kind::Diagnose(pb::Diagnose {
                primary: name.into(),
                differential: vec![],
            })),
        }),
        request_id: String::new(),
    }
}

/// Plays a fixed script and returns every observation text, info included.
async fn play_script(c: &mut EnvironmentClient<Channel>, seed: u64) -> Vec<String> {
    let r = c.reset(reset(seed)).await.expect("reset").into_inner();
    let info = r.info.expect("info");
    let mut out = vec![
        r.observation.expect("obs").text,
        format!("{}/{}/{}", info.task_id, info.domain, info.split),
    ];
    for q in [
        "Do you have a fever?",
        "Any chest pain?",
        "When did it start?",
        "Have you been coughing?",
    ] {
        let s = c
            .step(ask(&r.session_id, q))
            .await
            .expect("step")
            .into_inner();
        out.push(format!("{:?}", s.observation));
    }
    for e in ["vital_signs", "cbc"] {
        let s = c
            .step(exam(&r.session_id, e))
            .await
            .expect("step")
            .into_inner();
        out.push(format!("{:?} {:?}", s.observation, s.reward_components));
    }
    out
}

#[tokio::test]
async fn same_seed_same_episode_different_seeds_different_cases() {
    let server = Server::start(Default::default()).await;
    let mut c = server.client().await;
    let a = play_script(&mut c, 42).await;
    let b = play_script(&mut c, 42).await;
    assert_eq!(a, b, "the same seed must replay byte for byte");

    let mut tasks = HashSet::new();
    for seed in 0..20 {
        let r = c.reset(reset(seed)).await.expect("reset").into_inner();
        tasks.insert(r.info.expect("info").task_id);
    }
    assert!(
        tasks.len() >= 3,
        "20 seeds should reach several cases: {tasks:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn diagnosis_ends_the_episode_and_reveals_the_truth() {
    let knowledge = Knowledge::embedded().expect("knowledge");
    let server = Server::start(Default::default()).await;
    let mut c = server.client().await;
    let task = &knowledge.cases[0];
    let truth = knowledge.disease_of(task);

    let r = c
        .reset(pb::ResetRequest {
            task_id: task.id.clone(),
            seed: Some(1),
            ..Default::default()
        })
        .await
        .expect("reset")
        .into_inner();
    let sid = r.session_id.clone();
    let s = c
        .step(ask(&sid, "Do you have any pain?"))
        .await
        .expect("step")
        .into_inner();
    assert!(!s.terminated && !s.truncated);
    assert!(
        s.info.as_ref().expect("info").truth.is_none(),
        "truth hidden mid-episode"
    );
    let t = c
        .get_trajectory(pb::GetTrajectoryRequest {
            session_id: sid.clone(),
            include_record: false,
        })
        .await
        .expect("trajectory")
        .into_inner();
    assert!(t.case.is_none(), "the case stays hidden until the end");

    let s = c
        .step(diagnose(&sid, &truth.name))
        .await
        .expect("step")
        .into_inner();
    assert!(s.terminated);
    let info = s.info.expect("info");
    let revealed = info.truth.expect("truth revealed at the end");
    assert_eq!(revealed.name, truth.name);
    assert!(revealed.correct);
    assert_eq!(info.totals.expect("totals").turns, 2);
    let sum: f64 = s.reward_components.values().sum();
    assert!(
        (sum - s.reward).abs() < 1e-9,
        "components sum to the reward"
    );
    assert_eq!(s.reward_components["diagnosis"], 1.0);

    // After the end, stepping again is a protocol error, not a silent no-op.
    let err = c.step(ask(&sid, "hello?")).await.expect_err("episode over");
    assert_eq!(err.code(), Code::FailedPrecondition);

    let t = c
        .get_trajectory(pb::GetTrajectoryRequest {
            session_id: sid.clone(),
            include_record: false,
        })
        .await
        .expect("trajectory")
        .into_inner();
    assert_eq!(t.steps.len(), 2);
    let case = t.case.expect("case revealed after the end");
    assert_eq!(case.diagnosis_name, truth.name);
    assert_eq!(case.findings.len(), task.findings.len());

    let closed = c
        .close(pb::CloseRequest {
            session_id: sid.clone(),
        })
        .await
        .expect("close")
        .into_inner();
    assert!(closed.episode_finished);
    server.stop().await;
}

#[tokio::test]
async fn wrong_diagnosis_scores_zero_and_raw_text_is_kept_verbatim() {
    let server = Server::start(Default::default()).await;
    let mut c = server.client().await;
    let r = c.reset(reset(3)).await.expect("reset").into_inner();
    let sid = r.session_id;

    let garbage = "I think we should wait and see... 🤔";
    let s = c
        .step(text(&sid, garbage))
        .await
        .expect("invalid text is not an RPC error")
        .into_inner();
    let fb = s
        .observation
        .as_ref()
        .and_then(|o| o.feedback.clone())
        .expect("feedback");
    assert!(!fb.valid);
    assert!(
        fb.message.contains("<ask>"),
        "the message teaches the format: {}",
        fb.message
    );
    assert!(s.reward_components["invalid"] < 0.0);

    let s = c
        .step(text(&sid, "<exam>no_such_exam</exam>"))
        .await
        .expect("step")
        .into_inner();
    assert!(!s.observation.expect("obs").feedback.expect("fb").valid);

    let tool_call = r#"{"name": "diagnose", "arguments": {"primary": "Definitely Not A Disease"}}"#;
    let s = c
        .step(text(&sid, tool_call))
        .await
        .expect("step")
        .into_inner();
    assert!(s.terminated);
    assert_eq!(s.reward_components["diagnosis"], 0.0);
    let truth = s.info.expect("info").truth.expect("truth");
    assert!(!truth.correct);

    let t = c
        .get_trajectory(pb::GetTrajectoryRequest {
            session_id: sid,
            include_record: false,
        })
        .await
        .expect("trajectory")
        .into_inner();
    let texts: Vec<_> = t
        .steps
        .iter()
        .map(|s| match s.action.as_ref().and_then(|a| a.kind.clone()) {
            Some(pb::action::Kind::Text(t)) => t,
            other => panic!("expected raw text, got {other:?}"),
        })
        .collect();
    assert_eq!(texts, vec![garbage, "<exam>no_such_exam</exam>", tool_call]);
    server.stop().await;
}

#[tokio::test]
async fn protocol_errors_have_the_right_codes() {
    let server = Server::start(medgym_server::Config {
        max_sessions: 2,
        max_text_bytes: 64,
        ..Default::default()
    })
    .await;
    let mut c = server.client().await;

    let err = c
        .step(ask("0123456789abcdef", "hello"))
        .await
        .expect_err("unknown");
    assert_eq!(err.code(), Code::NotFound);

    let r = c.reset(reset(1)).await.expect("reset").into_inner();
    let no_action = pb::StepRequest {
        session_id: r.session_id.clone(),
        action: None,
        request_id: String::new(),
    };
    assert_eq!(
        c.step(no_action).await.expect_err("no action").code(),
        Code::InvalidArgument
    );
    let long = "x".repeat(65);
    assert_eq!(
        c.step(ask(&r.session_id, &long))
            .await
            .expect_err("too long")
            .code(),
        Code::InvalidArgument
    );
    let bad_task = pb::ResetRequest {
        task_id: "no-such-task".into(),
        ..Default::default()
    };
    assert_eq!(
        c.reset(bad_task).await.expect_err("bad task").code(),
        Code::InvalidArgument
    );
    let bad_noise = pb::ResetRequest {
        options: Some(pb::EpisodeOptions {
            noise: Some(pb::NoiseConfig {
                preset: "extreme".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(
        c.reset(bad_noise).await.expect_err("bad noise").code(),
        Code::InvalidArgument
    );

    c.reset(reset(2)).await.expect("second session");
    let err = c.reset(reset(3)).await.expect_err("capacity");
    assert_eq!(err.code(), Code::ResourceExhausted);

    c.close(pb::CloseRequest {
        session_id: r.session_id.clone(),
    })
    .await
    .expect("close");
    let err = c
        .step(ask(&r.session_id, "hello"))
        .await
        .expect_err("closed");
    assert_eq!(err.code(), Code::NotFound);
    c.reset(reset(3)).await.expect("room again after close");
    server.stop().await;
}

#[tokio::test]
async fn a_retried_request_id_returns_the_first_answer() {
    let server = Server::start(Default::default()).await;
    let mut c = server.client().await;
    let r = c.reset(reset(9)).await.expect("reset").into_inner();
    let mut req = exam(&r.session_id, "cbc");
    req.request_id = "req-1".into();
    let first = c.step(req.clone()).await.expect("step").into_inner();
    let again = c.step(req).await.expect("retry").into_inner();
    assert_eq!(first, again);
    assert_eq!(
        again.observation.expect("obs").turn,
        1,
        "the retry did not take a turn"
    );
    let next = c
        .step(ask(&r.session_id, "Any fever?"))
        .await
        .expect("step")
        .into_inner();
    assert_eq!(next.observation.expect("obs").turn, 2);
    server.stop().await;
}

#[tokio::test]
async fn batch_step_answers_in_order_and_isolates_a_bad_session() {
    let server = Server::start(Default::default()).await;
    let mut c = server.client().await;
    let a = c
        .reset(reset(1))
        .await
        .expect("reset")
        .into_inner()
        .session_id;
    let b = c
        .reset(reset(2))
        .await
        .expect("reset")
        .into_inner()
        .session_id;
    let resp = c
        .batch_step(pb::BatchStepRequest {
            steps: vec![
                ask(&a, "Any fever?"),
                ask("missing", "Any fever?"),
                exam(&b, "cbc"),
            ],
            autoreset: false,
        })
        .await
        .expect("batch")
        .into_inner();
    use pb::batch_step_result::Result as R;
    let kinds: Vec<_> = resp.results.iter().map(|r| r.result.clone()).collect();
    assert!(matches!(&kinds[0], Some(R::Response(_))));
    assert!(matches!(&kinds[1], Some(R::Error(s)) if s.code == Code::NotFound as i32));
    assert!(
        matches!(&kinds[2], Some(R::Response(r)) if r.observation.as_ref().is_some_and(|o| o.text.contains("Complete blood count") || o.text.to_lowercase().contains("blood")))
    );
    server.stop().await;
}

#[tokio::test]
async fn health_reflection_and_metrics() {
    let server = Server::start(Default::default()).await;
    let channel = server.channel().await;

    assert_eq!(
        common::health_status(channel.clone(), "medgym.v1.Environment").await,
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );

    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let mut reflection = ServerReflectionClient::new(channel.clone());
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = reflection
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .expect("reflection")
        .into_inner();
    let resp = stream
        .message()
        .await
        .expect("message")
        .expect("one response");
    let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
        panic!("unexpected reflection answer");
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"medgym.v1.Environment"), "{names:?}");

    // Some traffic, then the counters must show it.
    let mut c = EnvironmentClient::new(channel);
    let r = c.reset(reset(5)).await.expect("reset").into_inner();
    c.step(ask(&r.session_id, "Any fever?"))
        .await
        .expect("step");
    let _ = c.step(ask("nope", "x")).await;
    let body = server.metrics_text().await;
    for name in [
        "medgym_steps_total",
        "medgym_resets_total",
        "medgym_active_sessions",
        "medgym_step_latency_seconds_bucket",
        "medgym_errors_total{code=\"NotFound\"}",
    ] {
        assert!(body.contains(name), "missing {name} in:\n{body}");
    }
    server.stop().await;
}

#[tokio::test]
async fn spec_and_task_listing() {
    let server = Server::start(Default::default()).await;
    let mut c = server.client().await;
    let spec = c
        .get_spec(pb::GetSpecRequest {})
        .await
        .expect("spec")
        .into_inner();
    assert!(spec.domains.len() >= 3);
    assert!(spec.exams.iter().any(|e| e.id == "cbc"));
    let tools: Vec<_> = spec.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        tools,
        ["ask_patient", "order_exam", "search_knowledge", "diagnose"]
    );
    for t in &spec.tools {
        let v: serde_json::Value = serde_json::from_str(&t.parameters_json).expect("schema json");
        assert_eq!(v["type"], "object");
    }
    let defaults = spec.default_options.expect("defaults");
    assert_eq!(defaults.reward.expect("weights").diagnosis, 1.0);

    let mut all = Vec::new();
    let mut token = String::new();
    loop {
        let page = c
            .list_tasks(pb::ListTasksRequest {
                page_size: 5,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .expect("list")
            .into_inner();
        assert!(page.tasks.len() <= 5);
        all.extend(page.tasks);
        if page.next_page_token.is_empty() {
            assert_eq!(all.len() as u32, page.total);
            break;
        }
        token = page.next_page_token;
    }
    let ids: HashSet<_> = all.iter().map(|t| &t.task_id).collect();
    assert_eq!(ids.len(), all.len(), "pages do not overlap");
    let err = c
        .list_tasks(pb::ListTasksRequest {
            page_token: "garbage".into(),
            ..Default::default()
        })
        .await
        .expect_err("bad token");
    assert_eq!(err.code(), Code::InvalidArgument);
    server.stop().await;
}

/// Plays one noisy episode of a task over the wire and returns the noise record of its last
/// response, checking that no response before the end carries any: not a step's info, not the
/// trajectory.
async fn noise_over_the_wire(
    c: &mut EnvironmentClient<Channel>,
    task: &str,
    seed: u64,
    preset: &str,
) -> Vec<pb::NoiseEvent> {
    let r = c
        .reset(pb::ResetRequest {
            task_id: task.into(),
            seed: Some(seed),
            options: Some(pb::EpisodeOptions {
                noise: Some(pb::NoiseConfig {
                    preset: preset.into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("reset")
        .into_inner();
    assert!(r.info.expect("info").noise_events.is_empty());
    let sid = r.session_id;
    let trajectory = |c: &mut EnvironmentClient<Channel>| {
        let mut c = c.clone();
        let sid = sid.clone();
        async move {
            c.get_trajectory(pb::GetTrajectoryRequest {
                session_id: sid,
                include_record: false,
            })
            .await
            .expect("trajectory")
            .into_inner()
        }
    };
    // Questions about common complaints and their details, then exams: turns for the one-shot
    // kinds (armed at turns 1-7) to fire on.
    let mut steps: Vec<pb::StepRequest> = [
        "What brings you in today?",
        "Do you have any pain?",
        "Where exactly is it?",
        "How bad is it, 1 to 10?",
        "When did it start?",
        "Have you had a fever?",
        "Any nausea or vomiting?",
        "Have you been coughing?",
    ]
    .iter()
    .map(|q| ask(&sid, q))
    .collect();
    steps.extend(["vital_signs", "cbc", "bmp"].iter().map(|e| exam(&sid, e)));
    for s in steps {
        let s = c.step(s).await.expect("step").into_inner();
        assert!(!s.terminated && !s.truncated);
        assert!(
            s.info.expect("info").noise_events.is_empty(),
            "noise leaked mid-episode"
        );
        assert!(trajectory(c).await.noise_events.is_empty());
    }
    let s = c
        .step(diagnose(&sid, "not a disease"))
        .await
        .expect("step")
        .into_inner();
    assert!(s.terminated);
    let events = s.info.expect("info").noise_events;
    let t = trajectory(c).await;
    assert_eq!(
        t.noise_events, events,
        "the trajectory carries the same record"
    );
    let last = t.steps.last().and_then(|s| s.response.as_ref());
    assert_eq!(
        last.and_then(|r| r.info.as_ref()).map(|i| &i.noise_events),
        Some(&events)
    );
    assert!(
        t.steps[..t.steps.len() - 1].iter().all(|s| s
            .response
            .as_ref()
            .and_then(|r| r.info.as_ref())
            .is_none_or(|i| i.noise_events.is_empty())),
        "only the last step's info carries the noise"
    );
    events
}

#[tokio::test]
async fn the_noise_record_is_revealed_only_once_the_episode_ended() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(medgym_server::Config {
        trajectory_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    })
    .await;
    let mut c = server.client().await;
    // An authored common disease: its cases carry sites, onsets and severities to distort.
    let knowledge = Knowledge::embedded().expect("knowledge");
    let task = knowledge
        .cases
        .iter()
        .find(|c| !c.disease.contains(':'))
        .expect("a common-disease case")
        .id
        .clone();

    for seed in 0..3 {
        let none = noise_over_the_wire(&mut c, &task, seed, "none").await;
        assert!(none.is_empty(), "noise none fired: {none:?}");
    }
    let mut hard = Vec::new();
    let mut seed = 0;
    while hard.is_empty() && seed < 20 {
        hard = noise_over_the_wire(&mut c, &task, seed, "hard").await;
        seed += 1;
    }
    assert!(!hard.is_empty(), "hard noise fired for none of 20 seeds");
    let again = noise_over_the_wire(&mut c, &task, seed - 1, "hard").await;
    assert_eq!(again, hard, "the same seed gives the same noise");
    for e in &hard {
        assert!(medgym_env::NOISE_TYPES.contains(&e.kind.as_str()), "{e:?}");
        assert!(e.turn >= 1, "{e:?}");
    }
    server.stop().await;

    // The trajectory files hold the same record as the wire, in the same order.
    let records = medgym_sink::read_all(dir.path()).expect("trajectory files parse");
    let written: Vec<(String, u32, Option<String>, String)> = records
        .iter()
        .rev()
        .find(|r| r.seed == seed - 1 && !r.noise_events.is_empty())
        .expect("the noisy episode was written")
        .noise_events
        .iter()
        .map(|e| (e.kind.clone(), e.turn, e.finding.clone(), e.detail.clone()))
        .collect();
    let wire: Vec<(String, u32, Option<String>, String)> = hard
        .iter()
        .map(|e| {
            let finding = (!e.finding_id.is_empty()).then(|| e.finding_id.clone());
            (e.kind.clone(), e.turn, finding, e.detail.clone())
        })
        .collect();
    assert_eq!(written, wire);
    assert!(
        records
            .iter()
            .filter(|r| r.options.noise.preset == "none")
            .all(|r| r.noise_events.is_empty())
    );
}

/// A replica that starts draining says so on a health watch before it stops: clients and probes
/// that watch the environment's status stop sending it new episodes at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_marks_the_environment_not_serving_first() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let mut server = Server::start(Default::default()).await;
    let mut health = HealthClient::new(server.channel().await);
    let mut watch = health
        .watch(HealthCheckRequest {
            service: "medgym.v1.Environment".into(),
        })
        .await
        .expect("watch")
        .into_inner();
    let first = watch.message().await.expect("status").expect("a status");
    assert_eq!(first.status, ServingStatus::Serving as i32);
    server.begin_stop();
    let next = tokio::time::timeout(std::time::Duration::from_secs(10), watch.message())
        .await
        .expect("a status change within 10 s")
        .expect("status")
        .expect("a status");
    assert_eq!(next.status, ServingStatus::NotServing as i32);
    drop(watch);
    drop(health);
    server.stop().await;
}

/// GetTrajectory's `record_json` is the sink's line: hidden until the end and when not asked,
/// then byte for byte what the in-process record code and the server's trajectory file give for
/// the same (task, seed, options, actions), including the rank of a truth named by a synonym.
#[tokio::test]
async fn trajectory_record_is_the_servers_jsonl_line() {
    use medgym_env::record::EpisodeRecord;
    use medgym_env::{
        Action, Ask, Diagnose, Env, EpisodeOptions, Exam, RankedDiagnosis, ResetArgs,
    };
    use medgym_server::convert;

    let knowledge = Knowledge::embedded().expect("knowledge");
    // A case whose disease has a synonym that is neither its name nor its code: only the
    // server's name resolution can rank it (the Python rebuild could not).
    let (task, synonym) = knowledge
        .cases
        .iter()
        .find_map(|c| {
            let d = knowledge.disease_of(c);
            let other = |s: &&String| {
                !s.eq_ignore_ascii_case(&d.name)
                    && d.icd10
                        .as_ref()
                        .is_none_or(|code| !s.eq_ignore_ascii_case(code))
            };
            (d.id != "influenza")
                .then(|| d.synonyms.iter().find(other))
                .flatten()
                .map(|s| (c, s.clone()))
        })
        .expect("a case whose disease has a synonym");

    let dir = tempfile::tempdir().expect("tempdir");
    let config = medgym_server::Config {
        trajectory_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let defaults = config.default_options.clone();
    let server = Server::start(config).await;
    let mut c = server.client().await;

    let mut options = EpisodeOptions::default();
    options.noise.preset = "realistic".into();
    options.persona = "anxious".into();
    let actions = [
        Action::Ask(Ask {
            question: "Do you have a fever?".into(),
            finding_id: None,
        }),
        Action::Exam(Exam {
            exam_id: "cbc".into(),
            site: None,
        }),
        Action::Text("Let me ask.\n<ask>Any pain?</ask>".into()),
        Action::Diagnose(Diagnose {
            primary: "influenza".into(),
            differential: vec![
                RankedDiagnosis {
                    name: "influenza".into(),
                    code: String::new(),
                    probability: 0.4,
                },
                RankedDiagnosis {
                    name: synonym.clone(),
                    code: String::new(),
                    probability: 0.6,
                },
            ],
        }),
    ];

    let r = c
        .reset(pb::ResetRequest {
            task_id: task.id.clone(),
            seed: Some(11),
            options: Some(convert::options_to_pb(&options)),
            ..Default::default()
        })
        .await
        .expect("reset")
        .into_inner();
    let sid = r.session_id.clone();
    let episode_id = r.info.expect("info").episode_id;
    let reader = c.clone();
    let get = |include_record: bool| {
        let mut c = reader.clone();
        let session_id = sid.clone();
        async move {
            c.get_trajectory(pb::GetTrajectoryRequest {
                session_id,
                include_record,
            })
            .await
            .expect("trajectory")
            .into_inner()
        }
    };

    for (i, a) in actions.iter().enumerate() {
        let s = c
            .step(pb::StepRequest {
                session_id: sid.clone(),
                action: Some(convert::action_to_pb(a)),
                request_id: String::new(),
            })
            .await
            .expect("step")
            .into_inner();
        let last = i + 1 == actions.len();
        assert_eq!(s.terminated, last, "step {i}: {s:?}");
        if !last {
            let t = get(true).await;
            assert_eq!(t.steps.len(), i + 1);
            assert_eq!(
                t.record_json, "",
                "no record (it names the case) before the end"
            );
        }
    }
    assert_eq!(get(false).await.record_json, "", "not asked");
    let line = get(true).await.record_json;

    let record: serde_json::Value = serde_json::from_str(&line).expect("record_json is JSON");
    assert_eq!(record["format"], "medgym.trajectory.v1");
    assert_eq!(record["episode_id"], episode_id.as_str());
    assert_eq!(
        record["outcome"]["rank"], 2,
        "the synonym resolves to the truth"
    );
    assert_eq!(record["outcome"]["correct"], false);
    assert_eq!(
        record["steps"].as_array().map(Vec::len),
        Some(actions.len())
    );

    // The same episode in process, with the options resolved as the server resolves them.
    let mut env = Env::new(common::shared_world());
    env.reset(ResetArgs {
        task_id: Some(task.id.clone()),
        seed: 11,
        options: convert::options(Some(convert::options_to_pb(&options)), &defaults),
        episode_id: Some(episode_id),
        ..Default::default()
    })
    .expect("reset");
    for a in actions {
        env.step(a).expect("step");
    }
    let trajectory = env.trajectory().expect("trajectory");
    let local = EpisodeRecord::from_trajectory(&trajectory).expect("ended");
    assert_eq!(line, local.to_line());

    // And the line the server's sink wrote for it.
    server.stop().await;
    let written: Vec<String> = std::fs::read_dir(dir.path())
        .expect("trajectory dir")
        .map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("read"))
        .flat_map(|text| text.lines().map(str::to_string).collect::<Vec<_>>())
        .collect();
    assert_eq!(written, vec![line]);
}
