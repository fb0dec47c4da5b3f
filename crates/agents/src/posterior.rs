//! A posterior over diseases from the findings seen, naive Bayes over disease profiles.
//!
//! Model: given disease d, each finding f is present independently with probability
//! q(f, d) = its profile frequency (floored and capped by [`EPSILON`]), or `EPSILON` when the
//! profile does not list it. A present finding multiplies the weight of d by q, an absent one
//! by 1 − q. Because q = ε for every disease that does not list f, the update is sparse: only the
//! diseases listing f move, by log(q/ε) or log((1−q)/(1−ε)), and a common shift of all weights
//! cancels in normalisation. One observation costs O(number of diseases listing the finding).
//!
//! The presenting line adds the likelihood of the patient's age (uniform over the disease's
//! typical ages), sex (its female share) and care setting, and of the complaint: the complaint
//! names one finding the case has, matched through the question lexicon; when the words match
//! several findings the likelihood is that of the most likely of them.

use medgym_clinic::{FindingIdx, Sex};

use crate::tables::{EPSILON, Presentation, Tables, setting_bit};

/// What is known of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Known {
    Unknown = 0,
    Present = 1,
    Absent = 2,
    /// Asked, but the answer said nothing either way ("you'd have to check").
    NoAnswer = 3,
}

/// Likelihood of an age outside the disease's typical range, relative to the uniform density.
const AGE_OUTSIDE: f64 = 1e-4;

fn q_clamp(q: f64) -> f64 {
    q.clamp(EPSILON, 1.0 - EPSILON)
}

/// Binary entropy in bits.
pub(crate) fn h2(p: f64) -> f64 {
    if p <= 0.0 || p >= 1.0 {
        0.0
    } else {
        -(p * p.log2() + (1.0 - p) * (1.0 - p).log2())
    }
}

/// The posterior of one episode.
#[derive(Debug, Clone)]
pub struct Posterior {
    /// Unnormalised log weights; `-inf` excludes a disease.
    logw: Vec<f64>,
    known: Vec<u8>,
    touched: Vec<FindingIdx>,
    /// Scratch: disease indices for top-k selection.
    order: Vec<u32>,
}

impl Posterior {
    /// A uniform posterior over every disease of the tables.
    pub fn new(tables: &Tables) -> Self {
        Posterior {
            logw: vec![0.0; tables.n_diseases()],
            known: vec![Known::Unknown as u8; tables.finding_diseases.len()],
            touched: Vec::new(),
            order: (0..tables.n_diseases() as u32).collect(),
        }
    }

    /// Back to the prior: uniform over all diseases, or over one domain's diseases when
    /// `domain` names a manifest domain.
    pub fn reset(&mut self, tables: &Tables, domain: Option<&str>) {
        let only = domain.and_then(|d| tables.domain_idx(d));
        for (d, w) in self.logw.iter_mut().enumerate() {
            *w = match only {
                Some(x) if tables.domain[d] != x => f64::NEG_INFINITY,
                _ => 0.0,
            };
        }
        for &f in &self.touched {
            self.known[f as usize] = Known::Unknown as u8;
        }
        self.touched.clear();
    }

    /// What is known of a finding.
    pub(crate) fn known(&self, f: FindingIdx) -> Known {
        match self.known[f as usize] {
            1 => Known::Present,
            2 => Known::Absent,
            3 => Known::NoAnswer,
            _ => Known::Unknown,
        }
    }

    fn mark(&mut self, f: FindingIdx, k: Known) {
        if self.known[f as usize] == Known::Unknown as u8 {
            self.touched.push(f);
        }
        self.known[f as usize] = k as u8;
    }

    /// Records that a question about `f` got no answer either way.
    pub(crate) fn no_answer(&mut self, f: FindingIdx) {
        if self.known(f) == Known::Unknown {
            self.mark(f, Known::NoAnswer);
        }
    }

