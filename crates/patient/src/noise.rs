//! The noise model: kinds, probabilities, presets, the per-episode plan and what fired.
//!
//! Semantics (DESIGN.md section 2, after MedExAgent's data/noise.py): each one-shot kind is
//! enabled with its probability and armed at a turn drawn uniformly from 1..=7; it fires on the
//! first answer (patient kinds) or report (exam kinds) at or after that turn to which it applies,
//! once. A swap, confusion, severity or timing mistake, or an omission, once made, stays for the
//! rest of the episode. Lab variation and exam false negatives/positives are per value and per
//! finding, decided by a hash of (episode noise seed, kind, exam, item) so that the order of the
//! agent's actions does not change them. All draws are from the episode's noise seed, which the
//! environment derives from (seed, task): a GRPO group sharing a seed sees the same noise, and
//! for one seed a noisier preset fires a superset of a quieter one's one-shot kinds.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// A kind of noise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoiseKind {
    /// A symptom moved to an anatomically adjacent body part.
    BodyPartSwap,
    /// A symptom described as another one, or a descriptor swapped ("burning" → "stabbing").
    SymptomConfusion,
    /// A severity reported one step lower.
    SeverityChange,
    /// An onset scaled by ×0.3–2.0 or made vague.
    TemporalChange,
    /// A symptom the patient has, denied.
    Omission,
    /// A lay guess at a (wrong) diagnosis worked into an answer.
    SelfDiagnosis,
    /// One evasive answer.
    VagueAnswer,
    /// A report finding moved to an adjacent site.
    ExamBodyPartSwap,
    /// One of several report findings dropped.
    ExamOmission,
    /// A report finding hedged as equivocal.
    ExamAmbiguity,
    /// Lab values varied within analytic variation (per value).
    LabVariation,
    /// A present finding an exam would show, missed (per finding: 1 − sensitivity).
    ExamFalseNegative,
    /// A finding the case lacks, reported by an exam (per exam: 1 − specificity).
    ExamFalsePositive,
}

/// Number of kinds.
pub const KINDS: usize = 13;

/// Number of one-shot kinds (the first ten of [`NoiseKind::ALL`]).
pub const ONE_SHOT: usize = 10;

impl NoiseKind {
    /// Every kind: the seven patient kinds, the three exam kinds, then the per-item kinds.
    pub const ALL: [NoiseKind; KINDS] = [
        NoiseKind::BodyPartSwap,
        NoiseKind::SymptomConfusion,
        NoiseKind::SeverityChange,
        NoiseKind::TemporalChange,
        NoiseKind::Omission,
        NoiseKind::SelfDiagnosis,
        NoiseKind::VagueAnswer,
        NoiseKind::ExamBodyPartSwap,
        NoiseKind::ExamOmission,
        NoiseKind::ExamAmbiguity,
        NoiseKind::LabVariation,
        NoiseKind::ExamFalseNegative,
        NoiseKind::ExamFalsePositive,
    ];

    /// The wire name ("body_part_swap").
    pub fn name(self) -> &'static str {
        match self {
            NoiseKind::BodyPartSwap => "body_part_swap",
            NoiseKind::SymptomConfusion => "symptom_confusion",
            NoiseKind::SeverityChange => "severity_change",
            NoiseKind::TemporalChange => "temporal_change",
            NoiseKind::Omission => "omission",
            NoiseKind::SelfDiagnosis => "self_diagnosis",
            NoiseKind::VagueAnswer => "vague_answer",
            NoiseKind::ExamBodyPartSwap => "exam_body_part_swap",
            NoiseKind::ExamOmission => "exam_omission",
            NoiseKind::ExamAmbiguity => "exam_ambiguity",
            NoiseKind::LabVariation => "lab_variation",
            NoiseKind::ExamFalseNegative => "exam_false_negative",
            NoiseKind::ExamFalsePositive => "exam_false_positive",
        }
    }

    /// The kind of a wire name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }

    /// Whether the kind acts on exam reports.
    pub fn is_exam(self) -> bool {
        self.index() >= NoiseKind::ExamBodyPartSwap.index()
    }
}

/// The probability of each kind of noise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoiseLevels([f64; KINDS]);

