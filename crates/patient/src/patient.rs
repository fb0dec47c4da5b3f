//! The patient's answers: templates in the persona's voice, through the episode's noise.

use medgym_clinic::text::normalize;
use medgym_clinic::{
    Case, CaseFinding, FindingIdx, FindingKind, Knowledge, Setting, Severity, Sex, TaskIdx,
};

use crate::lexicon::{Attribute, Lexicon, Question};
use crate::noise::{NoiseEvent, NoiseKind, NoiseLevels, NoisePlan, ONE_SHOT, fnv, mix, unit};
use crate::persona::{Persona, pick};

/// What the patient said and what it disclosed.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The words of the answer.
    pub text: String,
    /// Findings the answer affirmed, as the agent would understand the words: under noise
    /// this can be a finding the case does not have (the one the patient named instead).
    pub revealed: Vec<FindingIdx>,
    /// Findings the answer denied.
    pub denied: Vec<FindingIdx>,
    /// Whether the patient understood the question at all.
    pub understood: bool,
    /// Whether the patient held the answer back (an evasive reply, "why do you ask?", a word
    /// they did not know): asking again is not a repeat.
    pub withheld: bool,
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

/// Answers a question from the case alone, with no noise and the neutral persona. `variant`
/// picks among phrasings; the caller derives it from the episode seed and the question so that
/// a repeated question gets the same words.
pub fn answer(knowledge: &Knowledge, case: &Case, question: &Question, variant: u64) -> Answer {
    Patient::quiet().respond(knowledge, None, case, "", question, 0, variant)
}

/// One episode's patient: persona, noise plan and the mistakes made so far.
#[derive(Debug, Clone)]
pub struct Patient {
    pub(crate) persona: Persona,
    pub(crate) levels: NoiseLevels,
    plan: NoisePlan,
    pub(crate) seed: u64,
    fired: [bool; ONE_SHOT],
    /// Present finding → the site the patient now gives for it.
    sites: Vec<(FindingIdx, String)>,
    /// Present finding → the finding the patient calls it, and the words they use.
    renamed: Vec<(FindingIdx, FindingIdx, String)>,
    /// Present finding → the detail sentence with a descriptor swapped.
    details: Vec<(FindingIdx, String)>,
    severities: Vec<(FindingIdx, Severity)>,
    onsets: Vec<(FindingIdx, String)>,
    omitted: Vec<FindingIdx>,
    /// The disease the patient has in mind (self-diagnosis noise or a bias persona), once
    /// chosen; `Some(None)` when there is none to name.
    guess: Option<Option<String>>,
    /// Findings whose first question was held back.
    held: Vec<FindingIdx>,
    answers: u32,
    bias_remarks: u32,
    /// The case's disease, whose names the patient never says (set by the first answer);
    /// its normalised names are kept once per disease in the knowledge.
    unsaid: Option<u32>,
    /// The case's present findings (index into `case.findings`) and pertinent negatives, once
    /// looked up.
    known: Option<(Vec<FindingIdx>, Vec<FindingIdx>)>,
    pub(crate) events: Vec<NoiseEvent>,
}

impl Patient {
    /// A patient with a persona and noise planned from `seed` (the environment derives it
    /// from the episode's seed and task).
    pub fn new(persona: Persona, levels: NoiseLevels, seed: u64) -> Self {
        Patient {
            persona,
            levels,
            plan: NoisePlan::draw(&levels, seed),
            seed,
            fired: [false; ONE_SHOT],
            sites: Vec::new(),
            renamed: Vec::new(),
            details: Vec::new(),
            severities: Vec::new(),
            onsets: Vec::new(),
            omitted: Vec::new(),
            guess: None,
            held: Vec::new(),
            answers: 0,
            bias_remarks: 0,
            unsaid: None,
            known: None,
            events: Vec::new(),
        }
    }

    /// The neutral, noise-free patient.
    pub fn quiet() -> Self {
        Self::new(Persona::Neutral, NoiseLevels::NONE, 0)
    }

