//! `medgym soak`: a long, bounded load against a running server to show that it stays up and
//! its memory stays flat. Many sessions (10,000 by default) are stepped round after round in
//! BatchStep messages with autoreset, each session played by its own baseline policy from
//! `medgym-agents` (so episodes end, the server records and frees them, and the same session
//! starts the next one). Every interval it samples the server's resident memory (VmRSS of
//! `/proc/PID/status`), the steps, episodes and errors so far, and prints one line; at the end it
//! writes `soak.csv`, `soak.svg` (RSS and throughput over time) and `summary.txt` into `--out`,
//! closes every session and reports RSS once they are gone. `tools/soak.sh` starts a release
//! server and runs this against it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use medgym_agents::{Policy, PolicyContext, Tables, make_policy};
use medgym_env::World;
use medgym_proto::v1 as pb;
use pb::environment_client::EnvironmentClient;
use plotters::prelude::*;
use tonic::transport::Channel;

#[derive(Debug, clap::Args)]
pub struct SoakArgs {
    /// The server to drive.
    #[arg(long, default_value = "http://127.0.0.1:50051", value_name = "URL")]
    server: String,
    /// PID of the server process, whose VmRSS is sampled from /proc/PID/status (without it,
    /// memory is not recorded). The run stops early if the process goes away.
    #[arg(long, value_name = "PID")]
    server_pid: Option<u32>,
    /// Live sessions, each stepped once per round.
    #[arg(long, default_value_t = 10_000)]
    sessions: usize,
    /// Length of the run in minutes (fractions allowed: 0.5 is 30 s).
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    /// Seconds between samples.
    #[arg(long, default_value_t = 5.0)]
    interval: f64,
    /// Seconds at the start left out of the steady state: sessions are being created, the
    /// memory-mapped index pages in and the allocator reaches its working set.
    #[arg(long, default_value_t = 60.0)]
    warmup: f64,
    /// Steps per BatchStep message.
    #[arg(long, default_value_t = 250)]
    batch: usize,
    /// Concurrent BatchStep calls, each on its own connection and its own share of the sessions.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Policy of every session (see `medgym rollout`); `random` ends an episode at a random turn.
    #[arg(long, default_value = "random")]
    policy: String,
    /// Directory for soak.csv, soak.svg and summary.txt.
    #[arg(long, default_value = "target/soak", value_name = "DIR")]
    out: PathBuf,
    /// Fail (exit non-zero) when steady-state RSS grows by more than this many percent from the
    /// end of the warm-up to the end of the run.
    #[arg(long, value_name = "PCT")]
    max_growth_pct: Option<f64>,
    /// Fail when any step or call failed.
    #[arg(long)]
    no_errors: bool,
    #[command(flatten)]
    knowledge: crate::KnowledgeArg,
}

/// Counters shared by the workers and the sampler.
#[derive(Debug, Default)]
struct Counters {
    steps: AtomicU64,
    episodes: AtomicU64,
    errors: AtomicU64,
    /// Errors by gRPC code name (per-step statuses and failed calls alike).
    /// Errors are rare, so a plain mutex around their tally costs nothing.
    by_code: Mutex<BTreeMap<String, u64>>,
    stop: AtomicBool,
}

