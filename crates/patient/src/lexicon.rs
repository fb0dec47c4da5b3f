//! Matching free-text questions to findings.
//!
//! Both a question and every phrase of a finding go through one [`Normalizer`]: lower case,
//! punctuation out, stop words out, British spellings to American, Snowball English stems, then
//! the authored synonym table (`knowledge/lexicon.json`) rewrites lay words and phrases to
//! canonical ones ("tummy" → "abdomen", "throw up" → "vomit", "sore" → "pain"). Phrases then
//! match as bags of words inside a small window, longest phrase first.

use std::collections::{HashMap, HashSet};

use frostem::{Algorithm, Stemmer};
use medgym_clinic::text::american;
use medgym_clinic::{FindingIdx, FindingKind, Knowledge, LexiconTable, Range};

use crate::paraphrase::Paraphrase;

/// Which detail of a finding a question asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Attribute {
    /// Whether the finding is there at all.
    Presence,
    /// When it started.
    Onset,
    /// How bad it is.
    Severity,
    /// Where it is.
    Site,
    /// What it feels like ("sharp or dull?").
    Character,
}

/// A question as the patient understood it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Question {
    /// Findings the question is about, in order of mention, without repeats.
    pub findings: Vec<FindingIdx>,
    /// For each of `findings`, more specific findings the same words also name ("cough" also
    /// names "chronic cough"): a patient who has one of them says so rather than denying.
    pub variants: Vec<Vec<FindingIdx>>,
    /// The detail asked for.
    pub attribute: Attribute,
}

impl Question {
    /// A question about exactly one finding.
    pub fn about(finding: FindingIdx, attribute: Attribute) -> Self {
        Question {
            findings: vec![finding],
            variants: vec![Vec::new()],
            attribute,
        }
    }
}

/// Turns text into the canonical words that matching compares.
#[derive(Clone)]
pub struct Normalizer {
    stemmer: Stemmer,
    stop: HashSet<String>,
    /// Stem → [`STOP`] | [`GLUE_WORD`] | [`COORDINATOR`] | [`AND`] flags, for the stems that
    /// have any.
    class: HashMap<String, u8>,
    /// Extra British → American replacements inside a word.
    spellings: Vec<(String, String)>,
    /// One stem → its one-word canonical form ("tummi" → "abdomen").
    one: HashMap<String, String>,
    /// First word of a synonym pattern → patterns, longest first.
    synonyms: HashMap<String, Vec<Pattern>>,
    /// Stems of the one-word synonyms that name only the word written ("=winded": not "pass
    /// wind"), with those words: another word of the same stem takes no one-word synonym.
    exact_words: HashMap<String, Vec<String>>,
}

/// A synonym: words to find and the words that replace them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Pattern {
    /// Words to find. A pattern of two or more content words matches across [`GLUE`] words
    /// ("pit of your tummy" for "pit of stomach"), each word in its stemmed or one-word
    /// canonical form; a shorter one ("the runs") matches exactly.
    words: Vec<String>,
    exact: bool,
    replacement: Vec<String>,
}

impl std::fmt::Debug for Normalizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Normalizer")
            .field("stop", &self.stop.len())
            .field("synonyms", &self.synonyms.len())
            .finish()
    }
}

impl Normalizer {
    /// A normaliser over the authored stop words and synonyms.
    pub fn new(table: &LexiconTable) -> Self {
        let mut n = Normalizer {
            stemmer: Stemmer::new(Algorithm::English),
            stop: HashSet::new(),
            class: HashMap::new(),
            spellings: table
                .spellings
                .iter()
                .filter(|(gb, _)| !gb.is_empty())
                .map(|(gb, us)| (gb.clone(), us.clone()))
                .collect(),
            one: HashMap::new(),
            synonyms: HashMap::new(),
            exact_words: HashMap::new(),
        };
        n.stop = table
            .stop
            .iter()
            .flat_map(|w| Self::tokens(w).map(|t| n.stem(&t)).collect::<Vec<_>>())
            .collect();
        for w in &n.stop {
            *n.class.entry(w.clone()).or_default() |= STOP;
        }
        for w in GLUE {
            *n.class.entry(w.to_string()).or_default() |= GLUE_WORD;
        }
        for w in COORDINATORS {
            *n.class.entry(w.to_string()).or_default() |= COORDINATOR;
        }
        *n.class.entry("and".into()).or_default() |= AND;
        let entries: Vec<(Vec<String>, Vec<String>)> = table
            .synonyms
            .iter()
            .map(|(from, to)| {
                let replacement = n
                    .stems(to)
                    .into_iter()
                    .filter(|w| !n.stop.contains(w))
                    .collect();
                (n.stems(from), replacement)
            })
            .filter(|(from, _)| !from.is_empty())
            .collect();
        for (from, to) in &entries {
            if let ([f], [t]) = (from.as_slice(), to.as_slice()) {
                n.one.insert(f.clone(), t.clone());
            }
        }
        // Stems merge words whose meanings differ ("winded", "wind"): a key written "=word"
        // names that word only.
        for from in table.synonyms.keys() {
            if let Some(word) = from.strip_prefix('=') {
                let (stem, word) = n.stem_word(word.trim());
                n.exact_words.entry(stem).or_default().push(word);
            }
        }
        for (from, replacement) in entries {
            // Coordinators stay: "pins and needles" needs its "and", and "pressure or pain"
            // must not read as "pressure sore".
            let content: Vec<String> = from
                .iter()
                .filter(|w| !GLUE.contains(&w.as_str()) || COORDINATORS.contains(&w.as_str()))
                .map(|w| n.one.get(w).unwrap_or(w).clone())
                .collect();
            // Matching across glue needs a word that says something: "keep to yourself" is
            // not "keep yourself from falling".
            let telling = content.iter().filter(|w| !n.stop.contains(*w)).count();
            let pattern = if content.len() >= 2 && telling >= 1 {
                Pattern {
                    words: content,
                    exact: false,
                    replacement,
                }
            } else {
                Pattern {
                    words: from,
                    exact: true,
                    replacement,
                }
            };
            let entry = n.synonyms.entry(pattern.words[0].clone()).or_default();
            if !entry.iter().any(|p| p.words == pattern.words) {
                entry.push(pattern);
            }
        }
        for v in n.synonyms.values_mut() {
            v.sort_by(|a, b| b.words.len().cmp(&a.words.len()).then_with(|| a.cmp(b)));
        }
        n
    }

