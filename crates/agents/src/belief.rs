//! What a Bayesian agent keeps across an episode: the posterior, what it did last, which exams
//! it has ordered, and how to read each observation into evidence.

use medgym_clinic::{ExamIdx, FindingIdx};
use medgym_env::{Action, Ask, Diagnose, Exam, Observation, RankedDiagnosis};

use crate::posterior::{Known, Posterior};
use crate::tables::{Tables, complaint_words, parse_presentation};

/// The action whose observation is awaited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    None,
    Ask(FindingIdx),
    Exam(ExamIdx),
}

/// Posterior plus bookkeeping.
#[derive(Debug, Clone)]
pub(crate) struct Belief {
    pub post: Posterior,
    pub exams_done: Vec<bool>,
    pending: Pending,
}

impl Belief {
    pub fn new(tables: &Tables) -> Self {
        Belief {
            post: Posterior::new(tables),
            exams_done: vec![false; tables.exam_shows.len()],
            pending: Pending::None,
        }
    }

    /// A new episode: the prior, then the presenting line (age, sex, setting, complaint).
    pub fn reset(&mut self, tables: &Tables, first: &Observation, domain: Option<&str>) {
        self.post.reset(tables, domain);
        self.exams_done.iter_mut().for_each(|e| *e = false);
        self.pending = Pending::None;
        self.post
            .presentation(tables, &parse_presentation(&first.text));
        let words = complaint_words(&first.text);
        // "My main problem: loss of vision. It has been going on for several months."
        let phrase = words
            .split_once(':')
            .map_or(words, |(_, rest)| rest)
            .split(". ")
            .next()
            .unwrap_or("");
        let found = tables.world.lexicon.understand(phrase).findings;
        self.post.complaint(tables, &found);
    }

    /// Reads the observation of the last action into evidence.
    pub fn observe(&mut self, tables: &Tables, obs: &Observation) {
        let pending = std::mem::replace(&mut self.pending, Pending::None);
        if !obs.feedback.valid {
            return;
        }
        let k = &tables.world.knowledge;
        let mut revealed: Vec<FindingIdx> = Vec::with_capacity(obs.revealed_findings.len());
        for id in &obs.revealed_findings {
            if let Some(f) = k.finding_idx(id) {
                revealed.push(f);
                self.post.present(tables, f);
            }
        }
        for id in &obs.denied_findings {
            if let Some(f) = k.finding_idx(id) {
                self.post.absent(tables, f);
            }
        }
        match pending {
            Pending::Ask(f) => self.post.no_answer(f),
            Pending::Exam(e) => {
                // The report shows every finding of the case that this exam can show: the rest
                // of what it could show is absent.
                for &f in &tables.exam_shows[e as usize] {
                    if !revealed.contains(&f) {
                        self.post.absent(tables, f);
                    }
                }
            }
            Pending::None => {}
        }
    }

    pub fn known(&self, f: FindingIdx) -> Known {
        self.post.known(f)
    }

    /// Asks about a finding by id, with its lay phrase as the question.
    pub fn ask(&mut self, tables: &Tables, f: FindingIdx) -> Action {
        self.pending = Pending::Ask(f);
        Action::Ask(Ask {
            question: tables.question(f),
            finding_id: Some(tables.world.knowledge.finding(f).id.clone()),
        })
    }

    /// Orders an exam.
    pub fn exam(&mut self, tables: &Tables, e: ExamIdx) -> Action {
        self.pending = Pending::Exam(e);
        self.exams_done[e as usize] = true;
        Action::Exam(Exam {
            exam_id: tables.world.knowledge.exam(e).id.clone(),
            site: None,
        })
    }

    /// Diagnoses the posterior's most probable disease, with the `n` most probable as the
    /// differential, probabilities renormalised to sum to one.
    pub fn diagnose(&mut self, tables: &Tables, n: usize) -> Action {
        self.pending = Pending::None;
        let top = self.post.top(n.max(1));
        differential(tables, &top)
    }
}

/// A diagnosis of `top` (disease, weight), weights renormalised to sum to one.
pub(crate) fn differential(tables: &Tables, top: &[(u32, f64)]) -> Action {
    let total: f64 = top.iter().map(|&(_, p)| p).sum();
    if top.is_empty() || total <= 0.0 || !total.is_finite() {
        let name = tables.diagnosis_name(0).to_string();
        return Action::Diagnose(Diagnose {
            primary: name.clone(),
            differential: vec![RankedDiagnosis {
                name,
                code: String::new(),
                probability: 1.0,
            }],
        });
    }
    let differential: Vec<RankedDiagnosis> = top
        .iter()
        .map(|&(d, p)| RankedDiagnosis {
            name: tables.diagnosis_name(d).to_string(),
            code: String::new(),
            probability: p / total,
        })
        .collect();
    Action::Diagnose(Diagnose {
        primary: differential[0].name.clone(),
        differential,
    })
}
