//! Baseline policies for medgym, the episode runner, and evaluation metrics.
//!
//! Invariant: pure, like `medgym-env` — no I/O, no clock, no OS randomness, no tonic. A policy
//! draws only from an RNG seeded by the episode seed (`info.seed`), so the same seed replays the
//! same episode byte for byte.
//!
//! Policies ([`POLICIES`], built by [`make_policy`]):
//! - `random`: random asks, exams and a random diagnosis at a random turn.
//! - `infogain`: the Bayesian information-gain teacher ([`InfoGain`]).
//! - `oracle`: told the case; orders its key exams and names the truth.
//! - `ask_everything`, `exam_everything`: exhaustive work-ups, then the posterior's top.
//! - `guess_prior`: the train split's most frequent disease at turn 1.
//!
//! ```
//! use std::sync::Arc;
//! use medgym_agents::{PolicyContext, Tables, make_policy, run_episode};
//! use medgym_env::{Env, ResetArgs, World};
//!
//! let world = Arc::new(World::embedded().unwrap());
//! let ctx = PolicyContext::new(Arc::new(Tables::new(Arc::clone(&world))));
//! let mut policy = make_policy("infogain", &ctx).unwrap();
//! let mut env = Env::new(world);
//! let record = run_episode(&mut env, policy.as_mut(), ResetArgs { seed: 1, ..Default::default() }).unwrap();
//! assert!(record.outcome.turns >= 1);
//! ```

mod belief;
pub mod eval;
mod infogain;
mod posterior;
mod scripted;
mod tables;

use std::sync::Arc;

use medgym_env::record::EpisodeRecord;
use medgym_env::{Action, Env, EnvError, EpisodeOptions, Info, Observation, ResetArgs};

pub use infogain::{InfoGain, InfoGainParams};
pub use posterior::Posterior;
pub use scripted::{AskEverything, ExamEverything, GuessPrior, Oracle, RandomPolicy};
pub use tables::{EPSILON, Tables};

/// The policy names [`make_policy`] knows.
pub const POLICIES: [&str; 6] = [
    "random",
    "infogain",
    "oracle",
    "ask_everything",
    "exam_everything",
    "guess_prior",
];

/// Errors of building or running a policy.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// No policy has this name.
    #[error("unknown policy {0:?}; known: {list}", list = POLICIES.join(", "))]
    UnknownPolicy(String),
    /// The environment refused a reset or step.
    #[error(transparent)]
    Env(#[from] EnvError),
    /// The episode did not end within the step limit (a policy or environment bug).
    #[error("the episode did not end after {0} steps")]
    NoEnd(u32),
}

/// An agent: sees observations, returns actions.
pub trait Policy: Send {
    /// The policy's name (one of [`POLICIES`] for the built-in ones).
    fn name(&self) -> &'static str;
    /// Starts an episode: `first` is the presenting observation, `info` the reset info (its
    /// seed seeds any randomness of the policy).
    fn reset(&mut self, first: &Observation, info: &Info);
    /// The next action, given the latest observation (the first observation on the first turn).
    fn act(&mut self, last: &Observation) -> Action;
}

/// What policies are built from: the shared tables, the episode options they will play under
/// (turn limit, budget, reward weights), and the domain the rollout samples from.
#[derive(Debug, Clone)]
pub struct PolicyContext {
    /// Shared knowledge tables.
    pub tables: Arc<Tables>,
    /// Options of the episodes.
    pub options: EpisodeOptions,
    /// The requested domain (empty: any). The Bayesian policies restrict their prior to it.
    pub domain: String,
    /// Tuning of `infogain`.
    pub infogain: InfoGainParams,
}

impl PolicyContext {
    /// Default options, any domain, default tuning.
    pub fn new(tables: Arc<Tables>) -> Self {
        PolicyContext {
            tables,
            options: EpisodeOptions::default(),
            domain: String::new(),
            infogain: InfoGainParams::default(),
        }
    }
}

/// Builds a policy by name.
pub fn make_policy(name: &str, ctx: &PolicyContext) -> Result<Box<dyn Policy>, AgentError> {
    let t = Arc::clone(&ctx.tables);
    let o = ctx.options.clone();
    let domain = (!ctx.domain.is_empty()).then(|| ctx.domain.clone());
    Ok(match name {
        "random" => Box::new(RandomPolicy::new(t, o)),
        "infogain" => Box::new(InfoGain::new(t, o, domain, ctx.infogain.clone())),
        "oracle" => Box::new(Oracle::new(t, o)),
        "ask_everything" => Box::new(AskEverything::new(t, o)),
        "exam_everything" => Box::new(ExamEverything::new(t, o)),
        "guess_prior" => Box::new(GuessPrior::new(t)),
        other => return Err(AgentError::UnknownPolicy(other.to_string())),
    })
}

/// Picks the task of an episode from its seed exactly as `Env::reset` samples (a ChaCha8
/// stream seeded by the seed alone, uniform over the matching tasks in file order), with the
/// task list computed once: a rollout passes the picked `task_id` and gets the same episode as
/// a sampled reset without scanning every case at each reset. Split "all" (or empty) samples
/// across every split, which a sampled reset cannot do.
#[derive(Debug, Clone)]
pub struct TaskSampler {
    tasks: Vec<String>,
}

impl TaskSampler {
    /// The tasks of `domain` (empty: any) and `split` ("all" or empty: every split).
    pub fn new(knowledge: &medgym_clinic::Knowledge, domain: &str, split: &str) -> Self {
        let split = if split == "all" { "" } else { split };
        TaskSampler {
            tasks: knowledge
                .tasks(domain, split)
                .iter()
                .map(|&t| knowledge.case(t).id.clone())
                .collect(),
        }
    }

    /// Number of matching tasks.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether no task matches.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// The task of the episode with this seed (None when no task matches).
    pub fn pick(&self, seed: u64) -> Option<&str> {
        use rand::{Rng, SeedableRng};
        if self.tasks.is_empty() {
            return None;
        }
        let mut pick = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        Some(&self.tasks[pick.random_range(0..self.tasks.len())])
    }
}

/// Plays one episode to its end and returns its trajectory record.
pub fn run_episode(
    env: &mut Env,
    policy: &mut dyn Policy,
    args: ResetArgs,
) -> Result<EpisodeRecord, AgentError> {
    // The environment truncates at max_turns; this only guards against a broken loop.
    let limit = args.options.max_turns.saturating_add(1);
    let (first, info) = env.reset(args)?;
    policy.reset(&first, &info);
    let mut last = first;
    for _ in 0..limit {
        let out = env.step(policy.act(&last))?;
        if out.terminated || out.truncated {
            let trajectory = env
                .trajectory()
                .ok_or(AgentError::Env(EnvError::NoEpisode))?;
            return EpisodeRecord::from_trajectory(&trajectory).ok_or(AgentError::NoEnd(limit));
        }
        last = out.observation;
    }
    Err(AgentError::NoEnd(limit))
}