    /// Lower-case words of a text, split at anything that is not a letter or digit.
    pub fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
        text.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
    }

    /// One lower-case word, spelled the American way and stemmed.
    pub fn stem(&self, word: &str) -> String {
        self.stem_word(word).0
    }

    /// The stem of a word and the word spelled the American way.
    fn stem_word(&self, word: &str) -> (String, String) {
        let mut w = american(word);
        for (gb, us) in &self.spellings {
            if w.contains(gb.as_str()) {
                w = w.replace(gb.as_str(), us);
            }
        }
        if w.chars().any(|c| c.is_ascii_digit()) {
            return (w.clone(), w);
        }
        // Snowball takes "-ed" off before "-ness", so "headedness" (of "light-headedness")
        // would stem to "headed" and miss "light headed"; without its "-ness" it is "head".
        if let Some(adjective) = w.strip_suffix("ness").filter(|a| a.ends_with("ed")) {
            return (self.stemmer.stem(adjective).into_owned(), w);
        }
        (self.stemmer.stem(&w).into_owned(), w)
    }

    /// Every word of a text stemmed, stop words included.
    fn stems(&self, text: &str) -> Vec<String> {
        Self::tokens(text).map(|w| self.stem(&w)).collect()
    }

    /// The canonical words of a text: stems, synonyms applied (longest pattern first, stop words
    /// included so that "throw up" and "short of breath" can be patterns), then stop words out.
    pub fn words(&self, text: &str) -> Vec<String> {
        self.analyse(text).words
    }

    /// How many stems a pattern takes at `i`, if it matches there.
    fn matches(&self, stems: &[String], classes: &[u8], i: usize, p: &Pattern) -> Option<usize> {
        if p.exact {
            return stems[i..].starts_with(&p.words).then_some(p.words.len());
        }
        let mut j = i;
        for (k, w) in p.words.iter().enumerate() {
            if k > 0 {
                while j < stems.len() && classes[j] & (GLUE_WORD | COORDINATOR) == GLUE_WORD {
                    j += 1;
                }
            }
            let s = stems.get(j)?;
            if s != w && self.one.get(s) != Some(w) {
                return None;
            }
            j += 1;
        }
        Some(j - i)
    }

    /// The longest synonym pattern at `i`: (stems taken, replacement).
    /// `unlisted`: the word at `i` is not one that a "=word" synonym of its stem names.
    fn synonym_at(
        &self,
        stems: &[String],
        classes: &[u8],
        i: usize,
        unlisted: bool,
    ) -> Option<(usize, &[String])> {
        let first = &stems[i];
        let canonical = self.one.get(first).filter(|c| *c != first);
        let mut best: Option<(usize, usize, &[String])> = None;
        for key in std::iter::once(first).chain(canonical) {
            for p in self.synonyms.get(key).into_iter().flatten() {
                if best.is_some_and(|(n, _, _)| n >= p.words.len()) {
                    break;
                }
                if unlisted && p.exact && p.words.len() == 1 {
                    continue;
                }
                if let Some(taken) = self.matches(stems, classes, i, p) {
                    best = Some((p.words.len(), taken, &p.replacement));
                    break;
                }
            }
        }
        best.map(|(_, taken, r)| (taken, r))
    }

    /// The canonical words of a text with where they sit in its coordination.
    fn analyse(&self, text: &str) -> Analysis {
        // A question mark or full stop ends a question: "Any chest pain? And do you get puffed
        // out on hills?" asks two things, like an "or".
        let mut stems = Vec::new();
        let mut surface = Vec::new();
        let mut sentence_starts = Vec::new();
        for sentence in text.split(SENTENCE_ENDS) {
            let first = stems.len();
            for w in Self::tokens(sentence) {
                let (stem, word) = self.stem_word(&w);
                stems.push(stem);
                surface.push(word);
            }
            if first > 0 && stems.len() > first {
                sentence_starts.push(first);
            }
        }
        let classes: Vec<u8> = stems
            .iter()
            .map(|s| self.class.get(s).copied().unwrap_or(0))
            .collect();
        let mut out = Vec::with_capacity(stems.len());
        let mut segments = Vec::with_capacity(stems.len());
        let mut alternatives = Vec::with_capacity(stems.len());
        let mut segment = 0u16;
        let mut alternative = 0u16;
        let mut before = 0;
        // "between loose and blocked up" is one thing: the "and" of a "between" joins its two
        // ends, it does not start another alternative.
        let mut between = false;
        let mut i = 0;
        while i < stems.len() {
            if sentence_starts.contains(&i) {
                segment = segment.saturating_add(1);
                alternative = alternative.saturating_add(1);
                between = false;
            }
            let unlisted = self
                .exact_words
                .get(&stems[i])
                .is_some_and(|listed| !listed.contains(&surface[i]));
            match self.synonym_at(&stems, &classes, i, unlisted) {
                Some((taken, replacement)) => {
                    before += replacement.len();
                    out.extend(replacement.iter().cloned());
                    segments.extend(replacement.iter().map(|_| segment));
                    alternatives.extend(replacement.iter().map(|_| alternative));
                    i += taken;
                }
                None => {
                    let c = classes[i];
                    if stems[i] == "between" {
                        between = true;
                    } else if between && c & AND != 0 {
                        between = false;
                    } else if c & COORDINATOR != 0 {
                        segment = segment.saturating_add(1);
                        if c & AND == 0 {
                            alternative = alternative.saturating_add(1);
                        }
                    }
                    if c & GLUE_WORD == 0 {
                        before += 1;
                    }
                    if c & STOP == 0 {
                        out.push(stems[i].clone());
                        segments.push(segment);
                        alternatives.push(alternative);
                    }
                    i += 1;
                }
            }
        }
        // "Do your hips and knees ache?" joins two body parts of one complaint, not two
        // complaints: a coordinator between two words that mean the same joins nothing.
        for k in 1..out.len() {
            if out[k] == out[k - 1] && segments[k] != segments[k - 1] {
                let (ds, da) = (
                    segments[k] - segments[k - 1],
                    alternatives[k] - alternatives[k - 1],
                );
                segments[k..].iter_mut().for_each(|s| *s -= ds);
                alternatives[k..].iter_mut().for_each(|a| *a -= da);
            }
        }
        Analysis {
            words: out,
            segments,
            alternatives,
            before,
            stems,
            classes,
        }
    }
}

/// A text as matching sees it.
#[derive(Debug)]
struct Analysis {
    /// Canonical words.
    words: Vec<String>,
    /// For each word, how many coordinators ("or", "and") came before it: "joint pain or
    /// swelling" puts "swelling" in another segment than "joint pain".
    segments: Vec<u16>,
    /// For each word, how many alternatives ("or", "nor") came before it.
    alternatives: Vec<u16>,
    /// Words before stop words went out, not counting [`GLUE`].
    before: usize,
    /// Every word stemmed, stop words in, synonyms not applied.
    stems: Vec<String>,
    /// [`Normalizer::class`] of each of `stems`.
    classes: Vec<u8>,
}

/// Flags of [`Normalizer::class`].
const STOP: u8 = 1;
const GLUE_WORD: u8 = 2;
const COORDINATOR: u8 = 4;
const AND: u8 = 8;

/// Characters that end a sentence.
const SENTENCE_ENDS: &[char] = &['?', '!', '.', ';'];

/// Words that join alternatives in a question.
const COORDINATORS: &[&str] = &["or", "and", "nor"];

/// Articles, pronouns and prepositions: words whose loss does not change what a phrase names
/// (stems).
const GLUE: &[&str] = &[
    "a", "an", "the", "of", "in", "on", "at", "to", "for", "with", "and", "or", "my", "your", "i",
    "you", "me",
];

/// One phrase: its canonical words, the finding it names and the others that share it.
#[derive(Debug)]
struct Phrase {
    words: Vec<String>,
    /// `words` as ids.
    ids: Vec<u32>,
    /// Alternatives ("or") inside the phrase itself ("asthma or hay fever": 1).
    coordinators: u16,
    /// The owner was authored for the phrase or is named by it, not chosen among lay lists.
    settled: bool,
    /// A single word that many phrases share ("pain", "swelling"): it names its finding only
    /// when the question names nothing more specific.
    generic: bool,
    /// A single word that several phrases are built from ("urge", "mouth", "full"): on its own
    /// it names its finding only when the question says little else.
    common: bool,
    owner: FindingIdx,
    others: Vec<FindingIdx>,
}

/// Every finding's names and lay phrases, normalised once at start.
///
/// A phrase belongs to one finding: HPO gives specific terms the generic word as a lay synonym
/// ("cough" for "chronic cough"), and a patient asked "any cough?" means the generic one. So a
/// phrase shared by several findings goes to the finding it was authored for, else to a symptom
/// over a sign or test result, else to the finding whose own name it is, else to the finding
/// most diseases use. Specific findings stay reachable through their longer phrases.
#[derive(Debug)]
pub struct Lexicon {
    normalizer: Normalizer,
    phrases: Vec<Phrase>,
    /// Every phrase word → its id.
    word_ids: HashMap<String, u32>,
    /// Per word id: the phrases whose rarest word it is (a phrase can only match a question
    /// that has its rarest word, so that is the only word it is looked up by).
    by_rarest: Vec<Vec<u32>>,
    symptom: Vec<bool>,
    /// Stems of words a patient of low health literacy does not know.
    jargon: HashSet<String>,
    /// Stems of words that mark topics some patients are reluctant to discuss.
    sensitive: HashSet<String>,
    /// Per finding: whether its phrases touch a sensitive topic.
    sensitive_finding: Vec<bool>,
    /// Per finding: how many diseases list it.
    uses: Vec<u32>,
    /// Per finding: the ids of every word of its phrases, sorted.
    finding_words: Vec<Vec<u32>>,
    /// Per word id: how many phrases have the word.
    word_df: Vec<u32>,
    /// Per finding whose name lists several parts ("Attacks of headache, sweating and pounding
    /// heart", "Fear of further attacks with avoidance"): the ids of its name's words, sorted;
    /// empty for other findings.
    composite: Vec<Vec<u32>>,
    /// Per finding: whether `lexicon.json` gives it phrases (a finding questions are written
    /// for keeps the phrases it owns).
    curated: Vec<bool>,
    /// Per word id: the findings with authored phrases that use it, for the closest-finding
    /// fallback.
    word_curated: Vec<Vec<FindingIdx>>,
    /// Per word id: how rare it is among findings with authored phrases, ln(n / findings using
    /// it); a word none of them uses weighs [`Lexicon::unknown_idf`].
    idf: Vec<f32>,
    /// The weight of a word no finding with authored phrases uses.
    unknown_idf: f32,
    /// Phrases that make a question about someone else ("family history", "anyone else at
    /// home", "your partner").
    elsewhere: Vec<Elsewhere>,
    /// The first word of every [`Elsewhere`] run: most questions have none of them.
    elsewhere_first: HashSet<String>,
    /// Diseases a patient might name, in lay words: (disease index, name, the name normalised,
    /// profile findings sorted). The authored common diseases, not the rare ones.
    pub(crate) lay_diseases: Vec<LayDisease>,
    /// Per exam: the findings it reports with a sentence.
    pub(crate) exam_reports: Vec<Vec<FindingIdx>>,
    /// Per exam: (analyte id, finding read from it, an abnormal range from a disease profile).
    pub(crate) exam_analytes: Vec<Vec<(String, FindingIdx, Range)>>,
    /// The second reading, for paraphrases no phrase covers (`knowledge/paraphrase.json`).
    paraphrase: Option<Paraphrase>,
}

