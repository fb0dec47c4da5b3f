//! Noise and personas through the environment: replay, hidden until the end, and the presets'
//! measured rates against their documented probabilities.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use medgym_env::record::{EpisodeRecord, NoiseEventRecord};
use medgym_env::{
    Action, Ask, Diagnose, Env, EpisodeOptions, Exam, NOISE_PRESETS, NoiseKind, NoiseLevels,
    PERSONAS, ResetArgs, World,
};
use proptest::prelude::*;

fn world() -> Arc<World> {
    static WORLD: OnceLock<Arc<World>> = OnceLock::new();
    Arc::clone(WORLD.get_or_init(|| Arc::new(World::embedded().expect("embedded knowledge"))))
}

/// Tasks of the authored common diseases (their cases carry sites, onsets and severities).
fn common_tasks() -> &'static [String] {
    static TASKS: OnceLock<Vec<String>> = OnceLock::new();
    TASKS.get_or_init(|| {
        let w = world();
        let k = &w.knowledge;
        k.cases
            .iter()
            .filter(|c| !c.disease.contains(':'))
            .map(|c| c.id.clone())
            .collect()
    })
}

fn options(preset: &str, persona: &str) -> EpisodeOptions {
    let mut o = EpisodeOptions::default();
    o.noise.preset = preset.into();
    o.persona = persona.into();
    o
}

/// A work-up of the task: questions about its findings in lay words (nine turns, with
/// follow-ups), the exams that show its other findings, then a (wrong) diagnosis.
fn script(task: &str) -> Vec<Action> {
    let w = world();
    let k = &w.knowledge;
    let case = k.case(k.task_idx(task).expect("task"));
    let mut out = Vec::new();
    let symptoms: Vec<String> = case
        .findings
        .iter()
        .filter_map(|cf| {
            let f = k.finding(k.finding_idx(&cf.finding)?);
            (f.kind == medgym_clinic::FindingKind::Symptom)
                .then(|| f.lay.first().unwrap_or(&f.name).clone())
        })
        .collect();
    let follow = ["Where is it?", "How bad is it?", "When did it start?"];
    for i in 0..9 {
        let q = if symptoms.is_empty() {
            "Do you have a fever?".to_string()
        } else if i % 2 == 0 {
            format!("Do you have {}?", symptoms[(i / 2) % symptoms.len()])
        } else {
            follow[(i / 2) % follow.len()].to_string()
        };
        out.push(Action::Ask(Ask {
            question: q,
            finding_id: None,
        }));
    }
    let mut exams: Vec<String> = case
        .findings
        .iter()
        .filter_map(|cf| {
            k.finding(k.finding_idx(&cf.finding)?)
                .exams
                .first()
                .cloned()
        })
        .collect();
    exams.push("cbc".into());
    exams.dedup();
    for e in exams.into_iter().take(4) {
        out.push(Action::Exam(Exam {
            exam_id: e,
            site: None,
        }));
    }
    out.push(Action::Diagnose(Diagnose {
        primary: "definitely not a disease".into(),
        differential: vec![],
    }));
    out
}

fn play(task: &str, seed: u64, o: &EpisodeOptions) -> (String, Vec<medgym_env::NoiseEvent>) {
    let mut env = Env::new(world());
    let (obs, _) = env
        .reset(ResetArgs {
            task_id: Some(task.into()),
            seed,
            options: o.clone(),
            ..Default::default()
        })
        .expect("reset");
    let mut text = serde_json::to_string(&obs).expect("json");
    for a in script(task) {
        assert!(env.noise_events().is_none(), "noise is hidden mid-episode");
        let s = env.step(a).expect("step");
        text.push_str(&serde_json::to_string(&s.observation).expect("json"));
    }
    let events = env.noise_events().expect("noise is revealed at the end");
    (text, events)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn same_seed_and_options_replay_byte_for_byte(
        t in 0usize..10_000, seed in any::<u64>(), n in 0usize..4, p in 0usize..13
    ) {
        let tasks = common_tasks();
        let task = &tasks[t % tasks.len()];
        let o = options(NOISE_PRESETS[n], PERSONAS[p]);
        prop_assert_eq!(play(task, seed, &o), play(task, seed, &o));
    }
}

