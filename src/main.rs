//! `medgym`: serve the environment over gRPC, play an episode in the terminal, inspect tasks.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use medgym_clinic::Knowledge;
use medgym_env::{Action, Ask, Diagnose, Env, Exam, ResetArgs, Search, StepOutcome, World};

// A step allocates many small strings (answers, ids, protobuf fields); mimalloc serves that
// pattern with less contention between the server's threads than glibc's allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod bench;
mod eval;
mod kb;
mod rollout;
mod soak;

#[derive(Debug, Parser)]
#[command(
    name = "medgym",
    version,
    about = "A gymnasium-style RL environment of simulated patients, served over gRPC"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gRPC server (medgym.v1.Environment, health, reflection) and the metrics endpoint.
    Serve(ServeArgs),
    /// Play one episode in the terminal: type questions, order exams, diagnose.
    Play(PlayArgs),
    /// Task counts by domain and split; `validate` checks a knowledge directory.
    Tasks(TasksArgs),
    /// Play many episodes with a baseline policy (in process or over gRPC) into a JSONL file.
    Rollout(rollout::RolloutArgs),
    /// Metric tables (by domain and overall) of trajectory files, and SVG charts.
    Eval(eval::EvalArgs),
    /// The knowledge base: `build` its index into the cache, `search` it.
    Kb(kb::KbArgs),
    /// Load test over loopback: medgym against a bare tonic echo of the same messages.
    Bench(BenchCmd),
    /// Long run against a running server: many sessions stepped with a baseline policy, with
    /// throughput, errors and the server's RSS over time (tools/soak.sh drives it).
    Soak(soak::SoakArgs),
    /// Write a self-signed CA (ca.pem) and a server certificate signed by it (server.pem,
    /// server.key) for `serve --tls-cert/--tls-key`; clients trust ca.pem.
    Cert(CertArgs),
}

#[derive(Debug, clap::Args)]
struct CertArgs {
    /// Directory to write ca.pem, server.pem and server.key (mode 0600) into; created if needed.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// A DNS name or IP address clients will connect to; repeat for several
    /// [default: localhost and 127.0.0.1].
    #[arg(long = "host", value_name = "NAME")]
    hosts: Vec<String>,
}

#[derive(Debug, clap::Args)]
struct BenchCmd {
    #[command(flatten)]
    bench: bench::BenchArgs,
    #[command(flatten)]
    knowledge: KnowledgeArg,
    #[command(flatten)]
    kb_cache: kb::KbCacheArg,
}

#[derive(Debug, clap::Args)]
struct KnowledgeArg {
    /// Knowledge directory to load instead of the copy embedded in the binary.
    #[arg(long, value_name = "DIR")]
    knowledge: Option<PathBuf>,
}

