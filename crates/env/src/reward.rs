//! The reward, term by term. Every step reports every term (zeros included) in this order, and
//! the step reward is their sum, so trainers see a fixed schema.

use crate::options::RewardWeights;

/// Names of the reward terms, in report order.
pub const TERMS: [&str; 8] = [
    "diagnosis",
    "differential",
    "exam_quality",
    "cost",
    "turn",
    "repeat",
    "invalid",
    "information",
];

/// The reward of one step, term by term.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Reward {
    terms: [f64; TERMS.len()],
}

impl Reward {
    /// The step reward: the sum of the terms.
    pub fn total(&self) -> f64 {
        self.terms.iter().sum()
    }

    /// (name, value) pairs in report order.
    pub fn components(&self) -> [(&'static str, f64); TERMS.len()] {
        named(self.terms)
    }

    /// The values in report order.
    pub fn terms(&self) -> [f64; TERMS.len()] {
        self.terms
    }

    fn add(&mut self, term: &str, value: f64) {
        let i = TERMS.iter().position(|t| *t == term).unwrap_or_else(|| {
            unreachable!("reward term {term} is not in TERMS");
        });
        self.terms[i] += value;
    }

    /// Every step costs a turn.
    pub fn turn(&mut self, w: &RewardWeights) {
        self.add("turn", -w.turn);
    }

    /// A repeated question or exam.
    pub fn repeat(&mut self, w: &RewardWeights) {
        self.add("repeat", -w.repeat);
    }

    /// An invalid action.
    pub fn invalid(&mut self, w: &RewardWeights) {
        self.add("invalid", -w.invalid);
    }

    /// Money and discomfort of an exam, each in units of the domain's reference work-up (the
    /// mean price and discomfort of its cases' key exams): a typical work-up costs two units.
    pub fn exam_cost(
        &mut self,
        w: &RewardWeights,
        usd: f64,
        discomfort: u8,
        reference: (f64, f64),
    ) {
        self.add(
            "cost",
            -w.cost * (usd / reference.0 + f64::from(discomfort) / reference.1),
        );
    }

    /// Shaping: relevant findings newly revealed by a question or exam.
    pub fn information(&mut self, w: &RewardWeights, findings: usize) {
        self.add("information", w.information * findings as f64);
    }

    /// A differential whose probabilities had to be renormalised.
    pub fn unnormalised(&mut self, w: &RewardWeights) {
        self.add("invalid", -0.5 * w.invalid);
    }

    /// Terminal terms of a diagnosis.
    pub fn diagnosis(&mut self, w: &RewardWeights, dx: f64, ddx: f64, exam_quality: f64) {
        self.add("diagnosis", w.diagnosis * dx);
        self.add("differential", w.differential * ddx);
        self.add("exam_quality", w.exam_quality * exam_quality);
    }
}

/// (name, value) pairs of term values in report order.
pub fn named(terms: [f64; TERMS.len()]) -> [(&'static str, f64); TERMS.len()] {
    std::array::from_fn(|i| (TERMS[i], terms[i]))
}

/// Work-up quality in [0, 1]: the mean of precision (share of ordered exams that could reveal
/// a finding of the true disease or of an alternative the agent considered) and recall (share of
/// the case's key exams ordered). No exams is no work-up: precision 0, and recall 0 unless the
/// case has no key exam. Ordering everything buys recall but sinks precision and pays the cost
/// term; ordering the key exams is what this term exists to pay for.
pub fn exam_quality(ordered: usize, useful: usize, key_total: usize, key_ordered: usize) -> f64 {
    let precision = if ordered == 0 {
        0.0
    } else {
        useful as f64 / ordered as f64
    };
    let recall = if key_total == 0 {
        1.0
    } else {
        key_ordered as f64 / key_total as f64
    };
    (precision + recall) / 2.0
}

/// A differential entry resolved to a disease (or left unresolved, keyed by its text).
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// Disease id, or the normalised name when it did not resolve.
    pub key: String,
    /// Stated probability.
    pub probability: f64,
}

/// The differential's proper score in [0, 1]: one minus half the Brier score of the stated
/// distribution against the truth. Probabilities of entries naming the same disease add up;
/// a distribution that does not sum to one is renormalised. A uniform list that "includes the
/// truth" scores near 0.5 while a confident right answer scores 1 and a confident wrong one 0,
/// so listing everything cannot pay.
pub fn differential_score(entries: &[Resolved], truth: &str) -> f64 {
    let mut merged: Vec<(&str, f64)> = Vec::new();
    for e in entries {
        let p = if e.probability.is_finite() {
            e.probability.max(0.0)
        } else {
            0.0
        };
        match merged.iter_mut().find(|(k, _)| *k == e.key) {
            Some((_, q)) => *q += p,
            None => merged.push((&e.key, p)),
        }
    }
    let total: f64 = merged.iter().map(|(_, p)| p).sum();
    if total <= 0.0 {
        return 0.0;
    }
    let brier: f64 = merged
        .iter()
        .map(|(k, p)| {
            let p = p / total;
            let y = if *k == truth { 1.0 } else { 0.0 };
            (p - y) * (p - y)
        })
        .sum::<f64>()
        + if merged.iter().any(|(k, _)| *k == truth) {
            0.0
        } else {
            1.0
        };
    1.0 - brier / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(key: &str, p: f64) -> Resolved {
        Resolved {
            key: key.into(),
            probability: p,
        }
    }

    #[test]
    fn listing_everything_does_not_pay() {
        let uniform: Vec<_> = (0..30).map(|i| r(&format!("d{i}"), 1.0 / 30.0)).collect();
        let confident = [r("d0", 1.0)];
        let hedged = [r("d0", 0.7), r("d1", 0.3)];
        let wrong = [r("d1", 1.0)];
        let u = differential_score(&uniform, "d0");
        let c = differential_score(&confident, "d0");
        let h = differential_score(&hedged, "d0");
        let w = differential_score(&wrong, "d0");
        assert!((c - 1.0).abs() < 1e-12);
        assert!(w.abs() < 1e-12);
        assert!(c > h && h > u && u > w, "{c} {h} {u} {w}");
    }

    #[test]
    fn unnormalised_and_duplicate_entries_are_merged() {
        let a = differential_score(&[r("d0", 2.0), r("d1", 2.0)], "d0");
        let b = differential_score(&[r("d0", 0.5), r("d1", 0.5)], "d0");
        assert!((a - b).abs() < 1e-12);
        let c = differential_score(&[r("d0", 0.25), r("d0", 0.25), r("d1", 0.5)], "d0");
        assert!((c - b).abs() < 1e-12);
        assert_eq!(differential_score(&[r("d0", f64::NAN)], "d0"), 0.0);
    }

    #[test]
    fn components_sum_to_total() {
        let w = RewardWeights::default();
        let mut reward = Reward::default();
        reward.turn(&w);
        reward.exam_cost(&w, 120.0, 1, (500.0, 2.0));
        reward.repeat(&w);
        reward.diagnosis(&w, 1.0, 0.8, 0.5);
        let sum: f64 = reward.components().iter().map(|(_, v)| v).sum();
        assert_eq!(sum, reward.total());
        assert_eq!(reward.components().map(|(t, _)| t), TERMS);
    }
}