/// Words that make a question about someone else.
#[derive(Debug)]
struct Elsewhere {
    /// The stems to find in a row, stop words in, glue words skipped ("anyone else at home").
    run: Vec<String>,
    /// Glue words it ends with, part of it where the question has them ("anyone around you").
    tail: Vec<String>,
    /// Its canonical words: a finding about someone else has a phrase holding all of them.
    words: Vec<String>,
}

/// Words after which "you" is the person compared with or belonged to, not the subject: "had
/// the same as you", "a partner of yours".
const COMPARED: &[&str] = &["as", "like", "than", "of"];

/// How many times more diseases must list a finding named inside a phrase for it to take the
/// question from the phrase's lay-list owner.
const COMMON_RATIO: u32 = 3;

/// A phrase of at least this many words is long: a one-word hit beside it is part of the same
/// description.
const LONG_PHRASE: usize = 3;

/// A one-word phrase whose word is in at least this many phrases is generic.
const GENERIC_DF: usize = 40;

/// A one-word phrase whose word is in at least this many phrases is a building block of
/// descriptions rather than a description of its own.
const COMMON_DF: usize = 6;

/// A building-block word beside at least this many content words its finding's phrases never
/// use (and more than twice as many as they do use) is not what the question is about.
const UNEXPLAINED: usize = 4;

/// A word in at least this many phrases ("feel", "after") says nothing about what a question
/// is about.
const FILLER_DF: u32 = 60;

/// The closest-finding fallback names a finding only when it shares at least this many of the
/// question's words,
const CLOSEST_WORDS: usize = 3;
/// these carry at least this share of the question's weight (words weighed by rarity),
const CLOSEST_SHARE: f32 = 0.6;
/// and this many times the runner-up's. Set on the development sets as the loosest thresholds
/// that name nothing in their questions about something else (docs/validity.md, round 5).
const CLOSEST_MARGIN: f32 = 3.0;

/// Canonical words that say how often or how much, not what: a mention made of them and
/// filler ("going more often") is about the topic of the clause before it.
const QUANTITY: &[&str] = &[
    "frequent",
    "infrequent",
    "increas",
    "decreas",
    "more",
    "less",
];

/// How many words of a question no mention took must be a more specific finding's own for it
/// to take the mention from the general one.
const SPECIFIC_WORDS: usize = 2;

/// Extra words a phrase may be spread over in a question ("pain in your chest" for "chest
/// pain" is one extra word after stop words; word order is free).
const SLACK: usize = 2;

impl Lexicon {
    /// Builds the lexicon of a knowledge set.
    pub fn new(knowledge: &Knowledge) -> Self {
        let normalizer = Normalizer::new(&knowledge.lexicon);
        let mut uses = vec![0u32; knowledge.findings.len()];
        for d in &knowledge.diseases {
            for df in &d.findings {
                if let Some(f) = knowledge.finding_idx(&df.finding) {
                    uses[f as usize] += 1;
                }
            }
        }
        // words → (finding, authored for it, its own name)
        let mut owners: HashMap<Vec<String>, Vec<(FindingIdx, bool, bool)>> = HashMap::new();
        let mut coordinators: HashMap<Vec<String>, u16> = HashMap::new();
        let mut add = |a: Analysis, f: FindingIdx, authored: bool, named: bool| {
            let Analysis {
                mut words,
                before,
                alternatives,
                ..
            } = a;
            // Word order is free in matching, so one bag of words is one phrase.
            words.sort_unstable();
            // Only an authored phrase may join alternatives ("asthma or hay fever"); a lay
            // list's "fever and chills" or the name "Nausea and vomiting" must not swallow
            // "fever or chills?" or "nausea or vomiting?".
            let spread = if authored {
                alternatives.last().copied().unwrap_or(0)
                    - alternatives.first().copied().unwrap_or(0)
            } else {
                0
            };
            let c = coordinators.entry(words.clone()).or_default();
            *c = (*c).max(spread);
            // A phrase that stop words reduced to one word ("getting lost" → "lost") no longer
            // names its whole concept.
            if words.is_empty() || (words.len() == 1 && before > 1) {
                return;
            }
            let entry = owners.entry(words).or_default();
            match entry.iter_mut().find(|(g, _, _)| *g == f) {
                Some(e) => {
                    e.1 |= authored;
                    e.2 |= named;
                }
                None => entry.push((f, authored, named)),
            }
        };
        for (i, f) in knowledge.findings.iter().enumerate() {
            let i = i as FindingIdx;
            add(normalizer.analyse(&f.name), i, false, true);
            for p in &f.lay {
                add(normalizer.analyse(p), i, false, false);
            }
        }
        for (id, phrases) in &knowledge.lexicon.phrases {
            if let Some(i) = knowledge.finding_idx(id) {
                for p in phrases {
                    add(normalizer.analyse(p), i, true, false);
                }
            }
        }
        let symptom: Vec<bool> = knowledge
            .findings
            .iter()
            .map(|f| f.kind == FindingKind::Symptom)
            .collect();
        let mut phrases: Vec<Phrase> = owners
            .into_iter()
            .map(|(words, candidates)| {
                let &(owner, authored, named) = candidates
                    .iter()
                    .max_by_key(|&&(f, authored, named)| {
                        (
                            authored,
                            symptom[f as usize],
                            named,
                            uses[f as usize],
                            std::cmp::Reverse(f),
                        )
                    })
                    .unwrap_or(&candidates[0]);
                let mut others: Vec<FindingIdx> = candidates
                    .iter()
                    .map(|c| c.0)
                    .filter(|&f| f != owner)
                    .collect();
                others.sort_unstable();
                Phrase {
                    ids: Vec::new(),
                    settled: authored || named,
                    generic: false,
                    common: false,
                    coordinators: coordinators.get(&words).copied().unwrap_or(0),
                    words,
                    owner,
                    others,
                }
            })
            .collect();
        phrases.sort_by(|a, b| a.words.cmp(&b.words));
        let mut df: HashMap<String, usize> = HashMap::new();
        for p in &phrases {
            for w in &p.words {
                *df.entry(w.clone()).or_default() += 1;
            }
        }
        let generic: Vec<bool> = phrases
            .iter()
            .map(|p| {
                p.words.len() == 1
                    && df.get(p.words[0].as_str()).copied().unwrap_or(0) >= GENERIC_DF
            })
            .collect();
        for (p, g) in phrases.iter_mut().zip(generic) {
            p.generic = g;
            p.common = p.words.len() == 1
                && df.get(p.words[0].as_str()).copied().unwrap_or(0) >= COMMON_DF;
        }
        let mut word_ids: HashMap<String, u32> = HashMap::new();
        for p in &mut phrases {
            p.ids = p
                .words
                .iter()
                .map(|w| {
                    let next = word_ids.len() as u32;
                    *word_ids.entry(w.clone()).or_insert(next)
                })
                .collect();
        }
        let mut word_df = vec![0u32; word_ids.len()];
        for (w, &id) in &word_ids {
            word_df[id as usize] = df.get(w.as_str()).copied().unwrap_or(0) as u32;
        }
        let mut finding_words: Vec<Vec<u32>> = vec![Vec::new(); knowledge.findings.len()];
        for p in &phrases {
            for &f in std::iter::once(&p.owner).chain(&p.others) {
                finding_words[f as usize].extend(&p.ids);
            }
        }
        for w in &mut finding_words {
            w.sort_unstable();
            w.dedup();
        }
        let mut by_rarest: Vec<Vec<u32>> = vec![Vec::new(); word_ids.len()];
        for (i, p) in phrases.iter().enumerate() {
            let rarest = p
                .words
                .iter()
                .zip(&p.ids)
                .min_by_key(|&(w, id)| (df.get(w.as_str()).copied().unwrap_or(0), *id));
            if let Some((_, &id)) = rarest {
                by_rarest[id as usize].push(i as u32);
            }
        }
        let stems = |list: &[String]| -> HashSet<String> {
            list.iter()
                .flat_map(|w| Normalizer::tokens(w).map(|t| normalizer.stem(&t)))
                .collect()
        };
        let jargon = stems(&knowledge.lexicon.jargon);
        let sensitive = stems(&knowledge.lexicon.sensitive);
        let mut sensitive_finding = vec![false; knowledge.findings.len()];
        for p in &phrases {
            if p.words.iter().any(|w| sensitive.contains(w)) {
                sensitive_finding[p.owner as usize] = true;
            }
        }
        let elsewhere = knowledge
            .lexicon
            .elsewhere
            .iter()
            .map(|p| {
                let a = normalizer.analyse(p);
                let content = a.classes.iter().rposition(|c| c & GLUE_WORD == 0);
                let tail = a.stems[content.map_or(0, |i| i + 1)..].to_vec();
                let run = a
                    .stems
                    .into_iter()
                    .zip(a.classes)
                    .filter(|(_, c)| c & GLUE_WORD == 0)
                    .map(|(s, _)| s)
                    .collect();
                Elsewhere {
                    run,
                    tail,
                    words: a.words,
                }
            })
            .filter(|e: &Elsewhere| !e.run.is_empty() && !e.words.is_empty())
            .collect::<Vec<_>>();
        let elsewhere_first = elsewhere.iter().map(|e| e.run[0].clone()).collect();
        let (lay_diseases, exam_reports, exam_analytes) = examiner_tables(knowledge);
        let mut curated = vec![false; knowledge.findings.len()];
        for id in knowledge.lexicon.phrases.keys() {
            if let Some(f) = knowledge.finding_idx(id) {
                curated[f as usize] = true;
            }
        }
        let mut word_curated: Vec<Vec<FindingIdx>> = vec![Vec::new(); word_ids.len()];
        for (f, ws) in finding_words.iter().enumerate() {
            if curated[f] {
                for &w in ws {
                    word_curated[w as usize].push(f as FindingIdx);
                }
            }
        }
        let n = curated.iter().filter(|&&c| c).count().max(1) as f32;
        let unknown_idf = n.ln();
        let idf = word_curated
            .iter()
            .map(|fs| {
                if fs.is_empty() {
                    unknown_idf
                } else {
                    (n / fs.len() as f32).ln()
                }
            })
            .collect();
        // The commonest word of all phrases ("pain", which "headache" becomes too) is in too
        // many names to say which part a mention is.
        let commonest = word_df
            .iter()
            .enumerate()
            .max_by_key(|&(i, n)| (n, std::cmp::Reverse(i)))
            .map(|(i, _)| i as u32);
        let composite = knowledge
            .findings
            .iter()
            .map(|f| {
                if ![", ", " and ", " with "].iter().any(|j| f.name.contains(j)) {
                    return Vec::new();
                }
                let mut ids: Vec<u32> = normalizer
                    .analyse(&f.name)
                    .words
                    .iter()
                    .filter_map(|w| word_ids.get(w).copied())
                    .filter(|&w| Some(w) != commonest)
                    .collect();
                ids.sort_unstable();
                ids.dedup();
                ids
            })
            .collect();
        Lexicon {
            paraphrase: Paraphrase::new(knowledge),
            composite,
            word_curated,
            idf,
            unknown_idf,
            elsewhere_first,
            lay_diseases,
            exam_reports,
            exam_analytes,
            curated,
            uses,
            finding_words,
            word_df,
            elsewhere,
            normalizer,
            phrases,
            word_ids,
            by_rarest,
            symptom,
            jargon,
            sensitive,
            sensitive_finding,
        }
    }

