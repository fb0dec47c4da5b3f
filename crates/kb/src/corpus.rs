//! The corpus: passages generated from a knowledge set, the ICD-10-CM tabular list and the HPO
//! terms that are not findings.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use medgym_clinic::{Analyte, Disease, Exam, Finding, FindingKind, Knowledge, Range};
use xxhash_rust::xxh3::Xxh3;

/// Names the layout of cache directories; bump to invalidate every cached index.
const FORMAT: &str = "medgym-kb-1";

/// The code that turns sources into an index: part of every key, so a change of the passage
/// generator or the schema builds anew.
const GENERATOR: [&str; 2] = [include_str!("corpus.rs"), include_str!("index.rs")];

/// The sources, in the order the corpus holds them; a passage id starts with its source and a colon.
pub const SOURCES: [&str; 5] = ["finding", "disease", "exam", "icd10cm", "hpo"];

/// At most this many findings are listed as what an exam can show.
const MAX_EXAM_FINDINGS: usize = 40;

/// A disease profile gives each finding's name with at most this many of its other words.
const PROFILE_LAY: usize = 3;

/// One passage of the knowledge base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doc {
    /// Stable id, `<source>:<record id>`.
    pub id: String,
    /// One of [`SOURCES`].
    pub source: &'static str,
    /// Title (the record's name).
    pub title: String,
    /// The passage text.
    pub text: String,
}

/// One ICD-10-CM tabular-list entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IcdEntry {
    /// Code ("I21.9"), or a chapter ("ch09") or block ("I20-I25") id.
    pub code: String,
    /// Title ("Acute myocardial infarction, unspecified").
    pub title: String,
    /// Inclusion terms.
    pub inclusion: Vec<String>,
    /// The parent entry's code, if any.
    pub parent: Option<String>,
}

impl IcdEntry {
    /// Whether this is a diagnosis code (not a chapter or a block of categories).
    pub fn is_diagnosis(&self) -> bool {
        medgym_clinic::icd::is_code(&self.code)
    }
}

impl From<(String, String, Vec<String>)> for IcdEntry {
    fn from((code, title, inclusion): (String, String, Vec<String>)) -> Self {
        IcdEntry {
            code,
            title,
            inclusion,
            parent: None,
        }
    }
}

/// One Human Phenotype Ontology term that is not a finding of the knowledge set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HpoTerm {
    /// Term id ("HP:0000006").
    pub id: String,
    /// Term name ("Autosomal dominant inheritance").
    pub name: String,
    /// Definition, if the ontology gives one.
    pub definition: Option<String>,
    /// Exact and layperson synonyms.
    pub synonyms: Vec<String>,
    /// Names of the parent terms.
    pub parents: Vec<String>,
}

/// What a corpus is generated from: a knowledge set, ICD-10-CM entries and HPO terms. Its [`key`](Self::key)
/// names the corpus without generating it, so a warm start opens the cached index without
/// producing tens of thousands of passages first.
#[derive(Debug)]
pub struct Sources<'k> {
    knowledge: &'k Knowledge,
    icd: Vec<IcdEntry>,
    hpo: Vec<HpoTerm>,
    key: String,
}

impl<'k> Sources<'k> {
    /// The sources of a corpus.
    pub fn new(knowledge: &'k Knowledge, icd: impl IntoIterator<Item = IcdEntry>) -> Self {
        let icd: Vec<IcdEntry> = icd.into_iter().collect();
        let key = key_of(knowledge, &icd, &[]);
        Sources {
            knowledge,
            icd,
            hpo: Vec::new(),
            key,
        }
    }

    /// These sources plus HPO terms: one passage per term that is not a finding of the knowledge
    /// set (a repeated id keeps its first term).
    pub fn with_hpo(mut self, hpo: impl IntoIterator<Item = HpoTerm>) -> Self {
        self.hpo = hpo.into_iter().collect();
        self.key = key_of(self.knowledge, &self.icd, &self.hpo);
        self
    }

    /// Hex digest (xxh3-128) of every finding, disease and exam record (as JSON), every ICD-10-CM
    /// entry, every HPO term, the tantivy version and this crate's generator and schema code. Cases do not count:
    /// they are never indexed.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Generates the passages; the corpus's [`hash`](Corpus::hash) is this key.
    pub fn corpus(&self) -> Corpus {
        Corpus {
            docs: generate(self.knowledge, &self.icd, &self.hpo),
            hash: self.key.clone(),
        }
    }
}

