//! `medgym kb build|search`, and the knowledge-base index that `serve` and `play` plug into the
//! world's `search` action.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use medgym_clinic::Knowledge;
use medgym_kb::{BuildProgress, CacheStatus, KbIndex, SOURCES, Sources, hpo, icd10cm};

use crate::KnowledgeArg;

#[derive(Debug, clap::Args)]
pub struct KbCacheArg {
    /// Directory for the cached knowledge-base index, built on first use and rebuilt when the
    /// knowledge changes [default: $XDG_CACHE_HOME/medgym, else ~/.cache/medgym].
    #[arg(long, value_name = "DIR", env = "MEDGYM_KB_CACHE")]
    kb_cache: Option<PathBuf>,
}

impl KbCacheArg {
    fn root(&self) -> PathBuf {
        self.kb_cache
            .clone()
            .unwrap_or_else(medgym_kb::default_cache_root)
    }
}

#[derive(Debug, clap::Args)]
pub struct KbArgs {
    #[command(subcommand)]
    command: KbCommand,
}

/// Which knowledge, and where its index is cached.
#[derive(Debug, clap::Args)]
struct KbSource {
    #[command(flatten)]
    knowledge: KnowledgeArg,
    #[command(flatten)]
    cache: KbCacheArg,
}

#[derive(Debug, clap::Subcommand)]
enum KbCommand {
    /// Build the index of the knowledge into the cache (does nothing when it is there already).
    Build {
        /// Build it again even if the cache has it.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        from: KbSource,
    },
    /// Search the knowledge base as the `search` action does, with scores.
    Search {
        /// Free text: findings, a disease or exam name, an ICD-10-CM code.
        query: String,
        /// Number of passages (at most 10).
        #[arg(long, default_value_t = 5)]
        top_k: usize,
        /// Only passages of this source.
        #[arg(long, value_parser = SOURCES)]
        source: Option<String>,
        #[command(flatten)]
        from: KbSource,
    },
}

/// The sources of the corpus of a knowledge set: its ICD-10-CM index and HPO terms come from
/// `DIR/icd10cm.json` and `DIR/hpo_terms.json` with `--knowledge DIR`, else from the copies
/// embedded in the binary.
fn sources<'k>(knowledge: &'k Knowledge, arg: &KnowledgeArg) -> Result<Sources<'k>> {
    let (icd, terms) = match &arg.knowledge {
        Some(dir) => (
            icd10cm::load_dir(dir)?.unwrap_or_default(),
            hpo::load_dir(dir)?.unwrap_or_default(),
        ),
        None => (icd10cm::embedded()?, hpo::embedded()?),
    };
    Ok(Sources::new(knowledge, icd).with_hpo(terms))
}

/// Opens the cached index, building it first (with a progress bar on stderr) when the cache is
/// cold.
fn open(sources: &Sources<'_>, cache: &KbCacheArg) -> Result<(KbIndex, CacheStatus)> {
    let root = cache.root();
    let bar = ProgressBar::hidden();
    let mut progress = |p: BuildProgress| match p {
        BuildProgress::Indexing { done, total } => {
            if bar.is_hidden() && bar.length().is_none() {
                bar.set_length(total as u64);
                if let Ok(style) = ProgressStyle::with_template(
                    "{msg} [{bar:40}] {pos}/{len} passages ({elapsed})",
                ) {
                    bar.set_style(style.progress_chars("=> "));
                }
                bar.set_message("building the knowledge-base index (first start only)");
                bar.set_draw_target(ProgressDrawTarget::stderr());
            }
            bar.set_position(done as u64);
        }
        BuildProgress::Committing => {
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
                bar.set_style(style);
            }
            bar.set_message("writing the knowledge-base index");
            bar.enable_steady_tick(Duration::from_millis(100));
        }
    };
    let opened = KbIndex::open_or_build_sources(sources, &root, &mut progress);
    bar.finish_and_clear();
    opened.with_context(|| format!("knowledge-base cache {}", root.display()))
}

/// What [`search_index`] did, for the caller to report.
pub struct Opened {
    pub index: KbIndex,
    pub status: &'static str,
    pub elapsed: Duration,
    /// Why the index lives in memory only, when the cache could not be used.
    pub fallback: Option<String>,
}

/// The knowledge-base index for `serve` and `play`: from the cache, built there on first start; in
/// memory when the cache cannot be used (the reason is in `fallback`).
pub fn search_index(
    knowledge: &Knowledge,
    arg: &KnowledgeArg,
    cache: &KbCacheArg,
) -> Result<Opened> {
    let started = Instant::now();
    let sources = sources(knowledge, arg)?;
    let (index, status, fallback) = match open(&sources, cache) {
        Ok((index, status)) => (index, status_name(status), None),
        Err(e) => (
            KbIndex::in_ram(&sources.corpus())
                .context("building the knowledge-base index in memory")?,
            "in memory",
            Some(format!("{e:#}")),
        ),
    };
    Ok(Opened {
        index,
        status,
        elapsed: started.elapsed(),
        fallback,
    })
}

fn status_name(status: CacheStatus) -> &'static str {
    match status {
        CacheStatus::Warm => "cached",
        CacheStatus::Built => "built",
        CacheStatus::Rebuilt => "rebuilt",
    }
}

pub fn run(args: KbArgs) -> Result<()> {
    let from = match &args.command {
        KbCommand::Build { from, .. } | KbCommand::Search { from, .. } => from,
    };
    let knowledge = from.knowledge.load()?;
    let started = Instant::now();
    let sources = sources(&knowledge, &from.knowledge)?;
    match &args.command {
        KbCommand::Build { force, .. } => {
            let dir = KbIndex::cache_dir(&from.cache.root(), sources.key());
            if *force && dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("removing {}", dir.display()))?;
            }
            let (index, status) = open(&sources, &from.cache)?;
            println!(
                "{}: {} passages in {:.2?}\n{}",
                status_name(status),
                index.len(),
                started.elapsed(),
                index.path().unwrap_or(&dir).display()
            );
        }
        KbCommand::Search {
            query,
            top_k,
            source,
            ..
        } => {
            let (index, _) = open(&sources, &from.cache)?;
            let searched = Instant::now();
            let hits = index.search(query, *top_k, source.as_deref())?;
            let took = searched.elapsed();
            let (open, close) = if std::io::stdout().is_terminal() {
                ("\x1b[1m", "\x1b[0m")
            } else {
                ("**", "**")
            };
            for (i, h) in hits.iter().enumerate() {
                println!(
                    "{}. {} ({})  score {:.2}\n   {}\n",
                    i + 1,
                    h.title,
                    h.id,
                    h.score,
                    h.marked(open, close)
                );
            }
            println!("{} passages of {} in {:.2?}", hits.len(), index.len(), took);
        }
    }
    Ok(())
}
