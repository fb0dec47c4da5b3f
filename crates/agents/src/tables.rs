//! What the policies know of medicine, precomputed once from the knowledge set and shared by
//! every policy instance: disease profiles, which diseases list a finding, what each exam can
//! show, and the name under which each disease is diagnosed.
//!
//! Everything here is public knowledge (the content files every agent may read); nothing of a
//! case is in it, apart from the per-split case counts that `guess_prior` uses (train split
//! only).

use std::sync::Arc;

use medgym_clinic::{ExamIdx, FindingIdx, FindingKind, Setting, Sex};
use medgym_env::World;

/// Probability of a finding being present when a disease's profile does not list it, and the
/// floor of every likelihood (a frequency of 1.0 still leaves room for an absent finding).
pub const EPSILON: f64 = 0.01;

/// Who gets a disease, in the form the likelihood of the presenting line needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Demo {
    pub age_min: u32,
    pub age_max: u32,
    pub female_share: f64,
    /// Bit set of the settings (emergency = 1, clinic = 2, ward = 4); 0 when unknown.
    pub settings: u8,
    pub n_settings: u8,
}

/// The bit of a care setting in [`Demo::settings`].
pub(crate) fn setting_bit(s: Setting) -> u8 {
    match s {
        Setting::Emergency => 1,
        Setting::Clinic => 2,
        Setting::Ward => 4,
    }
}

/// Precomputed knowledge tables shared by all policies (build once per world, share by `Arc`).
#[derive(Debug)]
pub struct Tables {
    /// The world the tables were built from.
    pub world: Arc<World>,
    /// Per disease: (finding, frequency) of its profile, sorted by finding.
    pub(crate) profiles: Vec<Vec<(FindingIdx, f64)>>,
    /// Per finding: (disease, frequency) of every profile that lists it.
    pub(crate) finding_diseases: Vec<Vec<(u32, f64)>>,
    /// Per exam: the findings its report can show (present in the case → revealed; otherwise
    /// their absence can be read from the report).
    pub(crate) exam_shows: Vec<Vec<FindingIdx>>,
    /// Per finding: the exams that can show it.
    pub(crate) finding_exams: Vec<Vec<ExamIdx>>,
    /// Per finding: whether the patient can be asked about it (a symptom with a lay phrase).
    pub(crate) askable: Vec<bool>,
    /// Per disease: the name a diagnosis uses (resolves back to the same disease).
    pub(crate) dx_name: Vec<String>,
    /// Per disease: demographics.
    pub(crate) demo: Vec<Option<Demo>>,
    /// Per disease: its domain's index in the manifest (u16::MAX when not listed).
    pub(crate) domain: Vec<u16>,
    /// Askable symptoms, most widely listed first (the checklist of `ask_everything`).
    pub(crate) symptom_checklist: Vec<FindingIdx>,
    /// The disease with the most train-split cases (first in file order on a tie).
    pub(crate) train_mode: Option<u32>,
}

impl Tables {
    /// Builds the tables of a world (linear in the size of the knowledge set).
    pub fn new(world: Arc<World>) -> Self {
        let k = &world.knowledge;
        let n_findings = k.findings.len();
        let mut finding_diseases: Vec<Vec<(u32, f64)>> = vec![Vec::new(); n_findings];
        let profiles: Vec<Vec<(FindingIdx, f64)>> = k
            .diseases
            .iter()
            .enumerate()
            .map(|(d, disease)| {
                let mut p: Vec<(FindingIdx, f64)> = Vec::with_capacity(disease.findings.len());
                for df in &disease.findings {
                    let Some(f) = k.finding_idx(&df.finding) else {
                        continue;
                    };
                    let q = df.frequency.clamp(0.0, 1.0);
                    match p.iter_mut().find(|(g, _)| *g == f) {
                        Some((_, old)) => *old = old.max(q),
                        None => p.push((f, q)),
                    }
                }
                p.sort_unstable_by_key(|&(f, _)| f);
                for &(f, q) in &p {
                    finding_diseases[f as usize].push((d as u32, q));
                }
                p
            })
            .collect();

        let mut exam_shows: Vec<Vec<FindingIdx>> = vec![Vec::new(); k.exams.len()];
        let mut finding_exams: Vec<Vec<ExamIdx>> = vec![Vec::new(); n_findings];
        for (f, finding) in k.findings.iter().enumerate() {
            // The examiner reports a finding through its analyte's value, or its report sentence.
            let reportable = finding.analyte.is_some() || finding.report.is_some();
            if !reportable {
                continue;
            }
            for e in finding.exams.iter().filter_map(|id| k.exam_idx(id)) {
                if !exam_shows[e as usize].contains(&(f as FindingIdx)) {
                    exam_shows[e as usize].push(f as FindingIdx);
                    finding_exams[f].push(e);
                }
            }
        }
        let askable: Vec<bool> = k
            .findings
            .iter()
            .map(|f| f.kind == FindingKind::Symptom && !f.lay.is_empty())
            .collect();

        let dx_name = k
            .diseases
            .iter()
            .map(|d| {
                std::iter::once(&d.name)
                    .chain(std::iter::once(&d.id))
                    .chain(&d.synonyms)
                    .find(|n| k.resolve_disease(n).is_some_and(|r| r.id == d.id))
                    .unwrap_or(&d.id)
                    .clone()
            })
            .collect();
        let demo = k
            .diseases
            .iter()
            .map(|d| {
                d.demographics.as_ref().map(|g| {
                    let settings = g.settings.iter().fold(0u8, |b, &s| b | setting_bit(s));
                    Demo {
                        age_min: g.age_min.min(g.age_max),
                        age_max: g.age_max.max(g.age_min),
                        female_share: g.female_share.clamp(0.0, 1.0),
                        settings,
                        n_settings: settings.count_ones() as u8,
                    }
                })
            })
            .collect();
        let domain = k
            .diseases
            .iter()
            .map(|d| {
                k.manifest
                    .domains
                    .iter()
                    .position(|x| *x == d.domain)
                    .map_or(u16::MAX, |i| i as u16)
            })
            .collect();

        let mut symptom_checklist: Vec<FindingIdx> = (0..n_findings as FindingIdx)
            .filter(|&f| askable[f as usize])
            .collect();
        symptom_checklist.sort_by_key(|&f| {
            (
                std::cmp::Reverse(finding_diseases[f as usize].len()),
                f as usize,
            )
        });

        let mut train_counts = vec![0u32; k.diseases.len()];
        for c in k.cases.iter().filter(|c| c.split == "train") {
            if let Some(d) = k.disease_idx(&c.disease) {
                train_counts[d as usize] += 1;
            }
        }
        let train_mode = train_counts
            .iter()
            .enumerate()
            .filter(|&(_, &n)| n > 0)
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)))
            .map(|(d, _)| d as u32);

        Tables {
            world,
            profiles,
            finding_diseases,
            exam_shows,
            finding_exams,
            askable,
            dx_name,
            demo,
            domain,
            symptom_checklist,
            train_mode,
        }
    }

    /// Number of diseases.
    pub fn n_diseases(&self) -> usize {
        self.profiles.len()
    }

    /// The question that asks about a finding: its first lay phrase (or its name).
    pub(crate) fn question(&self, f: FindingIdx) -> String {
        let finding = self.world.knowledge.finding(f);
        let lay = finding.lay.first().unwrap_or(&finding.name);
        format!("Do you have {lay}?")
    }

    /// The name of disease `d` as a diagnosis.
    pub(crate) fn diagnosis_name(&self, d: u32) -> &str {
        &self.dx_name[d as usize]
    }

    /// The domain index of a domain name (None: not in the manifest, or empty).
    pub(crate) fn domain_idx(&self, name: &str) -> Option<u16> {
        self.world
            .knowledge
            .manifest
            .domains
            .iter()
            .position(|x| x == name)
            .map(|i| i as u16)
    }
}