/// Feeds what serde writes into a hasher.
struct HashWriter<'h>(&'h mut Xxh3);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn field(h: &mut Xxh3, s: &str) {
    h.update(&(s.len() as u64).to_le_bytes());
    h.update(s.as_bytes());
}

fn key_of(k: &Knowledge, icd: &[IcdEntry], hpo: &[HpoTerm]) -> String {
    let mut h = Xxh3::new();
    field(&mut h, FORMAT);
    field(&mut h, tantivy::version_string());
    for code in GENERATOR {
        field(&mut h, code);
    }
    // Serialising these records cannot fail; the separators keep the three lists apart.
    let _ = serde_json::to_writer(HashWriter(&mut h), &k.findings);
    field(&mut h, "|");
    let _ = serde_json::to_writer(HashWriter(&mut h), &k.diseases);
    field(&mut h, "|");
    let _ = serde_json::to_writer(HashWriter(&mut h), &k.exams);
    field(&mut h, "|");
    for e in icd {
        field(&mut h, &e.code);
        field(&mut h, &e.title);
        field(&mut h, e.parent.as_deref().unwrap_or(""));
        h.update(&(e.inclusion.len() as u64).to_le_bytes());
        for i in &e.inclusion {
            field(&mut h, i);
        }
    }
    field(&mut h, "|");
    for t in hpo {
        field(&mut h, &t.id);
        field(&mut h, &t.name);
        field(&mut h, t.definition.as_deref().unwrap_or(""));
        for list in [&t.synonyms, &t.parents] {
            h.update(&(list.len() as u64).to_le_bytes());
            for s in list {
                field(&mut h, s);
            }
        }
    }
    format!("{:032x}", h.digest128())
}

/// The passages of a knowledge base and the key of their cache directory.
#[derive(Debug, Clone)]
pub struct Corpus {
    docs: Vec<Doc>,
    hash: String,
}

impl Corpus {
    /// The passages of a knowledge set, without ICD-10-CM entries.
    pub fn from_knowledge(k: &Knowledge) -> Self {
        Self::build(k, Vec::new())
    }

    /// The passages of a knowledge set plus one per ICD-10-CM entry of `icd`: a diagnosis code
    /// with its hierarchy, or a chapter or block with what it holds (a repeated code keeps its
    /// first entry). Same as `Sources::new(k, icd).corpus()`.
    pub fn build(k: &Knowledge, icd: impl IntoIterator<Item = IcdEntry>) -> Self {
        Sources::new(k, icd).corpus()
    }

    /// A corpus of given passages (tests and benches); its hash covers every passage.
    pub fn from_docs(docs: Vec<Doc>) -> Self {
        let hash = hash_docs(&docs);
        Corpus { docs, hash }
    }

    /// The passages, in index order.
    pub fn docs(&self) -> &[Doc] {
        &self.docs
    }

    /// Number of passages.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// Whether there are no passages.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// Names the corpus (and its cache directory): the [`Sources::key`] it was generated from, or
    /// for [`Corpus::from_docs`] a hex digest (xxh3-128) of every passage.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// Number of passages of a source.
    pub fn count(&self, source: &str) -> usize {
        self.docs.iter().filter(|d| d.source == source).count()
    }
}

