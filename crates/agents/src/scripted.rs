//! The random baseline and the scripted strategies of the reward-ordering table (issue 6).

use std::sync::Arc;

use medgym_clinic::ExamIdx;
use medgym_env::{Action, Ask, Diagnose, EpisodeOptions, Exam, Info, Observation, RankedDiagnosis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::Policy;
use crate::belief::{Belief, differential};
use crate::posterior::Known;
use crate::tables::Tables;

/// Entries of the differential the posterior-based scripts give.
const DIFFERENTIAL: usize = 5;

/// A diagnosis of one disease with probability 1.
fn certain(tables: &Tables, d: u32) -> Action {
    let name = tables.diagnosis_name(d).to_string();
    Action::Diagnose(Diagnose {
        primary: name.clone(),
        differential: vec![RankedDiagnosis {
            name,
            code: String::new(),
            probability: 1.0,
        }],
    })
}

/// Uniformly random actions: each turn asks a random symptom (by its lay phrase, as free text)
/// or orders a random exam, with equal chance, and at a turn drawn uniformly from
/// 1..=max_turns diagnoses a uniformly random disease. Seeded by the episode seed.
#[derive(Debug)]
pub struct RandomPolicy {
    tables: Arc<Tables>,
    options: EpisodeOptions,
    rng: ChaCha8Rng,
    diagnose_at: u32,
    symptoms: Vec<u32>,
}

impl RandomPolicy {
    /// A random policy for episodes with these options.
    pub fn new(tables: Arc<Tables>, options: EpisodeOptions) -> Self {
        let symptoms = (0..tables.askable.len() as u32)
            .filter(|&f| tables.askable[f as usize])
            .collect();
        RandomPolicy {
            tables,
            options,
            rng: ChaCha8Rng::seed_from_u64(0),
            diagnose_at: 1,
            symptoms,
        }
    }
}

impl Policy for RandomPolicy {
    fn name(&self) -> &'static str {
        "random"
    }

    fn reset(&mut self, _first: &Observation, info: &Info) {
        self.rng = ChaCha8Rng::seed_from_u64(info.seed ^ 0x5241_4e44_4f4d_0001);
        self.diagnose_at = self.rng.random_range(1..=self.options.max_turns.max(1));
    }

    fn act(&mut self, last: &Observation) -> Action {
        let k = &self.tables.world.knowledge;
        if last.turn + 1 >= self.diagnose_at {
            let d = self.rng.random_range(0..k.diseases.len() as u32);
            return certain(&self.tables, d);
        }
        if self.rng.random_bool(0.5) && !self.symptoms.is_empty() {
            let f = self.symptoms[self.rng.random_range(0..self.symptoms.len())];
            let finding = k.finding(f);
            Action::Ask(Ask {
                question: finding.lay.first().unwrap_or(&finding.name).clone(),
                finding_id: None,
            })
        } else {
            let e = self.rng.random_range(0..k.exams.len());
            Action::Exam(Exam {
                exam_id: k.exams[e].id.clone(),
                site: None,
            })
        }
    }
}

/// Is told the case: orders its key exams, then diagnoses the truth with probability 1.
/// A teacher, not an agent: it reads the truth through `info.task_id`.
#[derive(Debug)]
pub struct Oracle {
    tables: Arc<Tables>,
    options: EpisodeOptions,
    plan: Vec<ExamIdx>,
    truth: u32,
}

impl Oracle {
    /// An oracle for episodes with these options.
    pub fn new(tables: Arc<Tables>, options: EpisodeOptions) -> Self {
        Oracle {
            tables,
            options,
            plan: Vec::new(),
            truth: 0,
        }
    }
}