    /// Number of phrases.
    pub fn len(&self) -> usize {
        self.phrases.len()
    }

    /// Whether the lexicon is empty.
    pub fn is_empty(&self) -> bool {
        self.phrases.is_empty()
    }

    /// The canonical words of a text, as matching sees them.
    pub fn words(&self, text: &str) -> Vec<String> {
        self.normalizer.words(text)
    }

    /// The normaliser, for callers that compare their own phrases.
    pub fn normalizer(&self) -> &Normalizer {
        &self.normalizer
    }

    /// The first word of the text that a patient of low health literacy would not know.
    pub fn jargon_in<'t>(&self, text: &'t str) -> Option<&'t str> {
        text.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .find(|w| {
                self.jargon
                    .contains(&self.normalizer.stem(&w.to_lowercase()))
            })
    }

    /// Whether a finding belongs to a topic some patients are reluctant to discuss (bladder,
    /// bowels, sex, mood, drink and drugs).
    pub fn is_sensitive(&self, finding: FindingIdx) -> bool {
        self.sensitive_finding
            .get(finding as usize)
            .copied()
            .unwrap_or(false)
    }

    /// Whether the text touches a sensitive topic.
    pub fn mentions_sensitive(&self, text: &str) -> bool {
        !self.sensitive.is_empty() && self.words(text).iter().any(|w| self.sensitive.contains(w))
    }

    /// Every phrase whose words the question contains (within the window), with the finding
    /// that owns it: for content authors checking why a question names what it names.
    pub fn explain(&self, question: &str) -> Vec<(Vec<String>, FindingIdx)> {
        let words = self.words(question);
        let ids = self.ids(&words);
        self.candidates(&ids)
            .into_iter()
            .filter(|&c| window(&ids, &self.phrases[c as usize].ids, SLACK).is_some())
            .map(|c| {
                let p = &self.phrases[c as usize];
                (p.words.clone(), p.owner)
            })
            .collect()
    }

    /// The ids of words (`u32::MAX` for a word no phrase has).
    fn ids(&self, words: &[String]) -> Vec<u32> {
        words
            .iter()
            .map(|w| self.word_ids.get(w).copied().unwrap_or(u32::MAX))
            .collect()
    }

    /// Phrases all of whose words the question has, in phrase order.
    fn candidates(&self, ids: &[u32]) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::new();
        for (i, &id) in ids.iter().enumerate() {
            if id == u32::MAX || ids[..i].contains(&id) {
                continue;
            }
            for &c in &self.by_rarest[id as usize] {
                let p = &self.phrases[c as usize].ids;
                let has_all = p.iter().enumerate().all(|(j, w)| {
                    // As many times as the phrase has it ("sleep ... sleep").
                    let need = p[..=j].iter().filter(|x| *x == w).count();
                    ids.iter().filter(|x| *x == w).count() >= need
                });
                if has_all {
                    out.push(c);
                }
            }
        }
        out.sort_unstable();
        out
    }

    /// Understands a question: which findings it names and which detail it wants. When the
    /// question names a symptom, findings only an examination could show are dropped: the
    /// patient answers what they can feel.
    ///
    /// Where the knowledge set has a paraphrase model, it reads a plain question about the
    /// patient too: a presence question the phrases name nothing in is about the model's top
    /// finding when the model is sure of it (`rule.name`), and a question they read as one
    /// finding is about the model's top class instead when the model is fairly sure of that
    /// (`rule.replace`) and finds the lexicon's finding far less likely (`rule.ratio` of it),
    /// unless the words matched the phrase of a finding the model was not trained on.
    /// A question read as several findings loses those the model finds far less likely than its
    /// top class, when that class is one of them (`rule.prune`: "lost strength in your arm and
    /// leg on the same side" is hemiparesis, not generalized weakness too); one that joins them
    /// with "or" asks about each and keeps them all.
    pub fn understand(&self, question: &str) -> Question {
        let Understood {
            question: mut q,
            about_patient,
            mut matched,
        } = self.understand_with(question, SLACK, true);
        if q.findings.iter().any(|&f| self.symptom[f as usize]) {
            let keep: Vec<bool> = q
                .findings
                .iter()
                .map(|&f| self.symptom[f as usize])
                .collect();
            for list in [&mut q.findings, &mut matched] {
                let mut k = keep.iter();
                list.retain(|_| *k.next().unwrap_or(&true));
            }
            let mut k = keep.iter();
            q.variants.retain(|_| *k.next().unwrap_or(&true));
        }
        if about_patient && let Some(model) = &self.paraphrase {
            reread(model, question, &mut q, &matched);
        }
        q
    }

    /// Whether the knowledge set's paraphrase model is loaded.
    pub fn has_paraphrase_model(&self) -> bool {
        self.paraphrase.is_some()
    }

    /// Every finding the words of a text name, symptoms or not (an exam report read back).
    pub fn understand_all(&self, question: &str) -> Question {
        self.understand_with(question, SLACK, false).question
    }

    /// The finding whose authored phrases share the most of a question's rare words (word
    /// ids), with (its weight of shared words, their share of the question's weight, the
    /// runner-up's weight, how many words it shares).
    fn closest_ids(&self, ids: &[u32]) -> Option<(FindingIdx, f32, f32, f32, usize)> {
        let mut total = 0.0f32;
        let mut scores: HashMap<FindingIdx, (f32, usize)> = HashMap::new();
        for (i, &id) in ids.iter().enumerate() {
            if ids[..i].contains(&id) {
                continue;
            }
            let Some(fs) = self.word_curated.get(id as usize) else {
                total += self.unknown_idf;
                continue;
            };
            let w = self.idf[id as usize];
            total += w;
            for &f in fs {
                let s = scores.entry(f).or_default();
                s.0 += w;
                s.1 += 1;
            }
        }
        // The best and the runner-up, ties to the lower index (independent of hash order).
        let mut best: Option<(FindingIdx, f32, usize)> = None;
        let mut second = 0.0f32;
        for (&f, &(w, n)) in &scores {
            match best {
                Some((bf, bw, _)) if w < bw || (w == bw && f > bf) => second = second.max(w),
                _ => {
                    if let Some((_, bw, _)) = best {
                        second = second.max(bw);
                    }
                    best = Some((f, w, n));
                }
            }
        }
        let (f, best, shared) = best?;
        Some((f, best, best / total.max(f32::MIN_POSITIVE), second, shared))
    }

    /// A more specific finding than `general` that the rest of a question describes: its
    /// phrases use every word of the mention (`positions`) that named `general`, fewer
    /// diseases list it, and of the words in the mention's alternative that no mention took it
    /// alone uses at least [`SPECIFIC_WORDS`], more than any other such finding ("does your back
    /// pain ease with exercise but not with rest?" is inflammatory back pain).
    fn specialise(
        &self,
        general: FindingIdx,
        positions: &[usize],
        ids: &[u32],
        taken: &[bool],
        alternatives: &[u16],
    ) -> Option<FindingIdx> {
        let alternative = alternatives[positions[0]];
        let mut rest: Vec<u32> = ids
            .iter()
            .enumerate()
            .filter(|&(i, &id)| {
                !taken[i]
                    && alternatives[i] == alternative
                    && self
                        .word_df
                        .get(id as usize)
                        .is_some_and(|&n| n < FILLER_DF)
            })
            .map(|(_, &id)| id)
            .collect();
        rest.sort_unstable();
        rest.dedup();
        let mention: Vec<u32> = positions.iter().map(|&p| ids[p]).collect();
        let has = |f: FindingIdx, w: &u32| self.finding_words[f as usize].binary_search(w).is_ok();
        let mut best: Option<(usize, FindingIdx)> = None;
        let mut tied = false;
        for &s in self.word_curated.get(*mention.first()? as usize)? {
            if s == general
                || !self.symptom[s as usize]
                || self.uses[s as usize] > self.uses[general as usize]
                || !mention.iter().all(|w| has(s, w))
            {
                continue;
            }
            let n = rest
                .iter()
                .filter(|w| has(s, w) && !has(general, w))
                .count();
            match best {
                Some((b, _)) if n < b => {}
                Some((b, _)) if n == b => tied = true,
                _ => {
                    best = Some((n, s));
                    tied = false;
                }
            }
        }
        best.filter(|&(n, _)| n >= SPECIFIC_WORDS && !tied)
            .map(|(_, s)| s)
    }

    /// A finding whose name lists several parts, two or more of which mentions of one
    /// alternative name
    /// (`kept`: (positions, phrases)), with the indices of those mentions in order. Each part's
    /// words are among the finding's phrase words, and the rest of the alternative says it is
    /// one thing: a word of the finding's own ("spells", "attacks", "sudden") that no part's
    /// finding uses. The finding with the most parts wins; a tie names none.
    fn composite(
        &self,
        kept: &[(Vec<usize>, Vec<u32>)],
        ids: &[u32],
        alternatives: &[u16],
    ) -> Option<(FindingIdx, Vec<usize>)> {
        if kept.len() < 2 {
            return None;
        }
        let has = |f: FindingIdx, w: &u32| self.finding_words[f as usize].binary_search(w).is_ok();
        let owner = |ps: &Vec<u32>| self.phrases[ps[0] as usize].owner;
        let mut candidates: Vec<FindingIdx> = kept
            .iter()
            .flat_map(|(pos, _)| pos.iter().map(|&p| ids[p]))
            .filter_map(|w| self.word_curated.get(w as usize))
            .flatten()
            .copied()
            .filter(|&c| self.symptom[c as usize] && !self.composite[c as usize].is_empty())
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        let mut taken = vec![false; ids.len()];
        for (pos, _) in kept {
            pos.iter().for_each(|&p| taken[p] = true);
        }
        let mut best: Option<(FindingIdx, Vec<usize>)> = None;
        let mut tied = false;
        for c in candidates {
            for alternative in 0..=alternatives.iter().copied().max().unwrap_or(0) {
                // A part wholly in the finding's words, or one naming something its name lists.
                let part = |pos: &Vec<usize>| {
                    pos.iter().all(|&p| alternatives[p] == alternative)
                        && pos
                            .iter()
                            .any(|&p| self.composite[c as usize].binary_search(&ids[p]).is_ok())
                };
                let whole: Vec<usize> = (0..kept.len())
                    .filter(|&i| {
                        let pos = &kept[i].0;
                        pos.iter().all(|&p| alternatives[p] == alternative)
                            && pos.iter().all(|&p| has(c, &ids[p]))
                    })
                    .collect();
                // Its own phrase among the parts says it is one thing already.
                let named = whole.iter().any(|&i| owner(&kept[i].1) == c);
                let mut owners: Vec<FindingIdx> = whole
                    .iter()
                    .map(|&i| owner(&kept[i].1))
                    .filter(|&o| o != c)
                    .collect();
                owners.sort_unstable();
                owners.dedup();
                // Beside two whole parts (or its own phrase), a mention that is partly the
                // finding's is another part ("sweat buckets", "head thumps").
                let parts: Vec<usize> = (0..kept.len())
                    .filter(|&i| {
                        let pos = &kept[i].0;
                        whole.contains(&i) || part(pos)
                    })
                    .collect();
                let one_thing = if named {
                    // Beside its own phrase, a part names something its name lists.
                    parts
                        .iter()
                        .any(|&i| owner(&kept[i].1) != c && part(&kept[i].0))
                } else {
                    // Parts alone are not enough ("headaches and sweats?"): a word of the
                    // finding's own that no part's finding uses must say they come together.
                    owners.len() >= 2
                        && (0..ids.len()).any(|i| {
                            !taken[i]
                                && alternatives[i] == alternative
                                && self
                                    .word_df
                                    .get(ids[i] as usize)
                                    .is_some_and(|&n| n < FILLER_DF)
                                && has(c, &ids[i])
                                && !owners.iter().any(|&o| has(o, &ids[i]))
                        })
                };
                if !one_thing {
                    continue;
                }
                match &best {
                    Some((_, b)) if parts.len() < b.len() => {}
                    Some((_, b)) if parts.len() == b.len() => tied = true,
                    _ => {
                        best = Some((c, parts));
                        tied = false;
                    }
                }
            }
        }
        best.filter(|_| !tied)
    }

    fn understand_with(&self, question: &str, slack: usize, fallback: bool) -> Understood {
        let attribute = attribute_of(question);
        let Analysis {
            words,
            segments,
            alternatives,
            stems,
            classes,
            ..
        } = self.normalizer.analyse(question);
        // "Any family history of heart disease?", "has anyone else at home been sick?" ask
        // about someone else: they name only a finding that is itself about someone else,
        // through an authored phrase or its name that has the same words ("does kidney disease
        // run in your family?"). Not when the patient does something too: "does your partner
        // say you snore?", "do you get away from the kids' noise?" are about the patient, while
        // "do you have a family history of …" and "… the same as you" still are not.
        let someone = stems.iter().any(|s| self.elsewhere_first.contains(s));
        let elsewhere: Vec<&Vec<String>> = self
            .elsewhere
            .iter()
            .filter(|_| someone)
            .filter(|e| {
                elsewhere_span(&stems, &classes, &e.run).is_some_and(|(start, mut end)| {
                    if stems[end..].starts_with(&e.tail) {
                        end += e.tail.len();
                    }
                    !(0..stems.len()).any(|i| {
                        let patient = match stems[i].as_str() {
                            "you" | "yourself" => i < start || i >= end,
                            // "your snoring" after the partner is the patient's.
                            "your" => i >= end,
                            _ => false,
                        };
                        patient
                            && !(i > 0 && COMPARED.contains(&stems[i - 1].as_str()))
                            && !possessive(&stems[i + 1..])
                    })
                })
            })
            .map(|e| &e.words)
            .collect();
        let ids = self.ids(&words);
        let mut candidates = self.candidates(&ids);
        if !elsewhere.is_empty() {
            candidates.retain(|&c| {
                let p = &self.phrases[c as usize];
                p.settled
                    && elsewhere
                        .iter()
                        .any(|e| e.iter().all(|w| p.words.contains(w)))
            });
        }

        // (crosses a coordinator, phrase length, spans an "and", window length, positions,
        // phrase) of every phrase found.
        let mut hits: Vec<(bool, usize, bool, usize, Vec<usize>, u32)> = Vec::new();
        for c in candidates {
            let phrase = &self.phrases[c as usize];
            if let Some(positions) = window(&ids, &phrase.ids, slack) {
                let span = positions[positions.len() - 1] - positions[0] + 1;
                let (lo, hi) = positions.iter().fold((u16::MAX, 0), |(lo, hi), &p| {
                    (lo.min(alternatives[p]), hi.max(alternatives[p]))
                });
                let crosses = hi - lo > phrase.coordinators;
                let joins = segments[positions[0]] != segments[positions[positions.len() - 1]];
                hits.push((crosses, phrase.words.len(), joins, span, positions, c));
            }
        }
        // Phrases inside one alternative first ("chest pain or shortness of breath" is two
        // findings, not "chest pain on breathing"), then the longest phrase, then the tightest
        // window: a phrase whose words a longer phrase already took ("pain" inside "chest
        // pain") is not a second finding. Of two as long, the one inside one side of an "and"
        // goes first: "is your urine dark and your stool pale?" is dark urine and pale stool,
        // not black stool taking "dark" across the "and".
        hits.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then(b.1.cmp(&a.1))
                .then(a.2.cmp(&b.2))
                .then(a.3.cmp(&b.3))
                .then(a.4.cmp(&b.4))
                .then(a.5.cmp(&b.5))
        });
        let mut covered = vec![false; words.len()];
        // (positions, phrases): phrases over exactly the same words ("salt craving", "craving
        // salt") are one mention, and every finding they name is a variant of the first; so is
        // every finding of a phrase inside it ("tired" inside "tired easily").
        let mut kept: Vec<(Vec<usize>, Vec<u32>)> = Vec::new();
        let found: Vec<(Vec<usize>, u32)> = hits.iter().map(|h| (h.4.clone(), h.5)).collect();
        for (_, _, _, _, positions, phrase) in hits {
            if positions.iter().all(|&p| covered[p]) {
                if let Some(same) = kept
                    .iter_mut()
                    .find(|(p, _)| positions.iter().all(|x| p.contains(x)))
                {
                    same.1.push(phrase);
                }
                continue;
            }
            // A phrase sharing words with one already found is a second finding only across a
            // coordinator: "joint pain or swelling" names joint swelling too, but "trouble
            // catching your breath" does not name "trouble breathing" as well.
            // Its other words then belong to that mention too ("cramping" in "cramping pains in
            // your tummy" is not muscle cramps).
            let shares = positions.iter().any(|&p| covered[p]);
            if shares
                && !positions.iter().any(|&u| {
                    !covered[u]
                        && positions
                            .iter()
                            .any(|&c| covered[c] && segments[c] != segments[u])
                })
            {
                positions.iter().for_each(|&p| covered[p] = true);
                continue;
            }
            positions.iter().for_each(|&p| covered[p] = true);
            kept.push((positions, vec![phrase]));
        }
        // A generic word in the same alternative as something specific is part of it ("pain
        // when you breathe in" is pleuritic pain, not pain and something else), not a finding of
        // its own; alone in its alternative ("fever or chills?") it is one.
        // "Where does it hurt?" is about what was just discussed, not about pain in general.
        if attribute != Attribute::Presence {
            kept.retain(|(_, ps)| !self.phrases[ps[0] as usize].generic);
        }
        if kept.len() > 1 {
            let specific: Vec<u16> = kept
                .iter()
                .filter(|(_, ps)| !self.phrases[ps[0] as usize].generic)
                .flat_map(|(pos, _)| pos.iter().map(|&p| segments[p]))
                .collect();
            kept.retain(|(pos, ps)| {
                !self.phrases[ps[0] as usize].generic || !specific.contains(&segments[pos[0]])
            });
        }
        // A lone word beside a long, specific phrase is usually a word of the same description
        // ("small and cramped" handwriting, "hard to flush" stools), not a second finding.
        // A specific word that is a whole alternative of its own is another thing asked about:
        // "heartburn, or acid coming back up into your mouth?".
        if kept.iter().any(|(pos, _)| pos.len() >= LONG_PHRASE) {
            kept.retain(|(pos, ps)| {
                pos.len() > 1
                    || !self.phrases[ps[0] as usize].generic
                        && alternatives
                            .iter()
                            .filter(|&&a| a == alternatives[pos[0]])
                            .count()
                            == 1
            });
        }
        // A word many descriptions are built from, among content words its finding's phrases
        // never use, is not what the question asks about: "the urge to chew chalk or soil" is
        // not urinary urgency, "breathe through your mouth because no air gets through your
        // nostrils" not a mouth finding. Better not understood than misunderstood. Words the
        // finding's own phrases use speak for it ("thirsty even after drinking plenty of
        // fluids" keeps thirst), and a word another phrase took speaks against it.
        // Per word: the alternative of the mention that took it, when that mention lies wholly
        // inside one alternative.
        let mut taken_in: Vec<Option<u16>> = vec![None; words.len()];
        for (pos, _) in &kept {
            if pos.iter().all(|&p| alternatives[p] == alternatives[pos[0]]) {
                pos.iter()
                    .for_each(|&p| taken_in[p] = Some(alternatives[p]));
            }
        }
        kept.retain(|(pos, ps)| {
            let p = &self.phrases[ps[0] as usize];
            if pos.len() > 1 || !p.common {
                return true;
            }
            // The findings the word may name: its owner and the variants beside it.
            let findings: Vec<FindingIdx> = ps
                .iter()
                .flat_map(|&q| {
                    let q = &self.phrases[q as usize];
                    std::iter::once(q.owner).chain(q.others.iter().copied())
                })
                .collect();
            let (mut known, mut alien) = (0, 0);
            for (i, id) in ids.iter().enumerate() {
                // Words a mention inside another alternative took are another question
                // ("heartburn, or acid coming back up into your mouth?").
                if i == pos[0] || taken_in[i].is_some_and(|a| a != alternatives[pos[0]]) {
                    continue;
                }
                if findings
                    .iter()
                    .any(|&f| self.finding_words[f as usize].binary_search(id).is_ok())
                {
                    known += 1;
                } else if covered[i]
                    || self
                        .word_df
                        .get(*id as usize)
                        .is_none_or(|&n| n < FILLER_DF)
                {
                    alien += 1;
                }
            }
            alien < UNEXPLAINED || alien <= 2 * known
        });
        // "Does it sting when you pee, and are you going more often?": a mention of nothing but
        // how often or how much ("going more often") is about the topic of the clause before it,
        // so a phrase that joins its words to a word the earlier mention took names it.
        for k in 0..kept.len() {
            let (pos, ps) = &kept[k];
            let quantity: Vec<usize> = pos
                .iter()
                .copied()
                .filter(|&p| QUANTITY.contains(&words[p].as_str()))
                .collect();
            if quantity.is_empty() {
                continue;
            }
            let owner = self.phrases[ps[0] as usize].owner;
            let earlier: Vec<usize> = kept
                .iter()
                .filter(|(q, _)| segments[q[q.len() - 1]] < segments[pos[0]])
                .flat_map(|(q, _)| q.iter().copied())
                .collect();
            let borrowed = found.iter().find(|(q, h)| {
                let f = self.phrases[*h as usize].owner;
                f != owner
                    && q.iter().all(|&p| alternatives[p] == alternatives[pos[0]])
                    && quantity.iter().all(|p| q.contains(p))
                    && pos.iter().all(|&p| {
                        quantity.contains(&p)
                            || self.finding_words[f as usize]
                                .binary_search(&ids[p])
                                .is_ok()
                    })
                    && q.iter().any(|p| earlier.contains(p))
                    && q.iter().all(|p| pos.contains(p) || earlier.contains(p))
            });
            if let Some(&(_, h)) = borrowed {
                kept[k].1.insert(0, h);
            }
        }
        // "Banging head, drenching sweat and heart going like the clappers, which then pass" is
        // one attack of several parts, not head-banging and sweating: its mentions become one.
        let composite = self.composite(&kept, &ids, &alternatives);
        if let Some((_, parts)) = &composite {
            let mut merged: (Vec<usize>, Vec<u32>) = (Vec::new(), Vec::new());
            for &i in parts.iter().rev() {
                let (pos, ps) = kept.remove(i);
                merged.0.extend(pos);
                merged.1.splice(0..0, ps);
            }
            merged.0.sort_unstable();
            kept.insert(parts[0], merged);
        }
        let composite = composite.map(|(c, parts)| (kept[parts[0]].0.clone(), c));
        let mut taken = vec![false; words.len()];
        for (pos, _) in &kept {
            pos.iter().for_each(|&p| taken[p] = true);
        }
        // Without a coordinator a question asks about one thing ("episodes of sudden fear with
        // a racing heart" is panic): the best mention names it and the other mentions' findings
        // ride along as variants the patient may still affirm.
        let single = segments.last().copied().unwrap_or(0) == 0 && kept.len() > 1;
        let mut extra: Vec<u32> = Vec::new();
        if single {
            // The best mention of a common complaint, if there is one.
            let curated = |ps: &Vec<u32>| {
                ps.iter().any(|&p| {
                    let phrase = &self.phrases[p as usize];
                    std::iter::once(phrase.owner)
                        .chain(phrase.others.iter().copied())
                        .any(|f| self.curated[f as usize] && self.symptom[f as usize])
                })
            };
            if !curated(&kept[0].1)
                && let Some(i) = kept.iter().position(|(_, ps)| curated(ps))
            {
                kept.swap(0, i);
            }
            for (_, phrases) in kept.drain(1..) {
                extra.extend(phrases);
            }
        }
        kept.sort();
        let mut findings: Vec<FindingIdx> = Vec::new();
        let mut variants: Vec<Vec<FindingIdx>> = Vec::new();
        let mut matched: Vec<FindingIdx> = Vec::new();
        for (positions, phrases) in kept {
            let first = &self.phrases[phrases[0] as usize];
            let mut owner = first.owner;
            // A specific finding that owns a phrase only through a lay list ("morning headache"
            // for "wake up with a headache") yields to a far more common finding named by the
            // words inside it: what the question is about is the headache. Findings with
            // authored phrases keep theirs.
            if !first.settled && !self.curated[owner as usize] {
                let common = phrases[1..]
                    .iter()
                    .map(|&p| &self.phrases[p as usize])
                    .filter(|p| {
                        p.settled
                            && self.symptom[p.owner as usize]
                            && self.uses[p.owner as usize]
                                >= COMMON_RATIO * self.uses[owner as usize].max(1)
                    })
                    .max_by_key(|p| {
                        (
                            p.words.len(),
                            self.uses[p.owner as usize],
                            std::cmp::Reverse(p.owner),
                        )
                    });
                if let Some(p) = common {
                    owner = p.owner;
                }
            }
            // Likewise a finding nobody wrote questions for yields to one that shares the words
            // and has authored phrases: questions are about common complaints.
            if !self.curated[owner as usize] {
                let curated = phrases
                    .iter()
                    .map(|&p| &self.phrases[p as usize])
                    .flat_map(|p| std::iter::once(p.owner).chain(p.others.iter().copied()))
                    .filter(|&f| self.curated[f as usize] && self.symptom[f as usize])
                    .max_by_key(|&f| (self.uses[f as usize], std::cmp::Reverse(f)));
                if let Some(f) = curated {
                    owner = f;
                }
            }
            // "Pressure in your chest, like a weight" is chest tightness, not chest pain: the
            // rest of the question says which kind of the general finding it is.
            if let Some((_, c)) = composite.as_ref().filter(|(p, _)| *p == positions) {
                owner = *c;
            } else if let Some(s) = self.specialise(owner, &positions, &ids, &taken, &alternatives)
            {
                owner = s;
            }
            let i = findings
                .iter()
                .position(|&f| f == owner)
                .unwrap_or_else(|| {
                    findings.push(owner);
                    variants.push(Vec::new());
                    matched.push(first.owner);
                    findings.len() - 1
                });
            for &p in &phrases {
                let phrase = &self.phrases[p as usize];
                for &f in std::iter::once(&phrase.owner).chain(&phrase.others) {
                    if f != owner && !variants[i].contains(&f) {
                        variants[i].push(f);
                    }
                }
            }
        }
        if let Some(v) = variants.first_mut() {
            for &p in &extra {
                let phrase = &self.phrases[p as usize];
                for &f in std::iter::once(&phrase.owner).chain(&phrase.others) {
                    if f != findings[0] && !v.contains(&f) {
                        v.push(f);
                    }
                }
            }
        }
        // No phrase matched: a question whose rare words are mostly those of one finding's
        // phrases is about that finding ("have your clothes, belt and rings all become loose?"
        // is weight loss, though no phrase has those words together). Only for a plain
        // question about the patient.
        if fallback
            && findings.is_empty()
            && elsewhere.is_empty()
            && attribute == Attribute::Presence
            && let Some((f, weight, share, second, shared)) = self.closest_ids(&ids)
            && shared >= CLOSEST_WORDS
            && share >= CLOSEST_SHARE
            && weight >= CLOSEST_MARGIN * second
        {
            findings.push(f);
            variants.push(Vec::new());
            matched.push(f);
        }
        Understood {
            question: Question {
                findings,
                variants,
                attribute,
            },
            about_patient: elsewhere.is_empty(),
            matched,
        }
    }
}

