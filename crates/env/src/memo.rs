//! A bounded memo of question understanding, shared by every episode of a world.
//!
//! A rollout farm asks the same questions over and over (a policy's phrasings repeat across
//! episodes and slots), and understanding one costs microseconds of stemming and phrase
//! matching. `Lexicon::understand` is a pure function of the text, so remembering its answer
//! keyed by the exact text changes no observation: a hit returns what a miss would compute.

use std::sync::{Mutex, PoisonError};

use medgym_patient::{Lexicon, Question};

/// Slots of the memo (a power of two). With texts of at most [`MAX_TEXT`] bytes the memo holds
/// at most about 1.5 MiB whatever the traffic.
const SLOTS: usize = 4096;

/// Longer texts are understood every time: they rarely repeat and would make the memo large.
const MAX_TEXT: usize = 256;

/// A direct-mapped cache: each text has one slot (by its hash); a different text landing
/// there replaces it. One small lock per slot, so concurrent steps rarely meet.
pub(crate) struct UnderstandMemo {
    slots: Box<[Mutex<Option<Entry>>]>,
}

/// A remembered text and what it was understood as.
type Entry = (Box<str>, Question);

impl UnderstandMemo {
    pub(crate) fn new() -> Self {
        UnderstandMemo {
            slots: (0..SLOTS).map(|_| Mutex::new(None)).collect(),
        }
    }

    /// What `lexicon.understand(text)` returns, from the memo when this text was seen.
    pub(crate) fn understand(&self, lexicon: &Lexicon, text: &str) -> Question {
        if text.len() > MAX_TEXT {
            return lexicon.understand(text);
        }
        let slot = &self.slots[slot_of(text)];
        {
            let held = slot.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((key, question)) = held.as_ref()
                && **key == *text
            {
                return question.clone();
            }
        }
        // Understood outside the lock: a slow miss does not hold up a hit on the same slot.
        let question = lexicon.understand(text);
        *slot.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((text.into(), question.clone()));
        question
    }
}

fn slot_of(text: &str) -> usize {
    // FNV-1a: cheap on short texts; any hash would do, the key is compared in full.
    let h = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (h ^ (h >> 32)) as usize & (SLOTS - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgym_clinic::Knowledge;

    #[test]
    fn the_memo_answers_exactly_as_the_lexicon() {
        let k = Knowledge::embedded().expect("embedded knowledge");
        let lexicon = Lexicon::new(&k);
        let memo = UnderstandMemo::new();
        let mut texts: Vec<String> = [
            "Do you have a fever?",
            "Any pain in your chest?",
            "When did it start?",
            "Any nausea or vomiting?",
            "",
            "What do you do for a living?",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Lay phrases of real findings, and one text too long to be remembered.
        texts.extend(
            k.findings
                .iter()
                .filter_map(|f| f.lay.first())
                .take(300)
                .map(|l| format!("Do you have {l}?")),
        );
        texts.push(format!("Do you have {}?", "chest pain and ".repeat(30)));
        // Three passes: the first fills the memo, the others are answered from it (or, where
        // two texts share a slot, recomputed after an eviction).
        for _ in 0..3 {
            for t in &texts {
                assert_eq!(memo.understand(&lexicon, t), lexicon.understand(t), "{t:?}");
            }
        }
    }

    #[test]
    fn texts_sharing_a_slot_do_not_answer_for_each_other() {
        let k = Knowledge::embedded().expect("embedded knowledge");
        let lexicon = Lexicon::new(&k);
        let memo = UnderstandMemo::new();
        let a = "Any pain in your chest?";
        let target = slot_of(a);
        // Find another text in the same slot.
        let b = (0..1_000_000)
            .map(|i| format!("Have you had a cough? {i}"))
            .find(|t| slot_of(t) == target)
            .expect("a colliding text");
        for _ in 0..2 {
            assert_eq!(memo.understand(&lexicon, a), lexicon.understand(a));
            assert_eq!(memo.understand(&lexicon, &b), lexicon.understand(&b));
        }
        assert_ne!(lexicon.understand(a), lexicon.understand(&b));
    }
}