    /// Takes the case's findings as the indices interned at load, so that no answer or
    /// report looks a finding up by id (without this, the first one does, once).
    pub fn know_case(&mut self, knowledge: &Knowledge, task: TaskIdx) {
        self.known = Some((
            knowledge.case_findings(task).to_vec(),
            knowledge.case_negatives(task).to_vec(),
        ));
    }

    /// The case's findings as indices (parallel to `case.findings`, `FindingIdx::MAX` for an
    /// unknown id) and its pertinent negatives, looked up on first use.
    pub(crate) fn known(&mut self, k: &Knowledge, case: &Case) -> (&[FindingIdx], &[FindingIdx]) {
        let (present, negatives) = self.known.get_or_insert_with(|| {
            (
                case.findings
                    .iter()
                    .map(|cf| k.finding_idx(&cf.finding).unwrap_or(FindingIdx::MAX))
                    .collect(),
                case.negatives
                    .iter()
                    .filter_map(|n| k.finding_idx(n))
                    .collect(),
            )
        });
        (present, negatives)
    }

    /// The persona.
    pub fn persona(&self) -> Persona {
        self.persona
    }

    /// The noise plan.
    pub fn plan(&self) -> &NoisePlan {
        &self.plan
    }

    /// Every piece of noise that fired so far, in order.
    pub fn events(&self) -> &[NoiseEvent] {
        &self.events
    }

    /// The presenting complaint in the persona's voice.
    pub fn presenting_complaint(&self, case: &Case) -> String {
        let mut text = presenting_complaint(case);
        if let Some(extra) = self.persona.opening(mix(self.seed, 0x6f70)) {
            text.pop(); // the closing quote
            text.push(' ');
            text.push_str(extra);
            text.push('"');
        }
        text
    }

    /// Answers a question. `text` is the question as asked (for words the persona may not
    /// know), `turn` the episode turn (noise fires from its planned turn on), `variant` picks
    /// phrasings.
    #[allow(clippy::too_many_arguments)]
    pub fn answer(
        &mut self,
        knowledge: &Knowledge,
        lexicon: &Lexicon,
        case: &Case,
        text: &str,
        question: &Question,
        turn: u32,
        variant: u64,
    ) -> Answer {
        self.respond(
            knowledge,
            Some(lexicon),
            case,
            text,
            question,
            turn,
            variant,
        )
    }

    pub(crate) fn ready(&self, kind: NoiseKind, turn: u32) -> bool {
        let i = kind as usize;
        i < ONE_SHOT && !self.fired[i] && self.plan.armed(kind).is_some_and(|t| turn >= t)
    }

    pub(crate) fn fire(
        &mut self,
        kind: NoiseKind,
        turn: u32,
        finding: Option<&str>,
        detail: String,
    ) {
        if (kind as usize) < ONE_SHOT {
            self.fired[kind as usize] = true;
        }
        self.events.push(NoiseEvent {
            kind,
            turn,
            finding: finding.map(str::to_string),
            detail,
        });
    }

    /// A hash of the episode's noise seed and some parts: every noise choice comes from one.
    pub(crate) fn hash(&self, kind: NoiseKind, a: u64, b: u64) -> u64 {
        mix(mix(mix(self.seed, kind as u64 + 1), a), b)
    }