/// The paraphrase model's say on a question the lexicon has read (see [`Lexicon::understand`]);
/// `matched` as in [`Understood`].
fn reread(model: &Paraphrase, question: &str, q: &mut Question, matched: &[FindingIdx]) {
    let rule = model.rule;
    match q.findings[..] {
        // Like the lexicon's closest-finding fallback, only for a plain question whether: "where
        // have your clothes become loose?" is not about weight loss.
        [] if q.attribute == Attribute::Presence => {
            let Some(reading) = model.read(question) else {
                return;
            };
            if let (Some(f), p) = reading.top()
                && p >= rule.name
            {
                *q = Question::about(f, Attribute::Presence);
            }
        }
        [named] => {
            let Some(reading) = model.read(question) else {
                return;
            };
            let (top, p) = reading.top();
            // The model judges only between findings it was trained on (the common diseases'
            // symptoms and history, not the rare diseases' thousands): when the words matched
            // the phrase of one it does not know, the lexicon's reading stands.
            let (Some(p_named), Some(_)) = (
                reading.probability(named),
                matched.first().and_then(|&m| reading.probability(m)),
            ) else {
                return;
            };
            if top != Some(named) && p >= rule.replace && p_named < rule.ratio * p {
                match top {
                    Some(f) => *q = Question::about(f, q.attribute),
                    None => {
                        q.findings.clear();
                        q.variants.clear();
                    }
                }
            }
        }
        // "Any cough or breathlessness?" asks about both, whatever a one-class model thinks.
        [_, _, ..] if rule.prune > 0.0 && !asks_alternatives(question) => {
            let Some(reading) = model.read(question) else {
                return;
            };
            let (Some(top), p) = reading.top() else {
                return;
            };
            if !q.findings.contains(&top) {
                return;
            }
            // Judged only where the model knows every finding named and every phrase matched.
            if matched.iter().any(|&m| reading.probability(m).is_none()) {
                return;
            }
            let Some(mut keep) = q
                .findings
                .iter()
                .map(|&f| reading.probability(f).map(|pf| pf >= rule.prune * p))
                .collect::<Option<Vec<bool>>>()
            else {
                return;
            };
            // A one-class model reads "did you have a fit and bite your tongue?" as one of the
            // two; read alone, each side of the "and" names its own. Not when the whole means
            // something no side does ("lost strength in your arm and leg on the same side").
            if keep.contains(&false) {
                let sides: Vec<Option<FindingIdx>> = and_parts(question)
                    .into_iter()
                    .filter_map(|part| model.read(part).map(|r| r.top().0))
                    .collect();
                if sides.contains(&Some(top)) {
                    for (k, f) in keep.iter_mut().zip(&q.findings) {
                        *k |= sides.contains(&Some(*f));
                    }
                }
            }
            // `findings` and `variants` are parallel: drop the same positions from both.
            let mut k = keep.iter().copied();
            q.findings.retain(|_| k.next().unwrap_or(true));
            let mut k = keep.iter().copied();
            q.variants.retain(|_| k.next().unwrap_or(true));
        }
        _ => {}
    }
}

