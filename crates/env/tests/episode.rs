//! The in-process environment, played through its public API.

use std::sync::Arc;

use medgym_env::{
    Action, Ask, Diagnose, Env, EnvError, EpisodeOptions, Exam, RankedDiagnosis, ResetArgs, World,
};
use proptest::prelude::*;

fn shared() -> &'static Arc<World> {
    static WORLD: std::sync::OnceLock<Arc<World>> = std::sync::OnceLock::new();
    WORLD.get_or_init(|| Arc::new(World::embedded().expect("embedded knowledge")))
}

fn world() -> Arc<World> {
    Arc::clone(shared())
}

fn ask(q: &str) -> Action {
    Action::Ask(Ask {
        question: q.into(),
        finding_id: None,
    })
}

fn exam(id: &str) -> Action {
    Action::Exam(Exam {
        exam_id: id.into(),
        site: None,
    })
}

fn dx(name: &str) -> Action {
    Action::Diagnose(Diagnose {
        primary: name.into(),
        differential: vec![],
    })
}

fn task(id: &str, seed: u64) -> ResetArgs {
    ResetArgs {
        task_id: Some(id.into()),
        seed,
        ..Default::default()
    }
}

/// (task, disease name) of about 200 tasks spread evenly over the knowledge set.
fn tasks() -> Vec<(String, String)> {
    let k = &world().knowledge;
    let step = (k.cases.len() / 200).max(1);
    k.cases
        .iter()
        .step_by(step)
        .map(|c| (c.id.clone(), k.disease_of(c).name.clone()))
        .collect()
}

fn sample_cases() -> impl Iterator<Item = &'static medgym_clinic::Case> {
    let cases = &shared().knowledge.cases;
    cases.iter().step_by((cases.len() / 200).max(1))
}

/// Plays a mixed script and serialises everything the agent saw.
fn transcript(args: ResetArgs, script: &[Action]) -> String {
    let mut env = Env::new(world());
    let (obs, info) = env.reset(args).expect("reset");
    let mut out = serde_json::to_string(&(obs, info)).expect("json");
    for a in script {
        match env.step(a.clone()) {
            Ok(s) => out.push_str(&serde_json::to_string(&s).expect("json")),
            Err(e) => out.push_str(&e.to_string()),
        }
    }
    out
}

fn script() -> Vec<Action> {
    let k = &world().knowledge;
    let mut s = vec![ask("Do you have a fever?"), ask("Where does it hurt?")];
    s.extend(k.exams.iter().take(8).map(|e| exam(&e.id)));
    s.push(ask("When did it start?"));
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn same_seed_and_options_give_identical_episodes(seed in any::<u64>(), t in 0usize..64) {
        let all = tasks();
        let id = &all[t % all.len()].0;
        let a = transcript(task(id, seed), &script());
        let b = transcript(task(id, seed), &script());
        prop_assert_eq!(a, b);
    }

    #[test]
    fn sampled_tasks_replay_from_the_seed(seed in any::<u64>()) {
        let args = ResetArgs { seed, ..Default::default() };
        prop_assert_eq!(transcript(args.clone(), &script()), transcript(args, &script()));
    }

    #[test]
    fn no_answer_names_the_diagnosis_or_reveals_unasked_findings(seed in any::<u64>(), t in 0usize..64) {
        let all = tasks();
        let (id, disease) = &all[t % all.len()];
        let mut env = Env::new(world());
        let (obs, _) = env.reset(task(id, seed)).expect("reset");
        let name = disease.to_lowercase();
        prop_assert!(!obs.text.to_lowercase().contains(&name));
        for q in ["What's wrong with me?", "Any fever?", "Do you have pain?", "Are you coughing?"] {
            let s = env.step(ask(q)).expect("step");
            prop_assert!(!s.observation.text.to_lowercase().contains(&name), "{}", s.observation.text);
            prop_assert!(s.info.truth.is_none());
            // What an answer affirms must be what was asked about.
            let understood = world().lexicon.understand(q);
            for f in &s.observation.revealed_findings {
                let fi = world().knowledge.finding_idx(f).expect("known finding");
                prop_assert!(understood.findings.contains(&fi), "{q:?} revealed {f}");
            }
        }
    }
}

