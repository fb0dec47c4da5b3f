//! One free-text ask step in process (parse the question, lexicon match, answer in a persona's
//! voice through the noise model, reward), on the full knowledge set. Criterion gives the mean;
//! a plain timing loop afterwards prints the tail (p50/p99/p99.9) that issue 5 targets
//! (p99 < 50 µs). Figures go in benches/README.md.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use medgym_env::{Action, Ask, Env, EpisodeOptions, ResetArgs, World};
use medgym_patient::Lexicon;

const QUESTIONS: &[&str] = &[
    "Have you had any fever or chills?",
    "Any pain in your chest?",
    "Do you get short of breath when you walk up stairs?",
    "Has your speech become slurred?",
    "Do you feel sick to your stomach?",
    "When did it start?",
    "How bad is the pain, 1 to 10?",
    "Are you more tired than usual?",
    "Have you noticed any blood in your stools or black, tarry bowel movements?",
    "What do you do for a living?",
    "Do you have to rush to the toilet to pee, or get up at night to go?",
    "Does bright light bother your eyes?",
];

fn ask(q: &str) -> Action {
    Action::Ask(Ask {
        question: q.into(),
        finding_id: None,
    })
}

fn options(preset: &str, persona: &str) -> EpisodeOptions {
    let mut o = EpisodeOptions::default();
    o.noise.preset = preset.into();
    o.persona = persona.into();
    o
}

fn reset(env: &mut Env, seed: u64, o: &EpisodeOptions) {
    env.reset(ResetArgs {
        seed,
        options: o.clone(),
        ..Default::default()
    })
    .expect("reset");
}

fn bench(c: &mut Criterion) {
    let world = Arc::new(World::embedded().expect("embedded knowledge"));
    for (preset, persona) in [("none", "neutral"), ("hard", "anxious")] {
        let o = options(preset, persona);
        let mut seed = 0u64;
        c.bench_function(&format!("ask (noise {preset}, {persona})"), |b| {
            b.iter_batched_ref(
                || {
                    seed += 1;
                    let mut env = Env::new(Arc::clone(&world));
                    reset(&mut env, seed, &o);
                    (env, QUESTIONS[seed as usize % QUESTIONS.len()])
                },
                |(env, q)| black_box(env.step(ask(q)).expect("step")),
                BatchSize::SmallInput,
            )
        });
        let mut env = Env::new(Arc::clone(&world));

        // The tail: every ask timed on its own, several per episode as an agent would ask.
        let mut times: Vec<Duration> = Vec::with_capacity(120_000);
        for s in 0..20_000u64 {
            reset(&mut env, 1_000_000 + s, &o);
            for k in 0..6 {
                let q = QUESTIONS[(s as usize * 5 + k) % QUESTIONS.len()];
                let t = Instant::now();
                black_box(env.step(ask(q)).expect("step"));
                times.push(t.elapsed());
            }
        }
        times.sort_unstable();
        let at = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
        println!(
            "ask (noise {preset}, {persona}): {} asks, p50 {:?}, p99 {:?}, p99.9 {:?}, max {:?}",
            times.len(),
            at(0.50),
            at(0.99),
            at(0.999),
            times[times.len() - 1]
        );
    }
}

/// Question understanding alone, on questions never seen before (the world's memo answers a
/// repeated question without it): every question of two development sets, with the paraphrase
/// model and with the lexicon alone, in the same run.
fn understand(c: &mut Criterion) {
    #[derive(serde::Deserialize)]
    struct Entry {
        question: String,
    }
    let questions: Vec<String> = [
        include_str!("../crates/patient/tests/data/questions_author.json"),
        include_str!("../crates/patient/tests/data/questions_coverage.json"),
    ]
    .iter()
    .flat_map(|text| serde_json::from_str::<Vec<Entry>>(text).expect("question set"))
    .map(|e| e.question)
    .collect();
    let knowledge = medgym_clinic::Knowledge::embedded().expect("embedded knowledge");
    let mut bare = medgym_clinic::Knowledge::embedded().expect("embedded knowledge");
    bare.paraphrase = None;
    for (name, k) in [
        ("lexicon + paraphrase model", &knowledge),
        ("lexicon alone", &bare),
    ] {
        let lexicon = Lexicon::new(k);
        let mut i = 0;
        c.bench_function(&format!("understand ({name})"), |b| {
            b.iter(|| {
                i = (i + 1) % questions.len();
                black_box(lexicon.understand(&questions[i]))
            })
        });
        let mut times: Vec<Duration> = Vec::with_capacity(questions.len() * 20);
        for _ in 0..20 {
            for q in &questions {
                let t = Instant::now();
                black_box(lexicon.understand(q));
                times.push(t.elapsed());
            }
        }
        times.sort_unstable();
        let at = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
        println!(
            "understand ({name}): {} questions, p50 {:?}, p99 {:?}, p99.9 {:?}, max {:?}",
            times.len(),
            at(0.50),
            at(0.99),
            at(0.999),
            times[times.len() - 1]
        );
    }
}

criterion_group!(benches, bench, understand);
criterion_main!(benches);