    #[allow(clippy::too_many_arguments)]
    fn respond(
        &mut self,
        k: &Knowledge,
        lexicon: Option<&Lexicon>,
        case: &Case,
        text: &str,
        question: &Question,
        turn: u32,
        variant: u64,
    ) -> Answer {
        let persona = self.persona;
        let mut out = Answer {
            text: String::new(),
            revealed: Vec::new(),
            denied: Vec::new(),
            understood: !question.findings.is_empty(),
            withheld: false,
        };
        if question.findings.is_empty() {
            out.text = persona.not_understood(variant).to_string();
            return out;
        }
        self.answers += 1;
        self.known(k, case);
        if self.unsaid.is_none() {
            self.unsaid = k.disease_idx(&case.disease);
        }

        // Disclosure: words the patient does not know, topics they will not discuss yet.
        if persona == Persona::LowHealthLiteracy
            && let Some(word) = lexicon.and_then(|l| l.jargon_in(text))
        {
            out.text = format!(
                "{} I don't know what \"{}\" means.",
                pick(variant, &["Sorry,", "I'm sorry, doctor,"]),
                word.to_lowercase()
            );
            out.understood = false;
            out.withheld = true;
            return out;
        }
        let first = question.findings[0];
        let hold = match persona {
            Persona::CulturalBias => {
                lexicon.is_some_and(|l| question.findings.iter().any(|&f| l.is_sensitive(f)))
            }
            // One first question in three, present or not, so that holding back tells nothing.
            Persona::Distrustful => mix(self.seed, u64::from(first)).is_multiple_of(3),
            _ => false,
        };
        if hold && !self.held.contains(&first) {
            self.held.push(first);
            out.text = persona.withhold(variant).to_string();
            out.withheld = true;
            return out;
        }
        if self.ready(NoiseKind::VagueAnswer, turn) {
            let name = &k.finding(first).id;
            self.fire(
                NoiseKind::VagueAnswer,
                turn,
                Some(name),
                "an evasive answer".into(),
            );
            out.text = pick(
                variant,
                &[
                    "Hard to say really. Maybe, maybe not.",
                    "I don't know... it comes and goes, I suppose.",
                    "Sort of? I haven't really paid attention.",
                ],
            )
            .to_string();
            out.withheld = true;
            return out;
        }

        let mut parts = Vec::new();
        // When a phrase names both a symptom and a sign ("fever"), the patient answers the symptom.
        let any_symptom = question
            .findings
            .iter()
            .any(|&f| k.finding(f).kind == FindingKind::Symptom);
        let mut noised = false;
        let mut affirmed = false;
        for (j, &fi) in question.findings.iter().enumerate() {
            let finding = k.finding(fi);
            let v = variant.wrapping_add(j as u64);
            if finding.kind != FindingKind::Symptom {
                if any_symptom {
                    continue;
                }
                parts.push(format!(
                    "{} I couldn't tell you about {} myself; you'd have to check.",
                    pick(v, &["Hmm.", "I don't know.", "No idea, doctor."]),
                    self.lay(k, fi)
                ));
                continue;
            }
            let variants = question.variants.get(j).map_or(&[][..], Vec::as_slice);
            let Some((mut shown, source, cf)) = self.belief(k, case, fi, variants) else {
                out.denied.push(fi);
                let pertinent = self.known(k, case).1.contains(&fi);
                parts.push(persona.no(&self.lay(k, fi), pertinent, v));
                continue;
            };
            if !noised && shown == source {
                match self.mistake(k, lexicon, case, source, cf, question.attribute, turn) {
                    Mistake::None => {}
                    Mistake::Omitted => {
                        noised = true;
                        out.denied.push(fi);
                        parts.push(persona.no(&self.lay(k, fi), false, v));
                        continue;
                    }
                    Mistake::Made => {
                        noised = true;
                        shown = self.shown(source).unwrap_or(source);
                    }
                }
            }
            if !out.revealed.contains(&shown) {
                out.revealed.push(shown);
            }
            affirmed = true;
            parts.push(self.affirm(k, source, shown, cf, question.attribute, v));
        }

        if self.ready(NoiseKind::SelfDiagnosis, turn)
            && let Some(guess) = self.guess(k, lexicon, case)
        {
            parts.push(format!(
                "{} {guess}.",
                pick(
                    variant,
                    &[
                        "I looked it up online and it seems like",
                        "I think it might be",
                        "My friend reckons it's",
                    ]
                )
            ));
            self.fire(
                NoiseKind::SelfDiagnosis,
                turn,
                None,
                format!("named {guess}"),
            );
        }
        if persona.names_a_disease()
            && affirmed
            && (self.bias_remarks == 0 || self.answers.is_multiple_of(4))
            && let Some(remark) = persona.bias_remark(variant)
            && let Some(guess) = self.guess(k, lexicon, case)
        {
            self.bias_remarks += 1;
            parts.push(remark.replace("{}", &guess));
        }
        let aside = match persona {
            Persona::Talkative => true,
            Persona::Anxious => variant.is_multiple_of(2),
            Persona::EducationBias | Persona::SocioeconomicBias => variant.is_multiple_of(3),
            _ => false,
        };
        if aside && let Some(a) = persona.aside(variant / 3) {
            parts.push(a.to_string());
        }
        out.text = parts.join(" ");
        out
    }