impl KnowledgeArg {
    fn load(&self) -> Result<Knowledge> {
        Ok(match &self.knowledge {
            Some(dir) => Knowledge::load_dir(dir)
                .with_context(|| format!("loading knowledge from {}", dir.display()))?,
            None => Knowledge::embedded().context("loading the embedded knowledge")?,
        })
    }
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Address of the gRPC server.
    #[arg(long, default_value = "127.0.0.1:50051", env = "MEDGYM_ADDR")]
    addr: SocketAddr,
    /// Address of the Prometheus metrics endpoint (GET /metrics).
    #[arg(long, default_value = "127.0.0.1:9100", env = "MEDGYM_METRICS_ADDR")]
    metrics_addr: SocketAddr,
    /// TOML config with limits and default episode options (reward weights, turn limit,
    /// budget); see medgym.toml for every key and its default. Flags below override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Maximum number of live sessions; further resets get RESOURCE_EXHAUSTED [default: 100000].
    #[arg(long)]
    max_sessions: Option<usize>,
    /// Seconds a session may stay idle before it is closed [default: 600].
    #[arg(long)]
    session_ttl: Option<u64>,
    /// Maximum bytes of any text in an action; longer gets INVALID_ARGUMENT [default: 16384].
    #[arg(long)]
    max_text_bytes: Option<usize>,
    /// Append every finished episode to rotating JSONL files in this directory (format:
    /// docs/trajectory.schema.json). A record is written before its final step is answered.
    #[arg(long, value_name = "DIR")]
    trajectory_dir: Option<PathBuf>,
    /// Require `authorization: Bearer <token>` on every RPC but health; accepted tokens one per
    /// line in FILE, re-read on SIGHUP. See the README's security section.
    #[arg(long, value_name = "FILE")]
    auth_token_file: Option<PathBuf>,
    /// This server's name among replicas, the prefix of its session ids (a DNS label: 1-63 of
    /// a-z, 0-9, -; e.g. the pod name) [default: 8 random hex characters per process].
    #[arg(long, env = "MEDGYM_REPLICA_ID", value_name = "NAME")]
    replica_id: Option<String>,
    /// Serve gRPC (health and reflection too) over TLS with this PEM certificate chain; needs
    /// --tls-key. `medgym cert` makes one. The metrics endpoint stays plain HTTP.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    #[command(flatten)]
    knowledge: KnowledgeArg,
    #[command(flatten)]
    kb_cache: kb::KbCacheArg,
}

#[derive(Debug, clap::Args)]
struct PlayArgs {
    /// Task to play (see `medgym tasks list`); default: sampled with the seed.
    #[arg(long)]
    task: Option<String>,
    /// Domain to sample from.
    #[arg(long, default_value = "")]
    domain: String,
    /// Split to sample from.
    #[arg(long, default_value = "train")]
    split: String,
    /// Episode seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    knowledge: KnowledgeArg,
    #[command(flatten)]
    kb_cache: kb::KbCacheArg,
}

#[derive(Debug, clap::Args)]
struct TasksArgs {
    #[command(subcommand)]
    command: Option<TasksCommand>,
    #[command(flatten)]
    knowledge: KnowledgeArg,
}

#[derive(Debug, Subcommand)]
enum TasksCommand {
    /// Check a knowledge directory (schema and consistency); exits non-zero with every problem.
    Validate {
        /// The directory to check.
        #[arg(default_value = "knowledge")]
        dir: PathBuf,
    },
    /// List task ids with domain, split and difficulty.
    List {
        /// Only this domain.
        #[arg(long, default_value = "")]
        domain: String,
        /// Only this split.
        #[arg(long, default_value = "")]
        split: String,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Play(args) => play(args),
        Command::Tasks(args) => tasks(args),
        Command::Rollout(args) => rollout::rollout(args),
        Command::Eval(args) => eval::eval(args),
        Command::Kb(args) => kb::run(args),
        Command::Bench(args) => {
            let knowledge = args.knowledge.load()?;
            let index = if args.bench.needs_kb() {
                Some(kb::search_index(&knowledge, &args.knowledge, &args.kb_cache)?.index)
            } else {
                None
            };
            let mut world = World::new(knowledge);
            if let Some(index) = index {
                world.search = Some(Arc::new(index));
            }
            bench::run(args.bench, Arc::new(world))
        }
        Command::Soak(args) => soak::run(args),
        Command::Cert(args) => cert(args),
    }
}

fn cert(args: CertArgs) -> Result<()> {
    let certs = medgym_server::tls::generate_certificates(&args.hosts)?;
    let files = medgym_server::tls::write_certificates(&args.out, &certs)
        .with_context(|| format!("writing certificates into {}", args.out.display()))?;
    let hosts = if args.hosts.is_empty() {
        medgym_server::tls::DEFAULT_HOSTS.join(", ")
    } else {
        args.hosts.join(", ")
    };
    println!(
        "wrote {} (the CA clients trust), {} and {} (for {hosts})\n\
         serve:   medgym serve --tls-cert {} --tls-key {}\n\
         connect: medgym rollout --server https://{}:50051 --ca-file {} ...",
        files.ca.display(),
        files.cert.display(),
        files.key.display(),
        files.cert.display(),
        files.key.display(),
        args.hosts.first().map_or("localhost", String::as_str),
        files.ca.display(),
    );
    Ok(())
}

