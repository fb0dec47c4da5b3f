//! Reading the HPO term file `knowledge/hpo_terms.json` written by the knowledge builder
//! (`tools/knowledge`): the Human Phenotype Ontology terms that are not findings of the knowledge
//! set, each of which becomes an `hpo:` passage.
//!
//! Format `medgym-hpo-1`: a JSON object with `format`, `source`, `version`, `keys` (what the short
//! keys mean) and `terms`, an array of `{"id": "HP:0000005", "n": name, "d": definition,
//! "s": [exact and layperson synonyms], "p": [parent term names]}` sorted by id; `d`, `s` and `p`
//! are left out when empty. Unknown keys are ignored, so the builder may add fields without
//! breaking this reader.

use std::path::Path;

use serde::Deserialize;

use crate::{HpoTerm, KbError};

/// The file name inside a knowledge directory.
pub const FILE: &str = "hpo_terms.json";

#[derive(Deserialize)]
struct File {
    format: String,
    terms: Vec<Record>,
}

#[derive(Deserialize)]
struct Record {
    id: String,
    n: String,
    #[serde(default)]
    d: Option<String>,
    #[serde(default)]
    s: Vec<String>,
    #[serde(default)]
    p: Vec<String>,
}

/// Parses the text of an HPO term file; `what` names it in errors.
pub fn parse(text: &str, what: &str) -> Result<Vec<HpoTerm>, KbError> {
    let err = |message: String| KbError::Hpo {
        what: what.to_string(),
        message,
    };
    let file: File = serde_json::from_str(text).map_err(|e| err(e.to_string()))?;
    if !file.format.starts_with("medgym-hpo-") {
        return Err(err(format!("format {:?} is not medgym-hpo-*", file.format)));
    }
    Ok(file
        .terms
        .into_iter()
        .map(|r| HpoTerm {
            id: r.id,
            name: r.n,
            definition: r.d.filter(|d| !d.trim().is_empty()),
            synonyms: r.s,
            parents: r.p,
        })
        .collect())
}

/// Reads `DIR/hpo_terms.json` if the knowledge directory has one.
pub fn load_dir(dir: &Path) -> Result<Option<Vec<HpoTerm>>, KbError> {
    crate::read_optional(dir, FILE)?
        .map(|(text, path)| parse(&text, &path))
        .transpose()
}

/// The text of `knowledge/hpo_terms.json` as it was when this crate was compiled, if it existed.
pub fn embedded_text() -> Option<&'static str> {
    #[cfg(medgym_hpo)]
    {
        Some(include_str!(env!("MEDGYM_HPO")))
    }
    #[cfg(not(medgym_hpo))]
    {
        None
    }
}

/// The terms of the embedded file (none if there was no file at compile time).
pub fn embedded() -> Result<Vec<HpoTerm>, KbError> {
    embedded_text().map_or(Ok(Vec::new()), |t| parse(t, "embedded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_builder_format() {
        let text = r#"{
"format":"medgym-hpo-1",
"keys":{"id":"HPO term id"},
"terms":[
{"id":"HP:0000001","n":"All"},
{"d":"The pattern in which a trait is passed on.","id":"HP:0000005","n":"Mode of inheritance","p":["All"],"s":["Inheritance"]}
]}"#;
        let v = parse(text, "inline").expect("parses");
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].definition, None);
        assert!(v[0].synonyms.is_empty() && v[0].parents.is_empty());
        assert_eq!(v[1].name, "Mode of inheritance");
        assert_eq!(v[1].synonyms, ["Inheritance"]);
        assert_eq!(v[1].parents, ["All"]);
    }

    #[test]
    fn rejects_other_formats() {
        assert!(parse(r#"{"format":"x","terms":[]}"#, "inline").is_err());
        assert!(parse("[]", "inline").is_err());
    }

    #[test]
    fn embedded_parses_when_present() {
        let v = embedded().expect("the embedded HPO term file parses");
        assert_eq!(v.is_empty(), embedded_text().is_none());
    }
}