/// The episode keeps its steps compactly (finding indices, the reset info once) and rebuilds
/// them for the trajectory: what it rebuilds must be exactly what each step returned. Every
/// step reports every reward term, in order, summing to its reward, and repeats the reset
/// info until the episode ends.
#[test]
fn the_trajectory_is_what_the_steps_returned() {
    let k = &world().knowledge;
    let (mut revealed, mut denied) = (0, 0);
    for (n, case) in sample_cases().take(60).enumerate() {
        let mut env = Env::new(world());
        let mut options = EpisodeOptions::default();
        options.noise.preset = ["none", "realistic", "hard"][n % 3].into();
        let (_, reset_info) = env
            .reset(ResetArgs {
                options,
                ..task(&case.id, n as u64)
            })
            .expect("reset");
        let by_id = |id: &str| {
            Action::Ask(Ask {
                question: String::new(),
                finding_id: Some(id.into()),
            })
        };
        let mut script: Vec<Action> = case
            .findings
            .iter()
            .take(4)
            .map(|f| by_id(&f.finding))
            .collect();
        script.extend(case.negatives.iter().take(2).map(|f| by_id(f)));
        script.extend([
            ask("Do you have a fever?"),
            exam("cbc"),
            exam(&k.exams[n % k.exams.len()].id),
            exam("cbc"),
            Action::Text("<exam>cardiac_auscultation</exam>".into()),
            Action::Text("no idea".into()),
            ask("When did it start?"),
            dx(&k.disease_of(case).name),
        ]);
        let mut returned = Vec::new();
        for a in script {
            let s = env.step(a.clone()).expect("step");
            assert_eq!(
                s.reward_components.map(|(t, _)| t),
                medgym_env::reward::TERMS
            );
            let sum: f64 = s.reward_components.iter().map(|(_, v)| v).sum();
            assert_eq!(sum, s.reward);
            if !s.terminated && !s.truncated {
                assert_eq!(s.info, reset_info);
            }
            revealed += s.observation.revealed_findings.len();
            denied += s.observation.denied_findings.len();
            let end = s.terminated || s.truncated;
            returned.push((a, s));
            if end {
                break;
            }
        }
        let t = env.trajectory().expect("trajectory");
        assert_eq!(t.info, reset_info);
        assert_eq!(t.steps.len(), returned.len());
        for (i, (r, (a, s))) in t.steps.iter().zip(&returned).enumerate() {
            assert_eq!(&r.action, a, "{} step {i}", case.id);
            assert_eq!(&r.outcome, s, "{} step {i}", case.id);
        }
    }
    assert!(
        revealed > 50 && denied > 50,
        "{revealed} revealed, {denied} denied"
    );
}

#[test]
fn affirmed_findings_are_present_and_denied_ones_are_not() {
    let k = &world().knowledge;
    for case in sample_cases() {
        let mut env = Env::new(world());
        env.reset(task(&case.id, 1)).expect("reset");
        // The case's own symptoms first, then others, until the turn limit.
        let own = case
            .findings
            .iter()
            .filter_map(|cf| k.finding_idx(&cf.finding))
            .map(|i| k.finding(i));
        for f in own.chain(k.findings.iter().step_by(97)) {
            let Some(phrase) = f.lay.first() else {
                continue;
            };
            let s = env
                .step(ask(&format!("Do you have {phrase}?")))
                .expect("step");
            let present: Vec<&str> = case.findings.iter().map(|cf| cf.finding.as_str()).collect();
            for r in &s.observation.revealed_findings {
                assert!(
                    present.contains(&r.as_str()),
                    "{}: {phrase:?} affirmed absent {r}",
                    case.id
                );
            }
            for d in &s.observation.denied_findings {
                assert!(
                    !present.contains(&d.as_str()),
                    "{}: {phrase:?} denied present {d}",
                    case.id
                );
            }
            if env.done() {
                break;
            }
        }
    }
}

