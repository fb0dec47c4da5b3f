//! The clinical content model: the records that `knowledge/` files hold.
//!
//! Everything here is plain data with serde and JSON Schema derives; the schema that
//! `medgym tasks schema` prints is generated from these types, so the files and the code
//! cannot drift apart.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The manifest of a knowledge directory: its version and the vocabularies other files use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Version of the content set, e.g. "starter-1".
    pub version: String,
    /// Clinical domains, in display order.
    pub domains: Vec<String>,
    /// Split names, in display order.
    pub splits: Vec<String>,
}

/// What kind of thing a finding is; decides which action can reveal it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// Reported by the patient when asked.
    Symptom,
    /// Found on physical examination.
    Sign,
    /// A laboratory result.
    Laboratory,
    /// An imaging or procedure result.
    Imaging,
}

impl FindingKind {
    /// The wire name of this kind.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Symptom => "symptom",
            FindingKind::Sign => "sign",
            FindingKind::Laboratory => "laboratory",
            FindingKind::Imaging => "imaging",
        }
    }
}

/// A clinical finding that cases can present and actions can reveal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// Stable id: an HPO id ("HP:0001945") where one fits, else a snake_case slug.
    pub id: String,
    /// Clinical name, e.g. "Fever".
    pub name: String,
    /// Which action reveals it.
    pub kind: FindingKind,
    /// Phrases a patient or a question may use for it ("fever", "high temperature"). The first
    /// is how the patient names it. Required for symptoms.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lay: Vec<String>,
    /// Exams that can reveal it (required for signs, laboratory and imaging findings).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exams: Vec<String>,
    /// For laboratory findings: the analyte id (in the exam's `analytes`) whose value shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analyte: Option<String>,
    /// For signs and imaging: the report sentence when the finding is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    /// A one- or two-sentence definition (HPO's where the id is an HPO term).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition: Option<String>,
}

/// Kind of an examination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExamKind {
    /// A physical examination manoeuvre.
    Physical,
    /// A laboratory test or panel.
    Laboratory,
    /// Imaging.
    Imaging,
    /// A procedure (ECG, endoscopy, lumbar puncture, biopsy...).
    Procedure,
}

impl ExamKind {
    /// The wire name of this kind.
    pub fn as_str(self) -> &'static str {
        match self {
            ExamKind::Physical => "physical",
            ExamKind::Laboratory => "laboratory",
            ExamKind::Imaging => "imaging",
            ExamKind::Procedure => "procedure",
        }
    }
}

/// A reference range, optionally different by sex.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Range {
    /// Lower limit of normal.
    pub low: f64,
    /// Upper limit of normal.
    pub high: f64,
}

/// One measured quantity of a laboratory exam.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Analyte {
    /// Id unique within the exam, e.g. "hemoglobin".
    pub id: String,
    /// Display name.
    pub name: String,
    /// LOINC code where one exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loinc: Option<String>,
    /// Unit of the value, e.g. "g/dL".
    pub unit: String,
    /// Reference range (for both sexes unless `female` is given).
    pub range: Range,
    /// Reference range for female patients, where it differs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub female: Option<Range>,
    /// Decimal places to report.
    #[serde(default)]
    pub decimals: u8,
}

impl Analyte {
    /// The reference range that applies to a patient of this sex.
    pub fn range_for(&self, sex: Sex) -> Range {
        match (sex, self.female) {
            (Sex::Female, Some(r)) => r,
            _ => self.range,
        }
    }
}

/// An orderable examination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Exam {
    /// Stable id, e.g. "cbc".
    pub id: String,
    /// Display name.
    pub name: String,
    /// Kind of exam.
    pub kind: ExamKind,
    /// Price in USD.
    pub cost_usd: f64,
    /// Discomfort 0 (none) to 3 (severe).
    pub discomfort: u8,
    /// Typical time to result in minutes.
    pub minutes: u32,
    /// What it measures or looks for.
    pub description: String,
    /// Report text when nothing abnormal is found (for exams without analytes).
    pub normal: String,
    /// Measured quantities (laboratory exams).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub analytes: Vec<Analyte>,
    /// Where the price comes from.
    pub cost_source: String,
}

/// Patient sex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// Female.
    Female,
    /// Male.
    Male,
}

