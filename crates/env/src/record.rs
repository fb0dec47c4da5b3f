//! The trajectory record: one finished episode as one JSON object (one JSONL line), in the form
//! distillation pipelines read (OpenAI chat messages with tool calls) plus the step-level detail
//! RL and evaluation need. `docs/trajectory.schema.json` is generated from these types.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::action::{self, Action};
use crate::episode::{Observation, Trajectory};
use crate::options::EpisodeOptions;

/// The system prompt of recorded conversations.
pub const SYSTEM_PROMPT: &str = "You are a physician. Take a history from the patient, order examinations where they help, and \
finish with a diagnosis and a ranked differential with probabilities. Every exam costs money and may cause the patient \
discomfort; every turn counts. Use exactly one tool per turn.";

/// Format version of the record; bumped on incompatible change.
pub const FORMAT: &str = "medgym.trajectory.v1";

/// One finished episode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EpisodeRecord {
    /// Always [`FORMAT`].
    pub format: String,
    /// Unique episode id.
    pub episode_id: String,
    /// Task (case) id.
    pub task_id: String,
    /// Clinical domain.
    pub domain: String,
    /// Split of the task.
    pub split: String,
    /// Seed of the episode.
    pub seed: u64,
    /// Options the episode ran with.
    pub options: EpisodeOptions,
    /// The agent's tools as OpenAI function definitions.
    pub tools: Vec<Value>,
    /// The conversation in OpenAI chat format. Raw agent text is kept verbatim as the assistant
    /// message content; structured actions appear as `tool_calls`, answered by `tool` messages.
    pub messages: Vec<Message>,
    /// Step-level detail.
    pub steps: Vec<StepEntry>,
    /// How the episode ended.
    pub outcome: Outcome,
    /// The hidden case (teacher signal); present once the episode has ended.
    pub case: Option<CaseRecord>,
    /// The patient and examiner noise that fired, in order (empty with noise `none`). Hidden
    /// while the episode ran; records written before it existed read as empty.
    #[serde(default)]
    pub noise_events: Vec<NoiseEventRecord>,
}

/// One piece of noise that fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NoiseEventRecord {
    /// The noise type, one of the `NoiseConfig` type names ("body_part_swap", ...,
    /// "exam_false_positive").
    pub kind: String,
    /// The turn it fired on.
    pub turn: u32,
    /// The finding it concerned (id), if one.
    pub finding: Option<String>,
    /// What changed, in words ("chest → upper abdomen").
    pub detail: String,
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Message {
    /// "system", "user", "assistant" or "tool".
    pub role: String,
    /// Text content (null for an assistant message that only calls a tool).
    pub content: Option<String>,
    /// Tool calls of an assistant message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For a tool message: the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

/// An OpenAI tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ToolCall {
    /// Call id, unique in the episode ("call_3").
    pub id: String,
    /// Always "function".
    #[serde(rename = "type")]
    pub kind: String,
    /// The function called.
    pub function: FunctionCall,
}

/// Name and JSON-encoded arguments of a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FunctionCall {
    /// Tool name.
    pub name: String,
    /// Arguments as a JSON string (OpenAI's convention).
    pub arguments: String,
}

/// One step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StepEntry {
    /// The action as received (raw text verbatim under `text`).
    pub action: Value,
    /// What the agent saw.
    pub observation: ObservationRecord,
    /// Step reward.
    pub reward: f64,
    /// The reward by term.
    pub reward_components: BTreeMap<String, f64>,
    /// Ended by a diagnosis.
    pub terminated: bool,
    /// Ended by a limit.
    pub truncated: bool,
}

/// An observation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ObservationRecord {
    /// Text the agent saw.
    pub text: String,
    /// Turn number.
    pub turn: u32,
    /// Money spent so far.
    pub cost_usd: f64,
    /// Discomfort so far.
    pub discomfort: u32,
    /// Findings affirmed.
    pub revealed_findings: Vec<String>,
    /// Findings denied.
    pub denied_findings: Vec<String>,
    /// Whether the action was valid.
    pub valid: bool,
    /// Feedback message.
    pub message: String,
}

