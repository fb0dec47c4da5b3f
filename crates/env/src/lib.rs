//! The medgym POMDP: actions, episode state, observations, reward and trajectories.
//!
//! Invariants: this crate does no I/O and knows nothing of gRPC; it is usable in-process.
//! Every random draw of an episode comes from an RNG seeded by the episode's seed and task, so
//! the same (task, seed, options) gives byte-identical observations.
//!
//! ```
//! use std::sync::Arc;
//! use medgym_env::{Action, Ask, Env, ResetArgs, World};
//!
//! let world = Arc::new(World::embedded().unwrap());
//! let mut env = Env::new(world);
//! let (obs, info) = env.reset(ResetArgs { seed: 7, ..Default::default() }).unwrap();
//! assert_eq!(obs.turn, 0);
//! let step = env.step(Action::Ask(Ask { question: "Do you have a fever?".into(), finding_id: None })).unwrap();
//! assert!(!step.terminated);
//! # let _ = info;
//! ```

mod action;
mod episode;
mod memo;
mod options;
pub mod record;
pub mod reward;
mod world;

pub use action::{
    Action, Ask, Diagnose, Exam, ParseError, RankedDiagnosis, Search, Tool, parse_text,
    text_may_search, tools,
};
pub use episode::{
    CaseSummary, Env, Feedback, Info, MAX_DIFFERENTIAL, MAX_TOP_K, Observation, ResetArgs,
    StepOutcome, StepRecord, Totals, Trajectory, Truth, next_seed,
};
pub use options::{
    EpisodeOptions, NOISE_PRESETS, NOISE_TYPES, NoiseConfig, OptionsError, PERSONAS, RewardWeights,
};
pub use world::{Passage, SearchIndex, World};

/// The noise and persona vocabulary of the simulator, for reading [`Env::noise_events`].
pub use medgym_patient::{NoiseEvent, NoiseKind, NoiseLevels, Persona};

/// Errors of driving an environment.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// `step` before any `reset`.
    #[error("no episode: call reset first")]
    NoEpisode,
    /// `step` after the episode ended.
    #[error("the episode has ended; call reset to start another")]
    EpisodeOver,
    /// The task id is not in the knowledge set.
    #[error("unknown task {0:?}")]
    UnknownTask(String),
    /// No task matches the domain and split.
    #[error("no task in domain {domain:?} and split {split:?}")]
    NoTasks {
        /// Requested domain.
        domain: String,
        /// Requested split.
        split: String,
    },
    /// Options that cannot be played.
    #[error(transparent)]
    Options(#[from] OptionsError),
    /// The knowledge set failed to load.
    #[error(transparent)]
    Knowledge(#[from] medgym_clinic::ClinicError),
}
