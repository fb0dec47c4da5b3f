//! Matching free-text questions to findings.

use std::collections::HashMap;

use medgym_clinic::text::normalize;
use medgym_clinic::{FindingIdx, Knowledge};

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

/// Every finding's names and lay phrases, normalised once at start.
///
/// A phrase belongs to one finding: HPO gives specific terms the generic word as a lay synonym
/// ("cough" for "chronic cough"), and a patient asked "any cough?" means the generic one. So a
/// phrase shared by several findings goes to the finding whose own name it is, else to the
/// finding most diseases use. Specific findings stay reachable through their longer phrases.
#[derive(Debug)]
pub struct Lexicon {
    /// (phrase words, owner, other findings with the same phrase), indexed by every word.
    phrases: Vec<(Vec<String>, FindingIdx, Vec<FindingIdx>)>,
    by_word: HashMap<String, Vec<u32>>,
}

/// Extra words a phrase may be spread over in a question ("pain in your chest" for "chest
/// pain" is one extra word; word order is free).
const SLACK: usize = 2;

impl Lexicon {
    /// Builds the lexicon of a knowledge set.
    pub fn new(knowledge: &Knowledge) -> Self {
        let mut uses = vec![0u32; knowledge.findings.len()];
        for d in &knowledge.diseases {
            for df in &d.findings {
                if let Some(f) = knowledge.finding_idx(&df.finding) {
                    uses[f as usize] += 1;
                }
            }
        }
        let mut owners: HashMap<Vec<String>, Vec<FindingIdx>> = HashMap::new();
        for (i, f) in knowledge.findings.iter().enumerate() {
            for p in std::iter::once(&f.name).chain(&f.lay) {
                let words = normalize(p);
                if words.is_empty() {
                    continue;
                }
                let owner = owners.entry(words).or_default();
                if !owner.contains(&(i as FindingIdx)) {
                    owner.push(i as FindingIdx);
                }
            }
        }
        let mut phrases: Vec<(Vec<String>, FindingIdx, Vec<FindingIdx>)> = owners
            .into_iter()
            .map(|(words, candidates)| {
                let named = candidates
                    .iter()
                    .copied()
                    .find(|&f| normalize(&knowledge.finding(f).name) == words);
                let owner = named.unwrap_or_else(|| {
                    candidates
                        .iter()
                        .copied()
                        .max_by_key(|&f| (uses[f as usize], std::cmp::Reverse(f)))
                        .unwrap_or(candidates[0])
                });
                let others = candidates.into_iter().filter(|&f| f != owner).collect();
                (words, owner, others)
            })
            .collect();
        phrases.sort();
        // Index each phrase under its rarest word only: a phrase matches only if all its words
        // are in the question, so one lookup finds it, and common words ("have", "pain") do not
        // drag thousands of candidates into every question.
        let mut frequency: HashMap<&str, u32> = HashMap::new();
        for (words, _, _) in &phrases {
            for w in words {
                *frequency.entry(w.as_str()).or_default() += 1;
            }
        }
        let mut by_word: HashMap<String, Vec<u32>> = HashMap::new();
        for (i, (words, _, _)) in phrases.iter().enumerate() {
            let rarest = words
                .iter()
                .min_by_key(|w| (frequency[w.as_str()], w.as_str()))
                .expect("phrases are non-empty");
            by_word.entry(rarest.clone()).or_default().push(i as u32);
        }
        Lexicon { phrases, by_word }
    }

    /// Number of phrases.
    pub fn len(&self) -> usize {
        self.phrases.len()
    }

    /// Whether the lexicon is empty.
    pub fn is_empty(&self) -> bool {
        self.phrases.is_empty()
    }

