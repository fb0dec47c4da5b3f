//! Per-episode options: limits, reward weights, noise and persona.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Weights of the reward terms (DESIGN.md section 4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RewardWeights {
    /// Diagnostic accuracy.
    pub diagnosis: f64,
    /// The differential's proper score.
    pub differential: f64,
    /// Work-up quality.
    pub exam_quality: f64,
    /// Money and discomfort.
    pub cost: f64,
    /// Penalty per turn.
    pub turn: f64,
    /// Penalty per repeated question or exam.
    pub repeat: f64,
    /// Penalty per invalid action.
    pub invalid: f64,
    /// Shaping per relevant finding revealed (0 disables it).
    pub information: f64,
}

impl Default for RewardWeights {
    /// MedExAgent's weighting (diagnosis 1.0, tool quality 0.5, cost 0.1) plus small penalties
    /// that make stalling, repeating and malformed output cost something.
    fn default() -> Self {
        RewardWeights {
            diagnosis: 1.0,
            differential: 0.5,
            exam_quality: 0.5,
            cost: 0.1,
            turn: 0.01,
            repeat: 0.05,
            invalid: 0.1,
            information: 0.0,
        }
    }
}

/// Noise of the simulated patient and examiner.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NoiseConfig {
    /// Preset: "none", "mild", "realistic" or "hard".
    pub preset: String,
    /// Per-type probabilities overriding the preset.
    pub probabilities: BTreeMap<String, f64>,
}

/// The noise presets this version plays. The patient noise model (mild, realistic, hard) is
/// not built yet, so asking for it is an error rather than a silent noise-free episode.
pub const NOISE_PRESETS: [&str; 1] = ["none"];

/// The noise types a `NoiseConfig` may set.
pub const NOISE_TYPES: [&str; 10] = [
    "body_part_swap",
    "symptom_confusion",
    "severity_change",
    "temporal_change",
    "omission",
    "self_diagnosis",
    "vague_answer",
    "exam_body_part_swap",
    "exam_omission",
    "exam_ambiguity",
];

/// Personas the patient can take.
pub const PERSONAS: [&str; 1] = ["neutral"];

/// Options of one episode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct EpisodeOptions {
    /// Patient and examiner noise.
    pub noise: NoiseConfig,
    /// Patient persona.
    pub persona: String,
    /// Reward weights.
    pub reward: RewardWeights,
    /// Turn limit; reaching it truncates the episode.
    pub max_turns: u32,
    /// Money limit in USD; exceeding it truncates the episode.
    pub budget_usd: f64,
}

impl Default for EpisodeOptions {
    fn default() -> Self {
        EpisodeOptions {
            noise: NoiseConfig {
                preset: "none".into(),
                probabilities: BTreeMap::new(),
            },
            persona: "neutral".into(),
            reward: RewardWeights::default(),
            max_turns: 30,
            budget_usd: 5000.0,
        }
    }
}

/// Options that cannot be played.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OptionsError {
    /// Unknown noise preset.
    #[error("noise preset {0:?} is not available; this version plays only \"none\"")]
    NoisePreset(String),
    /// Unknown noise type or a probability outside [0, 1].
    #[error("noise probability {0:?} = {1}: only known types at 0 are playable in this version")]
    NoiseProbability(String, f64),
    /// Unknown persona.
    #[error("unknown persona {0:?}")]
    Persona(String),
    /// A weight that is not finite.
    #[error("reward weight {0} must be finite")]
    Weight(&'static str),
    /// A budget that is not positive.
    #[error("budget_usd must be positive and finite")]
    Budget,
}

impl EpisodeOptions {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), OptionsError> {
        if !NOISE_PRESETS.contains(&self.noise.preset.as_str()) {
            return Err(OptionsError::NoisePreset(self.noise.preset.clone()));
        }
        for (k, &v) in &self.noise.probabilities {
            if !NOISE_TYPES.contains(&k.as_str()) || v != 0.0 {
                return Err(OptionsError::NoiseProbability(k.clone(), v));
            }
        }
        if !PERSONAS.contains(&self.persona.as_str()) {
            return Err(OptionsError::Persona(self.persona.clone()));
        }
        let w = &self.reward;
        for (name, v) in [
            ("diagnosis", w.diagnosis),
            ("differential", w.differential),
            ("exam_quality", w.exam_quality),
            ("cost", w.cost),
            ("turn", w.turn),
            ("repeat", w.repeat),
            ("invalid", w.invalid),
            ("information", w.information),
        ] {
            if !v.is_finite() {
                return Err(OptionsError::Weight(name));
            }
        }
        if !(self.budget_usd.is_finite() && self.budget_usd > 0.0) {
            return Err(OptionsError::Budget);
        }
        Ok(())
    }
}