impl Counters {
    fn error(&self, code: tonic::Code) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut m = self.by_code.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry(format!("{code:?}")).or_default() += 1;
    }

    fn by_code(&self) -> BTreeMap<String, u64> {
        self.by_code
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// One row of soak.csv.
#[derive(Debug, Clone, Copy)]
struct Sample {
    elapsed_s: f64,
    rss_kib: Option<u64>,
    steps: u64,
    steps_per_s: f64,
    episodes: u64,
    errors: u64,
}

/// A session slot: its id and the policy playing it.
struct Slot {
    id: String,
    seed: u64,
    policy: Box<dyn Policy>,
    last: medgym_env::Observation,
}

pub fn run(args: SoakArgs) -> Result<()> {
    if args.sessions == 0 || args.batch == 0 || args.workers == 0 {
        bail!("--sessions, --batch and --workers must be at least 1");
    }
    if !(args.minutes > 0.0 && args.interval > 0.0) {
        bail!("--minutes and --interval must be positive");
    }
    if let Some(pid) = args.server_pid
        && rss_kib(pid).is_none()
    {
        bail!("no /proc/{pid}/status with VmRSS: is the server running with that PID?");
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let world = Arc::new(World::new(args.knowledge.load()?));
    let ctx = PolicyContext::new(Arc::new(Tables::new(world)));
    make_policy(&args.policy, &ctx)?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(soak(&args, &ctx))
}

async fn connect(url: &str) -> Result<EnvironmentClient<Channel>> {
    let channel = Channel::from_shared(url.to_string())?
        .connect()
        .await
        .with_context(|| format!("connecting to {url}"))?;
    Ok(EnvironmentClient::new(channel).max_decoding_message_size(64 << 20))
}

async fn soak(args: &SoakArgs, ctx: &PolicyContext) -> Result<()> {
    let load_before = loadavg();
    let counters = Arc::new(Counters::default());
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.minutes * 60.0);
    println!(
        "medgym soak: {} sessions, {} min, BatchStep {} per message x {} workers, policy {}, against {}{}",
        args.sessions,
        args.minutes,
        args.batch,
        args.workers,
        args.policy,
        args.server,
        args.server_pid
            .map_or(String::new(), |p| format!(" (server PID {p})"))
    );

    // Each worker owns a contiguous share of the sessions and its own connection.
    let per_worker = args.sessions.div_ceil(args.workers);
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..args.workers {
        let first = w * per_worker;
        let count = per_worker.min(args.sessions.saturating_sub(first));
        if count == 0 {
            continue;
        }
        let client = connect(&args.server).await?;
        let ctx = ctx.clone();
        let counters = Arc::clone(&counters);
        let policy = args.policy.clone();
        let batch = args.batch;
        workers.spawn(async move {
            worker(
                client,
                ctx,
                policy,
                first as u64,
                count,
                batch,
                deadline,
                counters,
            )
            .await
        });
    }

    let Run {
        samples,
        open,
        failure,
    } = sample_until_done(args, &counters, started, deadline, &mut workers).await;
    let run_secs = started.elapsed().as_secs_f64();
    let load_after = loadavg();

    // Closing every session must hand their memory back (or to the allocator's free lists).
    let closed_rss = match failure {
        None => close_all(args, open, &counters).await?,
        Some(_) => None,
    };

    let summary = summarize(
        args,
        &samples,
        &counters,
        run_secs,
        closed_rss,
        (load_before, load_after),
    );
    write_csv(&args.out.join("soak.csv"), &samples)?;
    let svg = args.out.join("soak.svg");
    plot(&svg, &samples, args.warmup)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("drawing {}", svg.display()))?;
    std::fs::write(args.out.join("summary.txt"), &summary.text)
        .with_context(|| format!("writing {}", args.out.join("summary.txt").display()))?;
    println!("\n{}", summary.text);
    println!(
        "wrote {}, {} and {}",
        args.out.join("soak.csv").display(),
        svg.display(),
        args.out.join("summary.txt").display()
    );
    if let Some(e) = failure {
        return Err(e.context("the soak ended early"));
    }
    if let (Some(limit), Some(growth)) = (args.max_growth_pct, summary.growth_pct)
        && growth > limit
    {
        bail!("steady-state RSS grew {growth:.1}% (limit {limit}%)");
    }
    if args.no_errors && counters.errors.load(Ordering::Relaxed) > 0 {
        bail!(
            "{} errors during the soak",
            counters.errors.load(Ordering::Relaxed)
        );
    }
    Ok(())
}

/// What the sampling loop brings back.
struct Run {
    samples: Vec<Sample>,
    /// Sessions the workers left open.
    open: Vec<String>,
    /// Why the run ended early (a worker's error, the server gone), if it did: the samples up
    /// to then are still written, since that is when they matter most.
    failure: Option<anyhow::Error>,
}