#[test]
fn every_present_finding_is_reachable_by_some_action() {
    let k = &world().knowledge;
    for case in sample_cases() {
        let mut env = Env::new(world());
        let options = EpisodeOptions {
            max_turns: 1000,
            budget_usd: 1e9,
            ..Default::default()
        };
        env.reset(ResetArgs {
            options,
            ..task(&case.id, 5)
        })
        .expect("reset");
        let mut seen = std::collections::HashSet::new();
        for cf in &case.findings {
            let f = &k.findings[k.finding_idx(&cf.finding).expect("finding") as usize];
            let actions: Vec<Action> = if f.exams.is_empty() {
                vec![Action::Ask(Ask {
                    question: String::new(),
                    finding_id: Some(f.id.clone()),
                })]
            } else {
                f.exams.iter().map(|e| exam(e)).collect()
            };
            for a in actions {
                let s = env.step(a).expect("step");
                seen.extend(s.observation.revealed_findings);
            }
            assert!(seen.contains(&f.id), "{}: {} never revealed", case.id, f.id);
        }
    }
}

#[test]
fn diagnosis_terminates_and_scores() {
    for (id, name) in tasks() {
        let mut env = Env::new(world());
        env.reset(task(&id, 0)).expect("reset");
        let s = env.step(dx(&name)).expect("step");
        assert!(s.terminated && !s.truncated);
        let truth = s.info.truth.as_ref().expect("truth at the end");
        assert!(truth.correct, "{id}: {name}");
        assert_eq!(s.reward_components[0], ("diagnosis", 1.0));
        let sum: f64 = s.reward_components.iter().map(|(_, v)| v).sum();
        assert_eq!(sum, s.reward);
        assert!(matches!(env.step(ask("hi")), Err(EnvError::EpisodeOver)));
        let traj = env.trajectory().expect("trajectory");
        assert!(traj.case.is_some());
    }
}

#[test]
fn a_correct_diagnosis_beats_a_wrong_one_with_the_same_work_up() {
    let all = tasks();
    for (i, (id, name)) in all.iter().enumerate() {
        let wrong = all
            .iter()
            .map(|(_, n)| n)
            .find(|n| *n != name)
            .expect("another disease");
        let play = |dx_name: &str| {
            let mut env = Env::new(world());
            env.reset(task(id, i as u64)).expect("reset");
            let mut total = 0.0;
            for a in [ask("Any fever?"), exam("cbc"), dx(dx_name)] {
                total += env.step(a).expect("step").reward;
            }
            total
        };
        assert!(play(name) > play(wrong), "{id}");
    }
}

#[test]
fn a_uniform_differential_earns_less_than_a_confident_right_answer() {
    let k = &world().knowledge;
    let (id, name) = &tasks()[0];
    let play = |differential: Vec<RankedDiagnosis>| {
        let mut env = Env::new(world());
        env.reset(task(id, 0)).expect("reset");
        env.step(Action::Diagnose(Diagnose {
            primary: name.clone(),
            differential,
        }))
        .expect("step")
        .reward
    };
    let n = k.diseases.len() as f64;
    let uniform = k
        .diseases
        .iter()
        .map(|d| RankedDiagnosis {
            name: d.name.clone(),
            code: String::new(),
            probability: 1.0 / n,
        })
        .collect();
    let confident = vec![RankedDiagnosis {
        name: name.clone(),
        code: String::new(),
        probability: 1.0,
    }];
    assert!(play(confident) > play(uniform));
}

