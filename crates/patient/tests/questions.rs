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
    // "Stiff neck" is also a lay phrase of neck pain: the symptom owns it, the sign rides along
    // as a variant (checked below).
    ("Is your neck stiff?", &["HP:0030833"]),
    ("Any headaches?", &["HP:0002315"]),
    ("Have you been feeling down?", &["HP:0000716"]),
    ("Do you have insomnia?", &["HP:0100785"]),
    ("Is there burning when you pee?", &["HP:0100518"]),
    ("Have you lost weight?", &["HP:0001824"]),
    ("Are your joints swollen?", &["HP:0001386"]),
    ("Any rashes?", &["HP:0000988"]),
    ("Have you been coughing up blood?", &["HP:0002105"]),
    // "Blocked up" and "bottom" depend on what they qualify: no global synonym for either.
    ("Are your bowels blocked up?", &["HP:0002019"]),
    (
        "Is your nose runny or blocked up?",
        &["HP:0031417", "HP:0001742"],
    ),
    ("Any bleeding from your bottom?", &["HP:0002573"]),
    // "-edness": Snowball would leave "headed", which no phrase has.
    (
        "Have you felt light-headedness when you stand?",
        &["HP:0031972"],
    ),
    // "All" is a stop word, but "all over" is not "over": pain all over is myalgia, tenderness
    // over the bladder is not (it is pain above the pubic bone, which the paraphrase model
    // reads).
    ("Do you ache all over?", &["HP:0003326"]),
    ("Any tenderness over your bladder?", &["suprapubic_pain"]),
    // "Anywhere" does not make a question about the site of something already discussed.
    ("Is there a rash anywhere on your arms?", &["HP:0000988"]),
    // The "and" of "between ... and" joins the two ends of one thing.
    (
        "Do your bowels alternate between constipation and diarrhoea?",
        &["alternating_bowel_habit"],
    ),
    ("Do you have hayfever?", &["atopy"]),
    ("Do you get black and blue marks easily?", &["HP:0000978"]),
    // "Less often" is not "often": not urinary frequency.
    (
        "Do you open your bowels less often than before?",
        &["HP:0002019"],
    ),
    // A qualifier names the specific finding; without it the general one is named.
    ("Is the headache throbbing?", &["pulsating_headache"]),
    (
        "Do you get dizzy when you roll over in bed?",
        &["positional_vertigo"],
    ),
    ("Does the room spin?", &["HP:0002321"]),
    (
        "Do you get chest pain when you walk uphill?",
        &["exertional_chest_pain"],
    ),
    (
        "Is the chest pain better when you sit forward?",
        &["positional_chest_pain"],
    ),
    // "Tearful" is low mood, but a tearing pain is not.
    ("Have you been tearful?", &["HP:0000716"]),
    ("Was it a tearing pain?", &["tearing_pain"]),
    // A question about relatives names only a finding that is itself about relatives.
    (
        "Does kidney disease run in your family?",
        &["family_history_kidney"],
    ),
    ("Did your father have diabetes?", &[]),
    ("Is there a family history of asthma?", &[]),
    // A word many phrases are built from ("urge", "mouth") among content words its finding
    // never uses is not that finding; beside its finding's own words it still is.
    ("Do you get the urge to whistle tunes while gardening?", &[]),
    (
        "Do you hum with your mouth closed while painting fences?",
        &[],
    ),
    (
        "Do you feel thirsty even after drinking plenty of fluids?",
        &["HP:0001959"],
    ),
    ("Do you have the urge to pee?", &["HP:0000012"]),
    // Of two phrases as long, the one inside one side of an "and" goes first: "dark" belongs
    // to the urine, not to a black stool.
    (
        "Is your urine dark and are your stools pale?",
        &["HP:0040319", "HP:0011985"],
    ),
    (
        "Has your urine gone dark and your stool pale?",
        &["HP:0040319", "HP:0011985"],
    ),
    // A muscle "seizing up" is a cramp, not a seizure.
    (
        "Does your calf keep seizing up at night?",
        &["muscle_cramps"],
    ),
    // "Winded" is short of breath; "wind", which it stems to, is not.
    ("Does that wind you up?", &[]),
    // A question about someone else who is not a relative names no finding of the patient's,
    // only one that is itself about others; the patient is still the subject of "your partner
    // says you snore" and of "your snoring".
    ("Has anyone at work been coughing?", &[]),
    ("Have your children had a cough?", &[]),
    ("Is anyone around you being sick?", &[]),
    ("Is anyone else at home itchy?", &["itchy_contacts"]),
    ("Does your partner say you snore?", &["HP:0025267"]),
    (
        "Has your husband complained about your snoring?",
        &["HP:0025267"],
    ),
    (
        "Do you have to get away from your kids when the headache comes?",
        &["HP:0002315"],
    ),
    ("Do you have a family history of asthma?", &[]),
    // A question mark ends a question: its words do not join the next one's.
    (
        "Any chest pain? Do you get short of breath?",
        &["HP:0100749", "HP:0002094"],
    ),
    // "Hips and knees" is two places of one complaint.
    ("Do your hips and knees ache?", &["HP:0002829"]),
    // A specific word that is a whole alternative is a second thing asked about.
    (
        "Do you get heartburn, or sour fluid coming back into your mouth?",
        &["heartburn", "regurgitation"],
    ),
    // "Often" of the second half is not drinking "a lot".
    (
        "Have you been drinking loads and peeing more often?",
        &["HP:0001959", "HP:0100515"],
    ),
    // "Burn off what you eat" is exercise; burning after eating is not.
    (
        "Do you feel a burning in your throat after eating?",
        &["heartburn"],
    ),
    // Yellow phlegm is not jaundice ("yellowing" is).
    ("Is the phlegm yellow or green?", &["HP:0031245"]),
    // "Keep to yourself" (withdrawal) needs its words, not "keep yourself from falling".
    (
        "Do you keep yourself from falling by holding on to furniture?",
        &["imbalance"],
    ),
    // No phrase matches, but the question's rare words are weight loss's own.
    (
        "Have your clothes, belt and rings all become loose?",
        &["HP:0001824"],
    ),
    // No finding is called dizziness: the lexicon reads plain "dizzy" as vertigo, with
    // light-headedness and positional vertigo as variants ("do you get dizzy?" below), and
    // the paraphrase model does not overrule it.
    ("Have you been feeling dizzy lately?", &["HP:0002321"]),
    ("Do you feel dizzy when you stand up?", &["HP:0031972"]),
    // The rest of the question says which kind of the general finding it is.
    (
        "Does the pain in your chest feel like a heavy weight pressing down?",
        &["HP:0031352"],
    ),
    (
        "Is the backache eased by exercise?",
        &["inflammatory_back_pain"],
    ),
    (
        "Has that ulcer on your shin been there for months?",
        &["non_healing_sore"],
    ),
    (
        "Is the room spinning when you tilt your head to look up at a shelf?",
        &["positional_vertigo"],
    ),
    ("Any chest pain?", &["HP:0100749"]),
    ("Does your back hurt?", &["HP:0003418"]),
    // Parts of one attack said together are the attack; without a word saying they come
    // together they are two findings.
    (
        "Do you get attacks where your head pounds, you sweat buckets and your heart thumps?",
        &["episodic_headache_sweats"],
    ),
    (
        "Do you have headaches and sweats?",
        &["HP:0002315", "HP:0000975"],
    ),
    // Lay words read in context: a fit note is a sick note; "puffed" is out of breath,
    // "puffed up" swollen; "going more often" after "pee" is about urine; "on the go" is busy.
    ("Can I give you a fit note for work?", &[]),
    ("Do you ever have fits?", &["HP:0001250"]),
    ("Do you get puffed climbing the stairs?", &["HP:0002875"]),
    ("Do your ankles get puffed up?", &["ankle_swelling"]),
    (
        "Does it hurt to pee, and are you going more often?",
        &["HP:0100518", "HP:0100515"],
    ),
    (
        "Do your friends say you are always on the go?",
        &["HP:0000752"],
    ),
    ("Do you break out in a sweat at night?", &["HP:0030166"]),
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
    let stiff = lexicon.understand("Is your neck stiff?");
    let sign = k.finding_idx("HP:0025258").expect("stiff neck");
    assert!(stiff.variants[0].contains(&sign), "{stiff:?}");
    let dizzy = lexicon.understand("Do you get dizzy?");
    for id in ["HP:0031972", "positional_vertigo"] {
        let f = k.finding_idx(id).expect(id);
        assert!(dizzy.variants[0].contains(&f), "{id}: {dizzy:?}");
    }
    // The general finding rides along with the specific one it gave way to.
    let chest =
        lexicon.understand("Does the pain in your chest feel like a heavy weight pressing down?");
    let pain = k.finding_idx("HP:0100749").expect("chest pain");
    assert!(chest.variants[0].contains(&pain), "{chest:?}");
}

