//! What all episodes share: the knowledge set, the question lexicon, the search index.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use medgym_clinic::{ExamIdx, FindingIdx, FindingKind, Knowledge};
use medgym_patient::{Lexicon, Question};

use crate::memo::UnderstandMemo;

/// The smallest reference work-up, so a domain of symptom-only diseases does not make every
/// dollar enormous.
const MIN_REFERENCE_USD: f64 = 100.0;

/// The smallest reference discomfort (one venepuncture).
const MIN_REFERENCE_DISCOMFORT: f64 = 1.0;

/// A profile finding at least this frequent makes the exam that shows it a key exam.
const KEY_FREQUENCY: f64 = 0.5;

/// One knowledge-base passage returned by a search.
#[derive(Debug, Clone, PartialEq)]
pub struct Passage {
    /// Stable passage id.
    pub id: String,
    /// Where it comes from ("hpo", "icd10cm", ...).
    pub source: String,
    /// Title.
    pub title: String,
    /// Snippet of the text.
    pub snippet: String,
}

/// A knowledge-base search backend (the tantivy index lives in its own crate and plugs in here,
/// keeping this crate free of I/O).
pub trait SearchIndex: Send + Sync {
    /// The best `top_k` passages for the query.
    fn search(&self, query: &str, top_k: usize) -> Vec<Passage>;
}

/// Immutable state shared by every episode.
pub struct World {
    /// The clinical content.
    pub knowledge: Knowledge,
    /// Every finding's phrases, normalised.
    pub lexicon: Lexicon,
    /// The knowledge base, when loaded.
    pub search: Option<Arc<dyn SearchIndex>>,
    /// Per disease: its profile findings, sorted.
    pub(crate) disease_findings: Vec<Vec<FindingIdx>>,
    /// Per disease: exams that can reveal any profile finding, sorted.
    pub(crate) disease_exams: Vec<Vec<ExamIdx>>,
    /// Per case: its key exams, the ones that show its characteristic non-symptom findings.
    pub(crate) key_exams: Vec<Vec<ExamIdx>>,
    /// Per domain: the mean price and discomfort of its cases' key work-up, the units of the
    /// cost term.
    pub(crate) reference: HashMap<String, (f64, f64)>,
    /// Questions already understood, by their text.
    understood: UnderstandMemo,
}

impl fmt::Debug for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("World")
            .field("cases", &self.knowledge.cases.len())
            .field("lexicon", &self.lexicon.len())
            .field("search", &self.search.is_some())
            .finish()
    }
}

impl World {
    /// A world over a knowledge set, without a search index.
    pub fn new(knowledge: Knowledge) -> Self {
        let lexicon = Lexicon::new(&knowledge);
        let k = &knowledge;
        let exams_of = |f: FindingIdx| -> Vec<ExamIdx> {
            k.finding(f)
                .exams
                .iter()
                .filter_map(|e| k.exam_idx(e))
                .collect()
        };
        let disease_findings: Vec<Vec<FindingIdx>> = k
            .diseases
            .iter()
            .map(|d| {
                let mut v: Vec<_> = d
                    .findings
                    .iter()
                    .filter_map(|df| k.finding_idx(&df.finding))
                    .collect();
                v.sort_unstable();
                v.dedup();
                v
            })
            .collect();
        let disease_exams = disease_findings
            .iter()
            .map(|fs| {
                let mut v: Vec<_> = fs.iter().flat_map(|&f| exams_of(f)).collect();
                v.sort_unstable();
                v.dedup();
                v
            })
            .collect();
        let key_exams: Vec<Vec<ExamIdx>> = k
            .cases
            .iter()
            .map(|c| {
                let d = k.disease_of(c);
                let frequency = |id: &str| {
                    d.findings
                        .iter()
                        .find(|df| df.finding == id)
                        .map_or(0.0, |df| df.frequency)
                };
                let signs: Vec<(FindingIdx, f64)> = c
                    .findings
                    .iter()
                    .filter_map(|cf| {
                        k.finding_idx(&cf.finding)
                            .map(|f| (f, frequency(&cf.finding)))
                    })
                    .filter(|&(f, _)| k.finding(f).kind != FindingKind::Symptom)
                    .collect();
                let characteristic: Vec<FindingIdx> = signs
                    .iter()
                    .filter(|&&(_, p)| p >= KEY_FREQUENCY)
                    .map(|&(f, _)| f)
                    .collect();
                let chosen = if characteristic.is_empty() {
                    signs.iter().map(|&(f, _)| f).collect()
                } else {
                    characteristic
                };
                // The cheapest exam that shows each chosen finding.
                let mut v: Vec<ExamIdx> = chosen
                    .iter()
                    .filter_map(|&f| {
                        exams_of(f).into_iter().min_by(|&a, &b| {
                            k.exam(a)
                                .cost_usd
                                .total_cmp(&k.exam(b).cost_usd)
                                .then(a.cmp(&b))
                        })
                    })
                    .collect();
                v.sort_unstable();
                v.dedup();
                v
            })
            .collect();
        let mut sums: HashMap<String, (f64, f64, usize)> = HashMap::new();
        for (t, keys) in key_exams.iter().enumerate() {
            let entry = sums.entry(k.domain_of(t as u32).to_string()).or_default();
            entry.0 += keys.iter().map(|&e| k.exam(e).cost_usd).sum::<f64>();
            entry.1 += keys
                .iter()
                .map(|&e| f64::from(k.exam(e).discomfort))
                .sum::<f64>();
            entry.2 += 1;
        }
        let reference = sums
            .into_iter()
            .map(|(d, (usd, discomfort, n))| {
                let n = n as f64;
                (
                    d,
                    (
                        (usd / n).max(MIN_REFERENCE_USD),
                        (discomfort / n).max(MIN_REFERENCE_DISCOMFORT),
                    ),
                )
            })
            .collect();
        World {
            knowledge,
            lexicon,
            search: None,
            disease_findings,
            disease_exams,
            key_exams,
            reference,
            understood: UnderstandMemo::new(),
        }
    }

    /// What the lexicon understands of a question ([`Lexicon::understand`]), remembered for
    /// questions asked before.
    pub fn understand(&self, question: &str) -> Question {
        self.understood.understand(&self.lexicon, question)
    }

    /// The money that counts as one unit of cost in a domain: the mean price of its cases' key
    /// work-up (at least 100 USD).
    pub fn reference_usd(&self, domain: &str) -> f64 {
        self.reference
            .get(domain)
            .map_or(MIN_REFERENCE_USD, |r| r.0)
    }

    /// The discomfort that counts as one unit of cost in a domain: the mean discomfort of its
    /// cases' key work-up (at least 1).
    pub fn reference_discomfort(&self, domain: &str) -> f64 {
        self.reference
            .get(domain)
            .map_or(MIN_REFERENCE_DISCOMFORT, |r| r.1)
    }

    /// The key exams of a task.
    pub fn key_exams(&self, task: u32) -> &[ExamIdx] {
        &self.key_exams[task as usize]
    }

    /// The world of the knowledge compiled into the binary.
    pub fn embedded() -> Result<Self, crate::EnvError> {
        Ok(Self::new(Knowledge::embedded()?))
    }
}