impl Sex {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Female => "female",
            Sex::Male => "male",
        }
    }
}

/// Where the patient is seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Setting {
    /// Emergency department.
    Emergency,
    /// Outpatient clinic.
    Clinic,
    /// Hospital ward.
    Ward,
}

impl Setting {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Setting::Emergency => "emergency department",
            Setting::Clinic => "clinic",
            Setting::Ward => "ward",
        }
    }
}

/// How bad a symptom is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Mild.
    Mild,
    /// Moderate.
    Moderate,
    /// Severe.
    Severe,
}

impl Severity {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Mild => "mild",
            Severity::Moderate => "moderate",
            Severity::Severe => "severe",
        }
    }
}

/// One finding of a disease profile, with what a sampled case draws for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiseaseFinding {
    /// Finding id.
    pub finding: String,
    /// Approximate share of patients with the finding, in (0, 1].
    pub frequency: f64,
    /// Typical onsets in the patient's words ("two days ago"); a case draws one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub onset: Vec<String>,
    /// Typical severity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// Typical site ("chest", "right lower abdomen").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// A typical detail in the patient's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// For laboratory findings: the range a case's value is drawn from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Range>,
}

/// Who gets a disease.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Demographics {
    /// Youngest typical age in years.
    pub age_min: u32,
    /// Oldest typical age in years.
    pub age_max: u32,
    /// Share of patients who are female, in [0, 1].
    pub female_share: f64,
    /// Where such patients are usually seen.
    pub settings: Vec<Setting>,
}

/// A disease: the hidden truth of a case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Disease {
    /// Stable id, a snake_case slug or "ORPHA:n"/"OMIM:n".
    pub id: String,
    /// Preferred name.
    pub name: String,
    /// ICD-10-CM code, e.g. "I21.9"; absent for rare diseases without a mapping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icd10: Option<String>,
    /// Clinical domain (from the manifest).
    pub domain: String,
    /// Other names clinicians use ("heart attack", "MI").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub synonyms: Vec<String>,
    /// Cross-references to other vocabularies ("ORPHA:558", "OMIM:154700").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub xrefs: Vec<String>,
    /// Typical findings with approximate frequencies.
    pub findings: Vec<DiseaseFinding>,
    /// Who gets it, for sampling cases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub demographics: Option<Demographics>,
    /// The clinical source the profile follows (guideline, textbook chapter, or HPO annotation).
    pub source: String,
}

/// One present finding of a case, with the details a patient or report gives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseFinding {
    /// Finding id.
    pub finding: String,
    /// When it started, in the patient's words ("three days ago").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onset: Option<String>,
    /// How bad it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// Where it is ("chest", "left calf").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// A detail in the patient's words ("it spreads to my left arm").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// For laboratory findings: the measured value in the analyte's unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

/// A patient case: one task an episode can be played on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Stable task id.
    pub id: String,
    /// Disease id (the hidden diagnosis).
    pub disease: String,
    /// Split (from the manifest).
    pub split: String,
    /// Difficulty 1 (easy) to 3 (hard).
    pub difficulty: u8,
    /// Age in years.
    pub age: u32,
    /// Sex.
    pub sex: Sex,
    /// Care setting.
    pub setting: Setting,
    /// The presenting complaint in the patient's words.
    pub complaint: String,
    /// Findings present, each revealable by some action.
    pub findings: Vec<CaseFinding>,
    /// Pertinent negatives: finding ids the patient or exams will deny.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub negatives: Vec<String>,
}

/// Authored vocabulary of question understanding (`knowledge/lexicon.json`): how the words of a
/// question meet the words of a finding's phrases. Applied to both sides of every comparison.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LexiconTable {
    /// Words that carry no clinical meaning and are dropped before matching ("have", "any").
    pub stop: Vec<String>,
    /// British → American spellings, as replacements inside a lower-case word ("oea" → "ea"
    /// for "dyspnoea"), on top of the ones disease names use.
    pub spellings: std::collections::BTreeMap<String, String>,
    /// Lay word or phrase → canonical word or phrase ("tummy" → "abdomen", "throw up" →
    /// "vomit"). Matched on stemmed words, longest first; an empty canonical form deletes.
    pub synonyms: std::collections::BTreeMap<String, String>,
    /// Extra lay phrasings of findings, by finding id, for questions generic rules cannot reach
    /// ("food gets stuck" for dysphagia).
    pub phrases: std::collections::BTreeMap<String, Vec<String>>,
    /// Medical words a patient of low health literacy does not know ("dyspnoea", "syncope").
    pub jargon: Vec<String>,
    /// Words marking topics some patients are reluctant to discuss (bladder, bowels, sex, mood,
    /// alcohol and drugs).
    pub sensitive: Vec<String>,
    /// Phrases that make a question about someone else ("family history", "runs in the
    /// family"): such a question names none of the patient's findings.
    pub elsewhere: Vec<String>,
}