#[test]
fn unrelated_questions_name_nothing() {
    let k = Knowledge::embedded().expect("knowledge");
    let lexicon = Lexicon::new(&k);
    for q in [
        // The closest-finding fallback is for questions about the patient's own experience.
        "Has anyone at home had loose clothes, belts and rings?",
        "Where have your clothes, belt and rings become loose?",
        "Who do you live with at home?",
        "Do you look after anyone at home?",
        "What is your job?",
        "How are you today?",
        "Do you have any hobbies?",
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
        (
            "Is there a rash anywhere on your arms?",
            Attribute::Presence,
        ),
        ("How bad is it, 1 to 10?", Attribute::Severity),
        ("Do you have a fever?", Attribute::Presence),
        // A keyword in another sense asks whether, not a detail.
        (
            "Do you get short of breath when you walk?",
            Attribute::Presence,
        ),
        (
            "Do your fingers go white when it's cold?",
            Attribute::Presence,
        ),
        (
            "Do you get out of breath climbing stairs?",
            Attribute::Presence,
        ),
        (
            "Have you had several chest infections?",
            Attribute::Presence,
        ),
        ("Is it tender where your glasses rest?", Attribute::Presence),
        (
            "Do you start fretting about sleep at night?",
            Attribute::Presence,
        ),
        ("Does your heart rate race?", Attribute::Presence),
        ("When did it start?", Attribute::Onset),
        ("Did it start suddenly?", Attribute::Onset),
        ("When was the last time you felt well?", Attribute::Onset),
        ("Where does it hurt?", Attribute::Site),
        ("Does the pain spread anywhere?", Attribute::Site),
        ("Out of ten, how would you rate it?", Attribute::Severity),
        ("Is it severe?", Attribute::Severity),
    ] {
        assert_eq!(lexicon.understand(q).attribute, want, "{q:?}");
    }
}

