//! ICD-10-CM code arithmetic: shape, category and chapter, for diagnosis partial credit.

/// The 22 chapters of ICD-10-CM as (first code, last code) of each, in order. These ranges are
/// fixed by the classification itself (CDC/NCHS tabular list), not content that varies.
const CHAPTERS: [(&str, &str); 22] = [
    ("A00", "B99"),
    ("C00", "D49"),
    ("D50", "D89"),
    ("E00", "E89"),
    ("F01", "F99"),
    ("G00", "G99"),
    ("H00", "H59"),
    ("H60", "H95"),
    ("I00", "I99"),
    ("J00", "J99"),
    ("K00", "K95"),
    ("L00", "L99"),
    ("M00", "M99"),
    ("N00", "N99"),
    ("O00", "O9A"),
    ("P00", "P96"),
    ("Q00", "Q99"),
    ("R00", "R99"),
    ("S00", "T88"),
    ("U00", "U85"),
    ("V00", "Y99"),
    ("Z00", "Z99"),
];

/// Whether a string has the shape of an ICD-10-CM code: a letter, two characters, optionally a
/// dot and one to four more (e.g. "I21", "I21.9", "A41.51", "S72.001A").
pub fn is_code(code: &str) -> bool {
    let b = code.as_bytes();
    let head = b.len() >= 3
        && b[0].is_ascii_uppercase()
        && b[1].is_ascii_alphanumeric()
        && b[2].is_ascii_alphanumeric();
    if !head {
        return false;
    }
    let tail = &code[3..];
    tail.is_empty()
        || (tail.starts_with('.')
            && (2..=5).contains(&tail.len())
            && tail[1..].bytes().all(|c| c.is_ascii_alphanumeric()))
}

/// The category: the first three characters ("I21.9" → "I21").
pub fn category(code: &str) -> Option<&str> {
    is_code(code).then(|| &code[..3])
}

/// The chapter number, 1–22.
pub fn chapter(code: &str) -> Option<u8> {
    let cat = category(code)?;
    CHAPTERS
        .iter()
        .position(|(lo, hi)| (*lo..=*hi).contains(&cat))
        .map(|i| i as u8 + 1)
}

/// Credit for a diagnosis code against the true code: 1 for the same code, 0.5 for the same
/// category, 0.1 for the same chapter, else 0. (Block-level credit needs the block table of the
/// full ICD-10-CM index.)
pub fn code_credit(given: &str, truth: &str) -> f64 {
    if given == truth {
        1.0
    } else if category(given).is_some() && category(given) == category(truth) {
        0.5
    } else if chapter(given).is_some() && chapter(given) == chapter(truth) {
        0.1
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        for ok in [
            "I21.9", "J18", "A41.51", "M05.79", "E11.65", "Z00.00", "S72.001A",
        ] {
            assert!(is_code(ok), "{ok}");
        }
        for bad in ["", "21.9", "I2", "I21.", "i21.9", "I21.12345", "I21-9"] {
            assert!(!is_code(bad), "{bad}");
        }
    }

    #[test]
    fn chapters() {
        assert_eq!(chapter("A41.9"), Some(1));
        assert_eq!(
            chapter("D50.9"),
            Some(3),
            "iron deficiency anaemia is blood, not neoplasm"
        );
        assert_eq!(chapter("D48.1"), Some(2));
        assert_eq!(chapter("H66.9"), Some(8), "ear, not eye");
        assert_eq!(chapter("I21.9"), Some(9));
        assert_eq!(chapter("T78.40"), Some(19));
        assert_eq!(chapter("Z99.89"), Some(22));
    }

    #[test]
    fn credit_falls_with_distance() {
        assert_eq!(code_credit("I21.9", "I21.9"), 1.0);
        assert_eq!(code_credit("I21.4", "I21.9"), 0.5);
        assert_eq!(code_credit("I50.9", "I21.9"), 0.1);
        assert_eq!(code_credit("J18.9", "I21.9"), 0.0);
        assert_eq!(code_credit("nonsense", "I21.9"), 0.0);
    }
}
