//! One episode: reset, step, observations, info and the trajectory.

use std::sync::Arc;

use medgym_clinic::{ExamIdx, FindingIdx, TaskIdx, text};
use medgym_patient::{Attribute, NoiseEvent, Patient, Question};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::action::{self, Action};
use crate::options::EpisodeOptions;
use crate::reward::{self, Resolved, Reward};
use crate::{EnvError, World};

/// Longest accepted `top_k` of a search.
pub const MAX_TOP_K: u32 = 10;

/// Most entries accepted in a differential.
pub const MAX_DIFFERENTIAL: usize = 50;

/// How to start an episode.
#[derive(Debug, Clone, Default)]
pub struct ResetArgs {
    /// A specific task; `None` samples one from `domain`/`split` with `seed`.
    pub task_id: Option<String>,
    /// Domain to sample from (empty: any).
    pub domain: String,
    /// Split to sample from (empty: "train").
    pub split: String,
    /// The episode's seed.
    pub seed: u64,
    /// Options (validated at reset).
    pub options: EpisodeOptions,
    /// Episode id for trajectories; `None` derives one from task and seed.
    pub episode_id: Option<String>,
}

/// Whether the last action was accepted.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Feedback {
    /// False when the action was unparseable, unknown or not allowed.
    pub valid: bool,
    /// Why it was invalid, or a note.
    pub message: String,
}

/// What the agent sees.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observation {
    /// The patient's or examiner's words.
    pub text: String,
    /// Turns taken so far.
    pub turn: u32,
    /// Money spent so far in USD.
    pub cost_usd: f64,
    /// Discomfort caused so far.
    pub discomfort: u32,
    /// Finding ids this observation affirmed.
    pub revealed_findings: Vec<String>,
    /// Finding ids this observation denied.
    pub denied_findings: Vec<String>,
    /// Validity of the action.
    pub feedback: Feedback,
}

/// The hidden diagnosis, revealed at the end.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Truth {
    /// Disease name.
    pub name: String,
    /// ICD-10-CM code (empty when the disease has none).
    pub code: String,
    /// Disease id.
    pub disease_id: String,
    /// Whether the primary diagnosis was right.
    pub correct: bool,
}

/// Totals of a finished episode.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Totals {
    /// Turns taken.
    pub turns: u32,
    /// Money spent.
    pub cost_usd: f64,
    /// Discomfort caused.
    pub discomfort: u32,
    /// Sum of step rewards.
    pub total_reward: f64,
}

/// Episode information.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Info {
    /// Task id.
    pub task_id: String,
    /// Domain.
    pub domain: String,
    /// Split.
    pub split: String,
    /// Seed.
    pub seed: u64,
    /// Episode id.
    pub episode_id: String,
    /// Ground truth, once the episode has ended.
    pub truth: Option<Truth>,
    /// Totals, once the episode has ended.
    pub totals: Option<Totals>,
    /// "max_turns" or "budget" when truncated.
    pub truncation_reason: Option<&'static str>,
    /// The noise that fired (as [`Env::noise_events`]), once the episode has ended: hidden
    /// state until then, like the truth.
    pub noise_events: Option<Vec<NoiseEvent>>,
}

/// The result of a step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepOutcome {
    /// What the agent sees.
    pub observation: Observation,
    /// The step reward (sum of `reward_components`).
    pub reward: f64,
    /// The reward term by term, in the order of [`reward::TERMS`].
    pub reward_components: [(&'static str, f64); reward::TERMS.len()],
    /// Ended by a diagnosis.
    pub terminated: bool,
    /// Ended by a limit.
    pub truncated: bool,
    /// Episode information.
    pub info: Info,
}

/// One recorded step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRecord {
    /// The action exactly as received (raw text kept verbatim).
    pub action: Action,
    /// What it produced.
    pub outcome: StepOutcome,
}

/// A present finding of the revealed case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseSummary {
    /// Disease name.
    pub diagnosis_name: String,
    /// ICD-10-CM code.
    pub diagnosis_code: String,
    /// (id, name, kind) of each present finding.
    pub findings: Vec<(String, String, &'static str)>,
    /// Age.
    pub age: u32,
    /// Sex.
    pub sex: &'static str,
}

/// The record of an episode.
#[derive(Debug, Clone, PartialEq)]
pub struct Trajectory {
    /// Episode id.
    pub episode_id: String,
    /// Reset information.
    pub info: Info,
    /// First observation.
    pub initial_observation: Observation,
    /// Steps in order.
    pub steps: Vec<StepRecord>,
    /// The hidden case, once the episode has ended.
    pub case: Option<CaseSummary>,
    /// Options of the episode.
    pub options: EpisodeOptions,
    /// 1-based rank of the truth in the final differential, if it was there.
    pub truth_rank: Option<u32>,
}

