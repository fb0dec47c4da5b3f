//! Loading, indexing and validating a knowledge set.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::sync::OnceLock;

use serde::de::DeserializeOwned;

use crate::model::{
    Case, Disease, Exam, Finding, FindingKind, LexiconTable, Manifest, NoiseTables,
    PARAPHRASE_FORMAT, ParaphraseTable,
};
use crate::{ClinicError, icd, text};

/// Index of a finding in [`Knowledge::findings`].
pub type FindingIdx = u32;
/// Index of an exam in [`Knowledge::exams`].
pub type ExamIdx = u32;
/// Index of a case (task) in [`Knowledge::cases`].
pub type TaskIdx = u32;

/// The files of a knowledge set, in load order.
pub const FILES: [&str; 5] = [
    "manifest.json",
    "findings.json",
    "exams.json",
    "diseases.json",
    "cases.json",
];

/// Optional files of a knowledge set: authored tables of the patient simulator. A directory
/// without them loads with empty tables.
pub const OPTIONAL_FILES: [&str; 3] = ["lexicon.json", "noise.json", "paraphrase.json"];

/// What a diagnosis names.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution<'k> {
    /// The disease of the knowledge set it names, if any.
    pub disease: Option<&'k Disease>,
    /// Its ICD-10-CM code, if known.
    pub code: Option<String>,
}

/// One inconsistency in a knowledge set, naming the file and record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// File name, e.g. "cases.json".
    pub file: &'static str,
    /// Record id.
    pub record: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]: {}", self.file, self.record, self.message)
    }
}

/// An immutable, validated and indexed knowledge set shared by all episodes.
#[derive(Debug)]
pub struct Knowledge {
    /// Version and vocabularies.
    pub manifest: Manifest,
    /// All findings.
    pub findings: Vec<Finding>,
    /// The exam catalog.
    pub exams: Vec<Exam>,
    /// All diseases.
    pub diseases: Vec<Disease>,
    /// All cases; a case's index is its [`TaskIdx`].
    pub cases: Vec<Case>,
    /// Vocabulary of question understanding (`lexicon.json`; empty when the file is absent).
    pub lexicon: LexiconTable,
    /// Tables of the noise model (`noise.json`; empty when the file is absent).
    pub noise: NoiseTables,
    /// The patient's paraphrase model (`paraphrase.json`; none when the file is absent).
    /// Shared, so that the patient's reader uses its 3 MB of vectors where they are.
    pub paraphrase: Option<std::sync::Arc<ParaphraseTable>>,
    finding_by_id: HashMap<String, FindingIdx>,
    exam_by_id: HashMap<String, ExamIdx>,
    disease_by_id: HashMap<String, u32>,
    task_by_id: HashMap<String, TaskIdx>,
    /// Normalised disease names, synonyms and codes → disease index.
    disease_by_name: HashMap<String, u32>,
    /// (domain, split) → tasks, with "" standing for any; sampled resets look here.
    tasks_by: HashMap<(String, String), Vec<TaskIdx>>,
    /// Per case, resolved once at load so that a step never hashes an id: its findings in
    /// `case.findings` order, its pertinent negatives, its disease.
    case_idx: Vec<CaseIdx>,
    /// Normalised names, filled on first use (see [`Knowledge::normalized_disease_names`]).
    normalized: NormalizedNames,
}

/// Normalised names of diseases and findings, each computed the first time it is asked for
/// and then kept: a patient checks every finding it names against its disease's names (which
/// it must not say), and normalising them again in every episode was a third of an answer's
/// cost. Lazily, because most of the 8,208 diseases never come up in a run and normalising
/// all of them at load would slow every start. A pure function of the records, so a value
/// is the same whichever episode (or thread) computes it first.
#[derive(Debug, Default)]
struct NormalizedNames {
    /// Per disease: its name, then each synonym, in record order.
    diseases: Box<[OnceLock<Box<[Words]>>]>,
    /// Per finding: its name, then its first lay phrase (the name again when it has none).
    findings: Box<[OnceLock<[Vec<String>; 2]>]>,
}

/// A name's normalised words.
type Words = Vec<String>;

