//! Patient and examiner simulators.
//!
//! The patient understands free-text questions through a [`Lexicon`] of every finding's names
//! and lay phrases, and answers only from the hidden case, in the voice of a [`Persona`] and
//! through the episode's noise (`noise`: the seven patient kinds of MedExAgent, three exam
//! kinds, lab analytic variation and exam sensitivity/specificity). The examiner turns an exam
//! order into a report: the case's findings that the exam can reveal, values for its analytes,
//! or the exam's normal text. Everything is a pure function of the case, the question, the
//! episode's noise seed and an RNG the episode owns, so an episode replays exactly from its seed.

mod examiner;
mod lexicon;
mod noise;
mod paraphrase;
mod patient;
mod persona;

pub use examiner::{Report, examine};
pub use lexicon::{Attribute, Lexicon, Normalizer, Question};
pub use noise::{
    ANALYTIC_CV, KINDS, NoiseEvent, NoiseKind, NoiseLevels, NoisePlan, ONE_SHOT, PLAN_TURNS,
    PRESETS,
};
pub use paraphrase::{Paraphrase, Reading};
pub use patient::{Answer, Patient, answer, presenting_complaint};
pub use persona::Persona;
