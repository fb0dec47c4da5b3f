//! Question understanding as a specification: (question, the findings it must name).
//! Phrasings are written as a doctor would ask, not copied from the lexicon.

use medgym_clinic::Knowledge;
use medgym_patient::{Attribute, Lexicon};

const TABLE: &[(&str, &[&str])] = &[
    ("Have you been coughing?", &["HP:0012735"]),
    ("Any coughs lately?", &["HP:0012735"]),
    ("Have you had a fever?", &["HP:0001945"]),
    ("Fever or chills?", &["HP:0001945", "HP:0025143"]),
    ("Any pain in your chest?", &["HP:0100749"]),
    ("Do you get short of breath?", &["HP:0002094"]),
    ("Have you vomited?", &["HP:0002013"]),
    ("Any diarrhoea?", &["HP:0002014"]),
    ("Does bright light bother your eyes?", &["HP:0000613"]),
    ("Is your neck stiff?", &["HP:0025258"]),
    ("Any headaches?", &["HP:0002315"]),
    ("Have you been feeling down?", &["HP:0000716"]),
    ("Are you having trouble sleeping?", &["HP:0100785"]),
    ("Is there burning when you pee?", &["HP:0100518"]),
    ("Have you lost weight?", &["HP:0001824"]),
    ("Are your joints swollen?", &["HP:0001386"]),
    ("Any rashes?", &["HP:0000988"]),
    ("Have you been coughing up blood?", &["HP:0002105"]),
];

#[test]
fn questions_name_the_right_findings() {
    let k = Knowledge::embedded().expect("knowledge");
    let lexicon = Lexicon::new(&k);
    let mut failures = Vec::new();
    for (question, want) in TABLE {
        let got: Vec<&str> = lexicon
            .understand(question)
            .findings
            .iter()
            .map(|&f| k.finding(f).id.as_str())
            .collect();
        if got != *want {
            failures.push(format!("{question:?}: want {want:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn unrelated_questions_name_nothing() {
    let k = Knowledge::embedded().expect("knowledge");
    let lexicon = Lexicon::new(&k);
    for q in [
        "What is your job?",
        "How are you today?",
        "Do you have any pets?",
        "",
    ] {
        assert!(lexicon.understand(q).findings.is_empty(), "{q:?}");
    }
}

#[test]
fn attribute_questions() {
    let k = Knowledge::embedded().expect("knowledge");
    let lexicon = Lexicon::new(&k);
    for (q, want) in [
        ("When did the headache start?", Attribute::Onset),
        ("How long have you had the cough?", Attribute::Onset),
        ("Where exactly is the pain?", Attribute::Site),
        ("How bad is it, 1 to 10?", Attribute::Severity),
        ("Do you have a fever?", Attribute::Presence),
    ] {
        assert_eq!(lexicon.understand(q).attribute, want, "{q:?}");
    }
}
