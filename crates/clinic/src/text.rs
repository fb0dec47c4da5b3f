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
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| !STOP.contains(&w.as_str()))
        .map(|w| stem(&american(&w)))
        .collect()
}

/// The normalised words joined by single spaces.
pub fn normalize_joined(text: &str) -> String {
    normalize(text).join(" ")
}

/// Maps the British spellings common in clinical text to American ones ("haemoptysis" →
/// "hemoptysis"); `word` is lower case.
pub fn american(word: &str) -> String {
    // Common British forms in clinical text; the list is short because stems absorb the rest.
    const PAIRS: &[(&str, &str)] = &[
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
    let mut w = word.to_string();
    for (gb, us) in PAIRS {
        if w.contains(gb) {
            w = w.replace(gb, us);
        }
    }
    w
}

/// A deliberately small suffix stripper: enough to meet plurals and verb forms ("coughing",
/// "coughs", "coughed" → "cough") without a dictionary. Applied to a fixpoint so that
/// normalising twice changes nothing.
fn stem(word: &str) -> String {
    let mut current = word.to_string();
    while let Some(shorter) = strip_once(&current) {
        current = shorter;
    }
    current
}

fn strip_once(word: &str) -> Option<String> {
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
            return Some(stem.to_string());
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

    proptest::proptest! {
        #[test]
        fn normalize_is_idempotent_on_its_output(s in "\\PC{0,40}") {
            let once = normalize_joined(&s);
            proptest::prop_assert_eq!(normalize_joined(&once), once);
        }
    }
}