#[test]
fn every_symptom_is_reachable_by_its_own_words() {
    // A symptom the patient could never be asked about is dead content.
    let k = Knowledge::embedded().expect("knowledge");
    let lexicon = Lexicon::new(&k);
    let mut unreachable = Vec::new();
    for (i, f) in k.findings.iter().enumerate() {
        if f.kind != medgym_clinic::FindingKind::Symptom {
            continue;
        }
        // Some phrase of its own must name it (phrases shared with a more common finding go
        // to that one; the specific finding keeps its own name and longer phrases).
        let reachable = std::iter::once(&f.name).chain(&f.lay).any(|p| {
            let q = lexicon.understand(&format!("Do you have {p}?"));
            let i = i as u32;
            q.findings.contains(&i) || q.variants.iter().flatten().any(|&v| v == i)
        });
        if !reachable {
            unreachable.push(format!("{} {:?}", f.id, f.lay));
        }
    }
    assert!(
        unreachable.is_empty(),
        "{} symptoms unreachable:\n{}",
        unreachable.len(),
        unreachable.join("\n")
    );
}

/// One question of an evaluation set and the findings it must name (none for a question about
/// something else).
#[derive(serde::Deserialize)]
struct Entry {
    question: String,
    expected: Vec<String>,
}

/// Recall and false positives of one evaluation set, with its misses.
struct Figures {
    /// Expected findings that were named or are a variant of a named one.
    found: usize,
    expected: usize,
    /// Named findings that were not expected, and all named findings.
    wrong: usize,
    predicted: usize,
    misses: Vec<String>,
}