fn generate(k: &Knowledge, icd: &[IcdEntry], hpo: &[HpoTerm]) -> Vec<Doc> {
    let mut docs = Vec::with_capacity(
        k.findings.len() + k.diseases.len() + k.exams.len() + icd.len() + hpo.len(),
    );
    let exams_of_finding = |f: &Finding| -> Vec<&Exam> {
        f.exams
            .iter()
            .filter_map(|e| k.exam_idx(e).map(|i| k.exam(i)))
            .collect()
    };
    let mut shown_by: HashMap<&str, Vec<&str>> = HashMap::new();
    for f in &k.findings {
        docs.push(finding_doc(f, &exams_of_finding(f)));
        for e in &f.exams {
            shown_by.entry(e).or_default().push(&f.name);
        }
    }
    for d in &k.diseases {
        docs.push(disease_doc(d, k));
    }
    for e in &k.exams {
        let shows = shown_by.get(e.id.as_str()).map_or(&[][..], Vec::as_slice);
        docs.push(exam_doc(e, shows));
    }
    if !icd.is_empty() {
        let by_code: HashMap<&str, &IcdEntry> =
            icd.iter().rev().map(|e| (e.code.as_str(), e)).collect();
        let profiles: HashMap<&str, &Disease> = k
            .diseases
            .iter()
            .filter_map(|d| d.icd10.as_deref().map(|c| (c, d)))
            .collect();
        let mut children: HashMap<&str, Vec<&IcdEntry>> = HashMap::new();
        let mut seen = HashSet::new();
        for e in icd {
            if let Some(p) = e.parent.as_deref().filter(|p| !p.is_empty())
                && seen.insert(e.code.as_str())
            {
                children.entry(p).or_default().push(e);
            }
        }
        let mut seen = HashSet::new();
        for e in icd {
            if !seen.insert(e.code.as_str()) {
                continue;
            }
            if e.is_diagnosis() {
                docs.push(icd_doc(e, &by_code, profiles.get(e.code.as_str()).copied()));
            } else {
                let under = children.get(e.code.as_str()).map_or(&[][..], Vec::as_slice);
                docs.push(icd_group_doc(e, &by_code, under));
            }
        }
    }
    let mut seen = HashSet::new();
    for t in hpo {
        if k.finding_idx(&t.id).is_none() && seen.insert(t.id.as_str()) {
            docs.push(hpo_doc(t));
        }
    }
    docs
}

fn hash_docs(docs: &[Doc]) -> String {
    let mut h = Xxh3::new();
    field(&mut h, FORMAT);
    for d in docs {
        field(&mut h, &d.id);
        field(&mut h, d.source);
        field(&mut h, &d.title);
        field(&mut h, &d.text);
    }
    format!("{:032x}", h.digest128())
}

fn finding_doc(f: &Finding, exams: &[&Exam]) -> Doc {
    let mut t = String::new();
    let what = match f.kind {
        FindingKind::Symptom => "a symptom, reported by the patient when asked",
        FindingKind::Sign => "a sign, found on examination",
        FindingKind::Laboratory => "a laboratory finding",
        FindingKind::Imaging => "an imaging or procedure finding",
    };
    let _ = write!(t, "{} ({}) is {what}.", f.name, f.id);
    let lay: Vec<&str> = f
        .lay
        .iter()
        .map(String::as_str)
        .filter(|l| !l.eq_ignore_ascii_case(&f.name))
        .collect();
    if !lay.is_empty() {
        let _ = write!(t, " Also described as: {}.", lay.join(", "));
    }
    if let Some(def) = &f.definition {
        let _ = write!(t, " Definition: {}", sentence(def));
    }
    if !exams.is_empty() {
        let names = exams
            .iter()
            .map(|e| format!("{} ({})", e.name, e.id))
            .collect::<Vec<_>>()
            .join(", ");
        match f.analyte.as_deref().and_then(|a| analyte_of(exams, a)) {
            Some(a) => {
                let _ = write!(
                    t,
                    " Shown by the {} value ({} {}) of: {names}.",
                    a.name,
                    range_text(a.range, a.decimals),
                    a.unit
                );
            }
            None => {
                let _ = write!(t, " Shown by: {names}.");
            }
        }
    } else if f.kind == FindingKind::Symptom {
        t.push_str(" Found by asking the patient.");
    }
    if let Some(report) = &f.report {
        let _ = write!(t, " Typical report: {}", sentence(report));
    }
    Doc {
        id: format!("finding:{}", f.id),
        source: "finding",
        title: f.name.clone(),
        text: t,
    }
}

fn analyte_of<'e>(exams: &[&'e Exam], id: &str) -> Option<&'e Analyte> {
    exams
        .iter()
        .flat_map(|e| e.analytes.iter())
        .find(|a| a.id == id)
}

/// HPO's frequency bands, in words.
const BANDS: [(f64, &str); 5] = [
    (0.995, "Always present"),
    (0.8, "Very frequent (80-99% of patients)"),
    (0.3, "Frequent (30-79%)"),
    (0.05, "Occasional (5-29%)"),
    (0.0, "Rare (under 5%)"),
];

