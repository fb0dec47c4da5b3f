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

/// About 150 tasks spread evenly over the knowledge set (every domain and split appears).
fn each_task(mut check: impl FnMut(&str, &str)) {
    let k = &world().knowledge;
    let step = (k.cases.len() / 150).max(1);
    for c in k.cases.iter().step_by(step) {
        check(&c.id, &k.disease_of(c).name);
    }
}

#[test]
fn a_uniform_differential_including_the_truth_earns_less_than_a_confident_correct_one() {
    let k = &world().knowledge;
    each_task(|task, truth| {
        let n = k.diseases.len().min(30);
        let mut names: Vec<String> = k.diseases.iter().take(n).map(|d| d.name.clone()).collect();
        names.retain(|x| x != truth);
        names.truncate(n - 1);
        names.push(truth.to_string());
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
fn a_targeted_work_up_beats_an_irrelevant_one_and_on_average_beats_none() {
    // Ordering the case's key exams is what the exam-quality term exists to pay for: on average
    // it must beat as many cheap exams that could not show anything about the disease, and beat
    // no work-up at all. (Per case it need not: a rare disease whose key list runs to muscle
    // biopsy and EMG may cost more than it earns, as in real medicine.)
    let w = world();
    let k = &w.knowledge;
    let (mut gain, mut over_wasted, mut n) = (0.0, 0.0, 0);
    each_task(|task, truth| {
        let t = k.task_idx(task).expect("task");
        let keys = w.key_exams(t);
        if keys.is_empty() {
            return;
        }
        let relevant: Vec<u32> = k
            .disease_of(k.case(t))
            .findings
            .iter()
            .filter_map(|df| k.finding_idx(&df.finding))
            .flat_map(|f| k.finding(f).exams.iter().filter_map(|e| k.exam_idx(e)))
            .collect();
        let mut irrelevant: Vec<u32> = (0..k.exams.len() as u32)
            .filter(|e| !relevant.contains(e))
            .collect();
        // The cheapest irrelevant exams, so the comparison is not won on price.
        irrelevant.sort_by(|&a, &b| k.exam(a).cost_usd.total_cmp(&k.exam(b).cost_usd));
        let script = |exams: &[u32]| {
            let mut s: Vec<Action> = exams.iter().map(|&e| exam(&k.exam(e).id)).collect();
            s.push(dx(truth, vec![]));
            s
        };
        let targeted = total(task, &script(keys));
        let wasted = total(
            task,
            &script(&irrelevant[..keys.len().min(irrelevant.len())]),
        );
        let nothing = total(task, &[dx(truth, vec![])]);
        over_wasted += targeted - wasted;
        gain += targeted - nothing;
        n += 1;
    });
    let n = n as f64;
    assert!(
        over_wasted / n > 0.1,
        "key exams beat irrelevant ones by only {:.3}",
        over_wasted / n
    );
    assert!(
        gain / n > 0.0,
        "a key work-up loses {:.3} on average",
        gain / n
    );
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
        let step = k.diseases.len() / 5;
        for other in k
            .diseases
            .iter()
            .step_by(step.max(1))
            .filter(|d| d.name != truth)
        {
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
    let case = k
        .cases
        .iter()
        .find(|c| k.disease_of(c).icd10.as_ref().is_some_and(|c| c.len() > 3))
        .expect("a case with a full ICD-10-CM code");
    let truth = k.disease_of(case);
    let code = truth.icd10.clone().expect("filtered above");
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

#[test]
fn icd_titles_outside_the_case_set_resolve_and_earn_block_credit() {
    let k = &world().knowledge;
    let case = k
        .cases
        .iter()
        .find(|c| {
            k.disease_of(c)
                .icd10
                .as_deref()
                .is_some_and(|c| c.starts_with("J18"))
        })
        .expect("a pneumonia case");
    let mut env = Env::new(world());
    env.reset(ResetArgs {
        task_id: Some(case.id.clone()),
        ..Default::default()
    })
    .expect("reset");
    // J12.9 is not a disease of the case set, but it is an ICD-10-CM title in the same block.
    let s = env
        .step(dx("Viral pneumonia, unspecified", vec![]))
        .expect("step");
    let term = |n: &str| {
        s.reward_components
            .iter()
            .find(|(t, _)| *t == n)
            .map(|(_, v)| *v)
    };
    assert_eq!(term("diagnosis"), Some(0.25));
    assert!(
        s.observation.feedback.message.is_empty(),
        "{}",
        s.observation.feedback.message
    );
}