/// The parts of a question between its "and"s (none when it has no "and").
fn and_parts(question: &str) -> Vec<&str> {
    let b = question.as_bytes();
    let in_word = |i: usize| b.get(i).is_some_and(|c| c.is_ascii_alphanumeric());
    let mut parts = Vec::new();
    let mut start = 0;
    for i in 0..b.len().saturating_sub(2) {
        // An ASCII match starts and ends on character boundaries, so the slices below are sound.
        if i >= start
            && b[i..i + 3].eq_ignore_ascii_case(b"and")
            && !(i > 0 && in_word(i - 1))
            && !in_word(i + 3)
        {
            parts.push(&question[start..i]);
            start = i + 3;
        }
    }
    if !parts.is_empty() {
        parts.push(&question[start..]);
    }
    parts
}

/// Whether a question joins alternatives with "or" (each of them is asked about).
fn asks_alternatives(question: &str) -> bool {
    question
        .split(|c: char| !c.is_alphanumeric())
        .any(|w| w.eq_ignore_ascii_case("or"))
}

/// A question as the lexicon read it, with what the paraphrase model needs to know about it.
struct Understood {
    question: Question,
    /// Not about someone else.
    about_patient: bool,
    /// Per finding of `question`: the finding whose phrase the words matched, before a more
    /// common or more specific finding took the question over ("intention tremor" matched
    /// intention tremor, and the question goes to tremor, its authored common form).
    matched: Vec<FindingIdx>,
}

