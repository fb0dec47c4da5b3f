//! The patient's second reading of a question: a static sentence model for the paraphrases the
//! lexicon's phrases miss ("do your legs seize up in painful spasms?").
//!
//! `knowledge/paraphrase.json` (built by `tools/paraphrase/build.py`) gives every token of an
//! uncased BERT WordPiece vocabulary an int8 vector distilled from all-MiniLM-L6-v2, and a
//! softmax classifier over findings and "none". Reading a question is tokenising it as BERT
//! does, summing its tokens' vectors, normalising, and one small matrix product: a few
//! microseconds, no network at run time. [`Lexicon::understand`](crate::Lexicon::understand)
//! combines the reading with the lexicon's by the thresholds of [`ParaphraseRule`].

use std::collections::HashMap;
use std::sync::Arc;

use medgym_clinic::{FindingIdx, Knowledge, ParaphraseRule, ParaphraseTable};
use unicode_normalization::char::{decompose_canonical, is_combining_mark};

/// WordPiece gives up on longer words (BERT's `max_input_chars_per_word`).
const MAX_WORD_CHARS: usize = 100;

/// The model, ready to read.
pub struct Paraphrase {
    /// Token → id; continuations are keyed with their "##".
    vocab: HashMap<String, u32>,
    unk: u32,
    dim: usize,
    /// The knowledge set's table: its vectors and token scales are read in place.
    table: Arc<ParaphraseTable>,
    scale: f32,
    /// Per class, its finding (`None`: no finding).
    classes: Vec<Option<FindingIdx>>,
    /// Per finding, its class (`u32::MAX`: not one).
    class_of: Vec<u32>,
    /// Per class, `dim` weights, row after row.
    weights: Vec<f32>,
    bias: Vec<f32>,
    /// When a reading overrides the lexicon's.
    pub rule: ParaphraseRule,
}

impl std::fmt::Debug for Paraphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Paraphrase")
            .field("tokens", &self.vocab.len())
            .field("dim", &self.dim)
            .field("classes", &self.classes.len())
            .field("rule", &self.rule)
            .finish_non_exhaustive()
    }
}

/// What the model makes of a question: a probability per class.
#[derive(Debug, Clone)]
pub struct Reading<'m> {
    model: &'m Paraphrase,
    probs: Vec<f32>,
}

impl Reading<'_> {
    /// The most probable class (`None`: no finding) and its probability; of equals, the first.
    pub fn top(&self) -> (Option<FindingIdx>, f32) {
        let (best, p) = self
            .probs
            .iter()
            .enumerate()
            .fold((0, f32::MIN), |b, (i, &p)| if p > b.1 { (i, p) } else { b });
        (self.model.classes[best], p)
    }

    /// The `n` most probable classes, most probable first (for tools that show the model's view).
    pub fn ranked(&self, n: usize) -> Vec<(Option<FindingIdx>, f32)> {
        let mut all: Vec<(Option<FindingIdx>, f32)> = self
            .model
            .classes
            .iter()
            .copied()
            .zip(self.probs.iter().copied())
            .collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1));
        all.truncate(n);
        all
    }

    /// The probability that the question is about `finding`; `None` for a finding the model
    /// was not trained on (it cannot judge those).
    pub fn probability(&self, finding: FindingIdx) -> Option<f32> {
        match self.model.class_of.get(finding as usize) {
            Some(&c) if c != u32::MAX => Some(self.probs[c as usize]),
            _ => None,
        }
    }
}

