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

/// The ICD-10-CM index (`knowledge/icd10cm.json`): every chapter, block, category and code
/// with its title, inclusion terms and parent. It resolves free-text diagnoses that are not in
/// the case set ("viral pneumonia" → J12.9) and gives block-level partial credit.
#[derive(Debug, Default)]
pub struct Index {
    parent: std::collections::HashMap<String, String>,
    by_name: std::collections::HashMap<String, String>,
}

#[derive(serde::Deserialize)]
struct File {
    codes: Vec<Record>,
}

#[derive(serde::Deserialize)]
struct Record {
    c: String,
    p: String,
    t: String,
    #[serde(default)]
    i: Vec<String>,
}

impl Index {
    /// Parses the index file.
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        let file: File = serde_json::from_str(text)?;
        let mut index = Index::default();
        for r in file.codes {
            // Titles and inclusion terms of real codes only (not chapters or blocks); the
            // first code to claim a name keeps it, so the most general code wins.
            if is_code(&r.c) {
                for name in std::iter::once(&r.t).chain(&r.i) {
                    let key = crate::text::normalize_joined(name.trim_end_matches(" NOS"));
                    index.by_name.entry(key).or_insert_with(|| r.c.clone());
                }
            }
            index.parent.insert(r.c, r.p);
        }
        Ok(index)
    }

    /// Number of codes, blocks and chapters.
    pub fn len(&self) -> usize {
        self.parent.len()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.parent.is_empty()
    }

    /// Whether the code exists.
    pub fn contains(&self, code: &str) -> bool {
        self.parent.contains_key(code)
    }

    /// The code whose title or inclusion term is this name.
    pub fn code_of(&self, name: &str) -> Option<&str> {
        self.by_name
            .get(&crate::text::normalize_joined(name))
            .map(String::as_str)
    }

    /// The block ("I20-I25") a code belongs to.
    pub fn block(&self, code: &str) -> Option<&str> {
        let mut c: &str = self.parent.get(category(code)?)?;
        // Walk up until the parent is a chapter: that node is the block (a range like "I20-I25").
        for _ in 0..8 {
            let p = self.parent.get(c)?;
            if p.starts_with("ch") {
                return Some(c).filter(|c| c.contains('-'));
            }
            c = p;
        }
        None
    }

    /// Credit of a given code against the truth: 1 same code, 0.5 same category, 0.25 same
    /// block, 0.1 same chapter, else 0.
    pub fn credit(&self, given: &str, truth: &str) -> f64 {
        let by_code = code_credit(given, truth);
        if by_code >= 0.5 {
            return by_code;
        }
        match (self.block(given), self.block(truth)) {
            (Some(a), Some(b)) if a == b => 0.25,
            _ => by_code,
        }
    }
}

#[cfg(test)]
mod index_tests {
    use super::*;

    const SAMPLE: &str = r#"{"codes":[
        {"c":"ch9","p":"","t":"Diseases of the circulatory system (I00-I99)"},
        {"c":"I20-I25","p":"ch9","t":"Ischemic heart diseases (I20-I25)"},
        {"c":"I21","p":"I20-I25","t":"Acute myocardial infarction"},
        {"c":"I21.9","i":["Myocardial infarction (acute) NOS"],"p":"I21","t":"Acute myocardial infarction, unspecified"},
        {"c":"I25","p":"I20-I25","t":"Chronic ischemic heart disease"},
        {"c":"I26-I28","p":"ch9","t":"Pulmonary heart disease (I26-I28)"},
        {"c":"I26","p":"I26-I28","t":"Pulmonary embolism"}
    ]}"#;

    #[test]
    fn names_resolve_and_credit_follows_the_hierarchy() {
        let index = Index::parse(SAMPLE).expect("parses");
        assert_eq!(
            index.code_of("myocardial infarction (acute)"),
            Some("I21.9")
        );
        assert_eq!(index.code_of("Acute myocardial infarction"), Some("I21"));
        assert_eq!(index.block("I21.9"), Some("I20-I25"));
        assert_eq!(index.credit("I21.9", "I21.9"), 1.0);
        assert_eq!(index.credit("I21", "I21.9"), 0.5);
        assert_eq!(index.credit("I25", "I21.9"), 0.25);
        assert_eq!(index.credit("I26", "I21.9"), 0.1);
    }
}

/// The text of `knowledge/icd10cm.json` compiled into the binary. The knowledge base reads its
/// passages from this same copy, so the 4.7 MB file is embedded once.
pub const EMBEDDED_TEXT: &str = include_str!("../../../knowledge/icd10cm.json");

impl Index {
    /// The index of the ICD-10-CM release compiled into the binary (`knowledge/icd10cm.json`),
    /// parsed once. The classification is the same whatever case set is loaded.
    pub fn embedded() -> &'static Index {
        static INDEX: std::sync::OnceLock<Index> = std::sync::OnceLock::new();
        INDEX.get_or_init(|| {
            // The file is generated and tested with the build; a broken one is a build bug.
            Index::parse(EMBEDDED_TEXT).expect("knowledge/icd10cm.json parses")
        })
    }
}

#[cfg(test)]
mod embedded_tests {
    #[test]
    fn the_embedded_index_resolves_common_names() {
        let index = super::Index::embedded();
        assert!(index.len() > 40_000, "{}", index.len());
        assert_eq!(
            index.code_of("Acute myocardial infarction, unspecified"),
            Some("I21.9")
        );
        assert_eq!(index.block("J18.9"), Some("J09-J18"));
        assert_eq!(
            index.credit("J12.9", "J18.9"),
            0.25,
            "viral vs unspecified pneumonia: same block"
        );
    }
}
