//! Relevance: classic presentations → the expected disease in the top 5, over the embedded
//! knowledge (with the embedded ICD-10-CM entries and HPO terms when there are any), no source
//! filter. `MEDGYM_KB_KNOWLEDGE=DIR` evaluates another knowledge directory (and its `icd10cm.json`
//! and `hpo_terms.json`).

use std::collections::HashSet;

use medgym_clinic::Knowledge;
use medgym_kb::{KbIndex, Sources, hpo, icd10cm};
use serde::Deserialize;

#[derive(Deserialize)]
struct Set {
    presentations: Vec<Presentation>,
}

#[derive(Deserialize)]
struct Presentation {
    query: String,
    disease: String,
    #[serde(default)]
    alternates: Vec<String>,
}

const TOP: usize = 5;
const MIN_HIT_RATE: f64 = 0.8;
const MIN_EVALUATED: usize = 10;

#[test]
fn classic_presentations_find_their_disease() {
    let set: Set = serde_json::from_str(include_str!("presentations.json")).expect("valid set");
    assert!(set.presentations.len() >= 40, "at least 40 presentations");
    let (k, icd, terms) = match std::env::var_os("MEDGYM_KB_KNOWLEDGE") {
        Some(dir) => {
            let dir = std::path::PathBuf::from(dir);
            let k = Knowledge::load_dir(&dir).expect("knowledge directory");
            let icd = icd10cm::load_dir(&dir).expect("ICD-10-CM index");
            let terms = hpo::load_dir(&dir).expect("HPO terms");
            (k, icd.unwrap_or_default(), terms.unwrap_or_default())
        }
        None => (
            Knowledge::embedded().expect("embedded knowledge"),
            icd10cm::embedded().expect("embedded ICD-10-CM index"),
            hpo::embedded().expect("embedded HPO terms"),
        ),
    };
    let started = std::time::Instant::now();
    let corpus = Sources::new(&k, icd).with_hpo(terms).corpus();
    let index = KbIndex::in_ram(&corpus).expect("index");
    let built = started.elapsed();
    let loaded: HashSet<&str> = k.diseases.iter().map(|d| d.id.as_str()).collect();

    let (mut evaluated, mut hits, mut hits_filtered) = (0usize, 0usize, 0usize);
    let mut misses = Vec::new();
    for p in &set.presentations {
        let wanted: Vec<String> = std::iter::once(&p.disease)
            .chain(&p.alternates)
            .filter(|id| loaded.contains(id.as_str()))
            .map(|id| format!("disease:{id}"))
            .collect();
        if wanted.is_empty() {
            continue;
        }
        evaluated += 1;
        let found = index.search(&p.query, TOP, None).expect("search");
        let rank = found.iter().position(|h| wanted.contains(&h.id));
        match rank {
            Some(_) => hits += 1,
            None => misses.push(format!(
                "  {:?} → {} not in top {TOP}: {}",
                p.query,
                p.disease,
                found
                    .iter()
                    .map(|h| h.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
        let only = index
            .search(&p.query, TOP, Some("disease"))
            .expect("search");
        if only.iter().any(|h| wanted.contains(&h.id)) {
            hits_filtered += 1;
        }
    }
    let rate = hits as f64 / evaluated.max(1) as f64;
    println!(
        "relevance: {hits}/{evaluated} presentations have the expected disease in the top {TOP} \
         ({:.1}%; {:.1}% with source=disease); {} skipped (disease not in this knowledge set); \
         corpus {} passages over {} diseases, built in {built:.2?}",
        100.0 * rate,
        100.0 * hits_filtered as f64 / evaluated.max(1) as f64,
        set.presentations.len() - evaluated,
        corpus.len(),
        k.diseases.len()
    );
    let by_source: Vec<String> = medgym_kb::SOURCES
        .iter()
        .map(|s| format!("{s} {}", corpus.count(s)))
        .collect();
    println!("passages by source: {}", by_source.join(", "));
    for m in &misses {
        println!("{m}");
    }
    assert!(
        evaluated >= MIN_EVALUATED,
        "only {evaluated} presentations name a loaded disease"
    );
    assert!(
        rate >= MIN_HIT_RATE,
        "hit rate {rate:.3} below {MIN_HIT_RATE}"
    );
}
