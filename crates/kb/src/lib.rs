//! The medgym knowledge base: passages generated from the clinical content, indexed with tantivy
//! (BM25), cached on disk, and searched on the step hot path.
//!
//! - [`Corpus`] turns a [`medgym_clinic::Knowledge`] (and, optionally, the ICD-10-CM tabular list,
//!   see [`icd10cm`], and the HPO terms that are not findings, see [`hpo`]) into passages: one per
//!   finding, one profile per disease, one per exam, one per ICD-10-CM code, block and chapter,
//!   one per other HPO term. Every passage has a stable id (`finding:HP:0001945`,
//!   `disease:bacterial_meningitis`, `exam:cbc`, `icd10cm:I21.9`, `hpo:HP:0000006`), a source (the
//!   part before the first colon: `finding`, `disease`, `exam`, `icd10cm`, `hpo`), a title and a
//!   text.
//! - [`Sources`] names a corpus before generating it: its key hashes every finding, disease and exam
//!   record, the ICD-10-CM entries, the HPO terms, the tantivy version and this crate's generator
//!   and schema code.
//! - [`KbIndex`] indexes a corpus: built once into a cache directory named by that key (built in a
//!   temporary directory, then renamed into place), memory-mapped on open, so a warm start neither
//!   generates nor indexes anything; or built in RAM for tests. Search is BM25 over the stemmed
//!   (`en_stem`) title (boosted) and text, re-ranked by how much of the query a passage covers, with a
//!   highlighted snippet and an optional filter by source. It implements [`medgym_env::SearchIndex`],
//!   so the env's `search` action can use it.
//!
//! Invariants: cases are never indexed and no passage names a case (a test checks every case id
//! and complaint against the corpus); patients' own words from disease profiles (the `detail` a
//! case's patient says verbatim) are left out, so a search cannot match a case's answers word for
//! word. Disease profiles are searchable in every split, including the unseen-disease split: looking
//! a disease up is what a knowledge base is for, and the agent still has to find which one fits.
//! Same corpus → same index → same results for the same query (one segment, documents in corpus
//! order, ties broken by that order).

mod corpus;
pub mod hpo;
pub mod icd10cm;
mod index;

pub use corpus::{Corpus, Doc, HpoTerm, IcdEntry, SOURCES, Sources};
pub use index::{
    BuildProgress, CacheStatus, Hit, KbIndex, MAX_TOP_K, default_cache_root, parse_source,
};

use std::path::PathBuf;

/// Errors of building, caching and searching the knowledge base.
#[derive(Debug, thiserror::Error)]
pub enum KbError {
    /// The search engine failed.
    #[error("tantivy: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The ICD-10-CM index file is not in the expected format.
    #[error("ICD-10-CM index {what}: {message}")]
    Icd10cm {
        /// Which file (or "embedded").
        what: String,
        /// What is wrong.
        message: String,
    },
    /// The HPO term file is not in the expected format.
    #[error("HPO term file {what}: {message}")]
    Hpo {
        /// Which file (or "embedded").
        what: String,
        /// What is wrong.
        message: String,
    },
    /// A cached index does not match the corpus it was opened for.
    #[error("cached index at {path} is stale or damaged: {message}")]
    Stale {
        /// The cache directory.
        path: PathBuf,
        /// What does not match.
        message: String,
    },
    /// A search named a source that no passage has.
    #[error("unknown source {0:?}; the sources are finding, disease, exam, icd10cm, hpo")]
    UnknownSource(String),
}

/// The text of `dir/file` with its path for messages, or `None` when the knowledge directory has
/// no such file (the optional inputs: ICD-10-CM index, HPO terms).
fn read_optional(dir: &std::path::Path, file: &str) -> Result<Option<(String, String)>, KbError> {
    let path = dir.join(file);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some((text, path.display().to_string()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(KbError::io(path, e)),
    }
}

impl KbError {
    fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        KbError::Io {
            path: path.into(),
            source,
        }
    }
}