/// Samples every `interval` until the deadline, every worker ended, a worker failed or the
/// server died.
async fn sample_until_done(
    args: &SoakArgs,
    counters: &Counters,
    started: Instant,
    deadline: Instant,
    workers: &mut tokio::task::JoinSet<Result<Vec<String>>>,
) -> Run {
    let mut open = Vec::new();
    let mut failure = None;
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(args.interval));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut last_steps, mut last_t) = (0u64, 0.0f64);
    let mut take = |samples: &mut Vec<Sample>| {
        let t = started.elapsed().as_secs_f64();
        let steps = counters.steps.load(Ordering::Relaxed);
        let s = Sample {
            elapsed_s: t,
            rss_kib: args.server_pid.and_then(rss_kib),
            steps,
            steps_per_s: if t > last_t {
                (steps - last_steps) as f64 / (t - last_t)
            } else {
                0.0
            },
            episodes: counters.episodes.load(Ordering::Relaxed),
            errors: counters.errors.load(Ordering::Relaxed),
        };
        (last_steps, last_t) = (steps, t);
        println!(
            "{:>7.1} s  rss {:>9}  steps {:>11}  steps/s {:>8.0}  episodes {:>9}  errors {}",
            s.elapsed_s,
            s.rss_kib
                .map_or("-".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0)),
            s.steps,
            s.steps_per_s,
            s.episodes,
            s.errors
        );
        samples.push(s);
        s
    };
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let s = take(&mut samples);
                if args.server_pid.is_some() && s.rss_kib.is_none() {
                    failure = Some(anyhow::anyhow!(
                        "the server process is gone after {:.0} s",
                        s.elapsed_s
                    ));
                    break;
                }
                if Instant::now() >= deadline {
                    break;
                }
            }
            done = workers.join_next() => match done {
                Some(result) => match result.context("a soak worker panicked").and_then(|r| r) {
                    Ok(ids) => open.extend(ids),
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                },
                None => break,
            }
        }
    }
    counters.stop.store(true, Ordering::Relaxed);
    while let Some(result) = workers.join_next().await {
        match result.context("a soak worker panicked").and_then(|r| r) {
            Ok(ids) => open.extend(ids),
            Err(e) => failure = failure.or(Some(e)),
        }
    }
    // The last partial interval, so the final figures include every step.
    if samples
        .last()
        .is_none_or(|s| started.elapsed().as_secs_f64() - s.elapsed_s > 0.5)
    {
        take(&mut samples);
    }
    Run {
        samples,
        open,
        failure,
    }
}

/// Resets `count` sessions (seeds `first..first + count`), then steps them in rounds of
/// BatchStep messages of `batch` steps with autoreset until the deadline; returns their ids.
#[allow(clippy::too_many_arguments)]
async fn worker(
    mut client: EnvironmentClient<Channel>,
    ctx: PolicyContext,
    policy: String,
    first: u64,
    count: usize,
    batch: usize,
    deadline: Instant,
    counters: Arc<Counters>,
) -> Result<Vec<String>> {
    let mut slots = Vec::with_capacity(count);
    for i in 0..count as u64 {
        let seed = first + i;
        let mut p = make_policy(&policy, &ctx)?;
        let (id, last) = reset(&mut client, seed, p.as_mut())
            .await
            .with_context(|| format!("creating session {seed}"))?;
        slots.push(Slot {
            id,
            seed,
            policy: p,
            last,
        });
    }
    let done = || Instant::now() >= deadline || counters.stop.load(Ordering::Relaxed);
    while !done() {
        for chunk in slots.chunks_mut(batch) {
            if done() {
                break;
            }
            step_chunk(&mut client, chunk, &counters).await?;
        }
    }
    Ok(slots.into_iter().map(|s| s.id).collect())
}

async fn reset(
    client: &mut EnvironmentClient<Channel>,
    seed: u64,
    policy: &mut dyn Policy,
) -> Result<(String, medgym_env::Observation)> {
    let r = client
        .reset(pb::ResetRequest {
            seed: Some(seed),
            ..Default::default()
        })
        .await?
        .into_inner();
    let obs = crate::rollout::observation(r.observation.unwrap_or_default());
    policy.reset(&obs, &crate::rollout::info(r.info.unwrap_or_default()));
    Ok((r.session_id, obs))
}

