//! Anti-gaming: the reward must pay for good medicine and nothing else. Each test plays two
//! strategies on every task and asserts their ordering.

use std::sync::Arc;

use medgym_env::{Action, Ask, Diagnose, Env, Exam, RankedDiagnosis, ResetArgs, World};

fn world() -> Arc<World> {
    static WORLD: std::sync::OnceLock<Arc<World>> = std::sync::OnceLock::new();
    Arc::clone(WORLD.get_or_init(|| Arc::new(World::embedded().expect("embedded knowledge"))))
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

fn dx(primary: &str, differential: Vec<(String, f64)>) -> Action {
    Action::Diagnose(Diagnose {
        primary: primary.into(),
        differential: differential
            .into_iter()
            .map(|(name, probability)| RankedDiagnosis {
                name,
                code: String::new(),
                probability,
            })
            .collect(),
    })
}

/// Total reward of a script on a task (generous limits so nothing truncates).
fn total(task: &str, script: &[Action]) -> f64 {
    let mut env = Env::new(world());
    let mut args = ResetArgs {
        task_id: Some(task.into()),
        seed: 17,
        ..Default::default()
    };
    args.options.max_turns = 1000;
    args.options.budget_usd = 1e9;
    env.reset(args).expect("reset");
    script
        .iter()
        .map(|a| env.step(a.clone()).expect("step").reward)
        .sum()
}

fn each_task(mut check: impl FnMut(&str, &str)) {
    let k = &world().knowledge;
    for c in &k.cases {
        check(&c.id, &k.disease_of(c).name);
    }
}

#[test]
fn a_uniform_differential_including_the_truth_earns_less_than_a_confident_correct_one() {
    let k = &world().knowledge;
    each_task(|task, truth| {
        let n = k.diseases.len().min(30);
        let mut names: Vec<String> = k.diseases.iter().take(n).map(|d| d.name.clone()).collect();
        if !names.iter().any(|x| x == truth) {
            names[0] = truth.to_string();
        }
        let uniform = names.into_iter().map(|x| (x, 1.0 / n as f64)).collect();
        let hedge = total(task, &[dx(truth, uniform)]);
        let confident = total(task, &[dx(truth, vec![(truth.to_string(), 1.0)])]);
        assert!(
            confident > hedge,
            "{task}: confident {confident} <= uniform {hedge}"
        );
    });
}

#[test]
fn ordering_every_exam_earns_less_than_ordering_none() {
    let k = &world().knowledge;
    each_task(|task, truth| {
        let mut all: Vec<Action> = k.exams.iter().map(|e| exam(&e.id)).collect();
        all.push(dx(truth, vec![]));
        let everything = total(task, &all);
        let nothing = total(task, &[dx(truth, vec![])]);
        assert!(
            nothing > everything,
            "{task}: none {nothing} <= all {everything}"
        );
    });
}

#[test]
fn a_targeted_work_up_earns_more_than_none() {
    // Ordering the case's key exams is what the exam-quality term exists to pay for.
    let w = world();
    let k = &w.knowledge;
    each_task(|task, truth| {
        let t = k.task_idx(task).expect("task");
        let keys = w.key_exams(t);
        if keys.is_empty() {
            return;
        }
        let mut script: Vec<Action> = keys.iter().map(|&e| exam(&k.exam(e).id)).collect();
        script.push(dx(truth, vec![]));
        let targeted = total(task, &script);
        let nothing = total(task, &[dx(truth, vec![])]);
        assert!(
            targeted > nothing,
            "{task}: key exams {targeted} <= none {nothing}"
        );
    });
}

#[test]
fn repeating_a_question_ten_times_earns_less_than_asking_once() {
    each_task(|task, truth| {
        let once = total(task, &[ask("Do you have a fever?"), dx(truth, vec![])]);
        let mut script = vec![ask("Do you have a fever?"); 10];
        script.push(dx(truth, vec![]));
        let ten = total(task, &script);
        assert!(once > ten, "{task}: once {once} <= ten times {ten}");
    });
}

#[test]
fn a_correct_diagnosis_beats_a_wrong_one_with_the_same_work_up() {
    let k = &world().knowledge;
    each_task(|task, truth| {
        let work_up = [ask("Any pain?"), exam("cbc"), exam("vital_signs")];
        for other in k.diseases.iter().filter(|d| d.name != truth) {
            let mut right = work_up.to_vec();
            right.push(dx(truth, vec![]));
            let mut wrong = work_up.to_vec();
            wrong.push(dx(&other.name, vec![]));
            assert!(
                total(task, &right) > total(task, &wrong),
                "{task}: {truth} vs {}",
                other.name
            );
        }
    });
}

#[test]
fn same_category_earns_partial_credit() {
    let k = &world().knowledge;
    let case = &k.cases[0];
    let truth = k.disease_of(case);
    let code = truth.icd10.clone().expect("starter diseases have codes");
    let sibling = format!(
        "{}.{}",
        &code[..3],
        if code.ends_with('8') { "0" } else { "8" }
    );
    let reward_of = |name: &str| {
        let mut env = Env::new(world());
        env.reset(ResetArgs {
            task_id: Some(case.id.clone()),
            ..Default::default()
        })
        .expect("reset");
        let s = env.step(dx(name, vec![])).expect("step");
        s.reward_components
            .iter()
            .find(|(t, _)| *t == "diagnosis")
            .map(|(_, v)| *v)
            .expect("term")
    };
    assert_eq!(reward_of(&code), 1.0);
    assert_eq!(
        reward_of(&sibling),
        0.5,
        "{sibling} is in {code}'s category"
    );
    assert_eq!(reward_of("Z99.89"), 0.0);
}
