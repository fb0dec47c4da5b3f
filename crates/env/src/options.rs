//! Per-episode options: limits, reward weights, noise and persona.

use std::collections::BTreeMap;

use medgym_patient::{NoiseKind, NoiseLevels, Persona};
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
    /// Preset: "none", "mild", "realistic" or "hard" (empty: "none").
    pub preset: String,
    /// Per-type probabilities in [0, 1] overriding the preset (keys from `NOISE_TYPES`).
    pub probabilities: BTreeMap<String, f64>,
}

/// The noise presets. Their per-type probabilities (docs/validity.md, "Noise"):
///
/// | type | none | mild | realistic | hard |
/// |---|---|---|---|---|
/// | body_part_swap, symptom_confusion, severity_change, temporal_change, vague_answer | 0 | 0.1 | 0.25 | 0.5 |
/// | omission | 0 | 0.1 | 0.2 | 0.4 |
/// | self_diagnosis | 0 | 0.05 | 0.1 | 0.25 |
/// | exam_body_part_swap, exam_omission, exam_ambiguity | 0 | 0.05 | 0.15 | 0.35 |
/// | lab_variation (per value) | 0 | 0.5 | 1 | 1 |
/// | exam_false_negative (per finding, 1 − sensitivity) | 0 | 0.02 | 0.05 | 0.12 |
/// | exam_false_positive (per exam, 1 − specificity) | 0 | 0.02 | 0.05 | 0.1 |
///
/// A one-shot type (the first ten) is enabled with its probability once per episode and fires
/// on one turn drawn from the first seven (the first answer or report at or after it that it
/// can change); the last three apply per value, finding or exam.
pub const NOISE_PRESETS: [&str; 4] = ["none", "mild", "realistic", "hard"];

/// The noise types a `NoiseConfig` may set.
pub const NOISE_TYPES: [&str; 13] = [
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
    "lab_variation",
    "exam_false_negative",
    "exam_false_positive",
];

/// Personas the patient can take (docs/personas.md): five temperaments and the AgentClinic
/// patient biases.
pub const PERSONAS: [&str; 13] = [
    "neutral",
    "anxious",
    "stoic",
    "talkative",
    "low_health_literacy",
    "distrustful",
    "recency_bias",
    "frequency_bias",
    "false_consensus_bias",
    "self_diagnosis_bias",
    "cultural_bias",
    "education_bias",
    "socioeconomic_bias",
];

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
    #[error("noise preset {0:?} is not one of none, mild, realistic, hard")]
    NoisePreset(String),
    /// Unknown noise type or a probability outside [0, 1].
    #[error(
        "noise probability {0:?} = {1}: the type must be one of NOISE_TYPES and the probability in [0, 1]"
    )]
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
        let preset = self.noise.preset.as_str();
        if !(preset.is_empty() || NOISE_PRESETS.contains(&preset)) {
            return Err(OptionsError::NoisePreset(self.noise.preset.clone()));
        }
        for (k, &v) in &self.noise.probabilities {
            if !NOISE_TYPES.contains(&k.as_str()) || !(0.0..=1.0).contains(&v) {
                return Err(OptionsError::NoiseProbability(k.clone(), v));
            }
        }
        if !(self.persona.is_empty() || PERSONAS.contains(&self.persona.as_str())) {
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

impl EpisodeOptions {
    /// The noise probabilities: the preset's, with the per-type overrides applied. Options are
    /// validated at reset; an unknown preset or type here counts as none.
    pub fn noise_levels(&self) -> NoiseLevels {
        let preset = if self.noise.preset.is_empty() {
            "none"
        } else {
            self.noise.preset.as_str()
        };
        let mut levels = NoiseLevels::preset(preset).unwrap_or(NoiseLevels::NONE);
        for (k, &v) in &self.noise.probabilities {
            if let Some(kind) = NoiseKind::from_name(k) {
                levels.set(kind, v);
            }
        }
        levels
    }

    /// The persona (empty: neutral).
    pub fn persona(&self) -> Persona {
        Persona::from_name(&self.persona).unwrap_or(Persona::Neutral)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_agree_with_the_simulator() {
        let kinds: Vec<&str> = NoiseKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(kinds, NOISE_TYPES);
        let personas: Vec<&str> = Persona::ALL.iter().map(|p| p.name()).collect();
        assert_eq!(personas, PERSONAS);
        for p in NOISE_PRESETS {
            assert!(NoiseLevels::preset(p).is_some(), "{p}");
        }
    }

    #[test]
    fn presets_open_and_overrides_apply() {
        let mut o = EpisodeOptions::default();
        assert!(o.validate().is_ok());
        assert!(o.noise_levels().is_quiet());
        o.noise.preset = "realistic".into();
        o.noise.probabilities.insert("omission".into(), 1.0);
        assert!(o.validate().is_ok());
        let l = o.noise_levels();
        assert_eq!(l.get(NoiseKind::Omission), 1.0);
        assert_eq!(l.get(NoiseKind::BodyPartSwap), 0.25);
        o.noise.probabilities.insert("omission".into(), 1.5);
        assert!(matches!(
            o.validate(),
            Err(OptionsError::NoiseProbability(..))
        ));
        o.noise.probabilities.clear();
        o.noise.probabilities.insert("sneezing".into(), 0.5);
        assert!(matches!(
            o.validate(),
            Err(OptionsError::NoiseProbability(..))
        ));
        o.noise.probabilities.clear();
        o.noise.preset = "extreme".into();
        assert!(matches!(o.validate(), Err(OptionsError::NoisePreset(_))));
        o.noise.preset = "hard".into();
        o.persona = "stoic".into();
        assert!(o.validate().is_ok());
        assert_eq!(o.persona(), Persona::Stoic);
        o.persona = "grumpy".into();
        assert!(matches!(o.validate(), Err(OptionsError::Persona(_))));
    }
}