impl Paraphrase {
    /// The model of a knowledge set, if it has one. The table was validated at load, so every
    /// class names a finding and every length fits.
    pub fn new(knowledge: &Knowledge) -> Option<Self> {
        let t: &Arc<ParaphraseTable> = knowledge.paraphrase.as_ref()?;
        let vocab: HashMap<String, u32> = t
            .vocab
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i as u32))
            .collect();
        let classes: Vec<Option<FindingIdx>> = t
            .classes
            .iter()
            .map(|c| c.as_ref().and_then(|id| knowledge.finding_idx(id)))
            .collect();
        let mut class_of = vec![u32::MAX; knowledge.findings.len()];
        for (c, f) in classes.iter().enumerate() {
            if let Some(f) = f {
                class_of[*f as usize] = c as u32;
            }
        }
        Some(Paraphrase {
            unk: vocab.get("[UNK]").copied().unwrap_or(0),
            vocab,
            dim: t.dim,
            table: Arc::clone(t),
            scale: t.scale,
            classes,
            class_of,
            weights: t.weights.iter().flatten().copied().collect(),
            bias: t.bias.clone(),
            rule: t.rule,
        })
    }

    /// Reads a question; `None` when it has no token at all.
    pub fn read(&self, question: &str) -> Option<Reading<'_>> {
        let mut sum = vec![0f32; self.dim];
        let mut any = false;
        self.tokenize(question, |id| {
            any = true;
            let s = self.table.token_scales[id as usize];
            let at = id as usize * self.dim;
            for (acc, &v) in sum.iter_mut().zip(&self.table.vectors[at..at + self.dim]) {
                *acc += f32::from(v) * s;
            }
        });
        let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt();
        if !any || norm == 0.0 {
            return None;
        }
        let k = self.scale / norm;
        sum.iter_mut().for_each(|x| *x *= k);
        let mut probs: Vec<f32> = self
            .weights
            .chunks_exact(self.dim)
            .zip(&self.bias)
            .map(|(w, b)| dot(w, &sum) + b)
            .collect();
        let max = probs.iter().copied().fold(f32::MIN, f32::max);
        probs.iter_mut().for_each(|z| *z = (*z - max).exp());
        let total: f32 = probs.iter().sum();
        probs.iter_mut().for_each(|p| *p /= total);
        Some(Reading { model: self, probs })
    }

    /// The token ids of a text, as the teacher's tokenizer (BERT uncased: clean, split CJK
    /// ideographs, strip accents, lower-case, split on whitespace and punctuation, WordPiece)
    /// gives them.
    pub fn token_ids(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        self.tokenize(text, |id| out.push(id));
        out
    }

    /// The tokens of a text (for tests against the teacher's tokenizer).
    pub fn tokens(&self, text: &str) -> Vec<String> {
        let by_id: HashMap<u32, &str> = self.vocab.iter().map(|(s, &i)| (i, s.as_str())).collect();
        self.token_ids(text)
            .into_iter()
            .map(|i| by_id[&i].to_string())
            .collect()
    }

    fn tokenize(&self, text: &str, mut emit: impl FnMut(u32)) {
        let mut word = String::new();
        let mut piece = String::new();
        for c in normalized(text) {
            if c.is_whitespace() {
                self.word_pieces(&word, &mut piece, &mut emit);
                word.clear();
            } else if is_punctuation(c) {
                self.word_pieces(&word, &mut piece, &mut emit);
                word.clear();
                word.push(c);
                self.word_pieces(&word, &mut piece, &mut emit);
                word.clear();
            } else {
                word.push(c);
            }
        }
        self.word_pieces(&word, &mut piece, &mut emit);
    }

    /// WordPiece: the longest vocabulary prefix, then the longest "##" continuation, and so on;
    /// a word with a part no token covers is one `[UNK]`.
    fn word_pieces(&self, word: &str, piece: &mut String, emit: &mut impl FnMut(u32)) {
        if word.is_empty() {
            return;
        }
        if word.chars().count() > MAX_WORD_CHARS {
            emit(self.unk);
            return;
        }
        let mut ids: Vec<u32> = Vec::new();
        let mut start = 0;
        while start < word.len() {
            let mut end = word.len();
            let found = loop {
                piece.clear();
                if start > 0 {
                    piece.push_str("##");
                }
                piece.push_str(&word[start..end]);
                if let Some(&id) = self.vocab.get(piece.as_str()) {
                    break Some(id);
                }
                match word[start..end].char_indices().next_back() {
                    Some((i, _)) if i > 0 => end = start + i,
                    _ => break None,
                }
            };
            let Some(id) = found else {
                emit(self.unk);
                return;
            };
            ids.push(id);
            start = end;
        }
        ids.into_iter().for_each(emit);
    }
}

/// BERT's normaliser, char by char: control characters out, whitespace to spaces, spaces around
/// CJK ideographs, accents stripped (canonical decomposition without combining marks), lower
/// case.
fn normalized(text: &str) -> impl Iterator<Item = char> + '_ {
    text.chars()
        .filter(|&c| !(c == '\0' || c == '\u{fffd}' || is_control(c)))
        .flat_map(|c| {
            let c = if c.is_whitespace() { ' ' } else { c };
            let cjk = is_cjk(c);
            let mut parts: Vec<char> = Vec::with_capacity(3);
            if cjk {
                parts.push(' ');
            }
            decompose_canonical(c, |d| {
                if !is_combining_mark(d) {
                    parts.extend(d.to_lowercase());
                }
            });
            if cjk {
                parts.push(' ');
            }
            parts
        })
}

/// Unicode's "other" characters that BERT drops: controls (tab, newline and carriage return are
/// whitespace instead), formatting characters and private use.
fn is_control(c: char) -> bool {
    if matches!(c, '\t' | '\n' | '\r') {
        return false;
    }
    c.is_control()
        || matches!(c as u32,
            0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F
            | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB
            | 0xE000..=0xF8FF)
}

/// ASCII punctuation and symbols, and Unicode punctuation (general category P) of the blocks
/// questions meet: Latin-1, general and supplemental punctuation, CJK and full-width forms.
fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation()
        || matches!(c as u32,
            0xA1 | 0xA7 | 0xAB | 0xB6 | 0xB7 | 0xBB | 0xBF | 0x2010..=0x2027 | 0x2030..=0x2043
            | 0x2045..=0x2051 | 0x2053..=0x205E | 0x2E00..=0x2E4F | 0x3001..=0x3003
            | 0x3008..=0x3011 | 0x3014..=0x301F | 0x3030 | 0x303D | 0x30A0 | 0x30FB
            | 0xFF01..=0xFF03 | 0xFF05..=0xFF0A | 0xFF0C..=0xFF0F | 0xFF1A | 0xFF1B | 0xFF1F
            | 0xFF20 | 0xFF3B..=0xFF3D | 0xFF3F | 0xFF5B | 0xFF5D | 0xFF5F..=0xFF65)
}

/// The CJK ideograph blocks BERT splits into single characters.
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F | 0x2B820..=0x2CEAF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F)
}

/// A dot product in eight independent lanes: a single running sum is a dependency chain the
/// compiler may not reorder (float addition), eight let it use vector registers. The order is
/// fixed, so a reading is still the same on every run.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a8.zip(b8) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}
