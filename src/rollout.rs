//! `medgym rollout`: play many episodes with a baseline policy, in process (parallel across
//! cores) or against a server over gRPC (several sessions in flight), and write one trajectory
//! record per line, in episode order.
//!
//! Episode i uses seed `seed + i`. Records are written in episode order whatever the thread
//! timing, so an in-process file is byte-identical for the same arguments. Over gRPC the record
//! is the server's own (`GetTrajectory` with `include_record`), the line its trajectory files
//! hold; it differs from the in-process record of the same seed only in `episode_id`, which the
//! server draws at random.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, bail};
use medgym_agents::{InfoGainParams, PolicyContext, Tables, TaskSampler, make_policy, run_episode};
use medgym_client::{Client, ClientConfig, ClientError};
use medgym_env::record::EpisodeRecord;
use medgym_env::{self as env, Env, EpisodeOptions, ResetArgs, World};
use medgym_proto::v1 as pb;
use medgym_server::convert;

#[derive(Debug, clap::Args)]
pub struct RolloutArgs {
    /// Policy: random, infogain, oracle, ask_everything, exam_everything, guess_prior.
    #[arg(long)]
    policy: String,
    /// Number of episodes.
    #[arg(long, default_value_t = 100)]
    episodes: u64,
    /// Output JSONL file (one trajectory record per line, docs/trajectory.schema.json).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Play against these servers instead of in process: host:port or http(s)://host:port,
    /// comma-separated or repeated; a name resolving to several addresses counts as several.
    /// Resets are spread over the replicas and each session stays on its own (docs/deploy.md).
    #[arg(long, value_name = "URL", value_delimiter = ',')]
    server: Vec<String>,
    /// PEM CA certificate of the servers' TLS certificates (`medgym cert` writes ca.pem);
    /// turns TLS on for addresses without a scheme.
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// File whose first line is the bearer token to send (`serve --auth-token-file`).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Name to verify in the servers' certificates [default: the host of each address].
    #[arg(long, value_name = "NAME")]
    tls_domain: Option<String>,
    /// Seed of the first episode; episode i uses seed + i.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Domain to sample tasks from (empty: any). Bayesian policies restrict their prior to it.
    #[arg(long, default_value = "")]
    domain: String,
    /// Split to sample tasks from; "all" samples across every split.
    #[arg(long, default_value = "train")]
    split: String,
    /// Worker threads in process [default: available cores].
    #[arg(long)]
    threads: Option<usize>,
    /// Sessions in flight over gRPC.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Turn limit of each episode [default: the environment's default].
    #[arg(long)]
    max_turns: Option<u32>,
    /// infogain: diagnose once the top posterior reaches this.
    #[arg(long, default_value_t = InfoGainParams::default().confident)]
    confident: f64,
    /// infogain: diagnose when no action gains this many bits per unit of reward it costs.
    #[arg(long, default_value_t = InfoGainParams::default().min_gain_per_cost)]
    min_gain_per_cost: f64,
    /// infogain: diseases considered when scoring actions.
    #[arg(long, default_value_t = InfoGainParams::default().top_k)]
    top_k: usize,
    #[command(flatten)]
    knowledge: crate::KnowledgeArg,
}

pub fn rollout(args: RolloutArgs) -> Result<()> {
    let world = Arc::new(World::new(args.knowledge.load()?));
    let tables = Arc::new(Tables::new(Arc::clone(&world)));
    let mut options = EpisodeOptions::default();
    if let Some(n) = args.max_turns {
        options.max_turns = n;
    }
    options.validate()?;
    let ctx = PolicyContext {
        tables,
        options,
        domain: args.domain.clone(),
        infogain: InfoGainParams {
            top_k: args.top_k.max(1),
            confident: args.confident,
            min_gain_per_cost: args.min_gain_per_cost,
            ..Default::default()
        },
    };
    make_policy(&args.policy, &ctx)?;
    // Tasks are picked here from the seed exactly as a sampled reset would pick them (see
    // TaskSampler), listed once instead of at every reset.
    let sampler = Arc::new(TaskSampler::new(
        &world.knowledge,
        &args.domain,
        &args.split,
    ));
    if sampler.is_empty() {
        bail!(
            "no task in domain {:?} and split {:?}",
            args.domain,
            args.split
        );
    }
    let mut file = std::fs::File::create(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let bar = indicatif::ProgressBar::new(args.episodes);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {msg} [{bar:40}] {pos}/{len} episodes · {per_sec} · eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(args.policy.clone());
    let started = std::time::Instant::now();
    let mut writer = Ordered::new(&mut file, &args.out, &bar);
    if args.server.is_empty() {
        in_process(&args, &world, &ctx, &sampler, &mut writer)?;
    } else {
        over_grpc(&args, &ctx, &sampler, &mut writer)?;
    }
    // Both paths stop early on a failed episode, so fewer lines than asked means a lost one.
    let written = writer.next;
    if written != args.episodes {
        bail!("only {written} of {} episodes finished", args.episodes);
    }
    bar.finish_and_clear();
    file.sync_all()
        .with_context(|| format!("syncing {}", args.out.display()))?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{written} episodes of {} in {secs:.1} s ({:.0} episodes/s) → {}",
        args.policy,
        written as f64 / secs.max(1e-9),
        args.out.display()
    );
    Ok(())
}

