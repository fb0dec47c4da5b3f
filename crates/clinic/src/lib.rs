//! Clinical content for medgym: the case model, loading `knowledge/` (from a directory or the
//! copy embedded in the binary), validation, and task lookup by domain and split.
//!
//! Invariant: this crate knows nothing of episodes, randomness, networking or tonic. It turns
//! data files into an immutable, indexed [`Knowledge`] that every episode shares.

pub mod icd;
mod knowledge;
mod model;
pub mod text;

pub use knowledge::{
    ExamIdx, FILES, FindingIdx, Knowledge, OPTIONAL_FILES, Problem, Resolution, TaskIdx,
};
pub use model::*;

use std::path::PathBuf;

/// Errors of loading knowledge.
#[derive(Debug, thiserror::Error)]
pub enum ClinicError {
    /// A knowledge file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A knowledge file is not valid JSON of the expected shape.
    #[error("{file}: {source}")]
    Parse {
        /// The file name.
        file: String,
        /// The cause, with line and column.
        source: serde_json::Error,
    },
    /// The files parsed but are inconsistent.
    #[error("knowledge is inconsistent ({} problems):\n{}", .0.len(), format_problems(.0))]
    Invalid(Vec<Problem>),
}

fn format_problems(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}