fn serve(args: ServeArgs) -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            medgym_server::Config::from_toml(&text)
                .with_context(|| format!("in {}", path.display()))?
        }
        None => medgym_server::Config::default(),
    };
    if let Some(n) = args.max_sessions {
        config.max_sessions = n;
    }
    if let Some(n) = args.session_ttl {
        config.session_ttl_seconds = n;
    }
    if let Some(n) = args.max_text_bytes {
        config.max_text_bytes = n;
    }
    if let Some(dir) = args.trajectory_dir {
        config.trajectory_dir = Some(dir);
    }
    if let Some(file) = args.auth_token_file {
        config.auth_token_file = Some(file);
    }
    if let Some(name) = args.replica_id {
        config.replica_id = Some(name);
    }
    if let (Some(cert), Some(key)) = (args.tls_cert, args.tls_key) {
        config.tls_cert = Some(cert);
        config.tls_key = Some(key);
    }
    // Before the knowledge base is opened, so a bad replica id or TLS file fails in milliseconds.
    config.validate()?;
    if let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) {
        medgym_server::tls::server_config(cert, key)?;
    }
    let knowledge = args.knowledge.load()?;
    let kb = kb::search_index(&knowledge, &args.knowledge, &args.kb_cache)?;
    if let Some(why) = &kb.fallback {
        tracing::warn!(error = %why, "knowledge-base cache unusable; index built in memory");
    }
    tracing::info!(
        passages = kb.index.len(),
        index = kb.status,
        ms = kb.elapsed.as_millis() as u64,
        "knowledge base ready"
    );
    let mut world = World::new(knowledge);
    world.search = Some(Arc::new(kb.index));
    let world = Arc::new(world);
    tracing::info!(
        version = %world.knowledge.manifest.version,
        tasks = world.knowledge.cases.len(),
        exams = world.knowledge.exams.len(),
        "knowledge loaded"
    );
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .with_context(|| format!("binding {}", args.addr))?;
        let metrics = tokio::net::TcpListener::bind(args.metrics_addr)
            .await
            .with_context(|| format!("binding {}", args.metrics_addr))?;
        tracing::info!(metrics = %args.metrics_addr, "metrics at /metrics");
        medgym_server::run(listener, Some(metrics), world, config, shutdown_signal()).await?;
        Ok(())
    })
}

/// Completes on ctrl-c or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