/// How an episode ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Outcome {
    /// The primary diagnosis given (null when truncated).
    pub diagnosis: Option<String>,
    /// The differential given, most likely first: (name or code, probability).
    pub differential: Vec<(String, f64)>,
    /// The true disease name.
    pub truth_name: String,
    /// The true ICD-10-CM code ("" when none).
    pub truth_code: String,
    /// The true disease id.
    pub truth_id: String,
    /// Whether the primary diagnosis was right.
    pub correct: bool,
    /// 1-based rank of the truth in the differential (the primary counts as rank 1 when there is
    /// no differential); null when absent.
    pub rank: Option<u32>,
    /// Money spent.
    pub cost_usd: f64,
    /// Discomfort caused.
    pub discomfort: u32,
    /// Turns taken.
    pub turns: u32,
    /// Sum of step rewards.
    pub total_reward: f64,
    /// Ended by a limit rather than a diagnosis.
    pub truncated: bool,
}

/// The hidden case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CaseRecord {
    /// Age.
    pub age: u32,
    /// Sex.
    pub sex: String,
    /// Present findings: id, name, kind.
    pub findings: Vec<CaseFindingRecord>,
}

/// A present finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CaseFindingRecord {
    /// Finding id.
    pub id: String,
    /// Name.
    pub name: String,
    /// symptom, sign, laboratory or imaging.
    pub kind: String,
}

/// The tools as OpenAI `{"type": "function", "function": {...}}` definitions.
pub fn openai_tools() -> Vec<Value> {
    action::tools()
        .into_iter()
        .map(|t| {
            serde_json::json!({
                "type": "function",
                "function": {"name": t.name, "description": t.description, "parameters": t.parameters}
            })
        })
        .collect()
}

fn observation_record(o: &Observation) -> ObservationRecord {
    ObservationRecord {
        text: o.text.clone(),
        turn: o.turn,
        cost_usd: o.cost_usd,
        discomfort: o.discomfort,
        revealed_findings: o.revealed_findings.clone(),
        denied_findings: o.denied_findings.clone(),
        valid: o.feedback.valid,
        message: o.feedback.message.clone(),
    }
}

/// (tool name, arguments) of a structured action.
fn tool_call(a: &Action) -> Option<(&'static str, Value)> {
    let v = match a {
        Action::Ask(x) => ("ask_patient", serde_json::to_value(x)),
        Action::Exam(x) => ("order_exam", serde_json::to_value(x)),
        Action::Search(x) => ("search_knowledge", serde_json::to_value(x)),
        Action::Diagnose(x) => ("diagnose", serde_json::to_value(x)),
        Action::Text(_) => return None,
    };
    Some((v.0, v.1.unwrap_or(Value::Null)))
}

