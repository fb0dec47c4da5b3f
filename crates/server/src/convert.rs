//! Conversions between the wire types and the environment's types.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use medgym_env as env;
use medgym_proto::v1 as pb;

use crate::ServerError;

/// The reward components of every step: the keys of [`env::reward::TERMS`] with zero values,
/// and for each entry of the map (in key order) the index of its term in `TERMS`. A step's map
/// is a clone with the values filled in: collecting one from (term, value) pairs sorted them
/// and was most of the cost of converting a step.
static REWARD_MAP: LazyLock<(BTreeMap<String, f64>, Vec<usize>)> = LazyLock::new(|| {
    let map: BTreeMap<String, f64> = env::reward::TERMS
        .iter()
        .map(|t| (t.to_string(), 0.0))
        .collect();
    let order = map
        .keys()
        .map(|k| {
            env::reward::TERMS
                .iter()
                .position(|t| t == k)
                .expect("a key of the map is a term")
        })
        .collect();
    (map, order)
});

/// The wire map of reward components, all zero.
pub fn zero_reward_components() -> BTreeMap<String, f64> {
    REWARD_MAP.0.clone()
}

/// The wire map of a step's reward components.
pub fn reward_components(components: &[(&'static str, f64)]) -> BTreeMap<String, f64> {
    let (template, order) = &*REWARD_MAP;
    if components.len() == order.len()
        && components
            .iter()
            .zip(env::reward::TERMS)
            .all(|((k, _), t)| *k == t)
    {
        let mut map = template.clone();
        for (v, &i) in map.values_mut().zip(order) {
            *v = components[i].1;
        }
        map
    } else {
        components
            .iter()
            .map(|&(k, v)| (k.to_string(), v))
            .collect()
    }
}

/// Turns a wire action into an environment action, enforcing the text limit.
pub fn action(a: Option<pb::Action>, max_text: usize) -> Result<env::Action, ServerError> {
    use pb::action::Kind;
    let kind = a
        .and_then(|a| a.kind)
        .ok_or_else(|| ServerError::InvalidArgument("the step has no action".into()))?;
    let check = |field: &str, s: &str| {
        if s.len() > max_text {
            Err(ServerError::InvalidArgument(format!(
                "{field} is {} bytes; the limit is {max_text}",
                s.len()
            )))
        } else {
            Ok(())
        }
    };
    let non_empty = |s: String| (!s.is_empty()).then_some(s);
    Ok(match kind {
        Kind::Ask(a) => {
            check("ask.question", &a.question)?;
            check("ask.finding_id", &a.finding_id)?;
            env::Action::Ask(env::Ask {
                question: a.question,
                finding_id: non_empty(a.finding_id),
            })
        }
        Kind::Exam(e) => {
            check("exam.exam_id", &e.exam_id)?;
            check("exam.site", &e.site)?;
            env::Action::Exam(env::Exam {
                exam_id: e.exam_id,
                site: non_empty(e.site),
            })
        }
        Kind::Search(s) => {
            check("search.query", &s.query)?;
            env::Action::Search(env::Search {
                query: s.query,
                top_k: (s.top_k > 0).then_some(s.top_k),
            })
        }
        Kind::Diagnose(d) => {
            check("diagnose.primary", &d.primary)?;
            for r in &d.differential {
                check("diagnose.differential.name", &r.name)?;
                check("diagnose.differential.code", &r.code)?;
            }
            env::Action::Diagnose(env::Diagnose {
                primary: d.primary,
                differential: d
                    .differential
                    .into_iter()
                    .map(|r| env::RankedDiagnosis {
                        name: r.name,
                        code: r.code,
                        probability: r.probability,
                    })
                    .collect(),
            })
        }
        Kind::Text(t) => {
            check("text", &t)?;
            env::Action::Text(t)
        }
    })
}

/// Turns an environment action back into its wire form (raw text stays verbatim).
pub fn action_to_pb(a: &env::Action) -> pb::Action {
    use pb::action::Kind;
    let kind = match a {
        env::Action::Ask(a) => Kind::Ask(pb::Ask {
            question: a.question.clone(),
            finding_id: a.finding_id.clone().unwrap_or_default(),
        }),
        env::Action::Exam(e) => Kind::Exam(pb::Exam {
            exam_id: e.exam_id.clone(),
            site: e.site.clone().unwrap_or_default(),
        }),
        env::Action::Search(s) => Kind::Search(pb::Search {
            query: s.query.clone(),
            top_k: s.top_k.unwrap_or(0),
        }),
        env::Action::Diagnose(d) => Kind::Diagnose(pb::Diagnose {
            primary: d.primary.clone(),
            differential: d
                .differential
                .iter()
                .map(|r| pb::RankedDiagnosis {
                    name: r.name.clone(),
                    code: r.code.clone(),
                    probability: r.probability,
                })
                .collect(),
        }),
        env::Action::Text(t) => Kind::Text(t.clone()),
    };
    pb::Action { kind: Some(kind) }
}

/// Fills unset wire options from the server's defaults.
pub fn options(
    o: Option<pb::EpisodeOptions>,
    defaults: &env::EpisodeOptions,
) -> env::EpisodeOptions {
    let mut out = defaults.clone();
    let Some(o) = o else { return out };
    if let Some(n) = o.noise {
        if !n.preset.is_empty() {
            out.noise.preset = n.preset;
        }
        out.noise.probabilities.extend(n.probabilities);
    }
    if !o.persona.is_empty() {
        out.persona = o.persona;
    }
    if let Some(r) = o.reward {
        let w = &mut out.reward;
        let pick = |given: f64, default: f64| {
            if r.explicit || given != 0.0 {
                given
            } else {
                default
            }
        };
        *w = env::RewardWeights {
            diagnosis: pick(r.diagnosis, w.diagnosis),
            differential: pick(r.differential, w.differential),
            exam_quality: pick(r.exam_quality, w.exam_quality),
            cost: pick(r.cost, w.cost),
            turn: pick(r.turn, w.turn),
            repeat: pick(r.repeat, w.repeat),
            invalid: pick(r.invalid, w.invalid),
            information: pick(r.information, w.information),
        };
    }
    if o.max_turns > 0 {
        out.max_turns = o.max_turns;
    }
    if o.budget_usd != 0.0 {
        out.budget_usd = o.budget_usd;
    }
    out
}

/// The wire form of episode options.
pub fn options_to_pb(o: &env::EpisodeOptions) -> pb::EpisodeOptions {
    let w = &o.reward;
    pb::EpisodeOptions {
        noise: Some(pb::NoiseConfig {
            preset: o.noise.preset.clone(),
            probabilities: o.noise.probabilities.clone().into_iter().collect(),
        }),
        persona: o.persona.clone(),
        reward: Some(pb::RewardWeights {
            diagnosis: w.diagnosis,
            differential: w.differential,
            exam_quality: w.exam_quality,
            cost: w.cost,
            turn: w.turn,
            repeat: w.repeat,
            invalid: w.invalid,
            information: w.information,
            explicit: true,
        }),
        max_turns: o.max_turns,
        budget_usd: o.budget_usd,
    }
}

/// The wire form of an observation.
pub fn observation(o: env::Observation) -> pb::Observation {
    pb::Observation {
        text: o.text,
        turn: o.turn,
        cost_usd: o.cost_usd,
        discomfort: o.discomfort,
        revealed_findings: o.revealed_findings,
        feedback: Some(pb::Feedback {
            valid: o.feedback.valid,
            message: o.feedback.message,
        }),
        denied_findings: o.denied_findings,
    }
}

/// The wire form of episode info.
pub fn info(i: env::Info) -> pb::Info {
    pb::Info {
        task_id: i.task_id,
        domain: i.domain,
        split: i.split,
        seed: i.seed,
        episode_id: i.episode_id,
        truth: i.truth.map(|t| pb::Truth {
            name: t.name,
            code: t.code,
            disease_id: t.disease_id,
            correct: t.correct,
        }),
        totals: i.totals.map(|t| pb::EpisodeTotals {
            turns: t.turns,
            cost_usd: t.cost_usd,
            discomfort: t.discomfort,
            total_reward: t.total_reward,
        }),
        autoreset: false,
        truncation_reason: i.truncation_reason.unwrap_or_default().to_string(),
        noise_events: noise_events(i.noise_events.as_deref().unwrap_or_default()),
    }
}

/// The wire form of the noise record (the environment reveals it only once the episode ended).
pub fn noise_events(events: &[env::NoiseEvent]) -> Vec<pb::NoiseEvent> {
    events
        .iter()
        .map(|e| pb::NoiseEvent {
            kind: e.kind.name().to_string(),
            turn: e.turn,
            finding_id: e.finding.clone().unwrap_or_default(),
            detail: e.detail.clone(),
        })
        .collect()
}

/// The wire form of a step outcome.
pub fn step(o: env::StepOutcome) -> pb::StepResponse {
    pb::StepResponse {
        observation: Some(observation(o.observation)),
        reward: o.reward,
        reward_components: reward_components(&o.reward_components),
        terminated: o.terminated,
        truncated: o.truncated,
        info: Some(info(o.info)),
    }
}

/// The wire form of a trajectory; `with_record` adds the JSONL record line once the episode
/// has ended (the record module's own serialisation, so it is the line the sink writes).
pub fn trajectory(t: env::Trajectory, with_record: bool) -> pb::Trajectory {
    let noise = noise_events(t.noise_events().unwrap_or_default());
    let record_json = with_record
        .then(|| env::record::EpisodeRecord::from_trajectory(&t))
        .flatten()
        .map(|r| r.to_line())
        .unwrap_or_default();
    pb::Trajectory {
        episode_id: t.episode_id,
        task_id: t.info.task_id.clone(),
        steps: t
            .steps
            .into_iter()
            .map(|s| pb::TrajectoryStep {
                action: Some(action_to_pb(&s.action)),
                response: Some(step(s.outcome)),
            })
            .collect(),
        case: t.case.map(|c| pb::CaseInfo {
            diagnosis_name: c.diagnosis_name,
            diagnosis_code: c.diagnosis_code,
            findings: c
                .findings
                .into_iter()
                .map(|(id, name, kind)| pb::CaseFinding {
                    id,
                    name,
                    kind: kind.to_string(),
                })
                .collect(),
            age: c.age,
            sex: c.sex.to_string(),
        }),
        initial_observation: Some(observation(t.initial_observation)),
        info: Some(info(t.info)),
        noise_events: noise,
        record_json,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collected(components: &[(&'static str, f64)]) -> BTreeMap<String, f64> {
        components
            .iter()
            .map(|&(k, v)| (k.to_string(), v))
            .collect()
    }

    #[test]
    fn reward_maps_hold_each_term_under_its_name() {
        let terms: Vec<(&'static str, f64)> = env::reward::TERMS
            .iter()
            .enumerate()
            .map(|(i, &t)| (t, i as f64 + 0.5))
            .collect();
        assert_eq!(reward_components(&terms), collected(&terms));
        assert_eq!(reward_components(&terms)["cost"], 3.5);
        // Components not in the order of TERMS (or not all of them) are taken as they come.
        let mut shuffled = terms.clone();
        shuffled.swap(0, 5);
        assert_eq!(reward_components(&shuffled), collected(&shuffled));
        assert_eq!(reward_components(&terms[..3]), collected(&terms[..3]));
        let zeros: Vec<_> = env::reward::TERMS.iter().map(|&t| (t, 0.0)).collect();
        assert_eq!(zero_reward_components(), collected(&zeros));
    }
}
