//! Text normalisation shared by question matching and diagnosis-name resolution.
//!
//! Both sides of a comparison go through [`normalize`], so "Chest-pains?" and "chest pain"
//! meet as the same tokens.

/// Words that carry no clinical meaning and differ between a question and a lay phrase
/// ("burning when *you* pee" vs "burning when *I* pee").
const STOP: &[&str] = &["a", "an", "the", "i", "me", "my", "you", "your", "yours"];

/// Lower-cases, turns punctuation into spaces, drops pronouns and articles, maps British
/// spellings to American ones and reduces each word to a crude stem, returning the words.
pub fn normalize(text: &str) -> Vec<String> {
    // Lower-cased before splitting: lower-casing can itself produce a separator ("İ" becomes
    // "i" and a combining dot), and splitting first would leave it for a second pass to split,
    // so normalising twice would change the words.
    let lower = text.to_lowercase();
    lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .filter_map(|w| {
            if STOP.contains(&w) {
                return None;
            }
            let mut w = if may_be_british(w) && BRITISH.iter().any(|(gb, _)| w.contains(gb)) {
                american(w)
            } else {
                w.to_string()
            };
            let stemmed = stem_str(&w).len();
            w.truncate(stemmed);
            Some(w)
        })
        .collect()
}

/// The normalised words joined by single spaces.
pub fn normalize_joined(text: &str) -> String {
    normalize(text).join(" ")
}

/// Maps the British spellings common in clinical text to American ones ("haemoptysis" →
/// "hemoptysis"); `word` is lower case.
pub fn american(word: &str) -> String {
    let mut w = word.to_string();
    for (gb, us) in BRITISH {
        if w.contains(gb) {
            w = w.replace(gb, us);
        }
    }
    w
}

/// Whether a lower-case word can hold a spelling of [`BRITISH`] that changes it: every one has
/// "ae", "oe" or "ou" ("feces" maps to itself). Most words have none, and this one pass spares
/// them a substring search per entry, which was most of the cost of normalising a name.
fn may_be_british(word: &str) -> bool {
    word.as_bytes()
        .windows(2)
        .any(|p| matches!(p, b"ae" | b"oe" | b"ou"))
}

/// Common British forms in clinical text and their American ones; the list is short because
/// stems absorb the rest.
const BRITISH: &[(&str, &str)] = &[
    ("haem", "hem"),
    ("oedem", "edem"),
    ("oesophag", "esophag"),
    ("diarrhoea", "diarrhea"),
    ("anaem", "anem"),
    ("paed", "ped"),
    ("colour", "color"),
    ("behaviour", "behavior"),
    ("tumour", "tumor"),
    ("feces", "feces"),
    ("faec", "fec"),
];

/// A deliberately small suffix stripper: enough to meet plurals and verb forms ("coughing",
/// "coughs", "coughed" → "cough") without a dictionary. Applied to a fixpoint so that
/// normalising twice changes nothing.
fn stem_str(word: &str) -> &str {
    let mut current = word;
    while let Some(shorter) = strip_once(current) {
        current = shorter;
    }
    current
}

fn strip_once(word: &str) -> Option<&str> {
    if word.len() <= 3 || word.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    for (suffix, min_stem) in [
        ("iness", 3),
        ("ness", 3),
        ("ing", 3),
        ("ies", 2),
        ("ed", 3),
        ("es", 4),
        ("s", 3),
        ("y", 3),
    ] {
        if let Some(stem) = word.strip_suffix(suffix)
            && stem.len() >= min_stem
            && !(suffix == "s" && (stem.ends_with('s') || stem.ends_with('u')))
            // "rashes" → "rash", but "headaches" → "headache" (then the "s" rule).
            && !(suffix == "es"
                && (stem.ends_with("ach")
                    || !["s", "x", "z", "ch", "sh"].iter().any(|e| stem.ends_with(e))))
        {
            return Some(stem);
        }
    }
    None
}

/// Whether `needle` occurs in `haystack` as a contiguous run of whole words.
pub fn contains_words(haystack: &[String], needle: &[String]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_british_prefilter_passes_every_spelling_that_changes() {
        for (gb, us) in BRITISH {
            assert!(gb == us || may_be_british(gb), "{gb}");
            assert_eq!(american(&format!("x{gb}y")), format!("x{us}y"));
        }
        assert!(!may_be_british("pneumonia") && !may_be_british("chest"));
    }

    #[test]
    fn forms_of_a_word_meet() {
        let table = [
            ("Have you been coughing?", "cough"),
            ("Any coughs", "cough"),
            ("chest-pains", "chest pain"),
            ("Diarrhoea", "diarrhea"),
            ("oedema of the ankles", "edema"),
            ("Vomited", "vomit"),
            ("vomiting", "vomit"),
            ("headaches", "headache"),
            ("rashes", "rash"),
            ("neck stiffness", "neck stiff"),
            ("dizziness", "dizzy"),
            ("shortness of breath", "short of breath"),
        ];
        for (text, phrase) in table {
            assert!(
                contains_words(&normalize(text), &normalize(phrase)),
                "{text:?} should contain {phrase:?}: {:?} vs {:?}",
                normalize(text),
                normalize(phrase)
            );
        }
    }

    #[test]
    fn different_words_stay_apart() {
        for (a, b) in [("fever", "feet"), ("pain", "paint"), ("rash", "crash")] {
            assert!(!contains_words(&normalize(a), &normalize(b)), "{a} ~ {b}");
        }
    }

    #[test]
    fn lower_casing_that_makes_a_separator_is_stable() {
        // Found by the 1M-case run: "İ" lower-cases to "i" and a combining dot.
        for text in ["İx", "DİYARBAKIR", "aİb"] {
            let once = normalize_joined(text);
            assert_eq!(normalize_joined(&once), once, "{text:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn normalize_is_idempotent_on_its_output(s in "\\PC{0,40}") {
            let once = normalize_joined(&s);
            proptest::prop_assert_eq!(normalize_joined(&once), once);
        }
    }
}