impl EpisodeRecord {
    /// The record of an ended episode; `None` while it is still running.
    pub fn from_trajectory(t: &Trajectory) -> Option<Self> {
        let last = t.steps.last()?;
        let end = &last.outcome;
        if !(end.terminated || end.truncated) {
            return None;
        }
        let truth = end.info.truth.clone()?;
        let totals = end.info.totals.clone()?;

        let mut messages = vec![
            Message {
                role: "system".into(),
                content: Some(SYSTEM_PROMPT.into()),
                tool_calls: vec![],
                tool_call_id: None,
            },
            Message {
                role: "user".into(),
                content: Some(t.initial_observation.text.clone()),
                tool_calls: vec![],
                tool_call_id: None,
            },
        ];
        let mut steps = Vec::with_capacity(t.steps.len());
        for (i, s) in t.steps.iter().enumerate() {
            let text = &s.outcome.observation.text;
            match tool_call(&s.action) {
                Some((name, args)) => {
                    let id = format!("call_{}", i + 1);
                    messages.push(Message {
                        role: "assistant".into(),
                        content: None,
                        tool_calls: vec![ToolCall {
                            id: id.clone(),
                            kind: "function".into(),
                            function: FunctionCall {
                                name: name.into(),
                                arguments: args.to_string(),
                            },
                        }],
                        tool_call_id: None,
                    });
                    messages.push(Message {
                        role: "tool".into(),
                        content: Some(text.clone()),
                        tool_calls: vec![],
                        tool_call_id: Some(id),
                    });
                }
                None => {
                    let Action::Text(raw) = &s.action else {
                        unreachable!("tool_call covers every structured action")
                    };
                    messages.push(Message {
                        role: "assistant".into(),
                        content: Some(raw.clone()),
                        tool_calls: vec![],
                        tool_call_id: None,
                    });
                    messages.push(Message {
                        role: "user".into(),
                        content: Some(text.clone()),
                        tool_calls: vec![],
                        tool_call_id: None,
                    });
                }
            }
            steps.push(StepEntry {
                action: serde_json::to_value(&s.action).unwrap_or(Value::Null),
                observation: observation_record(&s.outcome.observation),
                reward: s.outcome.reward,
                reward_components: s
                    .outcome
                    .reward_components
                    .iter()
                    .map(|(k, v)| (k.to_string(), *v))
                    .collect(),
                terminated: s.outcome.terminated,
                truncated: s.outcome.truncated,
            });
        }

        // The diagnosis as the environment read it (raw text parsed the same way).
        let diagnosis = match &last.action {
            Action::Text(raw) => action::parse_text(raw).ok(),
            other => Some(other.clone()),
        };
        let (primary, differential) = match diagnosis {
            Some(Action::Diagnose(d)) if end.terminated => {
                let ddx: Vec<(String, f64)> = d
                    .differential
                    .iter()
                    .map(|r| {
                        let n = if r.code.is_empty() { &r.name } else { &r.code };
                        (n.clone(), r.probability)
                    })
                    .collect();
                (Some(d.primary.clone()), ddx)
            }
            _ => (None, Vec::new()),
        };
        Some(EpisodeRecord {
            format: FORMAT.into(),
            episode_id: t.episode_id.clone(),
            task_id: t.info.task_id.clone(),
            domain: t.info.domain.clone(),
            split: t.info.split.clone(),
            seed: t.info.seed,
            options: t.options.clone(),
            tools: openai_tools(),
            messages,
            steps,
            outcome: Outcome {
                diagnosis: primary,
                differential,
                truth_name: truth.name,
                truth_code: truth.code,
                truth_id: truth.disease_id,
                correct: truth.correct,
                rank: t.truth_rank,
                cost_usd: totals.cost_usd,
                discomfort: totals.discomfort,
                turns: totals.turns,
                total_reward: totals.total_reward,
                truncated: end.truncated,
            },
            case: t.case.as_ref().map(|c| CaseRecord {
                age: c.age,
                sex: c.sex.to_string(),
                findings: c
                    .findings
                    .iter()
                    .map(|(id, name, kind)| CaseFindingRecord {
                        id: id.clone(),
                        name: name.clone(),
                        kind: kind.to_string(),
                    })
                    .collect(),
            }),
            noise_events: t
                .noise_events()
                .unwrap_or_default()
                .iter()
                .map(|e| NoiseEventRecord {
                    kind: e.kind.name().into(),
                    turn: e.turn,
                    finding: e.finding.clone(),
                    detail: e.detail.clone(),
                })
                .collect(),
        })
    }

    /// The record as one JSONL line, without the newline: what the trajectory sink and
    /// `medgym rollout` write, and what GetTrajectory returns as `record_json`.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("a record serialises: every map has string keys")
    }

    /// The JSON Schema of a record (committed as `docs/trajectory.schema.json`).
    pub fn json_schema() -> Value {
        serde_json::to_value(schemars::schema_for!(EpisodeRecord)).unwrap_or(Value::Null)
    }
}