#[test]
fn a_group_sharing_a_seed_shares_the_noise_plan() {
    // Different agents (here: different scripts) in one GRPO group see the same planned noise.
    let task = &common_tasks()[3];
    let o = options("hard", "neutral");
    let (_, a) = play(task, 77, &o);
    let mut env = Env::new(world());
    env.reset(ResetArgs {
        task_id: Some(task.clone()),
        seed: 77,
        options: o.clone(),
        ..Default::default()
    })
    .expect("reset");
    for a in script(task).into_iter().rev().skip(1) {
        env.step(a).expect("step");
    }
    env.step(Action::Diagnose(Diagnose {
        primary: "x".into(),
        differential: vec![],
    }))
    .expect("step");
    let b = env.noise_events().expect("ended");
    // The same one-shot kinds are armed; what they hit depends on what was asked.
    let kinds = |e: &[medgym_env::NoiseEvent]| {
        let mut k: Vec<NoiseKind> = e
            .iter()
            .map(|e| e.kind)
            .filter(|k| *k == NoiseKind::VagueAnswer || *k == NoiseKind::SelfDiagnosis)
            .collect();
        k.sort();
        k
    };
    assert_eq!(kinds(&a), kinds(&b));
}

/// Fraction of episodes in which each kind fired, per preset, over many seeds and common-disease
/// tasks; printed for docs/validity.md and checked against the documented probabilities.
#[test]
fn presets_fire_at_roughly_their_documented_rates() {
    let tasks = common_tasks();
    let episodes = 2000;
    let w = world();
    let k = &w.knowledge;
    for preset in ["mild", "realistic", "hard"] {
        let levels = NoiseLevels::preset(preset).expect("preset");
        let o = options(preset, "neutral");
        let mut fired: BTreeMap<NoiseKind, usize> = BTreeMap::new();
        // Per-finding and per-exam chances of a false result, and how many were taken.
        let (mut fn_chances, mut fn_taken, mut fp_chances, mut fp_taken) = (0, 0, 0, 0);
        for i in 0..episodes {
            let task = &tasks[(i * 37) % tasks.len()];
            let (_, events) = play(task, i as u64, &o);
            let case = k.case(k.task_idx(task).expect("task"));
            let mut done: Vec<String> = Vec::new();
            for a in script(task) {
                if let Action::Exam(e) = a
                    && !done.contains(&e.exam_id)
                {
                    fp_chances += 1;
                    fn_chances += case
                        .findings
                        .iter()
                        .filter(|cf| {
                            k.finding_idx(&cf.finding).is_some_and(|f| {
                                let f = k.finding(f);
                                f.exams.contains(&e.exam_id)
                                    && (f.report.is_some() || cf.value.is_some())
                            })
                        })
                        .count();
                    done.push(e.exam_id);
                }
            }
            fn_taken += events
                .iter()
                .filter(|e| e.kind == NoiseKind::ExamFalseNegative)
                .count();
            fp_taken += events
                .iter()
                .filter(|e| e.kind == NoiseKind::ExamFalsePositive)
                .count();
            let mut kinds: Vec<NoiseKind> = events.iter().map(|e| e.kind).collect();
            kinds.sort();
            kinds.dedup();
            for k in kinds {
                *fired.entry(k).or_default() += 1;
            }
        }
        println!("{preset}: kind, documented probability, share of episodes it fired in");
        for k in NoiseKind::ALL {
            let rate = fired.get(&k).copied().unwrap_or(0) as f64 / episodes as f64;
            let p = levels.get(k);
            println!("  {:<22} {p:.2} {rate:.3}", k.name());
            match k {
                // Applies to any understood answer within the first seven turns.
                NoiseKind::VagueAnswer | NoiseKind::SelfDiagnosis | NoiseKind::Omission => {
                    assert!(
                        (rate - p).abs() <= 0.06,
                        "{preset} {}: {rate} vs {p}",
                        k.name()
                    )
                }
                // Need something to act on (a site, a severity, a table entry, a second finding):
                // never above the probability, and clearly present.
                NoiseKind::BodyPartSwap
                | NoiseKind::SymptomConfusion
                | NoiseKind::SeverityChange
                | NoiseKind::TemporalChange
                | NoiseKind::ExamOmission
                | NoiseKind::ExamBodyPartSwap
                | NoiseKind::ExamAmbiguity => {
                    assert!(rate <= p + 0.06, "{preset} {}: {rate} vs {p}", k.name());
                    assert!(rate >= 0.15 * p, "{preset} {}: {rate} vs {p}", k.name());
                }
                // Per value / finding / exam: an episode has several chances.
                NoiseKind::LabVariation
                | NoiseKind::ExamFalseNegative
                | NoiseKind::ExamFalsePositive => {
                    assert!(rate > 0.0, "{preset} {}", k.name());
                }
            }
        }
        let fn_rate = fn_taken as f64 / fn_chances.max(1) as f64;
        let fp_rate = fp_taken as f64 / fp_chances.max(1) as f64;
        println!(
            "  false negatives per finding an exam shows: {fn_rate:.3} ({fn_taken}/{fn_chances}); \
             false positives per exam: {fp_rate:.3} ({fp_taken}/{fp_chances})"
        );
        let (p_fn, p_fp) = (
            levels.get(NoiseKind::ExamFalseNegative),
            levels.get(NoiseKind::ExamFalsePositive),
        );
        assert!(
            (fn_rate - p_fn).abs() <= 0.02,
            "{preset}: {fn_rate} vs {p_fn}"
        );
        // An exam with nothing it could wrongly show cannot give a false positive.
        assert!(
            fp_rate <= p_fp + 0.01 && fp_rate >= 0.5 * p_fp,
            "{preset}: {fp_rate} vs {p_fp}"
        );
    }
}