impl Figures {
    fn recall(&self) -> f64 {
        self.found as f64 / self.expected.max(1) as f64
    }

    fn false_positives(&self) -> f64 {
        self.wrong as f64 / self.predicted.max(1) as f64
    }
}

/// Recall counts an expected finding found among the named findings or their variants (the
/// patient affirms a variant it has); a false positive is a named finding that was not expected.
fn measure(entries: &[Entry]) -> Figures {
    let k = Knowledge::embedded().expect("knowledge");
    let lexicon = Lexicon::new(&k);
    let mut f = Figures {
        found: 0,
        expected: 0,
        wrong: 0,
        predicted: 0,
        misses: Vec::new(),
    };
    for e in entries {
        let q = lexicon.understand(&e.question);
        let id = |x: &u32| k.finding(*x).id.as_str();
        let named: Vec<&str> = q.findings.iter().map(id).collect();
        let variants: Vec<&str> = q.variants.iter().flatten().map(id).collect();
        for x in &e.expected {
            f.expected += 1;
            if named.contains(&x.as_str()) || variants.contains(&x.as_str()) {
                f.found += 1;
            } else {
                f.misses
                    .push(format!("{:?} expected {x}, named {named:?}", e.question));
            }
        }
        f.predicted += named.len();
        for n in &named {
            if !e.expected.iter().any(|x| x == n) {
                f.wrong += 1;
                f.misses.push(format!(
                    "{:?} named {n}, expected {:?}",
                    e.question, e.expected
                ));
            }
        }
    }
    f
}

/// Prints the figures and the worst misses, then holds them to issue 5's targets.
fn report_and_assert(name: &str, f: &Figures) {
    println!(
        "{name}: recall {:.3} ({}/{}), false positives {:.3} ({}/{})",
        f.recall(),
        f.found,
        f.expected,
        f.false_positives(),
        f.wrong,
        f.predicted
    );
    for m in f.misses.iter().take(20) {
        println!("  {m}");
    }
    assert!(f.recall() >= 0.9, "{name} recall {:.3} < 0.9", f.recall());
    assert!(
        f.false_positives() <= 0.05,
        "{name} false-positive rate {:.3} > 0.05",
        f.false_positives()
    );
}

/// The development set (crates/patient/tests/data/questions.json, all 538 questions): written
/// independently of the lexicon, but the lexicon has since been improved against every one of
/// them, so these figures say the fixes hold, not how well new phrasings are understood.
#[test]
fn dev_questions_recall_and_false_positives() {
    let entries: Vec<Entry> =
        serde_json::from_str(include_str!("data/questions.json")).expect("questions.json");
    report_and_assert("dev", &measure(&entries));
}

/// Plain-spoken questions about the symptom and history findings of the common diseases
/// (crates/patient/tests/data/questions_coverage.json: four phrasings of each of the 252,
/// lay and clinical, plus questions that name nothing). Written by the engineer who widened
/// the lexicon for them, so a development set like the others: it guards the coverage.
#[test]
fn coverage_questions_recall_and_false_positives() {
    let entries: Vec<Entry> = serde_json::from_str(include_str!("data/questions_coverage.json"))
        .expect("questions_coverage.json");
    let f = measure(&entries);
    let (recall, fp) = (f.recall(), f.false_positives());
    println!(
        "coverage set: recall {recall:.3} ({}/{}), false positives {fp:.3} ({}/{})",
        f.found, f.expected, f.wrong, f.predicted
    );
    for m in f.misses.iter().take(20) {
        println!("  {m}");
    }
    assert!(recall >= 0.95, "recall {recall:.3}");
    assert!(fp <= 0.03, "false positives {fp:.3}");
}