#[test]
fn limits_truncate() {
    let (id, _) = &tasks()[0];
    let mut env = Env::new(world());
    let options = EpisodeOptions {
        max_turns: 3,
        ..Default::default()
    };
    env.reset(ResetArgs {
        options,
        ..task(id, 0)
    })
    .expect("reset");
    for turn in 1..=3 {
        let s = env.step(ask("Any fever?")).expect("step");
        assert_eq!(s.truncated, turn == 3);
        assert!(!s.terminated);
        if turn == 3 {
            assert_eq!(s.info.truncation_reason, Some("max_turns"));
            assert!(
                s.info.truth.is_some(),
                "the truth is revealed at truncation too"
            );
        }
    }

    let options = EpisodeOptions {
        budget_usd: 10.0,
        ..Default::default()
    };
    env.reset(ResetArgs {
        options,
        ..task(id, 0)
    })
    .expect("reset");
    let s = env.step(exam("cbc")).expect("step");
    assert!(s.truncated);
    assert_eq!(s.info.truncation_reason, Some("budget"));
}

#[test]
fn repeats_are_answered_the_same_and_penalised() {
    let (id, _) = &tasks()[0];
    let mut env = Env::new(world());
    env.reset(task(id, 0)).expect("reset");
    let first = env.step(ask("Do you have a fever?")).expect("step");
    let again = env.step(ask("do you have a FEVER")).expect("step");
    assert_eq!(first.observation.text, again.observation.text);
    let repeat = |s: &medgym_env::StepOutcome| {
        s.reward_components
            .iter()
            .find(|(k, _)| *k == "repeat")
            .map(|(_, v)| *v)
    };
    assert_eq!(repeat(&first), Some(0.0));
    assert!(repeat(&again).expect("term") < 0.0);

    let a = env.step(exam("cbc")).expect("step");
    let b = env.step(exam("cbc")).expect("step");
    assert_eq!(
        a.observation.text, b.observation.text,
        "a repeated lab is the same report"
    );
    assert!(repeat(&b).expect("term") < 0.0);
}

#[test]
fn invalid_actions_are_feedback_not_errors() {
    let (id, _) = &tasks()[0];
    let mut env = Env::new(world());
    env.reset(task(id, 0)).expect("reset");
    for a in [
        exam("not_an_exam"),
        Action::Text("hmm, let me think".into()),
        Action::Text(r#"{"name": "prescribe", "arguments": {}}"#.into()),
        ask(""),
        Action::Ask(Ask {
            question: "x".into(),
            finding_id: Some("HP:9999999".into()),
        }),
        dx(""),
    ] {
        let s = env.step(a.clone()).expect("not an error");
        assert!(!s.observation.feedback.valid, "{a:?}");
        assert!(!s.observation.feedback.message.is_empty());
        assert!(!s.terminated);
        let invalid = s
            .reward_components
            .iter()
            .find(|(k, _)| *k == "invalid")
            .map(|(_, v)| *v);
        assert!(invalid.expect("term") < 0.0);
    }
}

#[test]
fn bad_reset_arguments_are_errors() {
    let mut env = Env::new(world());
    assert!(matches!(env.step(ask("hi")), Err(EnvError::NoEpisode)));
    assert!(matches!(
        env.reset(task("nope", 0)),
        Err(EnvError::UnknownTask(_))
    ));
    assert!(matches!(
        env.reset(ResetArgs {
            domain: "astrology".into(),
            ..Default::default()
        }),
        Err(EnvError::NoTasks { .. })
    ));
}

#[test]
fn autoreset_seed_chains_of_neighbouring_slots_never_meet() {
    // Slots seeded s, s+1, ..., s+63 each follow their own chain for 200 episodes; no seed may
    // appear in two chains, or two slots would replay the same episodes.
    let mut seen = std::collections::HashMap::new();
    for slot in 0..64u64 {
        let mut seed = 1_000 + slot;
        for _ in 0..200 {
            if let Some(other) = seen.insert(seed, slot) {
                assert_eq!(other, slot, "seed {seed} in slots {other} and {slot}");
            }
            seed = medgym_env::next_seed(seed);
        }
    }
    assert_eq!(seen.len(), 64 * 200);
}