#[test]
fn no_noise_fires_without_noise() {
    for (i, task) in common_tasks().iter().step_by(40).enumerate() {
        for persona in PERSONAS {
            let (_, events) = play(task, i as u64, &options("none", persona));
            assert!(events.is_empty(), "{task} {persona}: {events:?}");
        }
    }
}

/// The noise record of one played episode as a trajectory file holds it, checking on the way
/// that it is in no step's info before the last one.
fn recorded_noise(task: &str, seed: u64, preset: &str) -> Vec<NoiseEventRecord> {
    let mut env = Env::new(world());
    env.reset(ResetArgs {
        task_id: Some(task.into()),
        seed,
        options: options(preset, "neutral"),
        ..Default::default()
    })
    .expect("reset");
    let actions = script(task);
    let last = actions.len() - 1;
    for (i, a) in actions.into_iter().enumerate() {
        let s = env.step(a).expect("step");
        let t = env.trajectory().expect("trajectory");
        if i < last {
            assert!(
                !s.terminated && !s.truncated,
                "the script ends with its diagnosis"
            );
            assert!(
                s.info.noise_events.is_none(),
                "turn {i}: noise leaked in info"
            );
            assert!(
                t.noise_events().is_none(),
                "turn {i}: noise leaked in the trajectory"
            );
            assert!(EpisodeRecord::from_trajectory(&t).is_none());
        } else {
            assert!(s.terminated);
            assert_eq!(s.info.noise_events, env.noise_events());
            assert_eq!(t.noise_events(), env.noise_events().as_deref());
        }
    }
    let record = EpisodeRecord::from_trajectory(&env.trajectory().expect("trajectory"))
        .expect("the episode ended");
    let line = serde_json::to_string(&record).expect("json");
    let back: EpisodeRecord = serde_json::from_str(&line).expect("parse");
    assert_eq!(back, record);
    record.noise_events
}

#[test]
fn the_trajectory_record_holds_the_noise_once_the_episode_ended() {
    let tasks = common_tasks();
    for (i, task) in tasks.iter().step_by(97).take(5).enumerate() {
        assert!(recorded_noise(task, i as u64, "none").is_empty(), "{task}");
    }
    let task = &tasks[3];
    let (seed, events) = (0..50u64)
        .map(|s| (s, recorded_noise(task, s, "hard")))
        .find(|(_, e)| !e.is_empty())
        .expect("hard noise fires for some seed");
    assert_eq!(
        recorded_noise(task, seed, "hard"),
        events,
        "same seed, same record"
    );
    for e in &events {
        assert!(NoiseKind::from_name(&e.kind).is_some(), "{e:?}");
        assert!((1..=15).contains(&e.turn), "{e:?}");
    }
}