    /// A finding seen present (ignored when already known).
    pub fn present(&mut self, tables: &Tables, f: FindingIdx) {
        if matches!(self.known(f), Known::Present | Known::Absent) {
            return;
        }
        self.mark(f, Known::Present);
        let base = EPSILON.ln();
        for &(d, q) in &tables.finding_diseases[f as usize] {
            self.logw[d as usize] += q_clamp(q).ln() - base;
        }
    }

    /// A finding seen absent (ignored when already known).
    pub fn absent(&mut self, tables: &Tables, f: FindingIdx) {
        if matches!(self.known(f), Known::Present | Known::Absent) {
            return;
        }
        self.mark(f, Known::Absent);
        let base = (1.0 - EPSILON).ln();
        for &(d, q) in &tables.finding_diseases[f as usize] {
            self.logw[d as usize] += (1.0 - q_clamp(q)).ln() - base;
        }
    }

    /// The complaint names one present finding among `candidates` (the lexicon's reading of the
    /// patient's words). One candidate: it is present. Several: each disease is weighed by its
    /// most likely candidate, and none is marked known.
    pub(crate) fn complaint(&mut self, tables: &Tables, candidates: &[FindingIdx]) {
        match candidates {
            [] => {}
            [f] => self.present(tables, *f),
            many => {
                let mut best: Vec<(u32, f64)> = Vec::new();
                for &f in many {
                    for &(d, q) in &tables.finding_diseases[f as usize] {
                        let q = q_clamp(q);
                        match best.iter_mut().find(|(x, _)| *x == d) {
                            Some((_, b)) => *b = b.max(q),
                            None => best.push((d, q)),
                        }
                    }
                }
                let base = EPSILON.ln();
                for (d, q) in best {
                    self.logw[d as usize] += q.ln() - base;
                }
            }
        }
    }

    /// The likelihood of the patient's age, sex and setting under each disease.
    pub(crate) fn presentation(&mut self, tables: &Tables, p: &Presentation) {
        for (d, w) in self.logw.iter_mut().enumerate() {
            if *w == f64::NEG_INFINITY {
                continue;
            }
            let Some(demo) = tables.demo[d] else {
                continue;
            };
            let mut l = 0.0;
            if let Some(age) = p.age {
                let span = f64::from(demo.age_max - demo.age_min + 1);
                l += if (demo.age_min..=demo.age_max).contains(&age) {
                    -span.ln()
                } else {
                    AGE_OUTSIDE.ln() - span.ln()
                };
            }
            if let Some(sex) = p.sex {
                let share = match sex {
                    Sex::Female => demo.female_share,
                    Sex::Male => 1.0 - demo.female_share,
                };
                l += share.clamp(EPSILON, 1.0).ln();
            }
            if let (Some(s), true) = (p.setting, demo.n_settings > 0) {
                l += if demo.settings & setting_bit(s) != 0 {
                    -f64::from(demo.n_settings).ln()
                } else {
                    EPSILON.ln()
                };
            }
            *w += l;
        }
    }

    /// The `k` most probable diseases with their normalised probabilities (over all diseases),
    /// most probable first; ties go to the lower disease index.
    pub fn top(&mut self, k: usize) -> Vec<(u32, f64)> {
        let max = self.logw.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if max == f64::NEG_INFINITY {
            return Vec::new();
        }
        let z: f64 = self.logw.iter().map(|&w| (w - max).exp()).sum();
        let logw = &self.logw;
        let cmp = |a: &u32, b: &u32| {
            logw[*b as usize]
                .total_cmp(&logw[*a as usize])
                .then(a.cmp(b))
        };
        let k = k.min(self.order.len());
        if k == 0 {
            return Vec::new();
        }
        if k < self.order.len() {
            self.order.select_nth_unstable_by(k - 1, cmp);
        }
        let mut top: Vec<u32> = self.order[..k].to_vec();
        top.sort_unstable_by(cmp);
        top.into_iter()
            .filter(|&d| logw[d as usize] > f64::NEG_INFINITY)
            .map(|d| (d, (logw[d as usize] - max).exp() / z))
            .collect()
    }
}
