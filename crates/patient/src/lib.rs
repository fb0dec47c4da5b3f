//! Patient and examiner simulators.
//!
//! The patient understands free-text questions through a [`Lexicon`] of every finding's names
//! and lay phrases, and answers only from the hidden case. The examiner turns an exam order into
//! a report: the case's findings that the exam can reveal, values for its analytes, or the
//! exam's normal text. Both are pure functions of the case, the question and an RNG the episode
//! owns, so an episode replays exactly from its seed.

mod examiner;
mod lexicon;
mod patient;

pub use examiner::{Report, examine};
pub use lexicon::{Attribute, Lexicon, Question};
pub use patient::{Answer, answer, presenting_complaint};