/// A disease a patient might name: (disease index, lay name, the name as
/// `medgym_clinic::text::normalize` words, profile findings sorted).
pub(crate) type LayDisease = (u32, String, Vec<String>, Vec<FindingIdx>);

/// Tables the simulator needs besides phrases: lay disease names, and what each exam can show.
#[allow(clippy::type_complexity)]
fn examiner_tables(
    k: &Knowledge,
) -> (
    Vec<LayDisease>,
    Vec<Vec<FindingIdx>>,
    Vec<Vec<(String, FindingIdx, Range)>>,
) {
    let mut lay_diseases = Vec::new();
    for (i, d) in k.diseases.iter().enumerate() {
        // Authored common diseases have slug ids; rare ones are "ORPHA:n" / "OMIM:n".
        if d.id.contains(':') {
            continue;
        }
        let lay = match d.synonyms.iter().find(|s| is_lay_name(s)) {
            Some(s) => s.clone(),
            None => {
                let mut chars = d.name.chars();
                chars.next().map_or_else(String::new, |c| {
                    c.to_lowercase().chain(chars).collect::<String>()
                })
            }
        };
        let mut findings: Vec<FindingIdx> = d
            .findings
            .iter()
            .filter_map(|df| k.finding_idx(&df.finding))
            .collect();
        findings.sort_unstable();
        let words = medgym_clinic::text::normalize(&lay);
        lay_diseases.push((i as u32, lay, words, findings));
    }
    let mut exam_reports = vec![Vec::new(); k.exams.len()];
    let mut exam_analytes = vec![Vec::new(); k.exams.len()];
    let mut ranges: HashMap<&str, Range> = HashMap::new();
    for d in &k.diseases {
        for df in &d.findings {
            if let Some(r) = df.value {
                ranges.entry(df.finding.as_str()).or_insert(r);
            }
        }
    }
    for (i, f) in k.findings.iter().enumerate() {
        for e in &f.exams {
            let Some(x) = k.exam_idx(e) else { continue };
            match &f.analyte {
                Some(a) => {
                    if let Some(&r) = ranges.get(f.id.as_str()) {
                        exam_analytes[x as usize].push((a.clone(), i as FindingIdx, r));
                    }
                }
                None if f.report.is_some() => exam_reports[x as usize].push(i as FindingIdx),
                None => {}
            }
        }
    }
    (lay_diseases, exam_reports, exam_analytes)
}