/// What the presenting line says about the patient: age, sex and care setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Presentation {
    pub age: Option<u32>,
    pub sex: Option<Sex>,
    pub setting: Option<Setting>,
}

/// Reads "A 40-year-old man is seen in clinic. \"...\"" (the form of
/// `medgym_patient::presenting_complaint`); parts it cannot read are `None`.
pub(crate) fn parse_presentation(text: &str) -> Presentation {
    let head = text.split('"').next().unwrap_or("");
    let age = head
        .trim_start()
        .strip_prefix("A ")
        .or_else(|| head.trim_start().strip_prefix("An "))
        .and_then(|rest| rest.split("-year-old").next())
        .and_then(|n| n.trim().parse().ok());
    let words: Vec<&str> = head
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let sex = if words.iter().any(|w| *w == "woman" || *w == "girl") {
        Some(Sex::Female)
    } else if words.iter().any(|w| *w == "man" || *w == "boy") {
        Some(Sex::Male)
    } else {
        None
    };
    let setting = if head.contains("emergency department") {
        Some(Setting::Emergency)
    } else if head.contains("in clinic") {
        Some(Setting::Clinic)
    } else if head.contains("on the ward") {
        Some(Setting::Ward)
    } else {
        None
    };
    Presentation { age, sex, setting }
}

/// The patient's own words in the presenting line (between the quotes), or the whole text.
pub(crate) fn complaint_words(text: &str) -> &str {
    match (text.find('"'), text.rfind('"')) {
        (Some(a), Some(b)) if b > a => &text[a + 1..b],
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_presenting_line() {
        let p = parse_presentation(
            "A 40-year-old man is seen in clinic. \"My main problem: loss of vision.\"",
        );
        assert_eq!(p.age, Some(40));
        assert_eq!(p.sex, Some(Sex::Male));
        assert_eq!(p.setting, Some(Setting::Clinic));
        let p = parse_presentation(
            "A 3-year-old girl comes to the emergency department. \"Our daughter's main problem: fever.\"",
        );
        assert_eq!((p.age, p.sex), (Some(3), Some(Sex::Female)));
        assert_eq!(p.setting, Some(Setting::Emergency));
        assert_eq!(
            complaint_words("A 1-year-old boy is reviewed on the ward. \"x y\""),
            "x y"
        );
        let p = parse_presentation("garbage");
        assert_eq!(p.age, None);
    }
}

#[cfg(test)]
mod resolve_tests {
    use super::*;

    #[test]
    fn every_diagnosis_name_resolves_back() {
        let world = Arc::new(World::embedded().expect("knowledge"));
        let t = Tables::new(Arc::clone(&world));
        let k = &world.knowledge;
        let bad: Vec<(&str, &str)> = k
            .diseases
            .iter()
            .enumerate()
            .filter(|(d, x)| {
                k.resolve_disease(&t.dx_name[*d])
                    .is_none_or(|r| r.id != x.id)
            })
            .map(|(d, x)| (x.id.as_str(), t.dx_name[d].as_str()))
            .collect();
        assert!(
            bad.is_empty(),
            "{} do not resolve back: {:?}",
            bad.len(),
            &bad[..bad.len().min(10)]
        );
    }
}