    /// What the patient believes about a finding asked for: (the finding they will name, the
    /// present finding behind it, its case record), or `None` when they will deny it.
    fn belief<'c>(
        &self,
        k: &Knowledge,
        case: &'c Case,
        fi: FindingIdx,
        variants: &[FindingIdx],
    ) -> Option<(FindingIdx, FindingIdx, &'c CaseFinding)> {
        let record = |f: FindingIdx| match &self.known {
            Some((present, _)) => present
                .iter()
                .position(|&p| p == f)
                .map(|i| &case.findings[i]),
            None => case
                .findings
                .iter()
                .find(|cf| k.finding_idx(&cf.finding) == Some(f)),
        };
        // Asked about what they mistook something for: they have it, as far as they know.
        for &(source, as_, _) in &self.renamed {
            if (as_ == fi || variants.contains(&as_))
                && let Some(cf) = record(source)
            {
                return Some((as_, source, cf));
            }
        }
        for c in std::iter::once(fi).chain(variants.iter().copied()) {
            if self.omitted.contains(&c) {
                continue;
            }
            if let Some(cf) = record(c) {
                return Some((self.shown(c).unwrap_or(c), c, cf));
            }
        }
        None
    }

    /// The finding a present one is described as, after a confusion.
    fn shown(&self, source: FindingIdx) -> Option<FindingIdx> {
        self.renamed
            .iter()
            .find(|(s, _, _)| *s == source)
            .map(|&(_, as_, _)| as_)
    }

    /// How the patient names a finding: never in words that name the case's disease (a
    /// phenotype called like the disease is "that problem").
    fn lay(&self, k: &Knowledge, f: FindingIdx) -> String {
        // A finding's own words are normalised once per knowledge, renamed ones here.
        // (`normalize` lower-cases first, so the lower-cased words normalise alike.)
        let (words, names_disease) =
            if let Some((_, _, words)) = self.renamed.iter().find(|(_, as_, _)| *as_ == f) {
                (words.clone(), self.names_disease(k, &normalize(words)))
            } else {
                let finding = k.finding(f);
                let education = self.persona == Persona::EducationBias;
                let named = self.names_disease(k, k.normalized_finding_name(f, !education));
                let words = if named {
                    String::new()
                } else if education {
                    finding.name.to_lowercase()
                } else {
                    finding.lay.first().unwrap_or(&finding.name).to_lowercase()
                };
                (words, named)
            };
        if names_disease {
            "that problem".to_string()
        } else {
            words
        }
    }

    /// Whether normalised words contain the case disease's name or one of its synonyms of
    /// four or more bytes (shorter ones are abbreviations that ordinary words contain).
    fn names_disease(&self, k: &Knowledge, normalized: &[String]) -> bool {
        let Some(d) = self.unsaid else { return false };
        let names = k.normalized_disease_names(d);
        let synonyms = &k.diseases[d as usize].synonyms;
        let (name, rest) = names
            .split_first()
            .expect("a disease's names start with its name");
        std::iter::once(name)
            .chain(
                rest.iter()
                    .zip(synonyms)
                    .filter(|(_, s)| s.len() >= 4)
                    .map(|(n, _)| n),
            )
            .any(|n| medgym_clinic::text::contains_words(normalized, n))
    }

    /// An affirmative answer about a present finding (`source`), named as `shown`.
    fn affirm(
        &self,
        k: &Knowledge,
        source: FindingIdx,
        shown: FindingIdx,
        cf: &CaseFinding,
        attribute: Attribute,
        v: u64,
    ) -> String {
        let persona = self.persona;
        let lay = self.lay(k, shown);
        let site = self
            .sites
            .iter()
            .find(|(f, _)| *f == source)
            .map(|(_, s)| s.as_str())
            .or(cf.site.as_deref());
        let onset = self
            .onsets
            .iter()
            .find(|(f, _)| *f == source)
            .map(|(_, s)| s.as_str())
            .or(cf.onset.as_deref());
        let severity = self
            .severities
            .iter()
            .find(|(f, _)| *f == source)
            .map(|&(_, s)| s)
            .or(cf.severity);
        let detail = self
            .details
            .iter()
            .find(|(f, _)| *f == source)
            .map(|(_, s)| s.as_str())
            .or(cf.detail.as_deref());
        match attribute {
            Attribute::Onset => match onset {
                Some(o) if o.starts_with("for ") || o.starts_with("since ") => {
                    format!("I've had the {lay} {o}.")
                }
                Some(o) => format!("The {lay} started {o}."),
                None => {
                    format!("I've had the {lay} for a while, I can't say exactly when it began.")
                }
            },
            Attribute::Site => match site {
                Some(s) => format!("It's {}.", site_phrase(s)),
                None => format!("The {lay} isn't in one particular place."),
            },
            Attribute::Severity => match severity {
                Some(s) => persona.severity(s, &lay),
                None => format!("The {lay} is there, but I can't really rate it."),
            },
            Attribute::Character => match detail {
                Some(d) => sentence(d),
                None => format!("It's hard to describe the {lay}."),
            },
            Attribute::Presence => {
                let mut s = format!("{} {lay}", persona.yes(v));
                if persona.volunteers_context() {
                    if let Some(site) = site {
                        s.push(' ');
                        s.push_str(&site_phrase(site));
                    }
                    if let Some(o) = onset {
                        s.push_str(&onset_clause(o));
                    }
                }
                s.push('.');
                if persona.volunteers_context()
                    && let Some(sev) = severity
                {
                    s.push(' ');
                    s.push_str(match sev {
                        Severity::Severe => "It's really bad.",
                        Severity::Moderate => "It's fairly bad.",
                        Severity::Mild => "It's quite mild.",
                    });
                }
                if persona.volunteers_detail()
                    && let Some(d) = detail
                {
                    s.push(' ');
                    s.push_str(&sentence(d));
                }
                s
            }
        }
    }

    /// Tries the one-shot patient noise that is due on a present finding being answered.
    #[allow(clippy::too_many_arguments)]
    fn mistake(
        &mut self,
        k: &Knowledge,
        lexicon: Option<&Lexicon>,
        case: &Case,
        source: FindingIdx,
        cf: &CaseFinding,
        attribute: Attribute,
        turn: u32,
    ) -> Mistake {
        let id = k.finding(source).id.clone();
        let context = self.persona.volunteers_context();
        if self.ready(NoiseKind::Omission, turn) {
            self.omitted.push(source);
            self.fire(NoiseKind::Omission, turn, Some(&id), "denied".into());
            return Mistake::Omitted;
        }
        if self.ready(NoiseKind::SymptomConfusion, turn) {
            let (present, negatives) = self.known(k, case);
            let present = |f: FindingIdx| present.contains(&f) || negatives.contains(&f);
            let options: Vec<FindingIdx> = k
                .noise
                .confusions
                .get(&id)
                .into_iter()
                .flatten()
                .filter_map(|x| k.finding_idx(x))
                .filter(|&g| !present(g) && k.finding(g).kind == FindingKind::Symptom)
                .collect();
            if !options.is_empty() {
                let h = self.hash(NoiseKind::SymptomConfusion, fnv(&id), 0);
                let g = options[(h % options.len() as u64) as usize];
                let words = self.lay(k, g);
                self.renamed.push((source, g, words));
                self.fire(
                    NoiseKind::SymptomConfusion,
                    turn,
                    Some(&id),
                    format!("{} → {}", k.finding(source).name, k.finding(g).name),
                );
                return Mistake::Made;
            }
            let shows_detail = attribute == Attribute::Character
                || (attribute == Attribute::Presence && self.persona.volunteers_detail());
            if shows_detail
                && let Some(d) = &cf.detail
                && let Some((from, to)) = self.swap_word(&k.noise.descriptors, d, &id)
            {
                let new = replace_words(d, &from, &to);
                self.details.push((source, new));
                self.fire(
                    NoiseKind::SymptomConfusion,
                    turn,
                    Some(&id),
                    format!("\"{from}\" → \"{to}\""),
                );
                return Mistake::Made;
            }
        }
        if self.ready(NoiseKind::BodyPartSwap, turn) {
            let shows_site =
                attribute == Attribute::Site || (attribute == Attribute::Presence && context);
            if shows_site
                && let Some(site) = &cf.site
                && let Some((from, to)) = self.swap_word(&k.noise.adjacent, site, &id)
            {
                let new = replace_words(site, &from, &to);
                self.sites.push((source, new.clone()));
                self.fire(
                    NoiseKind::BodyPartSwap,
                    turn,
                    Some(&id),
                    format!("{site} → {new}"),
                );
                return Mistake::Made;
            }
            // No site: the body part in the symptom's own name moves ("chest pain" → "upper
            // abdomen pain"), and the agent hears whatever finding those words name.
            if cf.site.is_none()
                && let Some(lexicon) = lexicon
            {
                let lay = self.lay(k, source);
                if let Some((from, to)) = self.swap_word(&k.noise.adjacent, &lay, &id) {
                    let words = replace_words(&lay, &from, &to);
                    let heard = lexicon.understand(&words);
                    if let Some(&g) = heard.findings.first()
                        && g != source
                        && k.finding(g).kind == FindingKind::Symptom
                    {
                        self.renamed.push((source, g, words.clone()));
                        self.fire(
                            NoiseKind::BodyPartSwap,
                            turn,
                            Some(&id),
                            format!("{lay} → {words}"),
                        );
                        return Mistake::Made;
                    }
                }
            }
        }
        if self.ready(NoiseKind::SeverityChange, turn) {
            let shows =
                attribute == Attribute::Severity || (attribute == Attribute::Presence && context);
            let lower = match cf.severity {
                Some(Severity::Severe) => Some(Severity::Moderate),
                Some(Severity::Moderate) => Some(Severity::Mild),
                _ => None,
            };
            if shows && let (Some(from), Some(to)) = (cf.severity, lower) {
                self.severities.push((source, to));
                self.fire(
                    NoiseKind::SeverityChange,
                    turn,
                    Some(&id),
                    format!("{} → {}", from.as_str(), to.as_str()),
                );
                return Mistake::Made;
            }
        }
        if self.ready(NoiseKind::TemporalChange, turn) {
            let shows =
                attribute == Attribute::Onset || (attribute == Attribute::Presence && context);
            if shows && let Some(onset) = &cf.onset {
                let h = self.hash(NoiseKind::TemporalChange, fnv(&id), 0);
                let new = change_onset(onset, h);
                self.onsets.push((source, new.clone()));
                self.fire(
                    NoiseKind::TemporalChange,
                    turn,
                    Some(&id),
                    format!("{onset} → {new}"),
                );
                return Mistake::Made;
            }
        }
        Mistake::None
    }

    /// A key of `table` found in `text` as whole words (the longest), and a replacement drawn
    /// for this finding.
    pub(crate) fn swap_word(
        &self,
        table: &std::collections::BTreeMap<String, Vec<String>>,
        text: &str,
        id: &str,
    ) -> Option<(String, String)> {
        let lower = text.to_lowercase();
        let (from, options) = table
            .iter()
            .filter(|(key, options)| !options.is_empty() && has_words(&lower, key))
            .max_by_key(|(key, _)| key.len())?;
        let h = self.hash(NoiseKind::BodyPartSwap, fnv(id), fnv(from));
        let to = &options[(h % options.len() as u64) as usize];
        Some((from.clone(), to.clone()))
    }

    /// The lay name of a plausible wrong diagnosis, chosen once per episode: the common disease
    /// sharing most of the case's findings, never the true one nor one whose name overlaps it.
    pub(crate) fn guess(
        &mut self,
        k: &Knowledge,
        lexicon: Option<&Lexicon>,
        case: &Case,
    ) -> Option<String> {
        if let Some(g) = &self.guess {
            return g.clone();
        }
        let chosen = lexicon.and_then(|l| {
            let truth = k.disease_of(case);
            let truth_names: Vec<Vec<String>> = std::iter::once(&truth.name)
                .chain(&truth.synonyms)
                .map(|n| normalize(n))
                .filter(|n| !n.is_empty())
                .collect();
            let present: Vec<FindingIdx> = self
                .known(k, case)
                .0
                .iter()
                .copied()
                .filter(|&f| f != FindingIdx::MAX)
                .collect();
            l.lay_diseases
                .iter()
                .filter(|(d, _, words, _)| {
                    let d = &k.diseases[*d as usize];
                    d.id != truth.id
                        && !truth_names.iter().any(|t| {
                            medgym_clinic::text::contains_words(words, t)
                                || medgym_clinic::text::contains_words(t, words)
                        })
                })
                .max_by_key(|(d, name, _, findings)| {
                    let shared = present
                        .iter()
                        .filter(|f| findings.binary_search(f).is_ok())
                        .count();
                    let same_domain = k.diseases[*d as usize].domain == truth.domain;
                    (shared, same_domain, mix(self.seed, fnv(name)))
                })
                .map(|(_, name, _, _)| name.clone())
        });
        self.guess = Some(chosen.clone());
        chosen
    }
}

