//! In-process environment speed: reset, a free-text ask, an exam, a full scripted episode.
//! Figures go in benches/README.md.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use medgym_env::{Action, Ask, Diagnose, Env, Exam, ResetArgs, World};

fn ask(q: &str) -> Action {
    Action::Ask(Ask {
        question: q.into(),
        finding_id: None,
    })
}

fn bench(c: &mut Criterion) {
    let world = Arc::new(World::embedded().expect("embedded knowledge"));
    let mut env = Env::new(Arc::clone(&world));
    let mut seed = 0u64;

    c.bench_function("reset", |b| {
        b.iter(|| {
            seed += 1;
            black_box(
                env.reset(ResetArgs {
                    seed,
                    ..Default::default()
                })
                .expect("reset"),
            )
        })
    });

    c.bench_function("reset+ask", |b| {
        b.iter(|| {
            seed += 1;
            env.reset(ResetArgs {
                seed,
                ..Default::default()
            })
            .expect("reset");
            black_box(
                env.step(ask("Have you had any fever or chills?"))
                    .expect("step"),
            )
        })
    });

    c.bench_function("reset+exam(cbc)", |b| {
        b.iter(|| {
            seed += 1;
            env.reset(ResetArgs {
                seed,
                ..Default::default()
            })
            .expect("reset");
            black_box(
                env.step(Action::Exam(Exam {
                    exam_id: "cbc".into(),
                    site: None,
                }))
                .expect("step"),
            )
        })
    });

    c.bench_function("episode(reset+4 asks+2 exams+diagnose)", |b| {
        b.iter(|| {
            seed += 1;
            env.reset(ResetArgs {
                seed,
                ..Default::default()
            })
            .expect("reset");
            for q in [
                "Any fever?",
                "Where is the pain?",
                "When did it start?",
                "Have you been coughing?",
            ] {
                env.step(ask(q)).expect("ask");
            }
            for e in ["vital_signs", "cbc"] {
                env.step(Action::Exam(Exam {
                    exam_id: e.into(),
                    site: None,
                }))
                .expect("exam");
            }
            black_box(
                env.step(Action::Diagnose(Diagnose {
                    primary: "pneumonia".into(),
                    differential: vec![],
                }))
                .expect("diagnose"),
            )
        })
    });

    c.bench_function("parse_text(tool call in prose)", |b| {
        let text = "Let me check.\n```json\n{\"name\": \"ask_patient\", \"arguments\": {\"question\": \"Any fever?\"}}\n```";
        b.iter(|| black_box(medgym_env::parse_text(black_box(text))))
    });

    // What the server pays on every text step to know whether it may search (issue 8).
    c.bench_function("text_may_search(tool call in prose)", |b| {
        let text = "Let me check.\n```json\n{\"name\": \"ask_patient\", \"arguments\": {\"question\": \"Any fever?\"}}\n```";
        b.iter(|| black_box(medgym_env::text_may_search(black_box(text))))
    });
    c.bench_function("text_may_search(2 KB of reasoning, then a tag)", |b| {
        let text = format!(
            "{}<ask>Any fever?</ask>",
            "I think <b>this</b> could be pneumonia, or a \"viral\" infection. ".repeat(32)
        );
        b.iter(|| black_box(medgym_env::text_may_search(black_box(&text))))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