/// Writes lines in episode order as they arrive in any order: one `write_all` per line.
struct Ordered<'a> {
    file: &'a mut std::fs::File,
    path: &'a std::path::Path,
    bar: &'a indicatif::ProgressBar,
    pending: BTreeMap<u64, String>,
    next: u64,
}

impl<'a> Ordered<'a> {
    fn new(
        file: &'a mut std::fs::File,
        path: &'a std::path::Path,
        bar: &'a indicatif::ProgressBar,
    ) -> Self {
        Ordered {
            file,
            path,
            bar,
            pending: BTreeMap::new(),
            next: 0,
        }
    }

    fn push(&mut self, i: u64, line: String) -> Result<()> {
        self.pending.insert(i, line);
        while let Some(line) = self.pending.remove(&self.next) {
            self.file
                .write_all(line.as_bytes())
                .with_context(|| format!("writing {}", self.path.display()))?;
            self.next += 1;
            self.bar.inc(1);
        }
        Ok(())
    }
}

/// The reset arguments of episode i: seed `seed + i`, and the task that seed samples.
fn reset_args(seed: u64, sampler: &TaskSampler, options: &EpisodeOptions) -> ResetArgs {
    ResetArgs {
        task_id: sampler.pick(seed).map(str::to_string),
        seed,
        options: options.clone(),
        ..Default::default()
    }
}

fn line(record: &EpisodeRecord) -> String {
    record.to_line() + "\n"
}

fn in_process(
    args: &RolloutArgs,
    world: &Arc<World>,
    ctx: &PolicyContext,
    sampler: &TaskSampler,
    writer: &mut Ordered<'_>,
) -> Result<()> {
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let next = AtomicU64::new(0);
    let (tx, rx) = std::sync::mpsc::sync_channel::<(u64, Result<String>)>(threads * 64);
    std::thread::scope(|s| -> Result<()> {
        for _ in 0..threads {
            let tx = tx.clone();
            let next = &next;
            s.spawn(move || {
                let mut env = Env::new(Arc::clone(world));
                let mut policy = match make_policy(&args.policy, ctx) {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = tx.send((0, Err(e.into())));
                        return;
                    }
                };
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= args.episodes {
                        return;
                    }
                    let reset = reset_args(args.seed.wrapping_add(i), sampler, &ctx.options);
                    let result = run_episode(&mut env, policy.as_mut(), reset)
                        .map_err(anyhow::Error::from)
                        .map(|r| line(&r));
                    let failed = result.is_err();
                    if tx.send((i, result)).is_err() || failed {
                        // The writer stopped (an error elsewhere), or this episode failed: stop
                        // taking new episodes.
                        next.store(args.episodes, Ordering::Relaxed);
                        return;
                    }
                }
            });
        }
        drop(tx);
        for (i, result) in rx {
            let line = result.with_context(|| format!("episode {i}"))?;
            writer.push(i, line)?;
        }
        Ok(())
    })?;
    Ok(())
}

/// The routing client's configuration from the rollout flags.
fn client_config(args: &RolloutArgs) -> Result<ClientConfig> {
    let token = match &args.token_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the token file {}", path.display()))?;
            let token = text
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with('#'))
                .with_context(|| format!("{} holds no token", path.display()))?;
            Some(token.to_string())
        }
        None => None,
    };
    Ok(ClientConfig {
        token,
        ca_file: args.ca_file.clone(),
        tls_domain: args.tls_domain.clone(),
        ..ClientConfig::new(args.server.iter().cloned())
    })
}

/// Times an episode is started again after its replica was lost mid-episode.
const EPISODE_ATTEMPTS: usize = 3;