/// What a one-shot noise did to an answer.
enum Mistake {
    None,
    Omitted,
    Made,
}

/// "chest" → "in my chest"; "right side of my chest" → "on the right side of my chest";
/// "behind the breastbone" as it is.
fn site_phrase(site: &str) -> String {
    let s = site.trim();
    let first = s.split_whitespace().next().unwrap_or("");
    const PREPOSITIONS: &[&str] = &[
        "all", "behind", "between", "around", "in", "on", "under", "above", "across", "over",
        "along", "at", "below", "down", "up", "round",
    ];
    if PREPOSITIONS.contains(&first) {
        s.to_string()
    } else if s.contains("my ") || s.starts_with("side") {
        format!("on the {s}")
    } else {
        format!("in my {s}")
    }
}

/// How an onset joins a presence answer.
fn onset_clause(onset: &str) -> String {
    let o = onset.trim();
    if o.starts_with("for ") || o.starts_with("since ") {
        format!(", {o}")
    } else if o.ends_with(" ago")
        || o.starts_with("last ")
        || o == "yesterday"
        || o.starts_with("suddenly")
        || o.starts_with("this ")
    {
        format!(", it started {o}")
    } else {
        format!(", since {o}")
    }
}

/// A detail as a sentence: capitalised, with a full stop.
fn sentence(d: &str) -> String {
    let d = d.trim();
    let mut s = String::with_capacity(d.len() + 1);
    let mut chars = d.chars();
    if let Some(c) = chars.next() {
        s.extend(c.to_uppercase());
        s.push_str(chars.as_str());
    }
    if !s.ends_with(['.', '!', '?']) {
        s.push('.');
    }
    s
}