/// Authored tables of the patient and examiner noise model (`knowledge/noise.json`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NoiseTables {
    /// Body part → anatomically adjacent parts a patient or a report may name instead
    /// (`body_part_swap`: "chest" → "upper abdomen", "shoulder", "back").
    pub adjacent: std::collections::BTreeMap<String, Vec<String>>,
    /// Finding id → findings a patient may mistake it for (`symptom_confusion`: nausea →
    /// dizziness, fever → chills).
    pub confusions: std::collections::BTreeMap<String, Vec<String>>,
    /// Descriptor → descriptors a patient may use instead (`symptom_confusion` of a detail:
    /// "burning" → "stabbing", "tingling").
    pub descriptors: std::collections::BTreeMap<String, Vec<String>>,
}

/// The format tag of `knowledge/paraphrase.json`.
pub const PARAPHRASE_FORMAT: &str = "medgym-paraphrase-1";

/// A static sentence model the patient reads questions with when the lexicon's phrases miss a
/// paraphrase (`knowledge/paraphrase.json`, built by `tools/paraphrase/build.py`, distilled from
/// all-MiniLM-L6-v2). A text is the normalised sum of its WordPiece tokens' vectors; a softmax
/// over `SCALE ×` that vector names a finding or none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParaphraseTable {
    /// Always [`PARAPHRASE_FORMAT`].
    pub format: String,
    /// The model distilled, with the package it came from.
    pub teacher: String,
    /// Licence of the teacher's weights and vocabulary, which this file derives from.
    pub licence: String,
    /// Development sets left out of training (for a leave-one-out measurement).
    #[serde(default)]
    pub held_out: Vec<String>,
    /// Length of a token vector.
    pub dim: usize,
    /// Factor on the normalised text vector before the classifier.
    pub scale: f32,
    /// Thresholds of the rule combining the model with the lexicon.
    pub rule: ParaphraseRule,
    /// WordPiece vocabulary (uncased BERT), in id order; continuations start with "##".
    pub vocab: Vec<String>,
    /// Per token: the factor that turns its int8 vector into floats.
    pub token_scales: Vec<f32>,
    /// Per token, `dim` int8 components, row after row (base64 in the file).
    #[serde(with = "base64_i8")]
    #[schemars(with = "String")]
    pub vectors: Vec<i8>,
    /// The classifier's classes: finding ids, and one `null` for "no finding".
    pub classes: Vec<Option<String>>,
    /// Per class, `dim` weights.
    pub weights: Vec<Vec<f32>>,
    /// Per class, the bias.
    pub bias: Vec<f32>,
}

/// When the model's reading of a question overrides the lexicon's (probabilities).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParaphraseRule {
    /// A question the lexicon names nothing in is about the model's top finding when it has at
    /// least this probability.
    pub name: f32,
    /// A question the lexicon reads as one finding is about the model's top class instead when
    /// that class has at least this probability …
    pub replace: f32,
    /// … and the lexicon's finding less than this fraction of it.
    pub ratio: f32,
    /// A question the lexicon reads as several findings drops one of them when the model's top
    /// class is another of them and this one has less than this fraction of its probability
    /// ("lost strength in your arm and leg on the same side" is hemiparesis, not generalized
    /// weakness too). 0: never.
    #[serde(default)]
    pub prune: f32,
}

mod base64_i8 {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[i8], s: S) -> Result<S::Ok, S::Error> {
        let bytes: Vec<u8> = v.iter().map(|&x| x as u8).collect();
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i8>, D::Error> {
        let text = String::deserialize(d)?;
        let bytes = STANDARD.decode(text).map_err(serde::de::Error::custom)?;
        Ok(bytes.into_iter().map(|b| b as i8).collect())
    }
}
