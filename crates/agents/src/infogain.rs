//! The information-gain teacher: ask the question or order the exam with the best expected
//! information about the disease per unit of reward it costs; diagnose when confident.
//!
//! Each turn:
//! 1. The posterior's `top_k` diseases (plus the rest of the mass as one class whose members do
//!    not list the finding, so it shows a finding with probability ε) are the hypotheses.
//! 2. Candidates are the not-yet-known findings of those diseases' profiles. For each, the
//!    expected information gain of learning whether it is present is exact under the model:
//!    `IG(f) = H₂(P(f)) − Σ_d π_d H₂(q(f,d))`, computed in one pass over the top diseases'
//!    profiles (cost O(top_k × profile size), independent of the number of diseases).
//! 3. An ask reveals one symptom: its gain is IG(f). An exam reveals all the findings it can show:
//!    its gain is `min(H(posterior), Σ IG(f))` over its candidate findings (the sum is an upper
//!    bound of the joint gain when findings are independent given the disease, and the
//!    posterior's entropy bounds any gain).
//! 4. Cost in reward units, from the episode's weights: an ask costs the turn penalty; an exam
//!    `turn + w_cost · (usd / reference_usd(domain) + discomfort / 3)`, the reward's own formula.
//! 5. Diagnose (top 5, renormalised) once the top posterior reaches `confident`, or when the best
//!    gain per cost falls below `min_gain_per_cost`, or when one turn is left.

use std::sync::Arc;

use medgym_clinic::FindingIdx;
use medgym_env::{Action, EpisodeOptions, Info, Observation};

use crate::Policy;
use crate::belief::Belief;
use crate::posterior::{Known, h2};
use crate::tables::{EPSILON, Tables};

/// Tuning of the information-gain teacher.
#[derive(Debug, Clone, PartialEq)]
pub struct InfoGainParams {
    /// Hypotheses considered when scoring actions.
    pub top_k: usize,
    /// Diagnose once the most probable disease reaches this posterior.
    pub confident: f64,
    /// Diagnose when no action gains at least this many bits per unit of reward it costs.
    pub min_gain_per_cost: f64,
    /// Entries of the differential.
    pub differential: usize,
}

impl Default for InfoGainParams {
    fn default() -> Self {
        InfoGainParams {
            top_k: 64,
            confident: 0.9,
            min_gain_per_cost: 2.0,
            differential: 5,
        }
    }
}

/// The Bayesian information-gain teacher.
#[derive(Debug)]
pub struct InfoGain {
    tables: Arc<Tables>,
    options: EpisodeOptions,
    domain: Option<String>,
    params: InfoGainParams,
    belief: Belief,
    reference_usd: f64,
    spent_usd: f64,
    /// Scratch: per finding, its slot in `cands` (u32::MAX: none).
    slot: Vec<u32>,
    cands: Vec<Cand>,
    exam_gain: Vec<f64>,
}

#[derive(Debug, Clone, Copy)]
struct Cand {
    f: FindingIdx,
    /// Σ_d π_d (q − ε) over the top diseases that list the finding.
    p_extra: f64,
    /// Σ_d π_d (H₂(q) − H₂(ε)) over the same.
    h_extra: f64,
}

impl InfoGain {
    /// A teacher for episodes with these options; `domain` restricts the prior to one domain's
    /// diseases (the domain the rollout asked for), `None` for all.
    pub fn new(
        tables: Arc<Tables>,
        options: EpisodeOptions,
        domain: Option<String>,
        params: InfoGainParams,
    ) -> Self {
        let n_findings = tables.finding_diseases.len();
        let n_exams = tables.exam_shows.len();
        InfoGain {
            belief: Belief::new(&tables),
            tables,
            options,
            domain,
            params,
            reference_usd: 100.0,
            spent_usd: 0.0,
            slot: vec![u32::MAX; n_findings],
            cands: Vec::new(),
            exam_gain: vec![0.0; n_exams],
        }
    }

    fn exam_cost(&self, e: u32) -> f64 {
        let x = self.tables.world.knowledge.exam(e);
        let w = &self.options.reward;
        w.turn + w.cost * (x.cost_usd / self.reference_usd + f64::from(x.discomfort) / 3.0)
    }