impl Trajectory {
    /// The noise that fired, once the episode has ended (carried by the last step's info).
    pub fn noise_events(&self) -> Option<&[NoiseEvent]> {
        self.steps.last()?.outcome.info.noise_events.as_deref()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Running,
    Terminated,
    Truncated(&'static str),
}

#[derive(Debug)]
struct Episode {
    task: TaskIdx,
    /// The reset info (task, domain, split, seed, episode id), which every step's info
    /// repeats: kept here rather than looked up in the knowledge on every step, where it
    /// lies far from anything else the step touches.
    info: Info,
    options: EpisodeOptions,
    rng: ChaCha8Rng,
    /// The patient and examiner: persona, noise plan, mistakes made, noise fired.
    patient: Patient,
    turn: u32,
    cost_usd: f64,
    discomfort: u32,
    total_reward: f64,
    asked: Vec<(Vec<FindingIdx>, Attribute)>,
    /// The last understood question, for follow-ups ("when did it start?").
    topic: Question,
    exams: Vec<ExamIdx>,
    /// Parallel to `exams`: the step that first reported each, for repeats.
    exam_steps: Vec<usize>,
    /// Findings revealed so far, for information-gain shaping.
    revealed: Vec<FindingIdx>,
    status: Status,
    correct: bool,
    truth_rank: Option<u32>,
    initial: Observation,
    steps: Vec<Recorded>,
}

/// A step as the episode keeps it until a trajectory is asked for; `Env::trajectory`
/// rebuilds the full `StepRecord`s. The info of every step but an ending one is the reset
/// info, so it is not copied per step, and the observation's finding ids are kept as indices:
/// copying their strings (and the observation's vectors) into every record cost more than the
/// rest of the record.
#[derive(Debug)]
struct Recorded {
    action: Action,
    text: String,
    turn: u32,
    cost_usd: f64,
    discomfort: u32,
    revealed: Vec<FindingIdx>,
    denied: Vec<FindingIdx>,
    feedback: Feedback,
    reward: f64,
    terms: [f64; reward::TERMS.len()],
    terminated: bool,
    truncated: bool,
}

impl Recorded {
    fn observation(&self, world: &World) -> Observation {
        Observation {
            text: self.text.clone(),
            turn: self.turn,
            cost_usd: self.cost_usd,
            discomfort: self.discomfort,
            revealed_findings: ids(world, &self.revealed),
            denied_findings: ids(world, &self.denied),
            feedback: self.feedback.clone(),
        }
    }
}

/// What an action showed, before it becomes the step's observation and its record.
#[derive(Debug, Default)]
struct Shown {
    text: String,
    /// A note on a valid action ("you asked this before").
    message: String,
    revealed: Vec<FindingIdx>,
    denied: Vec<FindingIdx>,
}

/// A gymnasium-style environment holding at most one episode at a time.
#[derive(Debug)]
pub struct Env {
    world: Arc<World>,
    episode: Option<Episode>,
}

impl Env {
    /// An environment over a shared world.
    pub fn new(world: Arc<World>) -> Self {
        Env {
            world,
            episode: None,
        }
    }

    /// The shared world.
    pub fn world(&self) -> &Arc<World> {
        &self.world
    }

    /// Starts a new episode, dropping any previous one.
    pub fn reset(&mut self, args: ResetArgs) -> Result<(Observation, Info), EnvError> {
        args.options.validate()?;
        let k = &self.world.knowledge;
        let task = match args.task_id.as_deref().filter(|t| !t.is_empty()) {
            Some(id) => k
                .task_idx(id)
                .ok_or_else(|| EnvError::UnknownTask(id.to_string()))?,
            None => {
                let split = if args.split.is_empty() {
                    "train"
                } else {
                    &args.split
                };
                let tasks = k.tasks(&args.domain, split);
                if tasks.is_empty() {
                    return Err(EnvError::NoTasks {
                        domain: args.domain.clone(),
                        split: split.to_string(),
                    });
                }
                // The task pick has its own stream so that the episode stream depends only on
                // (seed, task): a GRPO group pinned to one task and seed replays exactly.
                let mut pick = ChaCha8Rng::seed_from_u64(args.seed);
                tasks[pick.random_range(0..tasks.len())]
            }
        };
        let case = k.case(task);
        let episode_id = args
            .episode_id
            .unwrap_or_else(|| format!("{}-{:016x}", case.id, args.seed));
        // Noise has its own stream of (seed, task), apart from the exam-value draws: a GRPO
        // group sharing a seed sees the same noise whatever its members do.
        let mut patient = Patient::new(
            args.options.persona(),
            args.options.noise_levels(),
            mix(mix(args.seed, fnv(&case.id)), NOISE_STREAM),
        );
        patient.know_case(k, task);
        let initial = Observation {
            text: patient.presenting_complaint(case),
            turn: 0,
            cost_usd: 0.0,
            discomfort: 0,
            revealed_findings: Vec::new(),
            denied_findings: Vec::new(),
            feedback: Feedback {
                valid: true,
                message: String::new(),
            },
        };
        // The previous episode's step buffer is reused (cleared): growing a fresh one cost an
        // allocation and a copy of every record at each doubling, every episode.
        let mut steps = self.episode.take().map(|old| old.steps).unwrap_or_default();
        steps.clear();
        let info = Info {
            task_id: case.id.clone(),
            domain: k.task_disease(task).domain.clone(),
            split: case.split.clone(),
            seed: args.seed,
            episode_id,
            truth: None,
            totals: None,
            truncation_reason: None,
            noise_events: None,
        };
        let episode = Episode {
            task,
            info,
            options: args.options,
            rng: ChaCha8Rng::seed_from_u64(mix(args.seed, fnv(&case.id))),
            patient,
            turn: 0,
            cost_usd: 0.0,
            discomfort: 0,
            total_reward: 0.0,
            asked: Vec::new(),
            topic: Question {
                findings: Vec::new(),
                variants: Vec::new(),
                attribute: Attribute::Presence,
            },
            exams: Vec::new(),
            exam_steps: Vec::new(),
            revealed: Vec::new(),
            status: Status::Running,
            correct: false,
            truth_rank: None,
            initial: initial.clone(),
            steps,
        };
        self.episode = Some(episode);
        let info = self.info();
        Ok((initial, info))
    }

    /// Applies one action. Invalid actions are a normal step with `feedback.valid = false`.
    pub fn step(&mut self, action: Action) -> Result<StepOutcome, EnvError> {
        // Borrowed apart rather than cloning the `Arc`: its count is shared by every session
        // on every core, and bumping it twice a step made the cores take turns on it.
        let Env { world, episode } = self;
        let ep = episode.as_mut().ok_or(EnvError::NoEpisode)?;
        if ep.status != Status::Running {
            return Err(EnvError::EpisodeOver);
        }
        ep.turn += 1;
        let mut reward = Reward::default();
        let w = ep.options.reward.clone();
        reward.turn(&w);

        let from_text;
        let parsed = match &action {
            Action::Text(t) => {
                from_text = action::parse_text(t).map_err(|e| e.to_string());
                from_text.as_ref().map_err(Clone::clone)
            }
            other => Ok(other),
        };
        let mut shown = Shown::default();
        let result = match parsed {
            Ok(a) => ep.apply(world, a, &mut reward, &mut shown),
            Err(message) => Err(message),
        };
        let feedback = match result {
            Ok(()) => Feedback {
                valid: true,
                message: shown.message,
            },
            Err(message) => {
                reward.invalid(&w);
                shown.text = format!("Invalid action: {message}");
                Feedback {
                    valid: false,
                    message,
                }
            }
        };
        if ep.status == Status::Running {
            if ep.cost_usd > ep.options.budget_usd {
                ep.status = Status::Truncated("budget");
            } else if ep.turn >= ep.options.max_turns {
                ep.status = Status::Truncated("max_turns");
            }
        }
        ep.total_reward += reward.total();
        let terminated = ep.status == Status::Terminated;
        let truncated = matches!(ep.status, Status::Truncated(_));
        let record = Recorded {
            action,
            text: shown.text,
            turn: ep.turn,
            cost_usd: ep.cost_usd,
            discomfort: ep.discomfort,
            revealed: shown.revealed,
            denied: shown.denied,
            feedback,
            reward: reward.total(),
            terms: reward.terms(),
            terminated,
            truncated,
        };
        let observation = record.observation(world);
        ep.steps.push(record);
        Ok(StepOutcome {
            observation,
            reward: reward.total(),
            reward_components: reward.components(),
            terminated,
            truncated,
            info: self.info(),
        })
    }

    /// Whether the current episode has ended (true when there is none).
    pub fn done(&self) -> bool {
        self.episode
            .as_ref()
            .is_none_or(|e| e.status != Status::Running)
    }

    /// The current episode's info (task, seed; truth and totals once ended).
    pub fn info(&self) -> Info {
        let Some(ep) = &self.episode else {
            return Info {
                task_id: String::new(),
                domain: String::new(),
                split: String::new(),
                seed: 0,
                episode_id: String::new(),
                truth: None,
                totals: None,
                truncation_reason: None,
                noise_events: None,
            };
        };
        let mut info = ep.info.clone();
        if ep.status != Status::Running {
            let disease = self.world.knowledge.task_disease(ep.task);
            info.truth = Some(Truth {
                name: disease.name.clone(),
                code: disease.icd10.clone().unwrap_or_default(),
                disease_id: disease.id.clone(),
                correct: ep.correct,
            });
            info.totals = Some(Totals {
                turns: ep.turn,
                cost_usd: ep.cost_usd,
                discomfort: ep.discomfort,
                total_reward: ep.total_reward,
            });
            info.truncation_reason = match ep.status {
                Status::Truncated(r) => Some(r),
                _ => None,
            };
            info.noise_events = Some(ep.patient.events().to_vec());
        }
        info
    }

    /// The noise that fired in the current (or last) episode, in order (kind, turn, finding,
    /// what changed). `None` while the episode runs: the agent must not learn it mid-episode.
    pub fn noise_events(&self) -> Option<Vec<NoiseEvent>> {
        let ep = self.episode.as_ref()?;
        (ep.status != Status::Running).then(|| ep.patient.events().to_vec())
    }

    /// The trajectory of the current (or last) episode.
    pub fn trajectory(&self) -> Option<Trajectory> {
        let ep = self.episode.as_ref()?;
        let k = &self.world.knowledge;
        let case = k.case(ep.task);
        // Reset information only: the truth travels in `case` and the last step, the noise in
        // the last step.
        let info = ep.info.clone();
        let ended = ep.status != Status::Running;
        // Only the step that ended the episode (the last) saw more than the reset info.
        let last_info = ended.then(|| self.info());
        let last = ep.steps.len().wrapping_sub(1);
        let steps = ep
            .steps
            .iter()
            .enumerate()
            .map(|(i, r)| StepRecord {
                action: r.action.clone(),
                outcome: StepOutcome {
                    observation: r.observation(&self.world),
                    reward: r.reward,
                    reward_components: reward::named(r.terms),
                    terminated: r.terminated,
                    truncated: r.truncated,
                    info: match &last_info {
                        Some(full) if i == last => full.clone(),
                        _ => info.clone(),
                    },
                },
            })
            .collect();
        Some(Trajectory {
            episode_id: ep.info.episode_id.clone(),
            info,
            initial_observation: ep.initial.clone(),
            steps,
            options: ep.options.clone(),
            truth_rank: ep.truth_rank,
            case: ended.then(|| {
                let disease = k.task_disease(ep.task);
                CaseSummary {
                    diagnosis_name: disease.name.clone(),
                    diagnosis_code: disease.icd10.clone().unwrap_or_default(),
                    findings: case
                        .findings
                        .iter()
                        .filter_map(|cf| {
                            let f = k.finding(k.finding_idx(&cf.finding)?);
                            Some((f.id.clone(), f.name.clone(), f.kind.as_str()))
                        })
                        .collect(),
                    age: case.age,
                    sex: case.sex.as_str(),
                }
            }),
        })
    }
}

impl Episode {
    /// Carries out a parsed action; `Err` is the message of an invalid one.
    fn apply(
        &mut self,
        world: &World,
        action: &Action,
        reward: &mut Reward,
        shown: &mut Shown,
    ) -> Result<(), String> {
        let k = &world.knowledge;
        let case = k.case(self.task);
        let w = self.options.reward.clone();
        match action {
            Action::Text(_) => Err("nested text action".into()),
            Action::Ask(ask) => {
                let mut question = world.understand(&ask.question);
                if let Some(id) = ask.finding_id.as_deref().filter(|s| !s.is_empty()) {
                    let fi = k
                        .finding_idx(id)
                        .ok_or_else(|| format!("unknown finding_id {id:?}"))?;
                    question = Question::about(fi, question.attribute);
                }
                if ask.question.trim().is_empty() && question.findings.is_empty() {
                    return Err("the question is empty".into());
                }
                if question.findings.is_empty() && question.attribute != Attribute::Presence {
                    // "When did it start?" refers to what was just discussed.
                    question.findings = self.topic.findings.clone();
                    question.variants = self.topic.variants.clone();
                } else if !question.findings.is_empty() {
                    self.topic = question.clone();
                }
                let key = (question.findings.clone(), question.attribute);
                let repeated = !question.findings.is_empty() && self.asked.contains(&key);
                if repeated {
                    reward.repeat(&w);
                    shown.message = "you asked this before".into();
                }
                let variant = mix(self.info.seed, question_hash(&question));
                let answer = self.patient.answer(
                    k,
                    &world.lexicon,
                    case,
                    &ask.question,
                    &question,
                    self.turn,
                    variant,
                );
                // An answer held back (evasive, "why do you ask?") invites asking again.
                if !question.findings.is_empty() && !repeated && !answer.withheld {
                    self.asked.push(key);
                }
                self.gain(world, &answer.revealed, reward);
                shown.text = answer.text;
                shown.revealed = answer.revealed;
                shown.denied = answer.denied;
                Ok(())
            }
            Action::Exam(exam) => {
                let xi = k.exam_idx(exam.exam_id.trim()).ok_or_else(|| {
                    format!(
                        "unknown exam {:?}; the catalog is in the spec (GetSpec.exams)",
                        exam.exam_id
                    )
                })?;
                let e = k.exam(xi);
                self.cost_usd += e.cost_usd;
                self.discomfort += u32::from(e.discomfort);
                let domain = &k.task_disease(self.task).domain;
                let reference = (
                    world.reference_usd(domain),
                    world.reference_discomfort(domain),
                );
                reward.exam_cost(&w, e.cost_usd, e.discomfort, reference);
                let repeated = self.exams.contains(&xi);
                let report = if repeated {
                    reward.repeat(&w);
                    shown.message = "this exam was already done".into();
                    // Same report as the first time: a repeat is not a fresh draw.
                    let first = self.exams.iter().position(|&x| x == xi);
                    first.map(|i| {
                        let r = &self.steps[self.exam_steps[i]];
                        (r.text.clone(), r.revealed.clone())
                    })
                } else {
                    None
                };
                let (text, revealed) = match report {
                    Some(r) => r,
                    None => {
                        let r = self.patient.examine(
                            k,
                            &world.lexicon,
                            case,
                            xi,
                            self.turn,
                            &mut self.rng,
                        );
                        self.gain(world, &r.revealed, reward);
                        (r.text, r.revealed)
                    }
                };
                if !repeated {
                    self.exams.push(xi);
                    // This step is recorded once `apply` returns, at this index.
                    self.exam_steps.push(self.steps.len());
                }
                shown.text = text;
                shown.revealed = revealed;
                Ok(())
            }
            Action::Search(search) => {
                let index = world
                    .search
                    .as_ref()
                    .ok_or("search is not available: this server has no knowledge base loaded")?;
                if search.query.trim().is_empty() {
                    return Err("the search query is empty".into());
                }
                let top_k = search.top_k.unwrap_or(5).clamp(1, MAX_TOP_K) as usize;
                let passages = index.search(&search.query, top_k);
                shown.text = if passages.is_empty() {
                    "No passages found.".into()
                } else {
                    passages
                        .iter()
                        .enumerate()
                        .map(|(i, p)| format!("[{}] {} ({}): {}", i + 1, p.title, p.id, p.snippet))
                        .collect::<Vec<_>>()
                        .join("\n")
                };
                Ok(())
            }
            Action::Diagnose(dx) => {
                if dx.differential.len() > MAX_DIFFERENTIAL {
                    return Err(format!(
                        "the differential has {} entries; at most {MAX_DIFFERENTIAL} are accepted",
                        dx.differential.len()
                    ));
                }
                let primary = if dx.primary.trim().is_empty() {
                    dx.differential
                        .first()
                        .map(|d| if d.code.is_empty() { &d.name } else { &d.code })
                        .cloned()
                        .unwrap_or_default()
                } else {
                    dx.primary.clone()
                };
                if primary.trim().is_empty() {
                    return Err("a diagnosis needs a primary name or a differential".into());
                }
                let truth = k.task_disease(self.task);
                let mut given = k.resolve_diagnosis(&primary);
                let icd = medgym_clinic::icd::Index::embedded();
                if given.code.is_none() {
                    // Not a disease of the case set: an ICD-10-CM title or inclusion term?
                    given.code = icd.code_of(&primary).map(str::to_string);
                }
                self.correct = given.disease.is_some_and(|d| d.id == truth.id);
                let dx_credit = if self.correct {
                    1.0
                } else {
                    match (&given.code, &truth.icd10) {
                        (Some(g), Some(t)) => icd.credit(g, t),
                        _ => 0.0,
                    }
                };

                let named: Vec<(&str, f64)> = if dx.differential.is_empty() {
                    vec![(primary.as_str(), 1.0)]
                } else {
                    dx.differential
                        .iter()
                        .map(|d| {
                            (
                                if d.code.is_empty() {
                                    d.name.as_str()
                                } else {
                                    d.code.as_str()
                                },
                                d.probability,
                            )
                        })
                        .collect()
                };
                let entries: Vec<Resolved> = named
                    .iter()
                    .map(|&(name, probability)| Resolved {
                        key: key_of(k, name),
                        probability,
                    })
                    .collect();
                let total: f64 = entries.iter().map(|e| e.probability).sum();
                let mut notes = Vec::new();
                if !dx.differential.is_empty() && (total - 1.0).abs() > 0.01 {
                    reward.unnormalised(&w);
                    notes.push(format!("the differential's probabilities summed to {total:.3}; they were renormalised (penalised)"));
                }
                let ddx = reward::differential_score(&entries, &truth.id);
                self.truth_rank = entries
                    .iter()
                    .position(|e| e.key == truth.id)
                    .map(|i| i as u32 + 1);

                // Exams that could show a finding of the truth or of an alternative considered.
                let mut relevant: Vec<ExamIdx> =
                    world.disease_exams[k.task_disease_idx(self.task) as usize].clone();
                for e in &entries {
                    if let Some(d) = k.disease_idx(&e.key) {
                        relevant.extend_from_slice(&world.disease_exams[d as usize]);
                    }
                }
                let useful = self.exams.iter().filter(|x| relevant.contains(x)).count();
                let keys = world.key_exams(self.task);
                let key_ordered = keys.iter().filter(|x| self.exams.contains(x)).count();
                let quality =
                    reward::exam_quality(self.exams.len(), useful, keys.len(), key_ordered);

                reward.diagnosis(&w, dx_credit, ddx, quality);
                self.status = Status::Terminated;
                shown.text = format!("Diagnosis recorded: {}.", primary.trim());
                if given.disease.is_none() && given.code.is_none() {
                    notes.insert(
                        0,
                        format!(
                            "{:?} was not recognised as a disease; scored as incorrect",
                            primary.trim()
                        ),
                    );
                }
                shown.message = notes.join("; ");
                Ok(())
            }
        }
    }

    /// Information-gain shaping: findings of the true disease revealed for the first time.
    fn gain(&mut self, world: &World, revealed: &[FindingIdx], reward: &mut Reward) {
        let k = &world.knowledge;
        let truth = k.task_disease_idx(self.task) as usize;
        let mut new = 0;
        for &f in revealed {
            if !self.revealed.contains(&f) {
                self.revealed.push(f);
                if world.disease_findings[truth].binary_search(&f).is_ok() {
                    new += 1;
                }
            }
        }
        reward.information(&self.options.reward, new);
    }
}

fn key_of(k: &medgym_clinic::Knowledge, name: &str) -> String {
    k.resolve_disease(name)
        .map_or_else(|| text::normalize_joined(name), |d| d.id.clone())
}

fn ids(world: &World, findings: &[FindingIdx]) -> Vec<String> {
    findings
        .iter()
        .map(|&f| world.knowledge.finding(f).id.clone())
        .collect()
}

fn question_hash(q: &Question) -> u64 {
    let mut h = q.attribute as u64;
    for &f in &q.findings {
        h = mix(h, u64::from(f));
    }
    h
}

/// The seed of the episode that follows one with `seed` in the same slot (autoreset). A
/// scrambled successor rather than `seed + 1`: vector envs seed slot i with `seed + i`, and a
/// `+ 1` chain would replay the neighbouring slot's episodes one reset later.
pub fn next_seed(seed: u64) -> u64 {
    mix(seed, 0x6d65_6467_796d) // "medgym"
}

/// Salt of the noise stream (seed, task) → patient noise plan.
const NOISE_STREAM: u64 = 0x6e6f_6973_655f_7631;

/// SplitMix64 finaliser over a combination: a cheap, well-mixed, platform-independent hash.
fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.rotate_left(32) ^ 0x9e37_79b9_7f4a_7c15;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a of a string: stable across runs and platforms, unlike `DefaultHasher`.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