impl NormalizedNames {
    fn new(diseases: usize, findings: usize) -> Self {
        NormalizedNames {
            diseases: (0..diseases).map(|_| OnceLock::new()).collect(),
            findings: (0..findings).map(|_| OnceLock::new()).collect(),
        }
    }
}

/// A case's references as indices.
#[derive(Debug, Clone, Default)]
struct CaseIdx {
    /// Parallel to `case.findings` (`FindingIdx::MAX` for an unknown id, which validation
    /// rejects).
    findings: Box<[FindingIdx]>,
    negatives: Box<[FindingIdx]>,
    disease: u32,
}

macro_rules! embedded {
    ($($file:literal),*) => {
        [$(($file, include_str!(concat!("../../../knowledge/", $file)))),*]
    };
}

impl Knowledge {
    /// The knowledge set compiled into the binary (the committed `knowledge/` directory).
    pub fn embedded() -> Result<Self, ClinicError> {
        let files = embedded!(
            "manifest.json",
            "findings.json",
            "exams.json",
            "diseases.json",
            "cases.json",
            "lexicon.json",
            "noise.json",
            "paraphrase.json"
        );
        Self::from_sources(|name| {
            Ok(files
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, s)| (*s).to_string()))
        })
    }

    /// Loads a knowledge directory holding the files of [`FILES`] (and, where present, those
    /// of [`OPTIONAL_FILES`]).
    pub fn load_dir(dir: &Path) -> Result<Self, ClinicError> {
        Self::from_sources(|name| {
            let path = dir.join(name);
            match std::fs::read_to_string(&path) {
                Ok(text) => Ok(Some(text)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(ClinicError::Io { path, source }),
            }
        })
    }

    /// Reads every file through `read` (`None`: the file does not exist).
    fn from_sources(
        mut read: impl FnMut(&'static str) -> Result<Option<String>, ClinicError>,
    ) -> Result<Self, ClinicError> {
        fn parse<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, ClinicError> {
            serde_json::from_str(text).map_err(|source| ClinicError::Parse {
                file: file.to_string(),
                source,
            })
        }
        let mut required = |name: &'static str| -> Result<String, ClinicError> {
            read(name)?.ok_or_else(|| ClinicError::Io {
                path: name.into(),
                source: std::io::ErrorKind::NotFound.into(),
            })
        };
        let [m, f, e, d, c] = FILES;
        let knowledge = Self::new(
            parse(m, &required(m)?)?,
            parse(f, &required(f)?)?,
            parse(e, &required(e)?)?,
            parse(d, &required(d)?)?,
            parse(c, &required(c)?)?,
        )?;
        let [l, n, p] = OPTIONAL_FILES;
        let lexicon = match read(l)? {
            Some(text) => parse(l, &text)?,
            None => LexiconTable::default(),
        };
        let noise = match read(n)? {
            Some(text) => parse(n, &text)?,
            None => NoiseTables::default(),
        };
        let knowledge = knowledge.with_tables(lexicon, noise)?;
        match read(p)? {
            Some(text) => knowledge.with_paraphrase(parse(p, &text)?),
            None => Ok(knowledge),
        }
    }

    /// Adds the patient's paraphrase model, checking its shape and that every class it names
    /// is a finding.
    pub fn with_paraphrase(mut self, table: ParaphraseTable) -> Result<Self, ClinicError> {
        let mut problems = Vec::new();
        let mut problem = |record: &str, message: String| {
            problems.push(Problem {
                file: "paraphrase.json",
                record: record.to_string(),
                message,
            });
        };
        if table.format != PARAPHRASE_FORMAT {
            problem(
                "format",
                format!("is {:?}, expected {PARAPHRASE_FORMAT:?}", table.format),
            );
        }
        let (dim, tokens) = (table.dim, table.vocab.len());
        if dim == 0 || table.vectors.len() != tokens * dim {
            problem(
                "vectors",
                format!(
                    "{} components for {tokens} tokens of dimension {dim}",
                    table.vectors.len()
                ),
            );
        }
        if table.token_scales.len() != tokens {
            problem(
                "token_scales",
                format!("{} scales for {tokens} tokens", table.token_scales.len()),
            );
        }
        if !table.vocab.iter().any(|t| t == "[UNK]") {
            problem("vocab", "has no [UNK] token".into());
        }
        let classes = table.classes.len();
        if table.classes.iter().filter(|c| c.is_none()).count() != 1 {
            problem("classes", "need exactly one null (no finding)".into());
        }
        for id in table.classes.iter().flatten() {
            if self.finding_idx(id).is_none() {
                problem(id, "class of an unknown finding".into());
            }
        }
        if table.bias.len() != classes
            || table.weights.len() != classes
            || table.weights.iter().any(|w| w.len() != dim)
        {
            problem(
                "weights",
                format!("need {classes} rows of {dim} weights and {classes} biases"),
            );
        }
        let finite = table.token_scales.iter().all(|x| x.is_finite())
            && table.bias.iter().all(|x| x.is_finite())
            && table.weights.iter().flatten().all(|x| x.is_finite())
            && table.scale.is_finite();
        if !finite {
            problem("weights", "a number is not finite".into());
        }
        let rule = table.rule;
        if ![rule.name, rule.replace, rule.ratio]
            .iter()
            .all(|p| (0.0..=1.0).contains(p))
        {
            problem("rule", format!("thresholds must lie in [0, 1]: {rule:?}"));
        }
        if !problems.is_empty() {
            return Err(ClinicError::Invalid(problems));
        }
        self.paraphrase = Some(std::sync::Arc::new(table));
        Ok(self)
    }

    /// Adds the patient simulator's authored tables, checking that every finding they name
    /// exists.
    pub fn with_tables(
        mut self,
        lexicon: LexiconTable,
        noise: NoiseTables,
    ) -> Result<Self, ClinicError> {
        let mut problems = Vec::new();
        for id in lexicon.phrases.keys() {
            if self.finding_idx(id).is_none() {
                problems.push(Problem {
                    file: "lexicon.json",
                    record: id.clone(),
                    message: "phrases of an unknown finding".into(),
                });
            }
        }
        for (id, others) in &noise.confusions {
            for x in std::iter::once(id).chain(others) {
                if self.finding_idx(x).is_none() {
                    problems.push(Problem {
                        file: "noise.json",
                        record: id.clone(),
                        message: format!("confusion names an unknown finding {x:?}"),
                    });
                }
            }
        }
        if !problems.is_empty() {
            return Err(ClinicError::Invalid(problems));
        }
        self.lexicon = lexicon;
        self.noise = noise;
        Ok(self)
    }

    /// Indexes and validates parsed records.
    pub fn new(
        manifest: Manifest,
        findings: Vec<Finding>,
        exams: Vec<Exam>,
        diseases: Vec<Disease>,
        cases: Vec<Case>,
    ) -> Result<Self, ClinicError> {
        let mut problems = Vec::new();
        let finding_by_id = index("findings.json", &findings, |f| &f.id, &mut problems);
        let exam_by_id = index("exams.json", &exams, |e| &e.id, &mut problems);
        let disease_by_id = index("diseases.json", &diseases, |d| &d.id, &mut problems);
        let task_by_id = index("cases.json", &cases, |c| &c.id, &mut problems);

        let mut disease_by_name = HashMap::new();
        for (i, d) in diseases.iter().enumerate() {
            // The id too: rare diseases are named "OMIM:…"/"ORPHA:…", which agents may answer.
            let names = std::iter::once(&d.name)
                .chain(std::iter::once(&d.id))
                .chain(&d.synonyms)
                .chain(d.icd10.as_ref())
                .chain(&d.xrefs);
            for name in names {
                let key = text::normalize_joined(name);
                if let Some(&other) = disease_by_name.get(&key)
                    && other != i as u32
                {
                    problems.push(Problem {
                        file: "diseases.json",
                        record: d.id.clone(),
                        message: format!(
                            "name {name:?} also names disease {}",
                            diseases[other as usize].id
                        ),
                    });
                }
                disease_by_name.insert(key, i as u32);
            }
        }

        let knowledge = Knowledge {
            manifest,
            findings,
            exams,
            diseases,
            cases,
            lexicon: LexiconTable::default(),
            noise: NoiseTables::default(),
            paraphrase: None,
            finding_by_id,
            exam_by_id,
            disease_by_id,
            task_by_id,
            disease_by_name,
            tasks_by: HashMap::new(),
            case_idx: Vec::new(),
            normalized: NormalizedNames::default(),
        };
        let mut knowledge = knowledge;
        let mut tasks_by: HashMap<(String, String), Vec<TaskIdx>> = HashMap::new();
        for (t, c) in knowledge.cases.iter().enumerate() {
            let domain = knowledge
                .disease_by_id
                .get(&c.disease)
                .map_or("", |&d| knowledge.diseases[d as usize].domain.as_str());
            for key in [
                (domain, c.split.as_str()),
                (domain, ""),
                ("", c.split.as_str()),
                ("", ""),
            ] {
                tasks_by
                    .entry((key.0.to_string(), key.1.to_string()))
                    .or_default()
                    .push(t as TaskIdx);
            }
        }
        knowledge.tasks_by = tasks_by;
        knowledge.normalized =
            NormalizedNames::new(knowledge.diseases.len(), knowledge.findings.len());
        knowledge.case_idx = knowledge
            .cases
            .iter()
            .map(|c| CaseIdx {
                findings: c
                    .findings
                    .iter()
                    .map(|cf| {
                        knowledge
                            .finding_idx(&cf.finding)
                            .unwrap_or(FindingIdx::MAX)
                    })
                    .collect(),
                negatives: c
                    .negatives
                    .iter()
                    .filter_map(|n| knowledge.finding_idx(n))
                    .collect(),
                disease: knowledge.disease_idx(&c.disease).unwrap_or(u32::MAX),
            })
            .collect();
        problems.extend(knowledge.check());
        if problems.is_empty() {
            Ok(knowledge)
        } else {
            Err(ClinicError::Invalid(problems))
        }
    }

    /// Finding by id.
    pub fn finding_idx(&self, id: &str) -> Option<FindingIdx> {
        self.finding_by_id.get(id).copied()
    }

    /// Finding by index.
    pub fn finding(&self, idx: FindingIdx) -> &Finding {
        &self.findings[idx as usize]
    }

    /// Exam by id.
    pub fn exam_idx(&self, id: &str) -> Option<ExamIdx> {
        self.exam_by_id.get(id).copied()
    }

    /// Exam by index.
    pub fn exam(&self, idx: ExamIdx) -> &Exam {
        &self.exams[idx as usize]
    }

    /// Task by id.
    pub fn task_idx(&self, id: &str) -> Option<TaskIdx> {
        self.task_by_id.get(id).copied()
    }

    /// The case of a task.
    pub fn case(&self, idx: TaskIdx) -> &Case {
        &self.cases[idx as usize]
    }

    /// The disease of a case.
    pub fn disease_of(&self, case: &Case) -> &Disease {
        // Validated at load: every case names a known disease.
        &self.diseases[self.disease_by_id[&case.disease] as usize]
    }

    /// The domain of a task.
    pub fn domain_of(&self, idx: TaskIdx) -> &str {
        &self.task_disease(idx).domain
    }

    /// The findings of a task's case as indices, parallel to `case.findings`.
    pub fn case_findings(&self, idx: TaskIdx) -> &[FindingIdx] {
        &self.case_idx[idx as usize].findings
    }

    /// The pertinent negatives of a task's case as indices.
    pub fn case_negatives(&self, idx: TaskIdx) -> &[FindingIdx] {
        &self.case_idx[idx as usize].negatives
    }

    /// The index of a task's disease.
    pub fn task_disease_idx(&self, idx: TaskIdx) -> u32 {
        self.case_idx[idx as usize].disease
    }

    /// The disease of a task, without looking its id up.
    pub fn task_disease(&self, idx: TaskIdx) -> &Disease {
        // Validated at load: every case names a known disease.
        &self.diseases[self.task_disease_idx(idx) as usize]
    }

    /// A disease's name and then each of its synonyms (in record order), each through
    /// [`text::normalize`]; computed on first use and kept.
    pub fn normalized_disease_names(&self, disease: u32) -> &[Vec<String>] {
        self.normalized.diseases[disease as usize].get_or_init(|| {
            let d = &self.diseases[disease as usize];
            std::iter::once(&d.name)
                .chain(&d.synonyms)
                .map(|n| text::normalize(n))
                .collect()
        })
    }

    /// A finding's name (`lay = false`) or its first lay phrase, else its name (`lay =
    /// true`), through [`text::normalize`]; computed on first use and kept.
    pub fn normalized_finding_name(&self, finding: FindingIdx, lay: bool) -> &[String] {
        let [name, first_lay] = self.normalized.findings[finding as usize].get_or_init(|| {
            let f = &self.findings[finding as usize];
            let name = text::normalize(&f.name);
            let first_lay = f
                .lay
                .first()
                .map_or_else(|| name.clone(), |l| text::normalize(l));
            [name, first_lay]
        });
        if lay { first_lay } else { name }
    }

    /// Resolves a free-text disease name, synonym, ICD-10-CM code or ORPHA/OMIM id to a disease.
    pub fn resolve_disease(&self, name: &str) -> Option<&Disease> {
        self.disease_by_name
            .get(&text::normalize_joined(name))
            .map(|&i| &self.diseases[i as usize])
    }

    /// Resolves a diagnosis to a disease where possible and to an ICD-10-CM code where one is
    /// known (a disease's code, or a code-shaped answer outside the case set).
    pub fn resolve_diagnosis(&self, name: &str) -> Resolution<'_> {
        let name = name.trim();
        match self.resolve_disease(name) {
            Some(d) => Resolution {
                disease: Some(d),
                code: d.icd10.clone(),
            },
            None => {
                let upper = name.to_ascii_uppercase();
                Resolution {
                    disease: None,
                    code: icd::is_code(&upper).then_some(upper),
                }
            }
        }
    }

    /// Index of a disease by id.
    pub fn disease_idx(&self, id: &str) -> Option<u32> {
        self.disease_by_id.get(id).copied()
    }

    /// Tasks of a domain and split (empty string: any), in file order.
    pub fn tasks(&self, domain: &str, split: &str) -> &[TaskIdx] {
        self.tasks_by
            .get(&(domain.to_string(), split.to_string()))
            .map_or(&[], Vec::as_slice)
    }

    /// Consistency checks beyond what parsing guarantees.
    fn check(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut problem = |file, record: &str, message: String| {
            out.push(Problem {
                file,
                record: record.to_string(),
                message,
            })
        };
        let domains: HashSet<&str> = self.manifest.domains.iter().map(String::as_str).collect();
        let splits: HashSet<&str> = self.manifest.splits.iter().map(String::as_str).collect();

        for f in &self.findings {
            match f.kind {
                FindingKind::Symptom if f.lay.is_empty() => {
                    problem("findings.json", &f.id, "a symptom needs lay phrases".into())
                }
                FindingKind::Sign | FindingKind::Laboratory | FindingKind::Imaging
                    if f.exams.is_empty() =>
                {
                    problem(
                        "findings.json",
                        &f.id,
                        format!("a {} finding needs an exam", f.kind.as_str()),
                    )
                }
                _ => {}
            }
            for e in &f.exams {
                match self.exam_idx(e) {
                    None => problem("findings.json", &f.id, format!("unknown exam {e:?}")),
                    Some(x) => {
                        let exam = self.exam(x);
                        match (&f.analyte, f.kind) {
                            (Some(a), _) if !exam.analytes.iter().any(|an| &an.id == a) => problem(
                                "findings.json",
                                &f.id,
                                format!("exam {e:?} has no analyte {a:?}"),
                            ),
                            (None, FindingKind::Laboratory) if !exam.analytes.is_empty() => {
                                problem(
                                    "findings.json",
                                    &f.id,
                                    "a laboratory finding of an analyte panel needs `analyte`"
                                        .into(),
                                )
                            }
                            (None, FindingKind::Sign | FindingKind::Imaging)
                                if f.report.is_none() =>
                            {
                                problem("findings.json", &f.id, "needs a `report`".into())
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
        for e in &self.exams {
            if e.discomfort > 3 {
                problem("exams.json", &e.id, "discomfort must be 0..=3".into());
            }
            if !(e.cost_usd.is_finite() && e.cost_usd >= 0.0) {
                problem("exams.json", &e.id, "cost_usd must be >= 0".into());
            }
            for a in &e.analytes {
                for r in std::iter::once(a.range).chain(a.female) {
                    if r.low.partial_cmp(&r.high).is_none_or(|o| o.is_gt()) {
                        problem("exams.json", &e.id, format!("analyte {}: low > high", a.id));
                    }
                }
            }
        }
        for d in &self.diseases {
            if !domains.contains(d.domain.as_str()) {
                problem(
                    "diseases.json",
                    &d.id,
                    format!("unknown domain {:?}", d.domain),
                );
            }
            if let Some(code) = &d.icd10
                && !icd::is_code(code)
            {
                problem(
                    "diseases.json",
                    &d.id,
                    format!("{code:?} is not an ICD-10-CM code"),
                );
            }
            for df in &d.findings {
                if self.finding_idx(&df.finding).is_none() {
                    problem(
                        "diseases.json",
                        &d.id,
                        format!("unknown finding {:?}", df.finding),
                    );
                }
                if !(df.frequency > 0.0 && df.frequency <= 1.0) {
                    problem(
                        "diseases.json",
                        &d.id,
                        format!("frequency of {} outside (0, 1]", df.finding),
                    );
                }
            }
        }
        for c in &self.cases {
            if !self.disease_by_id.contains_key(&c.disease) {
                problem(
                    "cases.json",
                    &c.id,
                    format!("unknown disease {:?}", c.disease),
                );
            }
            if !splits.contains(c.split.as_str()) {
                problem("cases.json", &c.id, format!("unknown split {:?}", c.split));
            }
            if !(1..=3).contains(&c.difficulty) {
                problem("cases.json", &c.id, "difficulty must be 1..=3".into());
            }
            if c.findings.is_empty() {
                problem("cases.json", &c.id, "a case needs findings".into());
            }
            let mut seen = HashSet::new();
            for cf in &c.findings {
                if !seen.insert(cf.finding.as_str()) {
                    problem("cases.json", &c.id, format!("{} listed twice", cf.finding));
                }
                let Some(fi) = self.finding_idx(&cf.finding) else {
                    problem(
                        "cases.json",
                        &c.id,
                        format!("unknown finding {:?}", cf.finding),
                    );
                    continue;
                };
                let f = self.finding(fi);
                if f.analyte.is_some() && cf.value.is_none() {
                    problem(
                        "cases.json",
                        &c.id,
                        format!("{} is read from an analyte and needs a value", cf.finding),
                    );
                }
            }
            for n in &c.negatives {
                if self.finding_idx(n).is_none() {
                    problem("cases.json", &c.id, format!("unknown negative {n:?}"));
                }
                if seen.contains(n.as_str()) {
                    problem(
                        "cases.json",
                        &c.id,
                        format!("{n} is both present and negative"),
                    );
                }
            }
        }
        out
    }
}

fn index<T>(
    file: &'static str,
    items: &[T],
    id: impl Fn(&T) -> &String,
    problems: &mut Vec<Problem>,
) -> HashMap<String, u32> {
    let mut map = HashMap::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if map.insert(id(item).clone(), i as u32).is_some() {
            problems.push(Problem {
                file,
                record: id(item).clone(),
                message: "duplicate id".into(),
            });
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_knowledge_loads_and_is_consistent() {
        let k = Knowledge::embedded().expect("embedded knowledge is valid");
        assert!(k.cases.len() >= 12);
        let domains: HashSet<&str> = (0..k.cases.len() as u32).map(|t| k.domain_of(t)).collect();
        assert!(domains.len() >= 3, "{domains:?}");
    }

    #[test]
    fn broken_references_are_reported_with_file_and_record() {
        let k = Knowledge::embedded().expect("embedded knowledge is valid");
        let mut cases = k.cases.clone();
        cases[0].findings[0].finding = "no_such_finding".into();
        cases[1].split = "nowhere".into();
        let err = Knowledge::new(
            k.manifest.clone(),
            k.findings.clone(),
            k.exams.clone(),
            k.diseases.clone(),
            cases.clone(),
        )
        .expect_err("must fail");
        let ClinicError::Invalid(problems) = err else {
            panic!("wrong error {err}")
        };
        assert!(
            problems
                .iter()
                .any(|p| p.record == cases[0].id && p.message.contains("no_such_finding")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.record == cases[1].id && p.message.contains("nowhere"))
        );
    }

    #[test]
    fn the_simulator_tables_are_optional_and_checked() {
        let k = Knowledge::embedded().expect("embedded knowledge is valid");
        assert!(!k.lexicon.synonyms.is_empty() && !k.noise.adjacent.is_empty());
        let required = |name: &str| -> Option<String> {
            match name {
                "manifest.json" => serde_json::to_string(&k.manifest).ok(),
                "findings.json" => serde_json::to_string(&k.findings).ok(),
                "exams.json" => serde_json::to_string(&k.exams).ok(),
                "diseases.json" => serde_json::to_string(&k.diseases).ok(),
                "cases.json" => serde_json::to_string(&k.cases).ok(),
                _ => None,
            }
        };
        let bare = Knowledge::from_sources(|name| Ok(required(name))).expect("loads without them");
        assert_eq!(bare.lexicon, LexiconTable::default());
        assert_eq!(bare.noise, NoiseTables::default());
        let err = Knowledge::from_sources(|name| {
            Ok(match name {
                "lexicon.json" => Some(r#"{"phrases": {"HP:9999999": ["nothing"]}}"#.to_string()),
                "noise.json" => Some(r#"{"confusions": {"HP:0001945": ["no_such"]}}"#.to_string()),
                other => required(other),
            })
        })
        .expect_err("unknown findings");
        let ClinicError::Invalid(problems) = err else {
            panic!("wrong error {err}")
        };
        assert_eq!(problems.len(), 2, "{problems:?}");
        let typo = Knowledge::from_sources(|name| {
            Ok(match name {
                "lexicon.json" => Some(r#"{"synonym": {}}"#.to_string()),
                other => required(other),
            })
        });
        assert!(matches!(typo, Err(ClinicError::Parse { .. })));
        assert!(bare.paraphrase.is_none() && k.paraphrase.is_some());
    }

    /// A tiny paraphrase model: two tokens of dimension 2, classes fever and none.
    fn paraphrase(edit: impl FnOnce(&mut ParaphraseTable)) -> ParaphraseTable {
        let mut t = ParaphraseTable {
            format: PARAPHRASE_FORMAT.into(),
            teacher: "test".into(),
            licence: "test".into(),
            held_out: Vec::new(),
            dim: 2,
            scale: 20.0,
            rule: crate::model::ParaphraseRule {
                name: 0.5,
                replace: 0.2,
                ratio: 0.1,
                prune: 0.0,
            },
            vocab: vec!["[UNK]".into(), "fever".into()],
            token_scales: vec![0.01, 0.02],
            vectors: vec![1, -2, 127, -128],
            classes: vec![Some("HP:0001945".into()), None],
            weights: vec![vec![1.0, 0.0], vec![0.0, 1.0]],
            bias: vec![0.0, 0.0],
        };
        edit(&mut t);
        t
    }

    #[test]
    fn a_paraphrase_model_is_checked_and_round_trips_through_json() {
        let k = || Knowledge::embedded().expect("embedded knowledge is valid");
        let good = paraphrase(|_| {});
        let text = serde_json::to_string(&good).expect("serialises");
        assert!(text.contains(r#""vectors":"Af5/gA==""#), "{text}");
        let back: ParaphraseTable = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, good);
        assert!(k().with_paraphrase(good).is_ok());
        type Edit = fn(&mut ParaphraseTable);
        let broken: [(&str, Edit); 7] = [
            ("format", |t| t.format = "other".into()),
            ("vectors", |t| {
                t.vectors.pop();
            }),
            ("token_scales", |t| t.token_scales.push(1.0)),
            ("vocab", |t| t.vocab[0] = "[PAD]".into()),
            ("HP:9999999", |t| t.classes[0] = Some("HP:9999999".into())),
            ("weights", |t| t.weights[1].push(0.0)),
            ("rule", |t| t.rule.ratio = 2.0),
        ];
        for (record, edit) in broken {
            let err = k().with_paraphrase(paraphrase(edit)).expect_err(record);
            let ClinicError::Invalid(problems) = err else {
                panic!("wrong error {err}")
            };
            assert!(
                problems
                    .iter()
                    .any(|p| p.record == record && p.file == "paraphrase.json"),
                "{record}: {problems:?}"
            );
        }
        let no_none = paraphrase(|t| t.classes[1] = Some("HP:0001945".into()));
        assert!(k().with_paraphrase(no_none).is_err());
        let not_base64 = text.replace("Af5/gA==", "not base64!");
        assert!(serde_json::from_str::<ParaphraseTable>(&not_base64).is_err());
    }

    #[test]
    fn interned_case_indices_agree_with_id_lookups() {
        let k = Knowledge::embedded().expect("embedded knowledge is valid");
        for (t, c) in k.cases.iter().enumerate() {
            let t = t as TaskIdx;
            let by_id: Vec<Option<FindingIdx>> = c
                .findings
                .iter()
                .map(|cf| k.finding_idx(&cf.finding))
                .collect();
            let interned: Vec<Option<FindingIdx>> =
                k.case_findings(t).iter().map(|&f| Some(f)).collect();
            assert_eq!(interned, by_id, "{}", c.id);
            let negatives: Vec<FindingIdx> = c
                .negatives
                .iter()
                .filter_map(|n| k.finding_idx(n))
                .collect();
            assert_eq!(k.case_negatives(t), &negatives[..], "{}", c.id);
            assert_eq!(k.task_disease(t).id, k.disease_of(c).id);
        }
    }

    #[test]
    fn kept_normalised_names_are_what_normalising_gives() {
        let k = Knowledge::embedded().expect("embedded knowledge is valid");
        for (i, d) in k.diseases.iter().enumerate() {
            let fresh: Vec<Vec<String>> = std::iter::once(&d.name)
                .chain(&d.synonyms)
                .map(|n| text::normalize(n))
                .collect();
            assert_eq!(k.normalized_disease_names(i as u32), &fresh[..], "{}", d.id);
            // The second call answers from the cache.
            assert!(std::ptr::eq(
                k.normalized_disease_names(i as u32),
                k.normalized_disease_names(i as u32)
            ));
        }
        for (i, f) in k.findings.iter().enumerate() {
            let i = i as FindingIdx;
            let lay = f.lay.first().unwrap_or(&f.name);
            assert_eq!(
                k.normalized_finding_name(i, false),
                text::normalize(&f.name)
            );
            assert_eq!(k.normalized_finding_name(i, true), text::normalize(lay));
            // Patients name findings in lower case; normalising lower-cases first anyway.
            assert_eq!(
                text::normalize(&f.name.to_lowercase()),
                text::normalize(&f.name),
                "{}",
                f.id
            );
            assert_eq!(
                text::normalize(&lay.to_lowercase()),
                text::normalize(lay),
                "{}",
                f.id
            );
        }
    }

    #[test]
    fn disease_names_resolve_through_synonyms_and_codes() {
        let k = Knowledge::embedded().expect("embedded knowledge is valid");
        for d in &k.diseases {
            assert_eq!(k.resolve_disease(&d.name).map(|x| &x.id), Some(&d.id));
            if let Some(code) = &d.icd10 {
                assert_eq!(k.resolve_disease(code).map(|x| &x.id), Some(&d.id));
            }
            for s in &d.synonyms {
                assert_eq!(
                    k.resolve_disease(&s.to_uppercase()).map(|x| &x.id),
                    Some(&d.id)
                );
            }
        }
        assert!(k.resolve_disease("definitely not a disease").is_none());
    }
}