    fn choose(&mut self, turn: u32) -> Action {
        let t = Arc::clone(&self.tables);
        let top = self.belief.post.top(self.params.top_k);
        let Some(&(_, p1)) = top.first() else {
            return self.belief.diagnose(&t, self.params.differential);
        };
        if p1 >= self.params.confident || turn + 1 >= self.options.max_turns {
            return self.belief.diagnose(&t, self.params.differential);
        }
        let in_top: f64 = top.iter().map(|&(_, p)| p).sum();
        let rest = (1.0 - in_top).max(0.0);
        let entropy: f64 = top
            .iter()
            .map(|&(_, p)| p)
            .chain(std::iter::once(rest))
            .filter(|&p| p > 0.0)
            .map(|p| -p * p.log2())
            .sum();

        // Candidate findings and their gains, in one pass over the top profiles.
        self.cands.clear();
        let h_eps = h2(EPSILON);
        for &(d, p) in &top {
            for &(f, q) in &t.profiles[d as usize] {
                // Unknown, or asked without an answer but still visible to an exam.
                let open = match self.belief.known(f) {
                    Known::Unknown => true,
                    Known::NoAnswer => !t.finding_exams[f as usize].is_empty(),
                    Known::Present | Known::Absent => false,
                };
                if !open {
                    continue;
                }
                let q = q.clamp(EPSILON, 1.0 - EPSILON);
                let s = &mut self.slot[f as usize];
                if *s == u32::MAX {
                    *s = self.cands.len() as u32;
                    self.cands.push(Cand {
                        f,
                        p_extra: 0.0,
                        h_extra: 0.0,
                    });
                }
                let c = &mut self.cands[*s as usize];
                c.p_extra += p * (q - EPSILON);
                c.h_extra += p * (h2(q) - h_eps);
            }
        }
        self.exam_gain.iter_mut().for_each(|g| *g = 0.0);
        let ask_cost = self.options.reward.turn.max(1e-6);
        let mut best: Option<(f64, f64, Action2)> = None; // (score, gain, action)
        for c in &self.cands {
            self.slot[c.f as usize] = u32::MAX;
            let p_yes = (EPSILON + c.p_extra).clamp(0.0, 1.0);
            let gain = (h2(p_yes) - (h_eps + c.h_extra)).max(0.0);
            if gain <= 0.0 {
                continue;
            }
            for &e in &t.finding_exams[c.f as usize] {
                self.exam_gain[e as usize] += gain;
            }
            if t.askable[c.f as usize] && self.belief.known(c.f) == Known::Unknown {
                let score = gain / ask_cost;
                if best.as_ref().is_none_or(|b| score > b.0) {
                    best = Some((score, gain, Action2::Ask(c.f)));
                }
            }
        }
        let budget_left = self.options.budget_usd - self.spent_usd;
        for e in 0..self.exam_gain.len() {
            let g = self.exam_gain[e];
            if g <= 0.0 || self.belief.exams_done[e] {
                continue;
            }
            if t.world.knowledge.exam(e as u32).cost_usd > budget_left {
                continue;
            }
            let gain = g.min(entropy);
            let score = gain / self.exam_cost(e as u32).max(1e-6);
            if best.as_ref().is_none_or(|b| score > b.0) {
                best = Some((score, gain, Action2::Exam(e as u32)));
            }
        }
        match best {
            Some((score, _, a)) if score >= self.params.min_gain_per_cost => match a {
                Action2::Ask(f) => self.belief.ask(&t, f),
                Action2::Exam(e) => self.belief.exam(&t, e),
            },
            _ => self.belief.diagnose(&t, self.params.differential),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Action2 {
    Ask(FindingIdx),
    Exam(u32),
}

impl Policy for InfoGain {
    fn name(&self) -> &'static str {
        "infogain"
    }

    fn reset(&mut self, first: &Observation, info: &Info) {
        self.belief
            .reset(&self.tables, first, self.domain.as_deref());
        self.reference_usd = self.tables.world.reference_usd(&info.domain);
        self.spent_usd = 0.0;
    }

    fn act(&mut self, last: &Observation) -> Action {
        if last.turn > 0 {
            self.belief.observe(&self.tables, last);
        }
        self.spent_usd = last.cost_usd;
        self.choose(last.turn)
    }
}
