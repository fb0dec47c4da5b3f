//! What all episodes share: the knowledge set, the question lexicon, the search index.

use std::fmt;
use std::sync::Arc;

use medgym_clinic::Knowledge;
use medgym_patient::Lexicon;

/// One knowledge-base passage returned by a search.
#[derive(Debug, Clone, PartialEq)]
pub struct Passage {
    /// Stable passage id.
    pub id: String,
    /// Where it comes from ("hpo", "icd10cm", ...).
    pub source: String,
    /// Title.
    pub title: String,
    /// Snippet of the text.
    pub snippet: String,
}

/// A knowledge-base search backend (the tantivy index lives in its own crate and plugs in here,
/// keeping this crate free of I/O).
pub trait SearchIndex: Send + Sync {
    /// The best `top_k` passages for the query.
    fn search(&self, query: &str, top_k: usize) -> Vec<Passage>;
}

/// Immutable state shared by every episode.
pub struct World {
    /// The clinical content.
    pub knowledge: Knowledge,
    /// Every finding's phrases, normalised.
    pub lexicon: Lexicon,
    /// The knowledge base, when loaded.
    pub search: Option<Arc<dyn SearchIndex>>,
}

impl fmt::Debug for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("World")
            .field("cases", &self.knowledge.cases.len())
            .field("lexicon", &self.lexicon.len())
            .field("search", &self.search.is_some())
            .finish()
    }
}

impl World {
    /// A world over a knowledge set, without a search index.
    pub fn new(knowledge: Knowledge) -> Self {
        let lexicon = Lexicon::new(&knowledge);
        World {
            knowledge,
            lexicon,
            search: None,
        }
    }

    /// The world of the knowledge compiled into the binary.
    pub fn embedded() -> Result<Self, crate::EnvError> {
        Ok(Self::new(Knowledge::embedded()?))
    }
}
