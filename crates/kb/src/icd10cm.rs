//! Reading the ICD-10-CM index file `knowledge/icd10cm.json` written by the knowledge builder
//! (`tools/knowledge`).
//!
//! Format `medgym-icd10cm-1`: a JSON object with `format`, `source`, `version`, `keys` (what the
//! short keys mean) and `codes`, an array of `{"c": code, "t": title, "p": parent code ("" for
//! chapters), "i": [inclusion terms], "x": {seventh-character extensions}}`. Chapters have codes
//! `ch1`..`ch22`, blocks `A00-A09`; each gets a passage listing what it holds, and gives context
//! to the diagnosis codes under it.
//! Unknown keys are ignored, so the builder may add fields without breaking this reader.

use std::path::Path;

use serde::Deserialize;

use crate::{IcdEntry, KbError};

/// The file name inside a knowledge directory.
pub const FILE: &str = "icd10cm.json";

#[derive(Deserialize)]
struct File {
    format: String,
    codes: Vec<Record>,
}

#[derive(Deserialize)]
struct Record {
    c: String,
    t: String,
    #[serde(default)]
    p: String,
    #[serde(default)]
    i: Vec<String>,
}

/// Parses the text of an ICD-10-CM index file; `what` names it in errors.
pub fn parse(text: &str, what: &str) -> Result<Vec<IcdEntry>, KbError> {
    let err = |message: String| KbError::Icd10cm {
        what: what.to_string(),
        message,
    };
    let file: File = serde_json::from_str(text).map_err(|e| err(e.to_string()))?;
    if !file.format.starts_with("medgym-icd10cm-") {
        return Err(err(format!(
            "format {:?} is not medgym-icd10cm-*",
            file.format
        )));
    }
    Ok(file
        .codes
        .into_iter()
        .map(|r| IcdEntry {
            code: r.c,
            title: r.t,
            inclusion: r.i,
            parent: (!r.p.is_empty()).then_some(r.p),
        })
        .collect())
}

/// Reads `DIR/icd10cm.json` if the knowledge directory has one.
pub fn load_dir(dir: &Path) -> Result<Option<Vec<IcdEntry>>, KbError> {
    crate::read_optional(dir, FILE)?
        .map(|(text, path)| parse(&text, &path))
        .transpose()
}

/// The text of `knowledge/icd10cm.json` as it was when the workspace was compiled: the copy
/// `medgym-clinic` embeds for diagnosis resolution, not a second one.
pub fn embedded_text() -> &'static str {
    medgym_clinic::icd::EMBEDDED_TEXT
}

/// The entries of the embedded index.
pub fn embedded() -> Result<Vec<IcdEntry>, KbError> {
    parse(embedded_text(), "embedded")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_builder_format() {
        let text = r#"{
"format":"medgym-icd10cm-1",
"keys":{"c":"code"},
"codes":[
{"c":"ch09","t":"Diseases of the circulatory system","p":""},
{"c":"I20-I25","t":"Ischemic heart diseases","p":"ch09"},
{"c":"I21","t":"Acute myocardial infarction","p":"I20-I25","x":{"A":"initial"}},
{"c":"I21.9","t":"Acute myocardial infarction, unspecified","p":"I21","i":["Myocardial infarction (acute) NOS"]}
]}"#;
        let v = parse(text, "inline").expect("parses");
        assert_eq!(v.len(), 4);
        assert_eq!(v[0].parent, None);
        assert_eq!(v[3].parent.as_deref(), Some("I21"));
        assert_eq!(v[3].inclusion, ["Myocardial infarction (acute) NOS"]);
        assert!(v[3].is_diagnosis() && v[2].is_diagnosis());
        assert!(!v[0].is_diagnosis() && !v[1].is_diagnosis());
    }

    #[test]
    fn rejects_other_formats() {
        assert!(parse(r#"{"format":"x","codes":[]}"#, "inline").is_err());
        assert!(parse("[]", "inline").is_err());
    }

    #[test]
    fn the_embedded_index_is_the_whole_classification() {
        let v = embedded().expect("the embedded ICD-10-CM index parses");
        assert!(v.len() > 40_000, "{}", v.len());
    }
}