/// Reads a question set from tests/data at run time, so that a missing file fails its test
/// loudly rather than the build or, worse, nothing at all.
fn question_file(name: &str) -> Vec<Entry> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "the question set {} could not be read ({e}): it must be committed \
             (same shape as questions.json) for its figures to be measured",
            path.display()
        )
    });
    let entries: Vec<Entry> = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not a list of questions: {e}", path.display()));
    assert!(!entries.is_empty(), "{} has no questions", path.display());
    entries
}

/// A spent held-out set's regression guard: its figures stay at least where they were.
fn assert_spent(label: &str, file: &str, min_recall: f64, max_false_positives: f64) {
    let f = measure(&question_file(file));
    let (recall, fp) = (f.recall(), f.false_positives());
    println!(
        "{label}: recall {recall:.3} ({}/{}), false positives {fp:.3} ({}/{})",
        f.found, f.expected, f.wrong, f.predicted
    );
    assert!(recall >= min_recall, "{label}: recall {recall:.3}");
    assert!(
        fp <= max_false_positives,
        "{label}: false positives {fp:.3}"
    );
}

/// Findings the paraphrase model was not trained on (the rare diseases') stay understood by
/// their own lay names, whatever the model thinks (crates/patient/tests/data/questions_rare.md).
#[test]
fn rare_findings_stay_understood_by_their_lay_names() {
    let f = measure(&question_file("questions_rare.json"));
    println!(
        "rare findings: recall {:.3} ({}/{})",
        f.recall(),
        f.found,
        f.expected
    );
    assert!(
        f.recall() >= 0.99,
        "recall {:.3}: {:?}",
        f.recall(),
        f.misses
    );
}

/// The validity figure of issue 5: the ninth fresh held-out set (questions_heldout9.json),
/// written by an engineer who had seen neither the lexicon, the paraphrase model nor the earlier
/// sets, measured once by the lead engineer after round 11 was frozen (recall 0.907, false
/// positives 0.046; docs/validity.md). The figures may not fall below the targets.
#[test]
fn held_out_questions_meet_the_targets() {
    report_and_assert(
        "held-out (ninth fresh set)",
        &measure(&question_file("questions_heldout9.json")),
    );
}

/// The eighth fresh held-out set, spent: measured once after round 10 (0.880 / 0.072), then
/// development data (and training data of the paraphrase model) for round 11. A regression
/// guard now, not a validity figure.
#[test]
fn the_eighth_spent_held_out_set_stays_understood() {
    assert_spent(
        "eighth spent held-out set",
        "questions_heldout8.json",
        0.88,
        0.05,
    );
}

/// The seventh fresh held-out set, spent: measured once after round 9 (0.868 / 0.087), then
/// development data (and training data of the paraphrase model) for round 10. A regression
/// guard now, not a validity figure.
#[test]
fn the_seventh_spent_held_out_set_stays_understood() {
    assert_spent(
        "seventh spent held-out set",
        "questions_heldout7.json",
        0.92,
        0.06,
    );
}

/// The sixth fresh held-out set, spent: measured once after round 8 (0.832 / 0.069), then
/// development data (and training data of the paraphrase model) for round 9. A regression
/// guard now, not a validity figure.
#[test]
fn the_sixth_spent_held_out_set_stays_understood() {
    assert_spent(
        "sixth spent held-out set",
        "questions_heldout6.json",
        0.86,
        0.06,
    );
}

