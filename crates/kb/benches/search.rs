//! Knowledge-base benches over the full embedded corpus (knowledge/ plus the ICD-10-CM index):
//! search latency (criterion, plus a timing loop over many queries that prints p50/p90/p99/max),
//! index build time, and opening with a warm cache.
//!
//! Run: `cargo bench -p medgym-kb --bench search`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion};
use medgym_clinic::Knowledge;
use medgym_env::SearchIndex;
use medgym_kb::{KbIndex, Sources, hpo, icd10cm};

/// Lookups an agent makes besides presentations: a finding, an exam, a code, a name, a lay phrase.
const LOOKUPS: [&str; 8] = [
    "photophobia",
    "complete blood count reference range",
    "I21.9",
    "heart attack",
    "stiff neck",
    "troponin",
    "what does a positive Kernig sign mean",
    "Kussmaul breathing",
];

fn queries() -> Vec<String> {
    let set: serde_json::Value =
        serde_json::from_str(include_str!("../tests/presentations.json")).expect("valid set");
    let mut out: Vec<String> = set["presentations"]
        .as_array()
        .expect("presentations")
        .iter()
        .filter_map(|p| p["query"].as_str().map(str::to_string))
        .collect();
    out.extend(LOOKUPS.iter().map(|q| q.to_string()));
    out
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let knowledge = Knowledge::embedded().expect("embedded knowledge");
    let icd = icd10cm::embedded().expect("embedded ICD-10-CM index");
    let terms = hpo::embedded().expect("embedded HPO terms");
    let sources = Sources::new(&knowledge, icd).with_hpo(terms);
    let corpus = sources.corpus();
    let cache = tempfile::tempdir().expect("temp dir");

    // Build once, timed, so the search benches have an index even when filtered out.
    let started = Instant::now();
    let (index, _) =
        KbIndex::open_or_build(&corpus, cache.path(), &mut |_| {}).expect("build the index");
    println!(
        "kb: {} passages, built into the cache in {:.2?} (generation not included)",
        index.len(),
        started.elapsed()
    );

    // Search latency: a timing loop over every query, many rounds, through the env's trait
    // (BM25, coverage re-ranking, stored-field fetch and snippets), top 5.
    let queries = queries();
    let mut times = Vec::new();
    let rounds = 40;
    for _ in 0..rounds {
        for q in &queries {
            let t = Instant::now();
            black_box(SearchIndex::search(&index, q, 5));
            times.push(t.elapsed());
        }
    }
    times.sort();
    println!(
        "kb search latency over {} searches ({} queries × {rounds}), top 5: p50 {:.0?}, p90 {:.0?}, \
         p99 {:.0?}, max {:.0?}",
        times.len(),
        queries.len(),
        percentile(&times, 0.5),
        percentile(&times, 0.9),
        percentile(&times, 0.99),
        times[times.len() - 1]
    );

    let mut g = c.benchmark_group("kb");
    let presentation = "fever neck stiffness photophobia";
    g.bench_function("search/presentation", |b| {
        b.iter(|| SearchIndex::search(&index, black_box(presentation), 5))
    });
    g.bench_function("search/lookup", |b| {
        b.iter(|| SearchIndex::search(&index, black_box("photophobia"), 5))
    });
    g.bench_function("search/top10-long", |b| {
        let q = queries.iter().max_by_key(|q| q.len()).expect("a query");
        b.iter(|| SearchIndex::search(&index, black_box(q), 10))
    });
    g.bench_function("search/all-queries", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % queries.len();
            SearchIndex::search(&index, black_box(&queries[i]), 5)
        })
    });
    // What a server start pays with a warm cache: hash the sources, open the memory map.
    g.bench_function("open/warm-cache", |b| {
        b.iter(|| {
            let icd = icd10cm::embedded().expect("icd");
            let terms = hpo::embedded().expect("hpo");
            let sources = Sources::new(&knowledge, icd).with_hpo(terms);
            KbIndex::open_or_build_sources(&sources, cache.path(), &mut |_| {}).expect("open")
        })
    });
    g.bench_function("corpus/generate", |b| b.iter(|| sources.corpus()));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(40));
    g.bench_function("build/cold-cache", |b| {
        b.iter_batched(
            || tempfile::tempdir().expect("temp dir"),
            |dir| {
                KbIndex::open_or_build(&corpus, dir.path(), &mut |_| {}).expect("build");
                dir
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
    c.final_summary();
}