/// One BatchStep of a chunk of sessions, each with its policy's next action.
async fn step_chunk(
    client: &mut EnvironmentClient<Channel>,
    chunk: &mut [Slot],
    counters: &Counters,
) -> Result<()> {
    let steps = chunk
        .iter_mut()
        .map(|s| pb::StepRequest {
            session_id: s.id.clone(),
            action: Some(medgym_server::convert::action_to_pb(&s.policy.act(&s.last))),
            request_id: String::new(),
        })
        .collect();
    let results = match client
        .batch_step(pb::BatchStepRequest {
            steps,
            autoreset: true,
        })
        .await
    {
        Ok(r) => r.into_inner().results,
        Err(status) => {
            // The whole call failed (server overloaded, restarting...): count it once per step
            // it carried and back off briefly rather than spin.
            for _ in 0..chunk.len() {
                counters.error(status.code());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            return Ok(());
        }
    };
    if results.len() != chunk.len() {
        bail!(
            "BatchStep answered {} results for {} steps",
            results.len(),
            chunk.len()
        );
    }
    for (slot, result) in chunk.iter_mut().zip(results) {
        match result.result {
            Some(pb::batch_step_result::Result::Response(r)) => {
                counters.steps.fetch_add(1, Ordering::Relaxed);
                let info = r.info.unwrap_or_default();
                let obs = crate::rollout::observation(r.observation.unwrap_or_default());
                if info.autoreset {
                    slot.policy.reset(&obs, &crate::rollout::info(info));
                } else if r.terminated || r.truncated {
                    counters.episodes.fetch_add(1, Ordering::Relaxed);
                }
                slot.last = obs;
            }
            Some(pb::batch_step_result::Result::Error(status)) => {
                let code = tonic::Code::from_i32(status.code);
                counters.error(code);
                if code == tonic::Code::NotFound {
                    // The session is gone (expired, or the server restarted): start a new one in
                    // the slot so the load stays at --sessions.
                    let (id, last) = reset(client, slot.seed, slot.policy.as_mut()).await?;
                    slot.id = id;
                    slot.last = last;
                }
            }
            None => bail!("BatchStep result without response or error"),
        }
    }
    Ok(())
}

/// Closes every session the workers left open, then samples RSS after a short settle.
async fn close_all(args: &SoakArgs, ids: Vec<String>, counters: &Counters) -> Result<Option<u64>> {
    let mut client = connect(&args.server).await?;
    for id in ids {
        if let Err(status) = client.close(pb::CloseRequest { session_id: id }).await {
            counters.error(status.code());
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(args.server_pid.and_then(rss_kib))
}

/// VmRSS of a process in KiB, or None if the process (or /proc) is not there.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The 1-minute load average: other work on the machine changes the throughput figures.
fn loadavg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

struct Summary {
    text: String,
    growth_pct: Option<f64>,
}

/// Least-squares slope of y over x.
fn slope(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn summarize(
    args: &SoakArgs,
    samples: &[Sample],
    counters: &Counters,
    run_secs: f64,
    closed_rss: Option<u64>,
    load: (Option<f64>, Option<f64>),
) -> Summary {
    let mut t = String::new();
    let steps = counters.steps.load(Ordering::Relaxed);
    let episodes = counters.episodes.load(Ordering::Relaxed);
    let errors = counters.errors.load(Ordering::Relaxed);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let fmt_load = |l: Option<f64>| l.map_or("?".into(), |l| format!("{l:.2}"));
    let _ = writeln!(
        t,
        "soak: {} sessions, {:.1} min ({:.0} s run), BatchStep {} x {} workers, policy {}, {cpus} CPUs, load average {} -> {}",
        args.sessions,
        args.minutes,
        run_secs,
        args.batch,
        args.workers,
        args.policy,
        fmt_load(load.0),
        fmt_load(load.1)
    );
    let _ = writeln!(
        t,
        "throughput: {steps} steps ({:.0} steps/s), {episodes} episodes ({:.0} episodes/s); per-interval steps/s min {:.0} / max {:.0}",
        steps as f64 / run_secs.max(1e-9),
        episodes as f64 / run_secs.max(1e-9),
        samples
            .iter()
            .skip(1)
            .map(|s| s.steps_per_s)
            .fold(f64::INFINITY, f64::min),
        samples.iter().map(|s| s.steps_per_s).fold(0.0, f64::max)
    );
    let by_code = counters.by_code();
    let codes: Vec<String> = by_code.iter().map(|(c, n)| format!("{c} {n}")).collect();
    let _ = writeln!(
        t,
        "errors: {errors}{}",
        if codes.is_empty() {
            String::new()
        } else {
            format!(" ({})", codes.join(", "))
        }
    );
    let rss: Vec<(f64, u64)> = samples
        .iter()
        .filter_map(|s| s.rss_kib.map(|r| (s.elapsed_s, r)))
        .collect();
    let mut growth_pct = None;
    if let (Some(first), Some(last)) = (rss.first(), rss.last()) {
        let max = rss.iter().map(|r| r.1).max().unwrap_or(0);
        let steady: Vec<(f64, u64)> = rss.iter().copied().filter(|r| r.0 >= args.warmup).collect();
        let _ = writeln!(
            t,
            "server RSS: first {:.1} MiB, last {:.1} MiB, max {:.1} MiB{}",
            mib(first.1),
            mib(last.1),
            mib(max),
            closed_rss.map_or(String::new(), |c| format!(
                ", {:.1} MiB after closing every session",
                mib(c)
            ))
        );
        match (steady.first(), steady.last()) {
            (Some(start), Some(end)) if steady.len() >= 2 => {
                let growth = (end.1 as f64 - start.1 as f64) / start.1 as f64 * 100.0;
                growth_pct = Some(growth);
                let points: Vec<(f64, f64)> =
                    steady.iter().map(|r| (r.0 / 60.0, mib(r.1))).collect();
                let per_min = slope(&points).unwrap_or(0.0);
                let _ = writeln!(
                    t,
                    "steady state (from {:.0} s): RSS {:.1} MiB at start, {:.1} MiB at end ({growth:+.2}%), slope {:+.3} MiB/min ({:+.1} MiB/hour) over {} samples",
                    start.0,
                    mib(start.1),
                    mib(end.1),
                    per_min,
                    per_min * 60.0,
                    steady.len()
                );
            }
            _ => {
                let _ = writeln!(
                    t,
                    "steady state: fewer than two samples after the {:.0} s warm-up; run longer",
                    args.warmup
                );
            }
        }
    } else {
        let _ = writeln!(t, "server RSS: not sampled (no --server-pid)");
    }
    Summary {
        text: t,
        growth_pct,
    }
}

fn write_csv(path: &Path, samples: &[Sample]) -> Result<()> {
    let mut s = String::from("elapsed_s,rss_kib,steps,steps_per_s,episodes,errors\n");
    for x in samples {
        let _ = writeln!(
            s,
            "{:.1},{},{},{:.0},{},{}",
            x.elapsed_s,
            x.rss_kib.map_or(String::new(), |r| r.to_string()),
            x.steps,
            x.steps_per_s,
            x.episodes,
            x.errors
        );
    }
    std::fs::write(path, s).with_context(|| format!("writing {}", path.display()))
}

type Plot = std::result::Result<(), Box<dyn std::error::Error>>;

/// Server RSS (top) and steps/s (bottom) against minutes, the warm-up shaded.
fn plot(path: &Path, samples: &[Sample], warmup_s: f64) -> Plot {
    let root = SVGBackend::new(path, (800, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(280);
    let minutes: Vec<f64> = samples.iter().map(|s| s.elapsed_s / 60.0).collect();
    let x_max = minutes.last().copied().unwrap_or(1.0).max(0.1);
    let warm = (warmup_s / 60.0).min(x_max);

    let rss: Vec<(f64, f64)> = samples
        .iter()
        .zip(&minutes)
        .filter_map(|(s, &m)| s.rss_kib.map(|r| (m, mib(r))))
        .collect();
    panel(&top, "server RSS (MiB)", rss, BLUE, x_max, warm)?;
    let rate: Vec<(f64, f64)> = samples
        .iter()
        .zip(&minutes)
        .skip(1)
        .map(|(s, &m)| (m, s.steps_per_s))
        .collect();
    panel(
        &bottom,
        "steps/s (BatchStep, autoreset)",
        rate,
        RED,
        x_max,
        warm,
    )?;
    root.present()?;
    Ok(())
}

/// One line chart against minutes, from zero to 15% above its highest point, the warm-up shaded.
fn panel(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    caption: &str,
    points: Vec<(f64, f64)>,
    color: RGBColor,
    x_max: f64,
    warm: f64,
) -> Plot {
    let y_max = points.iter().map(|p| p.1).fold(0.0, f64::max).max(1.0) * 1.15;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
    chart
        .configure_mesh()
        .max_light_lines(1)
        .x_desc("minutes")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()?;
    chart.draw_series(std::iter::once(Rectangle::new(
        [(0.0, 0.0), (warm, y_max)],
        BLACK.mix(0.06).filled(),
    )))?;
    chart.draw_series(std::iter::once(PathElement::new(
        points,
        color.stroke_width(2),
    )))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_of_a_line_and_of_too_few_points() {
        let pts: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 3.0 + 0.5 * i as f64)).collect();
        let s = slope(&pts).expect("slope");
        assert!((s - 0.5).abs() < 1e-12, "{s}");
        assert_eq!(slope(&pts[..1]), None);
        assert_eq!(slope(&[(1.0, 1.0), (1.0, 2.0)]), None, "no spread in x");
    }

    #[test]
    fn rss_of_this_process_is_read_from_proc() {
        let kib = rss_kib(std::process::id()).expect("VmRSS of this process");
        assert!(kib > 100, "{kib} KiB");
        assert_eq!(rss_kib(u32::MAX), None);
    }
}