fn tasks(args: TasksArgs) -> Result<()> {
    match args.command {
        Some(TasksCommand::Validate { dir }) => {
            let k = Knowledge::load_dir(&dir)
                .with_context(|| format!("{} is not a valid knowledge directory", dir.display()))?;
            println!(
                "{}: schema and references ok — {} findings, {} exams, {} diseases, {} tasks (version {})",
                dir.display(),
                k.findings.len(),
                k.exams.len(),
                k.diseases.len(),
                k.cases.len(),
                k.manifest.version
            );
            // Reachability: every present symptom of every case must be askable in its own words
            // (signs, labs and imaging were checked against their exams by the loader).
            let world = World::new(k);
            let k = &world.knowledge;
            let mut unreachable = std::collections::BTreeSet::new();
            for case in &k.cases {
                for cf in &case.findings {
                    let Some(fi) = k.finding_idx(&cf.finding) else {
                        continue;
                    };
                    let f = k.finding(fi);
                    if f.kind != medgym_clinic::FindingKind::Symptom {
                        continue;
                    }
                    let reachable = std::iter::once(&f.name).chain(&f.lay).any(|p| {
                        let q = world.lexicon.understand(&format!("Do you have {p}?"));
                        q.findings.contains(&fi) || q.variants.iter().flatten().any(|&v| v == fi)
                    });
                    if !reachable {
                        unreachable.insert(f.id.clone());
                    }
                }
            }
            let revealing: std::collections::HashSet<&str> = k
                .findings
                .iter()
                .flat_map(|f| f.exams.iter().map(String::as_str))
                .collect();
            let silent: Vec<&str> = k
                .exams
                .iter()
                .filter(|e| e.analytes.is_empty() && !revealing.contains(e.id.as_str()))
                .map(|e| e.id.as_str())
                .collect();
            if !silent.is_empty() {
                println!(
                    "note: {} exams can only come back normal (rule-out only): {}",
                    silent.len(),
                    silent.join(", ")
                );
            }
            if !unreachable.is_empty() {
                anyhow::bail!(
                    "findings.json: {} symptoms present in cases cannot be asked about in any of their own phrases: {}",
                    unreachable.len(),
                    unreachable.into_iter().collect::<Vec<_>>().join(", ")
                );
            }
            println!("every present finding is reachable by some action");
            Ok(())
        }
        Some(TasksCommand::List { domain, split }) => {
            let k = args.knowledge.load()?;
            for &t in k.tasks(&domain, &split) {
                let c = k.case(t);
                println!(
                    "{}\t{}\t{}\t{}",
                    c.id,
                    k.domain_of(t),
                    c.split,
                    c.difficulty
                );
            }
            Ok(())
        }
        None => {
            let k = args.knowledge.load()?;
            let splits = &k.manifest.splits;
            print!("{:<22}", "domain");
            for s in splits {
                print!("{s:>16}");
            }
            println!("{:>10}", "total");
            let mut totals = vec![0usize; splits.len()];
            for d in &k.manifest.domains {
                let row: Vec<usize> = splits.iter().map(|s| k.tasks(d, s).len()).collect();
                if row.iter().all(|&n| n == 0) {
                    continue;
                }
                print!("{d:<22}");
                for (i, n) in row.iter().enumerate() {
                    print!("{n:>16}");
                    totals[i] += n;
                }
                println!("{:>10}", row.iter().sum::<usize>());
            }
            print!("{:<22}", "all");
            for n in &totals {
                print!("{n:>16}");
            }
            println!("{:>10}", totals.iter().sum::<usize>());
            let diseases: std::collections::HashSet<_> =
                k.cases.iter().map(|c| &c.disease).collect();
            println!(
                "\n{} tasks over {} diseases; {} findings; {} exams; knowledge version {}",
                k.cases.len(),
                diseases.len(),
                k.findings.len(),
                k.exams.len(),
                k.manifest.version
            );
            Ok(())
        }
    }
}

const PLAY_HELP: &str = "\
Type a question for the patient, or a command:
  /exams               list the exam catalog
  /exam ID [SITE]      order an exam (e.g. /exam cbc)
  /search QUERY        search the knowledge base
  /dx NAME             diagnose (ends the episode)
  /help                this help
  /quit                give up
Raw agent text also works: <ask>...</ask>, <exam>...</exam>, or a JSON tool call.";