fn disease_doc(d: &Disease, k: &Knowledge) -> Doc {
    let mut t = String::new();
    let _ = write!(t, "{}", d.name);
    if let Some(code) = &d.icd10 {
        let _ = write!(t, " (ICD-10-CM {code})");
    }
    let _ = write!(t, ", {}.", d.domain.replace('_', " "));
    if !d.synonyms.is_empty() {
        let _ = write!(t, " Also known as: {}.", d.synonyms.join(", "));
    }
    if !d.xrefs.is_empty() {
        let _ = write!(t, " Cross-references: {}.", d.xrefs.join(", "));
    }

    // Findings by frequency band, most frequent first within a band.
    let mut findings: Vec<(&Finding, f64, String)> = d
        .findings
        .iter()
        .filter_map(|df| {
            let f = k.finding(k.finding_idx(&df.finding)?);
            let mut notes: Vec<String> = f
                .lay
                .iter()
                .filter(|l| !l.eq_ignore_ascii_case(&f.name))
                .take(PROFILE_LAY)
                .cloned()
                .collect();
            if let Some(s) = df.severity {
                notes.push(s.as_str().to_string());
            }
            if let Some(site) = &df.site {
                notes.push(site.clone());
            }
            // A report adds words only when it does more than repeat the finding's name
            // ("Stiff neck noted on examination").
            if let Some(report) = f
                .report
                .as_deref()
                .filter(|r| !r.to_lowercase().contains(&f.name.to_lowercase()))
            {
                notes.push(format!(
                    "reported as: {}",
                    report.trim().trim_end_matches('.')
                ));
            }
            let label = if notes.is_empty() {
                f.name.clone()
            } else {
                format!("{} ({})", f.name, notes.join("; "))
            };
            Some((f, df.frequency, label))
        })
        .collect();
    findings.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut rest = findings.as_slice();
    for (low, band) in BANDS {
        let n = rest.iter().take_while(|(_, p, _)| *p >= low).count();
        let (here, later) = rest.split_at(n);
        rest = later;
        if !here.is_empty() {
            let list = here
                .iter()
                .map(|(_, _, l)| l.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let _ = write!(t, " {band}: {list}.");
        }
    }

    // Onset, as patients put it (distinct phrases of its symptoms).
    let mut onsets: Vec<&str> = Vec::new();
    for df in &d.findings {
        for o in &df.onset {
            if !onsets.contains(&o.as_str()) && onsets.len() < 4 {
                onsets.push(o);
            }
        }
    }
    if !onsets.is_empty() {
        let _ = write!(t, " Typical onset: {}.", onsets.join("; "));
    }

    // The exams that show its findings, the most frequent finding first, cheaper first on ties.
    let mut exams: Vec<(&Exam, f64, Vec<&str>)> = Vec::new();
    for (f, p, _) in &findings {
        if f.kind == FindingKind::Symptom {
            continue;
        }
        for e in f
            .exams
            .iter()
            .filter_map(|e| k.exam_idx(e).map(|i| k.exam(i)))
        {
            match exams.iter_mut().find(|(x, _, _)| x.id == e.id) {
                Some((_, best, names)) => {
                    *best = best.max(*p);
                    names.push(&f.name);
                }
                None => exams.push((e, *p, vec![&f.name])),
            }
        }
    }
    exams.sort_by(|a, b| {
        b.1.total_cmp(&a.1)
            .then(a.0.cost_usd.total_cmp(&b.0.cost_usd))
    });
    if !exams.is_empty() {
        let list = exams
            .iter()
            .map(|(e, _, names)| format!("{} ({}) shows {}", e.name, e.id, names.join(", ")))
            .collect::<Vec<_>>()
            .join("; ");
        let _ = write!(t, " Confirmed by: {list}.");
    }

    if let Some(dem) = &d.demographics {
        let settings = dem
            .settings
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let _ = write!(
            t,
            " Typical patients: aged {} to {}, {:.0}% female; seen in: {settings}.",
            dem.age_min,
            dem.age_max,
            dem.female_share * 100.0
        );
    }
    let _ = write!(t, " Profile source: {}", sentence(&d.source));
    Doc {
        id: format!("disease:{}", d.id),
        source: "disease",
        title: d.name.clone(),
        text: t,
    }
}

fn exam_doc(e: &Exam, shows: &[&str]) -> Doc {
    let mut t = String::new();
    let kind = match e.kind {
        medgym_clinic::ExamKind::Physical => "physical examination",
        medgym_clinic::ExamKind::Laboratory => "laboratory test",
        medgym_clinic::ExamKind::Imaging => "imaging study",
        medgym_clinic::ExamKind::Procedure => "procedure",
    };
    let _ = write!(
        t,
        "{} ({}), {kind}. {}",
        e.name,
        e.id,
        sentence(&e.description)
    );
    if !e.analytes.is_empty() {
        let ranges = e
            .analytes
            .iter()
            .map(|a| {
                let mut s = format!("{} {} {}", a.name, range_text(a.range, a.decimals), a.unit);
                if let Some(f) = a.female {
                    let _ = write!(s, " (female {} {})", range_text(f, a.decimals), a.unit);
                }
                s
            })
            .collect::<Vec<_>>()
            .join("; ");
        let _ = write!(t, " Reference ranges: {ranges}.");
    }
    let _ = write!(t, " Normal result: {}", sentence(&e.normal));
    let discomfort = match e.discomfort {
        0 => "none",
        1 => "mild",
        2 => "moderate",
        _ => "severe",
    };
    let _ = write!(
        t,
        " Price: {} USD. Discomfort: {} of 3 ({discomfort}). Time to result: {} minutes.",
        money(e.cost_usd),
        e.discomfort.min(3),
        e.minutes
    );
    if !shows.is_empty() {
        let more = shows.len().saturating_sub(MAX_EXAM_FINDINGS);
        let _ = write!(
            t,
            " Can show: {}",
            shows[..shows.len().min(MAX_EXAM_FINDINGS)].join(", ")
        );
        if more > 0 {
            let _ = write!(t, ", and {more} more");
        }
        t.push('.');
    }
    Doc {
        id: format!("exam:{}", e.id),
        source: "exam",
        title: e.name.clone(),
        text: t,
    }
}

fn icd_doc(e: &IcdEntry, by_code: &HashMap<&str, &IcdEntry>, profile: Option<&Disease>) -> Doc {
    let mut t = String::new();
    let _ = write!(t, "ICD-10-CM {}: {}", e.code, sentence(&e.title));
    if !e.inclusion.is_empty() {
        let _ = write!(t, " Includes: {}.", e.inclusion.join("; "));
    }
    // The chain of parents, nearest first, bounded against cycles in a bad file.
    let mut chain = Vec::new();
    let mut parent = e.parent.as_deref();
    while let Some(p) = parent.filter(|p| !p.is_empty()) {
        let Some(pe) = by_code.get(p) else { break };
        if chain.len() >= 8 {
            break;
        }
        let label = match p.strip_prefix("ch") {
            Some(n) => format!("chapter {}: {}", n.trim_start_matches('0'), pe.title),
            None if p.contains('-') => format!("block {p}: {}", pe.title),
            None => format!("{p} {}", pe.title),
        };
        chain.push(label);
        parent = pe.parent.as_deref();
    }
    if !chain.is_empty() {
        let _ = write!(t, " Under: {}.", chain.join("; "));
    }
    if let Some(d) = profile {
        let _ = write!(t, " Disease profile: {} (disease:{}).", d.name, d.id);
    }
    Doc {
        id: format!("icd10cm:{}", e.code),
        source: "icd10cm",
        title: format!("{} {}", e.code, e.title),
        text: t,
    }
}

/// A chapter (`ch9`) or block (`I20-I25`) of ICD-10-CM, with the entries directly under it.
fn icd_group_doc(e: &IcdEntry, by_code: &HashMap<&str, &IcdEntry>, under: &[&IcdEntry]) -> Doc {
    let mut t = String::new();
    let title = match e.code.strip_prefix("ch") {
        Some(n) => format!("Chapter {}: {}", n.trim_start_matches('0'), e.title),
        None => e.title.clone(),
    };
    let _ = write!(t, "ICD-10-CM {}", sentence(&title));
    if let Some(pe) = e.parent.as_deref().and_then(|p| by_code.get(p)) {
        let n = pe.code.strip_prefix("ch").unwrap_or(&pe.code);
        let _ = write!(
            t,
            " Under: chapter {}: {}.",
            n.trim_start_matches('0'),
            pe.title
        );
    }
    if !under.is_empty() {
        let list = under
            .iter()
            .take(MAX_EXAM_FINDINGS)
            .map(|c| match c.is_diagnosis() {
                true => format!("{} {}", c.code, c.title),
                false => c.title.clone(),
            })
            .collect::<Vec<_>>()
            .join("; ");
        let _ = write!(t, " Holds: {list}");
        let more = under.len().saturating_sub(MAX_EXAM_FINDINGS);
        if more > 0 {
            let _ = write!(t, "; and {more} more");
        }
        t.push('.');
    }
    Doc {
        id: format!("icd10cm:{}", e.code),
        source: "icd10cm",
        title,
        text: t,
    }
}

fn hpo_doc(t: &HpoTerm) -> Doc {
    let mut s = String::new();
    let _ = write!(
        s,
        "{} ({}) is a term of the Human Phenotype Ontology.",
        t.name, t.id
    );
    if let Some(def) = &t.definition {
        let _ = write!(s, " Definition: {}", sentence(def));
    }
    if !t.synonyms.is_empty() {
        let _ = write!(s, " Also described as: {}.", t.synonyms.join(", "));
    }
    if !t.parents.is_empty() {
        let _ = write!(s, " A kind of: {}.", t.parents.join("; "));
    }
    Doc {
        id: format!("hpo:{}", t.id),
        source: "hpo",
        title: t.name.clone(),
        text: s,
    }
}

/// The text with a final full stop.
fn sentence(s: &str) -> String {
    let s = s.trim();
    if s.ends_with(['.', '!', '?']) {
        s.to_string()
    } else {
        format!("{s}.")
    }
}

fn range_text(r: Range, decimals: u8) -> String {
    let d = usize::from(decimals);
    format!("{:.d$}-{:.d$}", r.low, r.high)
}

fn money(usd: f64) -> String {
    if usd.fract() == 0.0 {
        format!("{usd:.0}")
    } else {
        format!("{usd:.2}")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn knowledge() -> Knowledge {
        Knowledge::embedded().expect("embedded knowledge")
    }

    fn sample_icd() -> Vec<IcdEntry> {
        let e = |c: &str, t: &str, p: &str, i: &[&str]| IcdEntry {
            code: c.into(),
            title: t.into(),
            inclusion: i.iter().map(|s| s.to_string()).collect(),
            parent: (!p.is_empty()).then(|| p.to_string()),
        };
        vec![
            e("ch09", "Diseases of the circulatory system", "", &[]),
            e("I20-I25", "Ischemic heart diseases", "ch09", &[]),
            e("I21", "Acute myocardial infarction", "I20-I25", &[]),
            e(
                "I21.9",
                "Acute myocardial infarction, unspecified",
                "I21",
                &["Myocardial infarction (acute) NOS"],
            ),
            e("I21.9", "a repeated code keeps its first entry", "I21", &[]),
            e("R51.9", "Headache, unspecified", "", &[]),
        ]
    }

    #[test]
    fn one_passage_per_record_with_unique_prefixed_ids() {
        let k = knowledge();
        let c = Corpus::from_knowledge(&k);
        assert_eq!(c.count("finding"), k.findings.len());
        assert_eq!(c.count("disease"), k.diseases.len());
        assert_eq!(c.count("exam"), k.exams.len());
        assert_eq!(c.count("icd10cm"), 0);
        assert_eq!(c.len(), k.findings.len() + k.diseases.len() + k.exams.len());
        let mut ids = HashSet::new();
        for d in c.docs() {
            assert!(ids.insert(&d.id), "duplicate id {}", d.id);
            assert!(d.id.starts_with(&format!("{}:", d.source)), "{}", d.id);
            assert!(SOURCES.contains(&d.source));
            assert!(!d.title.is_empty() && !d.text.is_empty(), "{}", d.id);
        }
    }

    /// Lower-cased alphanumeric words.
    fn words(s: &str) -> Vec<String> {
        s.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    }

    const SHINGLE: usize = 5;

    fn shingle(w: &[String]) -> u64 {
        xxhash_rust::xxh3::xxh3_64(w.join(" ").as_bytes())
    }

    #[test]
    fn no_passage_identifies_a_case() {
        let k = knowledge();
        let hpo = crate::hpo::embedded().expect("embedded HPO terms");
        let c = Sources::new(&k, sample_icd()).with_hpo(hpo).corpus();
        // No case id appears as a token of any passage.
        let case_ids: HashSet<&str> = k.cases.iter().map(|c| c.id.as_str()).collect();
        let mut shingles = HashSet::new();
        for d in c.docs() {
            for text in [&d.id, &d.title, &d.text] {
                for token in text.split(|c: char| c.is_whitespace() || ",;()[]\"'".contains(c)) {
                    let token = token.trim_end_matches('.');
                    assert!(!case_ids.contains(token), "{} names case {token}", d.id);
                }
            }
            let w = words(&d.text);
            shingles.extend(w.windows(SHINGLE).map(shingle));
        }
        // No complaint, and no patient-voice detail of a profile, is quoted (every run of five of
        // its words would then be in the corpus).
        let quoted = |text: &str| {
            let w = words(text);
            w.len() >= SHINGLE && w.windows(SHINGLE).all(|s| shingles.contains(&shingle(s)))
        };
        for case in &k.cases {
            assert!(
                !quoted(&case.complaint),
                "the complaint of {} is quoted",
                case.id
            );
        }
        for d in &k.diseases {
            for detail in d.findings.iter().filter_map(|f| f.detail.as_deref()) {
                assert!(!quoted(detail), "a patient of {} is quoted: {detail}", d.id);
            }
        }
    }

    #[test]
    fn disease_profiles_give_frequencies_exams_and_codes() {
        let k = knowledge();
        let c = Corpus::from_knowledge(&k);
        let d = &k.diseases[0];
        let doc = c
            .docs()
            .iter()
            .find(|p| p.id == format!("disease:{}", d.id))
            .expect("profile");
        assert_eq!(doc.title, d.name);
        if let Some(code) = &d.icd10 {
            assert!(doc.text.contains(code.as_str()), "{}", doc.text);
        }
        for s in &d.synonyms {
            assert!(doc.text.contains(s.as_str()), "{s}: {}", doc.text);
        }
        assert!(doc.text.contains("Very frequent") || doc.text.contains("Frequent"));
        assert!(doc.text.contains("Confirmed by:"), "{}", doc.text);
    }

    #[test]
    fn exam_passages_give_ranges_price_and_discomfort() {
        let k = knowledge();
        let c = Corpus::from_knowledge(&k);
        let e = k
            .exams
            .iter()
            .find(|e| !e.analytes.is_empty())
            .expect("a lab");
        let doc = c
            .docs()
            .iter()
            .find(|p| p.id == format!("exam:{}", e.id))
            .expect("exam passage");
        assert!(doc.text.contains("Reference ranges:"), "{}", doc.text);
        assert!(doc.text.contains(&e.analytes[0].unit), "{}", doc.text);
        assert!(doc.text.contains("USD") && doc.text.contains("Discomfort:"));
    }

    #[test]
    fn icd_entries_become_passages_with_their_hierarchy() {
        let k = knowledge();
        let plain = Corpus::from_knowledge(&k);
        let c = Corpus::build(&k, sample_icd());
        assert_eq!(
            c.count("icd10cm"),
            5,
            "ch09, I20-I25, I21, I21.9 and R51.9; repeats skipped"
        );
        assert_eq!(c.len(), plain.len() + 5);
        let block = c
            .docs()
            .iter()
            .find(|p| p.id == "icd10cm:I20-I25")
            .expect("block");
        assert_eq!(block.title, "Ischemic heart diseases");
        assert_eq!(
            block.text,
            "ICD-10-CM Ischemic heart diseases. Under: chapter 9: Diseases of the circulatory \
             system. Holds: I21 Acute myocardial infarction."
        );
        let chapter = c
            .docs()
            .iter()
            .find(|p| p.id == "icd10cm:ch09")
            .expect("chapter");
        assert_eq!(
            chapter.title,
            "Chapter 9: Diseases of the circulatory system"
        );
        assert!(
            chapter.text.ends_with("Holds: Ischemic heart diseases."),
            "{}",
            chapter.text
        );
        let doc = c
            .docs()
            .iter()
            .find(|p| p.id == "icd10cm:I21.9")
            .expect("I21.9");
        assert_eq!(doc.title, "I21.9 Acute myocardial infarction, unspecified");
        assert!(
            doc.text.contains("Myocardial infarction (acute) NOS"),
            "{}",
            doc.text
        );
        assert!(
            doc.text.contains("I21 Acute myocardial infarction"),
            "{}",
            doc.text
        );
        assert!(
            doc.text.contains("block I20-I25: Ischemic heart diseases"),
            "{}",
            doc.text
        );
        assert!(
            doc.text
                .contains("chapter 9: Diseases of the circulatory system"),
            "{}",
            doc.text
        );
        if let Some(d) = k
            .diseases
            .iter()
            .find(|d| d.icd10.as_deref() == Some("I21.9"))
        {
            assert!(
                doc.text.contains(&format!("disease:{}", d.id)),
                "{}",
                doc.text
            );
        }
        // The plain tuple form works too.
        let tuples = [(
            "J18.9".to_string(),
            "Pneumonia, unspecified organism".to_string(),
            vec![],
        )];
        let c = Corpus::build(&k, tuples.into_iter().map(IcdEntry::from));
        assert_eq!(c.count("icd10cm"), 1);
    }

    #[test]
    fn hpo_terms_become_passages_unless_they_are_findings() {
        let k = knowledge();
        let plain = Corpus::from_knowledge(&k);
        let finding = k.findings.iter().find(|f| f.id.starts_with("HP:"));
        let term = |id: &str, name: &str| HpoTerm {
            id: id.into(),
            name: name.into(),
            definition: Some("A made-up term for this test".into()),
            synonyms: vec!["Test synonym".into()],
            parents: vec!["All".into(), "Other".into()],
        };
        let mut hpo = vec![
            term("HP:9999991", "Imaginary test phenotype"),
            term("HP:9999991", "a repeated id keeps its first term"),
        ];
        if let Some(f) = finding {
            hpo.push(term(&f.id, "already a finding"));
        }
        let c = Sources::new(&k, Vec::new()).with_hpo(hpo.clone()).corpus();
        assert_eq!(c.count("hpo"), 1);
        assert_eq!(c.len(), plain.len() + 1);
        let doc = c
            .docs()
            .iter()
            .find(|p| p.id == "hpo:HP:9999991")
            .expect("hpo passage");
        assert_eq!(doc.title, "Imaginary test phenotype");
        assert_eq!(
            doc.text,
            "Imaginary test phenotype (HP:9999991) is a term of the Human Phenotype Ontology. \
             Definition: A made-up term for this test. Also described as: Test synonym. \
             A kind of: All; Other."
        );
        assert_ne!(
            Sources::new(&k, Vec::new()).key(),
            Sources::new(&k, Vec::new()).with_hpo(hpo.clone()).key(),
            "HPO terms count"
        );
        hpo[0].synonyms.push("another".into());
        assert_ne!(
            c.hash(),
            Sources::new(&k, Vec::new()).with_hpo(hpo).key(),
            "HPO term content counts"
        );
        // The embedded terms are all passages of their own.
        let embedded = crate::hpo::embedded().expect("embedded HPO terms");
        let c = Sources::new(&k, Vec::new())
            .with_hpo(embedded.clone())
            .corpus();
        assert_eq!(c.count("hpo"), embedded.len());
    }

    #[test]
    fn the_key_follows_the_sources() {
        let k = knowledge();
        let a = Sources::new(&k, Vec::new());
        assert_eq!(a.key(), Sources::new(&k, Vec::new()).key(), "deterministic");
        assert_eq!(a.key(), a.corpus().hash());
        assert_eq!(a.key().len(), 32);
        assert_ne!(
            a.key(),
            Sources::new(&k, sample_icd()).key(),
            "ICD entries count"
        );
        let mut icd = sample_icd();
        icd[3].inclusion.push("another term".into());
        assert_ne!(
            Sources::new(&k, sample_icd()).key(),
            Sources::new(&k, icd).key()
        );
        // A changed knowledge record changes the key.
        let mut findings = k.findings.clone();
        findings[0].name.push_str(" (renamed)");
        let changed = Knowledge::new(
            k.manifest.clone(),
            findings,
            k.exams.clone(),
            k.diseases.clone(),
            k.cases.clone(),
        )
        .expect("still valid");
        assert_ne!(a.key(), Sources::new(&changed, Vec::new()).key());
    }

    #[test]
    fn the_hash_follows_the_content() {
        let k = knowledge();
        let a = Corpus::from_knowledge(&k);
        assert_eq!(a.hash(), Corpus::from_knowledge(&k).hash(), "deterministic");
        assert_eq!(a.hash().len(), 32);
        let b = Corpus::build(&k, sample_icd());
        assert_ne!(a.hash(), b.hash());
        let mut docs = a.docs().to_vec();
        docs[0].text.push('!');
        assert_ne!(a.hash(), Corpus::from_docs(docs).hash());
        // Field boundaries count: moving text from title to body changes the hash.
        let x = Doc {
            id: "exam:x".into(),
            source: "exam",
            title: "ab".into(),
            text: "c".into(),
        };
        let y = Doc {
            title: "a".into(),
            text: "bc".into(),
            ..x.clone()
        };
        assert_ne!(
            Corpus::from_docs(vec![x]).hash(),
            Corpus::from_docs(vec![y]).hash()
        );
    }
}
