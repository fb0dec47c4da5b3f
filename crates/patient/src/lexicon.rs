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
    /// The detail asked for.
    pub attribute: Attribute,
}

/// Every finding's names and lay phrases, normalised once at start and indexed by first word,
/// so understanding a question costs a few hash lookups per word, whatever the lexicon's size.
#[derive(Debug)]
pub struct Lexicon {
    /// First word → (rest of the phrase, finding).
    by_first: HashMap<String, Vec<(Vec<String>, FindingIdx)>>,
    len: usize,
}

impl Lexicon {
    /// Builds the lexicon of a knowledge set.
    pub fn new(knowledge: &Knowledge) -> Self {
        let mut by_first: HashMap<String, Vec<(Vec<String>, FindingIdx)>> = HashMap::new();
        let mut len = 0;
        for (i, f) in knowledge.findings.iter().enumerate() {
            for p in std::iter::once(&f.name).chain(&f.lay) {
                let mut words = normalize(p);
                if words.is_empty() {
                    continue;
                }
                let first = words.remove(0);
                let entry = (words, i as FindingIdx);
                let bucket = by_first.entry(first).or_default();
                if !bucket.contains(&entry) {
                    bucket.push(entry);
                    len += 1;
                }
            }
        }
        Lexicon { by_first, len }
    }

    /// Number of phrases.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the lexicon is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Understands a question: which findings it names and which detail it wants.
    pub fn understand(&self, question: &str) -> Question {
        let words = normalize(question);
        // (length, start, finding) of every phrase occurrence.
        let mut hits: Vec<(usize, usize, FindingIdx)> = Vec::new();
        for (start, w) in words.iter().enumerate() {
            for (rest, finding) in self.by_first.get(w).into_iter().flatten() {
                if words[start + 1..].starts_with(rest) {
                    hits.push((rest.len() + 1, start, *finding));
                }
            }
        }
        // Longest first: a phrase inside a longer phrase already matched ("pain" inside
        // "chest pain") is not a second finding.
        hits.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let mut covered = vec![false; words.len()];
        let mut kept: Vec<(usize, usize, FindingIdx)> = Vec::new();
        for (len, start, finding) in hits {
            // A phrase shared by several findings names them all.
            let same_span = kept.iter().any(|&(s, l, _)| s == start && l == len);
            let span = &mut covered[start..start + len];
            if span.iter().all(|&c| c) && !same_span {
                continue;
            }
            span.iter_mut().for_each(|c| *c = true);
            kept.push((start, len, finding));
        }
        kept.sort();
        let mut findings = Vec::new();
        for (_, _, f) in kept {
            if !findings.contains(&f) {
                findings.push(f);
            }
        }
        Question {
            findings,
            attribute: attribute_of(&words),
        }
    }
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