fn play(args: PlayArgs) -> Result<()> {
    let knowledge = args.knowledge.load()?;
    let kb = kb::search_index(&knowledge, &args.knowledge, &args.kb_cache)?;
    if let Some(why) = &kb.fallback {
        eprintln!("warning: knowledge-base cache unusable ({why}); index built in memory");
    }
    let mut world = World::new(knowledge);
    world.search = Some(Arc::new(kb.index));
    let world = Arc::new(world);
    let mut env = Env::new(Arc::clone(&world));
    let (obs, info) = env.reset(ResetArgs {
        task_id: args.task,
        domain: args.domain,
        split: args.split,
        seed: args.seed,
        ..Default::default()
    })?;
    println!(
        "medgym play — task {} ({}, {} split, seed {})\n{PLAY_HELP}\n",
        info.task_id, info.domain, info.split, info.seed
    );
    println!("{}\n", obs.text);
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        print!("> ");
        std::io::stdout().flush()?;
        let Some(line) = lines.next() else {
            println!("\n(no more input; episode abandoned)");
            return Ok(());
        };
        let line = line?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let action = match parse_play_command(line) {
            PlayInput::Action(a) => a,
            PlayInput::Help => {
                println!("{PLAY_HELP}");
                continue;
            }
            PlayInput::Exams => {
                for e in &world.knowledge.exams {
                    println!(
                        "  {:<28} {:<10} ${:>8.2}  discomfort {}  {}",
                        e.id,
                        e.kind.as_str(),
                        e.cost_usd,
                        e.discomfort,
                        e.name
                    );
                }
                continue;
            }
            PlayInput::Quit => {
                println!("Episode abandoned.");
                return Ok(());
            }
            PlayInput::Error(msg) => {
                println!("{msg}");
                continue;
            }
        };
        let out = env.step(action)?;
        print_step(&out);
        if out.terminated || out.truncated {
            return Ok(());
        }
    }
}

enum PlayInput {
    Action(Action),
    Help,
    Exams,
    Quit,
    Error(&'static str),
}

fn parse_play_command(line: &str) -> PlayInput {
    let (cmd, rest) = line.split_once(' ').unwrap_or((line, ""));
    let rest = rest.trim().to_string();
    match cmd {
        "/help" | "/?" => PlayInput::Help,
        "/quit" | "/q" => PlayInput::Quit,
        "/exams" => PlayInput::Exams,
        "/exam" if rest.is_empty() => PlayInput::Error("usage: /exam ID [SITE]"),
        "/exam" => {
            let (id, site) = rest.split_once(' ').unwrap_or((&rest, ""));
            PlayInput::Action(Action::Exam(Exam {
                exam_id: id.to_string(),
                site: (!site.trim().is_empty()).then(|| site.trim().to_string()),
            }))
        }
        "/search" => PlayInput::Action(Action::Search(Search {
            query: rest,
            top_k: None,
        })),
        "/dx" if rest.is_empty() => PlayInput::Error("usage: /dx NAME"),
        "/dx" => PlayInput::Action(Action::Diagnose(Diagnose {
            primary: rest,
            differential: Vec::new(),
        })),
        c if c.starts_with('/') => PlayInput::Error("unknown command; /help lists them"),
        _ if line.starts_with('<') || line.starts_with('{') => {
            PlayInput::Action(Action::Text(line.to_string()))
        }
        _ => PlayInput::Action(Action::Ask(Ask {
            question: line.to_string(),
            finding_id: None,
        })),
    }
}

fn print_step(out: &StepOutcome) {
    let o = &out.observation;
    println!("{}", o.text);
    if !o.feedback.valid {
        println!("  (invalid action)");
    } else if !o.feedback.message.is_empty() {
        println!("  ({})", o.feedback.message);
    }
    let terms: Vec<String> = out
        .reward_components
        .iter()
        .filter(|(_, v)| *v != 0.0)
        .map(|(k, v)| format!("{k} {v:+.3}"))
        .collect();
    println!(
        "  [turn {} · ${:.2} · discomfort {} · reward {:+.3}: {}]\n",
        o.turn,
        o.cost_usd,
        o.discomfort,
        out.reward,
        terms.join(", ")
    );
    if let (Some(truth), Some(totals)) = (&out.info.truth, &out.info.totals) {
        let how = if out.terminated {
            if truth.correct {
                "Correct."
            } else {
                "Incorrect."
            }
        } else {
            "Truncated."
        };
        println!(
            "{how} The diagnosis was {} ({}). {} turns, ${:.2}, discomfort {}, total reward {:+.3}.",
            truth.name,
            if truth.code.is_empty() {
                "no ICD-10-CM code"
            } else {
                &truth.code
            },
            totals.turns,
            totals.cost_usd,
            totals.discomfort,
            totals.total_reward
        );
    }
}
