//! Validity of the embedded knowledge: splits do not leak, and cases are identifiable.

use std::collections::{BTreeMap, HashMap, HashSet};

use medgym_clinic::Knowledge;

fn knowledge() -> &'static Knowledge {
    static K: std::sync::OnceLock<Knowledge> = std::sync::OnceLock::new();
    K.get_or_init(|| Knowledge::embedded().expect("embedded knowledge"))
}

#[test]
fn no_test_case_appears_in_train_and_unseen_diseases_are_unseen() {
    let k = knowledge();
    // A case is its disease plus its present findings; the same case in two splits is a leak.
    let mut split_of: HashMap<(String, Vec<String>), HashSet<&str>> = HashMap::new();
    for c in &k.cases {
        let mut present: Vec<String> = c.findings.iter().map(|f| f.finding.clone()).collect();
        present.sort();
        split_of
            .entry((c.disease.clone(), present))
            .or_default()
            .insert(c.split.as_str());
    }
    let leaks: Vec<_> = split_of.iter().filter(|(_, s)| s.len() > 1).collect();
    assert!(
        leaks.is_empty(),
        "{} cases appear in several splits: {:?}",
        leaks.len(),
        leaks.iter().take(3).collect::<Vec<_>>()
    );

    let unseen: HashSet<&str> = k
        .cases
        .iter()
        .filter(|c| c.split == "unseen_disease")
        .map(|c| c.disease.as_str())
        .collect();
    assert!(!unseen.is_empty(), "the unseen_disease split exists");
    let seen_elsewhere: Vec<_> = k
        .cases
        .iter()
        .filter(|c| c.split != "unseen_disease" && unseen.contains(c.disease.as_str()))
        .map(|c| (&c.id, &c.disease, &c.split))
        .collect();
    assert!(
        seen_elsewhere.is_empty(),
        "unseen diseases with cases in other splits: {:?}",
        &seen_elsewhere[..seen_elsewhere.len().min(5)]
    );
}

/// The Bayes oracle sees every present finding of a case (and takes every other profile finding
/// as absent) and ranks all diseases by likelihood under their profiles. If it cannot find the
/// disease, no agent can: the case is not identifiable from its findings.
fn oracle_rank(
    k: &Knowledge,
    postings: &HashMap<&str, Vec<(usize, f64)>>,
    base: &[f64],
    case: &medgym_clinic::Case,
) -> usize {
    const EPS: f64 = 0.01;
    let log_eps = EPS.ln();
    let mut score: Vec<f64> = base
        .iter()
        .map(|b| b + log_eps * case.findings.len() as f64)
        .collect();
    for cf in &case.findings {
        for &(d, adj) in postings.get(cf.finding.as_str()).into_iter().flatten() {
            score[d] += adj - log_eps;
        }
    }
    let truth = k.disease_idx(&case.disease).expect("disease") as usize;
    let t = score[truth];
    1 + score
        .iter()
        .enumerate()
        .filter(|&(d, &s)| d != truth && s >= t - 1e-9)
        .count()
}

#[test]
fn a_bayes_oracle_identifies_the_cases() {
    let k = knowledge();
    const EPS: f64 = 0.01;
    let mut postings: HashMap<&str, Vec<(usize, f64)>> = HashMap::new();
    let mut base = vec![0.0; k.diseases.len()];
    for (d, disease) in k.diseases.iter().enumerate() {
        for df in &disease.findings {
            let p = df.frequency.clamp(EPS, 1.0 - EPS);
            base[d] += (1.0 - p).ln();
            postings
                .entry(df.finding.as_str())
                .or_default()
                .push((d, p.ln() - (1.0 - p).ln()));
        }
    }
    let mut by_domain: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    for (t, case) in k
        .cases
        .iter()
        .enumerate()
        .filter(|(_, c)| c.split == "test")
    {
        let rank = oracle_rank(k, &postings, &base, case);
        let e = by_domain.entry(k.domain_of(t as u32)).or_default();
        e.0 += 1;
        e.1 += usize::from(rank == 1);
        e.2 += usize::from(rank <= 5);
    }
    let (mut n, mut top1) = (0, 0);
    println!("| domain | test cases | oracle top-1 | oracle top-5 |\n|---|---|---|---|");
    for (domain, (cases, hit1, hit5)) in &by_domain {
        println!(
            "| {domain} | {cases} | {:.3} | {:.3} |",
            *hit1 as f64 / *cases as f64,
            *hit5 as f64 / *cases as f64
        );
        n += cases;
        top1 += hit1;
    }
    let overall = top1 as f64 / n as f64;
    println!("| all | {n} | {overall:.3} | |");
    assert!(
        overall >= 0.85,
        "the oracle finds only {overall:.3} of test cases at top-1"
    );
}