/// Whether `key` occurs in `text` (lower case) as whole words.
pub(crate) fn has_words(text: &str, key: &str) -> bool {
    text.match_indices(key).any(|(i, m)| {
        let before = text[..i].chars().next_back();
        let after = text[i + m.len()..].chars().next();
        before.is_none_or(|c| !c.is_alphanumeric()) && after.is_none_or(|c| !c.is_alphanumeric())
    })
}

/// `text` with the first whole-word occurrence of `from` (case-insensitive) replaced by `to`.
pub(crate) fn replace_words(text: &str, from: &str, to: &str) -> String {
    let lower = text.to_lowercase();
    for (i, m) in lower.match_indices(from) {
        let before = lower[..i].chars().next_back();
        let after = lower[i + m.len()..].chars().next();
        if before.is_none_or(|c| !c.is_alphanumeric()) && after.is_none_or(|c| !c.is_alphanumeric())
        {
            // Lower-casing ASCII keeps byte offsets; other text is left as it is.
            if lower.len() == text.len() {
                return format!("{}{to}{}", &text[..i], &text[i + m.len()..]);
            }
            return format!("{}{to}{}", &lower[..i], &lower[i + m.len()..]);
        }
    }
    text.to_string()
}

/// An onset scaled by ×0.3–2.0 ("two days ago" → "five days ago") or, one time in three or
/// when it has no number, made vague ("a while ago").
fn change_onset(onset: &str, h: u64) -> String {
    const VAGUE: &[&str] = &[
        "a while ago",
        "some time back",
        "I can't remember exactly when",
    ];
    let vague = VAGUE[(h % VAGUE.len() as u64) as usize].to_string();
    if h.is_multiple_of(3) {
        return vague;
    }
    let words: Vec<&str> = onset.split_whitespace().collect();
    let unit_at = words.iter().position(|w| unit_of(w).is_some());
    let Some(u) = unit_at else { return vague };
    let (count, start) = match u.checked_sub(1).map(|i| words[i]) {
        Some("couple") if u >= 2 && words[u - 2] == "a" => (2.0, u - 2),
        Some("of") if u >= 3 && words[u - 2] == "couple" => (2.0, u - 3),
        Some("few") if u >= 2 && words[u - 2] == "a" => (3.0, u - 2),
        Some(w) => match number(w) {
            Some(n) => (n, u - 1),
            None => return vague,
        },
        None => return vague,
    };
    let factor = 0.3 + 1.7 * unit(mix(h, 1));
    let mut n = (count * factor).round().max(1.0);
    if n == count {
        n += 1.0;
    }
    let unit = unit_of(words[u]).unwrap_or("day");
    let n = n as u32;
    let amount = if n == 1 {
        match unit {
            "hour" => "an hour".to_string(),
            _ => format!("a {unit}"),
        }
    } else {
        format!("{} {unit}s", number_word(n))
    };
    let mut out: Vec<String> = words[..start].iter().map(|w| w.to_string()).collect();
    out.push(amount);
    out.extend(words[u + 1..].iter().map(|w| w.to_string()));
    out.join(" ")
}

