//! The patient's answers.

use medgym_clinic::{Case, CaseFinding, FindingIdx, FindingKind, Knowledge, Setting, Sex};

use crate::lexicon::{Attribute, Question};

/// What the patient said and what it disclosed.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The words of the answer.
    pub text: String,
    /// Findings the answer affirmed.
    pub revealed: Vec<FindingIdx>,
    /// Findings the answer denied.
    pub denied: Vec<FindingIdx>,
    /// Whether the patient understood the question at all.
    pub understood: bool,
}

/// The first observation: who the patient is, where, and what brings them.
pub fn presenting_complaint(case: &Case) -> String {
    let who = match case.sex {
        Sex::Female if case.age < 18 => "girl",
        Sex::Male if case.age < 18 => "boy",
        Sex::Female => "woman",
        Sex::Male => "man",
    };
    let place = match case.setting {
        Setting::Emergency => "comes to the emergency department",
        Setting::Clinic => "is seen in clinic",
        Setting::Ward => "is reviewed on the ward",
    };
    format!(
        "A {}-year-old {who} {place}. \"{}\"",
        case.age,
        case.complaint.trim()
    )
}

/// Answers a question from the case alone. `variant` picks among phrasings; the caller derives
/// it from the episode seed and the question so that a repeated question gets the same words.
pub fn answer(knowledge: &Knowledge, case: &Case, question: &Question, variant: u64) -> Answer {
    let mut out = Answer {
        text: String::new(),
        revealed: Vec::new(),
        denied: Vec::new(),
        understood: !question.findings.is_empty(),
    };
    if question.findings.is_empty() {
        out.text = pick(
            variant,
            &[
                "I'm not sure what you mean.",
                "Sorry, I don't follow. Could you ask that another way?",
                "I don't understand the question.",
            ],
        )
        .to_string();
        return out;
    }
    let mut parts = Vec::new();
    // When a phrase names both a symptom and a sign ("fever"), the patient answers the symptom.
    let any_symptom = question
        .findings
        .iter()
        .any(|&f| knowledge.finding(f).kind == FindingKind::Symptom);
    for (k, &fi) in question.findings.iter().enumerate() {
        let finding = knowledge.finding(fi);
        let lay = finding.lay.first().unwrap_or(&finding.name).to_lowercase();
        let v = variant.wrapping_add(k as u64);
        if finding.kind != FindingKind::Symptom {
            if any_symptom {
                continue;
            }
            parts.push(format!(
                "{} I couldn't tell you about {lay} myself; you'd have to check.",
                pick(v, &["Hmm.", "I don't know.", "No idea, doctor."])
            ));
            continue;
        }
        // The finding itself, or a more specific one the same words name, if the case has it.
        let candidates =
            std::iter::once(fi).chain(question.variants.get(k).into_iter().flatten().copied());
        let present = candidates
            .filter_map(|c| {
                case.findings
                    .iter()
                    .find(|cf| knowledge.finding_idx(&cf.finding) == Some(c))
                    .map(|cf| (c, cf))
            })
            .next();
        match present {
            Some((c, cf)) => {
                out.revealed.push(c);
                parts.push(affirm(&lay, cf, question.attribute, v));
            }
            None => {
                out.denied.push(fi);
                let pertinent = case
                    .negatives
                    .iter()
                    .any(|n| knowledge.finding_idx(n) == Some(fi));
                parts.push(if pertinent {
                    format!(
                        "{} no {lay}.",
                        pick(v, &["No,", "No, definitely", "Not at all,"])
                    )
                } else {
                    format!(
                        "{} {lay}.",
                        pick(
                            v,
                            &[
                                "No, I haven't had any",
                                "No, no",
                                "Not that I've noticed, no"
                            ]
                        )
                    )
                });
            }
        }
    }
    out.text = parts.join(" ");
    out
}

fn affirm(lay: &str, cf: &CaseFinding, attribute: Attribute, v: u64) -> String {
    let onset = cf.onset.as_deref();
    let site = cf.site.as_deref();
    let severity = cf.severity.map(|s| s.as_str());
    match attribute {
        Attribute::Onset => match onset {
            Some(o) => format!("The {lay} started {o}."),
            None => format!("I've had the {lay} for a while, I can't say exactly when it began."),
        },
        Attribute::Site => match site {
            Some(s) => format!("It's in my {s}."),
            None => format!("The {lay} isn't in one particular place."),
        },
        Attribute::Severity => match severity {
            Some("severe") => format!("The {lay} is really bad, maybe 8 out of 10."),
            Some("moderate") => format!("The {lay} is moderate, about 5 out of 10."),
            Some(_) => format!("The {lay} is mild, 2 or 3 out of 10."),
            None => format!("The {lay} is there, but I can't really rate it."),
        },
        Attribute::Presence => {
            let mut s = format!(
                "{} {lay}",
                pick(v, &["Yes, I've had", "Yes, there's", "I do have"])
            );
            if let Some(site) = site {
                s.push_str(&format!(" in my {site}"));
            }
            if let Some(o) = onset {
                s.push_str(&format!(", since {o}"));
            }
            s.push('.');
            if let Some(d) = &cf.detail {
                s.push(' ');
                s.push_str(d.trim());
                if !d.trim_end().ends_with(['.', '!', '?']) {
                    s.push('.');
                }
            }
            s
        }
    }
}

fn pick<'a>(variant: u64, options: &[&'a str]) -> &'a str {
    options[(variant % options.len() as u64) as usize]
}
