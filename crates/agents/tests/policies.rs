//! The baseline policies on the embedded knowledge: determinism, the information-gain teacher
//! against random and exam-everything (issue 9), and the reward ordering of the scripted
//! strategies (issue 6).

use std::sync::{Arc, OnceLock};

use medgym_agents::eval::{Summary, summarize};
use medgym_agents::{POLICIES, PolicyContext, Tables, TaskSampler, make_policy, run_episode};
use medgym_env::record::EpisodeRecord;
use medgym_env::{Env, ResetArgs, World};

fn ctx() -> &'static PolicyContext {
    static CTX: OnceLock<PolicyContext> = OnceLock::new();
    CTX.get_or_init(|| {
        let world = Arc::new(World::embedded().expect("embedded knowledge loads"));
        PolicyContext::new(Arc::new(Tables::new(world)))
    })
}

/// `n` episodes of a policy with seeds `0..n`, on `split` ("all": every split), on two threads.
fn rollout(policy: &str, split: &str, n: u64) -> Vec<EpisodeRecord> {
    let ctx = ctx();
    let world = &ctx.tables.world;
    let every_split = TaskSampler::new(&world.knowledge, "", "all");
    let run = |worker: u64| {
        let mut env = Env::new(Arc::clone(world));
        let mut p = make_policy(policy, ctx).expect("known policy");
        (0..n)
            .filter(|i| i % 2 == worker)
            .map(|seed| {
                let args = if split == "all" {
                    ResetArgs {
                        task_id: every_split.pick(seed).map(str::to_string),
                        seed,
                        ..Default::default()
                    }
                } else {
                    ResetArgs {
                        split: split.into(),
                        seed,
                        ..Default::default()
                    }
                };
                (
                    seed,
                    run_episode(&mut env, p.as_mut(), args).expect("episode ends"),
                )
            })
            .collect::<Vec<_>>()
    };
    let mut all: Vec<(u64, EpisodeRecord)> = std::thread::scope(|s| {
        let a = s.spawn(|| run(0));
        let b = s.spawn(|| run(1));
        let mut v = a.join().expect("worker");
        v.extend(b.join().expect("worker"));
        v
    });
    all.sort_by_key(|(seed, _)| *seed);
    all.into_iter().map(|(_, r)| r).collect()
}

fn show(rows: &[Summary]) -> String {
    medgym_agents::eval::markdown("policy", rows)
}

#[test]
fn the_sampler_picks_the_task_a_sampled_reset_plays() {
    let world = &ctx().tables.world;
    let sampler = TaskSampler::new(&world.knowledge, "", "test");
    let mut env = Env::new(Arc::clone(world));
    for seed in 0..20 {
        let (_, info) = env
            .reset(ResetArgs {
                split: "test".into(),
                seed,
                ..Default::default()
            })
            .expect("reset");
        assert_eq!(sampler.pick(seed), Some(info.task_id.as_str()));
    }
}

#[test]
fn every_policy_is_deterministic_for_a_seed() {
    for policy in POLICIES {
        let a = rollout(policy, "test", 6);
        let b = rollout(policy, "test", 6);
        let ja: Vec<String> = a
            .iter()
            .map(|r| serde_json::to_string(r).expect("serialises"))
            .collect();
        let jb: Vec<String> = b
            .iter()
            .map(|r| serde_json::to_string(r).expect("serialises"))
            .collect();
        assert_eq!(ja, jb, "{policy} replays differently");
        for r in &a {
            assert!(
                r.outcome.turns <= r.options.max_turns,
                "{policy}: {} turns",
                r.outcome.turns
            );
            for s in &r.steps {
                assert!(
                    s.observation.valid,
                    "{policy} made an invalid action: {s:?}"
                );
            }
        }
    }
}

#[test]
fn infogain_beats_random_at_lower_cost_than_exam_everything() {
    for (split, n) in [("test", 150), ("all", 150)] {
        let rows: Vec<Summary> = ["random", "infogain", "exam_everything"]
            .iter()
            .map(|p| summarize(p, &rollout(p, split, n)))
            .collect();
        let (random, infogain, exams) = (&rows[0], &rows[1], &rows[2]);
        let table = show(&rows);
        assert!(
            infogain.top1 >= random.top1 + 0.3,
            "{split}: infogain does not beat random by 0.3 top-1\n{table}"
        );
        assert!(
            infogain.cost_usd < exams.cost_usd,
            "{split}: infogain costs more than exam_everything\n{table}"
        );
    }
}

#[test]
fn reward_orders_the_scripted_strategies() {
    let rows: Vec<Summary> = [
        "oracle",
        "infogain",
        "ask_everything",
        "guess_prior",
        "exam_everything",
    ]
    .iter()
    .map(|p| summarize(p, &rollout(p, "test", 120)))
    .collect();
    let table = show(&rows);
    let r: Vec<f64> = rows.iter().map(|s| s.reward).collect();
    let (oracle, infogain, ask, guess, exams) = (r[0], r[1], r[2], r[3], r[4]);
    assert!(oracle > infogain, "oracle ≤ infogain\n{table}");
    for (name, x) in [
        ("ask_everything", ask),
        ("guess_prior", guess),
        ("exam_everything", exams),
    ] {
        assert!(infogain > x, "infogain ≤ {name}\n{table}");
    }
    // Ordering every exam must not pay: it is the lowest of the scripted strategies.
    assert!(
        exams < ask && exams < guess,
        "exam_everything is not the lowest\n{table}"
    );
}

#[test]
fn eval_metrics_of_known_outcomes() {
    // The oracle names the truth alone: every metric is 1.
    let oracle = summarize("oracle", &rollout("oracle", "test", 10));
    assert_eq!(oracle.episodes, 10);
    for (name, v) in [
        ("top1", oracle.top1),
        ("top5", oracle.top5),
        ("ddr", oracle.ddr),
        ("ddp", oracle.ddp),
        ("ddf1", oracle.ddf1),
    ] {
        assert!((v - 1.0).abs() < 1e-12, "oracle {name} = {v}");
    }
    // Infogain lists five diseases: DDP is DDR / 5.
    let records = rollout("infogain", "test", 10);
    let s = summarize("infogain", &records);
    assert!(records.iter().all(|r| r.outcome.differential.len() == 5));
    assert!((s.ddp - s.ddr / 5.0).abs() < 1e-12, "{s:?}");
    let rows = medgym_agents::eval::by_domain(&records);
    assert_eq!(rows.last().map(|r| r.label.as_str()), Some("all"));
    assert_eq!(
        rows[..rows.len() - 1]
            .iter()
            .map(|r| r.episodes)
            .sum::<usize>(),
        10
    );
    let terms = medgym_agents::eval::reward_terms(&records);
    let total: f64 = terms.iter().map(|(_, v)| v).sum();
    assert!(
        (total - s.reward).abs() < 1e-9,
        "terms {total} vs reward {}",
        s.reward
    );
}