    /// Understands a question: which findings it names and which detail it wants.
    pub fn understand(&self, question: &str) -> Question {
        let words = normalize(question);
        let mut candidates: Vec<u32> = words
            .iter()
            .filter_map(|w| self.by_word.get(w))
            .flatten()
            .copied()
            .collect();
        candidates.sort_unstable();
        candidates.dedup();

        // (phrase length, window length, positions, phrase) of every phrase found.
        let mut hits: Vec<(usize, usize, Vec<usize>, u32)> = Vec::new();
        for c in candidates {
            let phrase = &self.phrases[c as usize].0;
            if let Some(positions) = window(&words, phrase) {
                let span = positions[positions.len() - 1] - positions[0] + 1;
                hits.push((phrase.len(), span, positions, c));
            }
        }
        // Longest phrase first, tightest window next: a phrase whose words a longer phrase
        // already took ("pain" inside "chest pain") is not a second finding.
        hits.sort_by(|a, b| {
            b.0.cmp(&a.0)
                .then(a.1.cmp(&b.1))
                .then(a.2.cmp(&b.2))
                .then(a.3.cmp(&b.3))
        });
        let mut covered = vec![false; words.len()];
        // (positions, phrases): phrases over exactly the same words ("salt craving", "craving
        // salt") are one mention, and every finding they name is a variant of the first.
        let mut kept: Vec<(Vec<usize>, Vec<u32>)> = Vec::new();
        for (_, _, positions, phrase) in hits {
            if positions.iter().all(|&p| covered[p]) {
                if let Some(same) = kept.iter_mut().find(|(p, _)| *p == positions) {
                    same.1.push(phrase);
                }
                continue;
            }
            positions.iter().for_each(|&p| covered[p] = true);
            kept.push((positions, vec![phrase]));
        }
        kept.sort();
        let mut findings: Vec<FindingIdx> = Vec::new();
        let mut variants: Vec<Vec<FindingIdx>> = Vec::new();
        for (_, phrases) in kept {
            let owner = self.phrases[phrases[0] as usize].1;
            let i = findings
                .iter()
                .position(|&f| f == owner)
                .unwrap_or_else(|| {
                    findings.push(owner);
                    variants.push(Vec::new());
                    findings.len() - 1
                });
            for &p in &phrases {
                let (_, o, others) = &self.phrases[p as usize];
                for &f in std::iter::once(o).chain(others) {
                    if f != owner && !variants[i].contains(&f) {
                        variants[i].push(f);
                    }
                }
            }
        }
        Question {
            findings,
            variants,
            attribute: attribute_of(&words),
        }
    }
}

/// The positions of the phrase's words in the question, in any order, within a window at most
/// `SLACK` words longer than the phrase; the tightest such window. Exact runs win ties.
fn window(words: &[String], phrase: &[String]) -> Option<Vec<usize>> {
    let n = phrase.len();
    if n > words.len() {
        return None;
    }
    let mut best: Option<Vec<usize>> = None;
    for start in 0..words.len() {
        if !phrase.contains(&words[start]) {
            continue;
        }
        let end = (start + n + SLACK).min(words.len());
        // Greedily take each phrase word's first unused occurrence inside the window.
        let mut used = vec![false; end - start];
        let mut positions = Vec::with_capacity(n);
        for w in phrase {
            match (start..end).find(|&p| !used[p - start] && &words[p] == w) {
                Some(p) => {
                    used[p - start] = true;
                    positions.push(p);
                }
                None => break,
            }
        }
        if positions.len() == n {
            positions.sort_unstable();
            let span = positions[n - 1] - positions[0];
            if best.as_ref().is_none_or(|b| span < b[n - 1] - b[0]) {
                best = Some(positions);
            }
            if span + 1 == n {
                break;
            }
        }
    }
    best
}

fn attribute_of(words: &[String]) -> Attribute {
    let has = |w: &str| words.iter().any(|x| x.starts_with(w));
    if has("when") || has("long") || has("start") || has("began") || has("begin") || has("since") {
        Attribute::Onset
    } else if has("where") || has("locat") || has("side") {
        Attribute::Site
    } else if has("bad") || has("sever") || has("scale") || has("rate") || has("intens") {
        Attribute::Severity
    } else {
        Attribute::Presence
    }
}