/// The fifth fresh held-out set, spent: measured once after round 7 (0.884 / 0.068), then
/// development data (and training data of the paraphrase model) for round 8. A regression
/// guard now, not a validity figure.
#[test]
fn the_fifth_spent_held_out_set_stays_understood() {
    assert_spent(
        "fifth spent held-out set",
        "questions_heldout5.json",
        0.9,
        0.07,
    );
}

/// The fourth fresh held-out set, spent: measured once after round 6 (0.855 / 0.095), then
/// development data (and training data of the paraphrase model) for round 7. A regression
/// guard now, not a validity figure.
#[test]
fn the_fourth_spent_held_out_set_stays_understood() {
    assert_spent(
        "fourth spent held-out set",
        "questions_heldout4.json",
        0.95,
        0.045,
    );
}

/// The third fresh held-out set, spent: measured once after round 5 (0.845 / 0.089), read,
/// then development data for round 6. A regression guard now, not a validity figure.
#[test]
fn the_third_spent_held_out_set_stays_understood() {
    assert_spent(
        "third held-out set (spent, dev)",
        "questions_heldout3.json",
        0.92,
        0.045,
    );
}

/// The second fresh held-out set, spent: measured once after round 4 (0.775 / 0.156), read,
/// then development data for round 5. A regression guard now, not a validity figure.
#[test]
fn the_second_spent_held_out_set_stays_understood() {
    assert_spent(
        "second held-out set (spent, dev)",
        "questions_heldout2.json",
        0.98,
        0.03,
    );
}

/// The first fresh held-out set, spent: measured twice (0.614 / 0.309, then 0.666 / 0.232),
/// then development data for round 4. A regression guard now, not a validity figure.
#[test]
fn the_spent_held_out_set_stays_understood() {
    assert_spent(
        "first held-out set (spent, dev)",
        "questions_heldout.json",
        0.95,
        0.07,
    );
}

/// The questions the lexicon's author wrote while building it (crates/patient/tests/data/
/// questions_author.json: paraphrases of the same findings, technical terms, "any problems
/// with ..." templates and history-taking questions that name no finding). Not independent of
/// the lexicon — a regression guard, not a measure of validity.
#[test]
fn the_authors_own_questions_stay_understood() {
    let entries: Vec<Entry> = serde_json::from_str(include_str!("data/questions_author.json"))
        .expect("questions_author.json");
    let f = measure(&entries);
    let (recall, fp) = (f.recall(), f.false_positives());
    println!(
        "author set: recall {recall:.3} ({}/{}), false positives {fp:.3} ({}/{})",
        f.found, f.expected, f.wrong, f.predicted
    );
    assert!(recall >= 0.96, "recall {recall:.3}");
    // Round 9's model misreads one more (36 of 1,019: "any PND?" as faecal urgency) while
    // reading unseen sets better (docs/validity.md). Round 10 reads "when you …" as a
    // condition, not as "when did it start?", so "pain or difficulty when swallowing?" now
    // names pain as well, as "fever or chills?" names both (37 of 1,021).
    assert!(fp <= 0.037, "false positives {fp:.3}");
}

#[test]
fn synonyms_do_not_collide_after_stemming() {
    // Two lay words that stem alike must not be given different canonical words: the table
    // would then depend on key order.
    let k = Knowledge::embedded().expect("knowledge");
    let lexicon = Lexicon::new(&k);
    let n = lexicon.normalizer();
    let mut seen: std::collections::HashMap<Vec<String>, (&str, &str)> = Default::default();
    let mut clashes = Vec::new();
    for (from, to) in &k.lexicon.synonyms {
        let key: Vec<String> = medgym_patient::Normalizer::tokens(from)
            .map(|t| n.stem(&t))
            .collect();
        if let Some((f0, t0)) = seen.insert(key, (from, to))
            && n.words(t0) != n.words(to)
        {
            clashes.push(format!("{f0:?} → {t0:?} vs {from:?} → {to:?}"));
        }
    }
    assert!(clashes.is_empty(), "{}", clashes.join("\n"));
}