fn unit_of(word: &str) -> Option<&'static str> {
    let w = word.trim_end_matches([',', '.']);
    Some(match w {
        "minute" | "minutes" => "minute",
        "hour" | "hours" => "hour",
        "day" | "days" => "day",
        "week" | "weeks" => "week",
        "month" | "months" => "month",
        "year" | "years" => "year",
        _ => return None,
    })
}

fn number(word: &str) -> Option<f64> {
    const WORDS: &[&str] = &[
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve",
    ];
    if let Ok(n) = word.parse::<f64>() {
        return Some(n);
    }
    match word {
        "a" | "an" => Some(1.0),
        "twenty" => Some(20.0),
        "thirty" => Some(30.0),
        "several" => Some(4.0),
        _ => WORDS.iter().position(|w| *w == word).map(|n| n as f64),
    }
}

fn number_word(n: u32) -> String {
    const WORDS: &[&str] = &[
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve",
    ];
    WORDS
        .get(n as usize)
        .map_or_else(|| n.to_string(), |w| w.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onsets_scale_or_blur() {
        let mut changed = 0;
        for h in 0..60u64 {
            let new = change_onset("about two days ago", mix(h, 7));
            assert_ne!(new, "about two days ago");
            if new.starts_with("about ") {
                changed += 1;
                assert!(new.ends_with(" ago"), "{new}");
            }
        }
        assert!(changed > 20, "{changed}");
        assert_eq!(change_onset("since birth", 1), "some time back");
    }

    #[test]
    fn words_are_replaced_whole() {
        assert_eq!(
            replace_words("central chest", "chest", "upper abdomen"),
            "central upper abdomen"
        );
        assert_eq!(
            replace_words("chesty cough", "chest", "back"),
            "chesty cough"
        );
        assert!(has_words("pain in my chest", "chest"));
        assert!(!has_words("chesty", "chest"));
        assert_eq!(site_phrase("chest"), "in my chest");
        assert_eq!(
            site_phrase("right side of my chest"),
            "on the right side of my chest"
        );
        assert_eq!(
            site_phrase("behind the breastbone"),
            "behind the breastbone"
        );
    }
}