impl Policy for Oracle {
    fn name(&self) -> &'static str {
        "oracle"
    }

    fn reset(&mut self, _first: &Observation, info: &Info) {
        let w = &self.tables.world;
        let k = &w.knowledge;
        match k.task_idx(&info.task_id) {
            Some(t) => {
                self.truth = k.disease_idx(&k.case(t).disease).unwrap_or(0);
                self.plan = w.key_exams(t).iter().rev().copied().collect();
            }
            None => {
                self.truth = 0;
                self.plan.clear();
            }
        }
    }

    fn act(&mut self, last: &Observation) -> Action {
        let k = &self.tables.world.knowledge;
        while let Some(e) = self.plan.pop() {
            let affordable = last.cost_usd + k.exam(e).cost_usd <= self.options.budget_usd;
            if affordable && last.turn + 1 < self.options.max_turns {
                return Action::Exam(Exam {
                    exam_id: k.exam(e).id.clone(),
                    site: None,
                });
            }
        }
        certain(&self.tables, self.truth)
    }
}

/// Asks about every symptom of the lexicon, most widely listed first, until one turn is left;
/// then diagnoses the posterior's most probable disease (top-5 differential).
#[derive(Debug)]
pub struct AskEverything {
    tables: Arc<Tables>,
    options: EpisodeOptions,
    belief: Belief,
    next: usize,
}

impl AskEverything {
    /// The script for episodes with these options.
    pub fn new(tables: Arc<Tables>, options: EpisodeOptions) -> Self {
        AskEverything {
            belief: Belief::new(&tables),
            tables,
            options,
            next: 0,
        }
    }
}

impl Policy for AskEverything {
    fn name(&self) -> &'static str {
        "ask_everything"
    }

    fn reset(&mut self, first: &Observation, _info: &Info) {
        self.belief.reset(&self.tables, first, None);
        self.next = 0;
    }

    fn act(&mut self, last: &Observation) -> Action {
        let t = Arc::clone(&self.tables);
        if last.turn > 0 {
            self.belief.observe(&t, last);
        }
        if last.turn + 1 < self.options.max_turns {
            while let Some(&f) = t.symptom_checklist.get(self.next) {
                self.next += 1;
                if self.belief.known(f) == Known::Unknown {
                    return self.belief.ask(&t, f);
                }
            }
        }
        self.belief.diagnose(&t, DIFFERENTIAL)
    }
}

/// Orders every exam of the catalog in catalog order (skipping any that would exceed the
/// budget) until one turn is left; then diagnoses the posterior's most probable disease.
#[derive(Debug)]
pub struct ExamEverything {
    tables: Arc<Tables>,
    options: EpisodeOptions,
    belief: Belief,
    next: usize,
}

impl ExamEverything {
    /// The script for episodes with these options.
    pub fn new(tables: Arc<Tables>, options: EpisodeOptions) -> Self {
        ExamEverything {
            belief: Belief::new(&tables),
            tables,
            options,
            next: 0,
        }
    }
}

impl Policy for ExamEverything {
    fn name(&self) -> &'static str {
        "exam_everything"
    }

    fn reset(&mut self, first: &Observation, _info: &Info) {
        self.belief.reset(&self.tables, first, None);
        self.next = 0;
    }

    fn act(&mut self, last: &Observation) -> Action {
        let t = Arc::clone(&self.tables);
        if last.turn > 0 {
            self.belief.observe(&t, last);
        }
        let k = &t.world.knowledge;
        if last.turn + 1 < self.options.max_turns {
            while self.next < k.exams.len() {
                let e = self.next as ExamIdx;
                self.next += 1;
                if last.cost_usd + k.exam(e).cost_usd <= self.options.budget_usd {
                    return self.belief.exam(&t, e);
                }
            }
        }
        self.belief.diagnose(&t, DIFFERENTIAL)
    }
}

/// Diagnoses the disease with the most train-split cases at turn 1, with probability 1.
#[derive(Debug)]
pub struct GuessPrior {
    tables: Arc<Tables>,
}

impl GuessPrior {
    /// The script.
    pub fn new(tables: Arc<Tables>) -> Self {
        GuessPrior { tables }
    }
}

impl Policy for GuessPrior {
    fn name(&self) -> &'static str {
        "guess_prior"
    }

    fn reset(&mut self, _first: &Observation, _info: &Info) {}

    fn act(&mut self, _last: &Observation) -> Action {
        match self.tables.train_mode {
            Some(d) => certain(&self.tables, d),
            None => differential(&self.tables, &[]),
        }
    }
}