/// Whether a disease synonym reads like words a patient would use ("heart attack", "Crohn's
/// disease"), not an acronym ("STEMI", "HFrEF").
fn is_lay_name(s: &str) -> bool {
    let letters = s.chars().filter(|c| c.is_alphabetic()).count();
    letters >= 4
        && s.split(|c: char| c.is_whitespace() || c == '-').all(|w| {
            let mut cs = w.chars().filter(|c| c.is_alphabetic());
            match cs.next() {
                None => true,
                Some(_) => cs.all(|c| c.is_lowercase()),
            }
        })
}

/// Whether the words after a "you" say what the patient has ("you have a family history",
/// "you've got relatives"), not what they do ("you have to get away").
fn possessive(after: &[String]) -> bool {
    let after: Vec<&str> = after
        .iter()
        .map(String::as_str)
        .filter(|w| *w != "ve")
        .take(2)
        .collect();
    match after.as_slice() {
        ["have" | "got", next, ..] => *next != "to",
        ["have" | "got"] => true,
        _ => false,
    }
}

/// Where the first run of `run` in `stems` starts and ends (glue words between its words
/// skipped), if there is one.
fn elsewhere_span(stems: &[String], classes: &[u8], run: &[String]) -> Option<(usize, usize)> {
    (0..stems.len()).find_map(|start| {
        let mut j = start;
        for (k, w) in run.iter().enumerate() {
            if k > 0 {
                while j < stems.len() && classes[j] & GLUE_WORD != 0 {
                    j += 1;
                }
            }
            if stems.get(j) != Some(w) {
                return None;
            }
            j += 1;
        }
        Some((start, j))
    })
}

/// The positions of the phrase's words in the question, in any order, within a window at most
/// `slack` words longer than the phrase; the tightest such window. Exact runs win ties.
fn window(words: &[u32], phrase: &[u32], slack: usize) -> Option<Vec<usize>> {
    let n = phrase.len();
    if n > words.len() || n > 64 {
        return None;
    }
    let mut best: Option<(usize, usize)> = None; // (span, start)
    let mut positions = Vec::with_capacity(n);
    for start in 0..words.len() {
        if !phrase.contains(&words[start]) {
            continue;
        }
        let end = (start + n + slack).min(words.len());
        if let Some(span) = take(words, phrase, start, end, &mut positions)
            && best.is_none_or(|(b, _)| span < b)
        {
            best = Some((span, start));
            if span + 1 == n {
                break;
            }
        }
    }
    let (_, start) = best?;
    let end = (start + n + slack).min(words.len());
    take(words, phrase, start, end, &mut positions)?;
    Some(positions)
}

/// Greedily takes each phrase word's first unused occurrence in `words[start..end]` into
/// `positions` (sorted); the span they cover, if all were found.
fn take(
    words: &[u32],
    phrase: &[u32],
    start: usize,
    end: usize,
    positions: &mut Vec<usize>,
) -> Option<usize> {
    positions.clear();
    let mut used: u64 = 0;
    for w in phrase {
        let p = (start..end).find(|&p| used & (1 << (p - start)) == 0 && words[p] == *w)?;
        used |= 1 << (p - start);
        positions.push(p);
    }
    positions.sort_unstable();
    Some(positions[positions.len() - 1] - positions[0])
}

/// The detail a question asks for, read from its raw words (stop words included: "how long",
/// "which side").
fn attribute_of(question: &str) -> Attribute {
    let words: Vec<String> = Normalizer::tokens(question).collect();
    let has = |w: &str| words.iter().any(|x| x == w);
    let starts = |w: &str| words.iter().any(|x| x.starts_with(w));
    let pair = |a: &str, b: &str| words.windows(2).any(|p| p[0] == a && p[1] == b);
    let pair_in = |a: &str, bs: &[&str]| {
        words
            .windows(2)
            .any(|p| p[0] == a && bs.contains(&p[1].as_str()))
    };
    // A keyword counts only in the sense that asks for the detail: "when did it start?" asks
    // when, "do your fingers change colour when you go out in the cold?" asks whether; "rate it
    // out of 10" asks how bad, "out of breath" and "heart rate" do not.
    // "Did it start suddenly?", not "do you start fretting?" or "has someone had to start
    // helping you?".
    let started = words.windows(2).any(|p| {
        ["it", "they", "this", "that"].contains(&p[0].as_str())
            && ["start", "started", "starts", "began", "begin", "begins"].contains(&p[1].as_str())
    });
    // "Where is it?", not "the road where the crash took place".
    let where_asked = words.first().is_some_and(|w| w == "where")
        || pair_in(
            "where",
            &["is", "does", "did", "do", "was", "exactly", "abouts"],
        );
    if pair_in("when", &["did", "was", "were", "had", "has", "have", "do"])
        || words.len() == 1 && has("when")
        || pair("how", "long")
        || started
        || pair("since", "when")
        || pair("first", "notice")
        || pair("first", "noticed")
    {
        Attribute::Onset
    } else if where_asked
        || starts("locat")
        || pair("it", "spread")
        || pair("pain", "spread")
        || starts("spread") && has("anywhere")
        || starts("radiat")
        || pair("which", "side")
        || pair("which", "part")
        || pair("what", "part")
    {
        Attribute::Site
    } else if pair("how", "bad")
        || pair("how", "severe")
        || has("severe")
        || starts("severit")
        || has("scale")
        || has("rate") && !pair("heart", "rate") && !pair("pulse", "rate")
        || starts("intens")
        || words
            .windows(3)
            .any(|w| w[0] == "out" && w[1] == "of" && (w[2] == "ten" || w[2] == "10"))
    {
        Attribute::Severity
    } else if has("sharp")
        || has("dull")
        || has("describe")
        || has("throbbing")
        || has("stabbing")
        || has("crushing")
        || has("burning") && (has("or") || has("like"))
        || pair("feel", "like") && (has("it") || has("pain"))
        || pair("what", "kind")
        || pair("what", "sort")
    {
        Attribute::Character
    } else {
        Attribute::Presence
    }
}