/// The presets: name and probabilities in [`NoiseKind::ALL`] order. docs/validity.md explains
/// the figures.
pub const PRESETS: [(&str, [f64; KINDS]); 4] = [
    ("none", [0.0; KINDS]),
    (
        "mild",
        [
            0.1, 0.1, 0.1, 0.1, 0.1, 0.05, 0.1, // patient
            0.05, 0.05, 0.05, // exam one-shots
            0.5, 0.02, 0.02, // lab variation, false negatives, false positives
        ],
    ),
    (
        "realistic",
        [
            0.25, 0.25, 0.25, 0.25, 0.2, 0.1, 0.25, // patient
            0.15, 0.15, 0.15, // exam one-shots
            1.0, 0.05, 0.05, // lab variation, false negatives, false positives
        ],
    ),
    (
        "hard",
        [
            0.5, 0.5, 0.5, 0.5, 0.4, 0.25, 0.5, // patient
            0.35, 0.35, 0.35, // exam one-shots
            1.0, 0.12, 0.1, // lab variation, false negatives, false positives
        ],
    ),
];

/// Typical analytic coefficient of variation of a laboratory measurement (a value is moved by
/// at most two of them).
pub const ANALYTIC_CV: f64 = 0.03;

impl NoiseLevels {
    /// No noise at all.
    pub const NONE: NoiseLevels = NoiseLevels([0.0; KINDS]);

    /// The levels of a preset.
    pub fn preset(name: &str) -> Option<Self> {
        PRESETS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| NoiseLevels(*p))
    }

    /// The probability of a kind.
    pub fn get(&self, kind: NoiseKind) -> f64 {
        self.0[kind.index()]
    }

    /// Sets the probability of a kind (clamped to [0, 1]).
    pub fn set(&mut self, kind: NoiseKind, p: f64) {
        self.0[kind.index()] = if p.is_finite() {
            p.clamp(0.0, 1.0)
        } else {
            0.0
        };
    }

    /// Whether every probability is zero.
    pub fn is_quiet(&self) -> bool {
        self.0.iter().all(|&p| p == 0.0)
    }
}

impl Default for NoiseLevels {
    fn default() -> Self {
        Self::NONE
    }
}

/// One piece of noise that fired, for the end-of-episode record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoiseEvent {
    /// What kind.
    pub kind: NoiseKind,
    /// The turn it fired on.
    pub turn: u32,
    /// The finding it concerned (id), if one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finding: Option<String>,
    /// What changed, in words ("chest → upper abdomen").
    pub detail: String,
}

/// The one-shot kinds planned for an episode: for each, the turn it is armed at, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoisePlan {
    armed: [Option<u32>; ONE_SHOT],
}

/// Turns a one-shot kind can be armed at: 1 to this.
pub const PLAN_TURNS: u32 = 7;

impl NoisePlan {
    /// Draws the plan from the noise seed. Every kind takes the same two draws whatever its
    /// probability, so raising one probability never moves another kind's turn.
    pub fn draw(levels: &NoiseLevels, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut armed = [None; ONE_SHOT];
        for (i, slot) in armed.iter_mut().enumerate() {
            let u: f64 = rng.random();
            let turn = rng.random_range(1..=PLAN_TURNS);
            if u < levels.0[i] {
                *slot = Some(turn);
            }
        }
        NoisePlan { armed }
    }

    /// The turn a one-shot kind is armed at, if it is enabled.
    pub fn armed(&self, kind: NoiseKind) -> Option<u32> {
        self.armed.get(kind.index()).copied().flatten()
    }
}

/// SplitMix64 finaliser over a combination: the hash behind every per-item noise decision.
pub(crate) fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.rotate_left(32) ^ 0x9e37_79b9_7f4a_7c15;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a of a string: stable across runs and platforms.
pub(crate) fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A uniform number in [0, 1) from a hash.
pub(crate) fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_presets_are_probabilities() {
        for k in NoiseKind::ALL {
            assert_eq!(NoiseKind::from_name(k.name()), Some(k));
        }
        for (name, p) in PRESETS {
            assert!(p.iter().all(|x| (0.0..=1.0).contains(x)), "{name}");
        }
        assert!(NoiseLevels::preset("none").is_some_and(|l| l.is_quiet()));
    }

    #[test]
    fn a_noisier_preset_fires_a_superset() {
        let (mild, hard) = (
            NoiseLevels::preset("mild").expect("mild"),
            NoiseLevels::preset("hard").expect("hard"),
        );
        for seed in 0..200 {
            let (a, b) = (NoisePlan::draw(&mild, seed), NoisePlan::draw(&hard, seed));
            for k in &NoiseKind::ALL[..ONE_SHOT] {
                if let Some(t) = a.armed(*k) {
                    assert_eq!(b.armed(*k), Some(t));
                }
            }
        }
    }
}