fn over_grpc(
    args: &RolloutArgs,
    ctx: &PolicyContext,
    sampler: &Arc<TaskSampler>,
    writer: &mut Ordered<'_>,
) -> Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let client = Client::connect(client_config(args)?)
            .await
            .with_context(|| format!("connecting to {}", args.server.join(", ")))?;
        let replicas: Vec<String> = client.replicas().into_iter().map(|r| r.id).collect();
        eprintln!("replicas: {}", replicas.join(", "));
        let next = Arc::new(AtomicU64::new(0));
        let (tx, mut rx) = tokio::sync::mpsc::channel::<(u64, Result<String>)>(1024);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..args.concurrency.max(1) {
            let client = client.clone();
            let next = Arc::clone(&next);
            let tx = tx.clone();
            let ctx = ctx.clone();
            let policy_name = args.policy.clone();
            let episodes = args.episodes;
            let sampler = Arc::clone(sampler);
            let first_seed = args.seed;
            tasks.spawn(async move {
                let mut policy = match make_policy(&policy_name, &ctx) {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = tx.send((0, Err(e.into()))).await;
                        return;
                    }
                };
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= episodes {
                        return;
                    }
                    let seed = first_seed.wrapping_add(i);
                    let mut attempt = 1;
                    let result = loop {
                        let result =
                            remote_episode(&client, &ctx.options, policy.as_mut(), &sampler, seed)
                                .await;
                        // A replica lost mid-episode takes the session with it; the same seed
                        // replays the same episode on a live replica.
                        match result {
                            Err(e) if attempt < EPISODE_ATTEMPTS && session_lost(&e) => {
                                eprintln!("episode {i}: {e:#}; starting it again");
                                attempt += 1;
                            }
                            other => break other,
                        }
                    };
                    let failed = result.is_err();
                    if tx.send((i, result)).await.is_err() || failed {
                        next.store(episodes, Ordering::Relaxed);
                        return;
                    }
                }
            });
        }
        drop(tx);
        while let Some((i, result)) = rx.recv().await {
            let line = result.with_context(|| format!("episode {i}"))?;
            writer.push(i, line)?;
        }
        while tasks.join_next().await.is_some() {}
        Ok(())
    })
}

/// Whether an episode failed because its session is gone (its replica went away, or it
/// expired) or a call to it broke on the way, so that starting it again is the cure.
fn session_lost(e: &anyhow::Error) -> bool {
    e.downcast_ref::<ClientError>()
        .is_some_and(|c| matches!(c.code(), tonic::Code::NotFound | tonic::Code::Unavailable))
}

/// Plays episode i over gRPC and returns the server's record of it.
async fn remote_episode(
    client: &Client,
    options: &EpisodeOptions,
    policy: &mut dyn medgym_agents::Policy,
    sampler: &TaskSampler,
    seed: u64,
) -> Result<String> {
    let task_id = sampler
        .pick(seed)
        .context("no task to sample from")?
        .to_string();
    let reset = client
        .reset(pb::ResetRequest {
            task_id,
            domain: String::new(),
            split: String::new(),
            seed: Some(seed),
            options: Some(convert::options_to_pb(options)),
        })
        .await
        .context("Reset")?;
    let session_id = reset.session_id;
    let first = observation(reset.observation.unwrap_or_default());
    let info = info(reset.info.unwrap_or_default());
    policy.reset(&first, &info);
    let mut last = first;
    let mut ended = false;
    for step in 0..=options.max_turns {
        let action = policy.act(&last);
        let response = client
            .step(pb::StepRequest {
                session_id: session_id.clone(),
                action: Some(convert::action_to_pb(&action)),
                request_id: format!("{step}"),
            })
            .await
            .context("Step")?;
        last = observation(response.observation.unwrap_or_default());
        if response.terminated || response.truncated {
            ended = true;
            break;
        }
    }
    if !ended {
        bail!("the episode of seed {seed} did not end within the turn limit");
    }
    let record = client
        .record(&session_id)
        .await
        .context("GetTrajectory")?
        .context("the server has no record of an episode that ended")?;
    let _ = client.close(&session_id).await;
    Ok(record + "\n")
}

// --- wire → environment conversions (the inverse of medgym_server::convert) -----------------

pub(crate) fn observation(o: pb::Observation) -> env::Observation {
    let feedback = o.feedback.unwrap_or_default();
    env::Observation {
        text: o.text,
        turn: o.turn,
        cost_usd: o.cost_usd,
        discomfort: o.discomfort,
        revealed_findings: o.revealed_findings,
        denied_findings: o.denied_findings,
        feedback: env::Feedback {
            valid: feedback.valid,
            message: feedback.message,
        },
    }
}

pub(crate) fn info(i: pb::Info) -> env::Info {
    // The noise record is revealed with the truth, once the episode has ended.
    let ended = i.truth.is_some();
    env::Info {
        task_id: i.task_id,
        domain: i.domain,
        split: i.split,
        seed: i.seed,
        episode_id: i.episode_id,
        truth: i.truth.map(|t| env::Truth {
            name: t.name,
            code: t.code,
            disease_id: t.disease_id,
            correct: t.correct,
        }),
        totals: i.totals.map(|t| env::Totals {
            turns: t.turns,
            cost_usd: t.cost_usd,
            discomfort: t.discomfort,
            total_reward: t.total_reward,
        }),
        truncation_reason: match i.truncation_reason.as_str() {
            "max_turns" => Some("max_turns"),
            "budget" => Some("budget"),
            _ => None,
        },
        noise_events: ended.then(|| {
            i.noise_events
                .into_iter()
                .filter_map(|e| {
                    Some(env::NoiseEvent {
                        kind: env::NoiseKind::from_name(&e.kind)?,
                        turn: e.turn,
                        finding: (!e.finding_id.is_empty()).then_some(e.finding_id),
                        detail: e.detail,
                    })
                })
                .collect()
        }),
    }
}
