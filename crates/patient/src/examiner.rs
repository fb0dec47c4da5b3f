//! The examiner: exam orders become reports, through the episode's exam noise.

use medgym_clinic::{Case, ExamIdx, FindingIdx, Knowledge};
use rand::Rng;

use crate::lexicon::Lexicon;
use crate::noise::{ANALYTIC_CV, NoiseKind, fnv, mix, unit};
use crate::patient::{Patient, replace_words};

/// An exam report and what it disclosed.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The report text.
    pub text: String,
    /// Findings the report showed, as a reader would take them: under noise this can miss a
    /// finding the case has or name one it lacks.
    pub revealed: Vec<FindingIdx>,
}

/// Performs an exam on the case, without noise. Analytes the case says nothing about get a
/// value drawn inside the reference range from `rng`: AgentClinic's "normal readings" for what
/// the case does not specify, so an unremarkable result looks like a real one.
pub fn examine(knowledge: &Knowledge, case: &Case, exam: ExamIdx, rng: &mut impl Rng) -> Report {
    Patient::quiet().report(knowledge, None, case, exam, 0, rng)
}

/// One line of a report and the finding it shows, if any.
struct Line {
    text: String,
    shows: Option<FindingIdx>,
    /// A report sentence (not an analyte value).
    sentence: bool,
}

impl Patient {
    /// Performs an exam on the case at `turn`, through the episode's exam noise; see
    /// [`examine`].
    pub fn examine(
        &mut self,
        knowledge: &Knowledge,
        lexicon: &Lexicon,
        case: &Case,
        exam: ExamIdx,
        turn: u32,
        rng: &mut impl Rng,
    ) -> Report {
        self.report(knowledge, Some(lexicon), case, exam, turn, rng)
    }

    fn chance(&self, kind: NoiseKind, exam: &str, item: &str) -> bool {
        let p = self.levels.get(kind);
        p > 0.0 && unit(self.hash(kind, fnv(exam), fnv(item))) < p
    }

    fn report(
        &mut self,
        k: &Knowledge,
        lexicon: Option<&Lexicon>,
        case: &Case,
        exam: ExamIdx,
        turn: u32,
        rng: &mut impl Rng,
    ) -> Report {
        let e = k.exam(exam);
        let mut lines: Vec<Line> = Vec::new();
        let present: Vec<(FindingIdx, &medgym_clinic::CaseFinding)> = self
            .known(k, case)
            .0
            .iter()
            .zip(&case.findings)
            .filter(|&(&f, _)| f != FindingIdx::MAX)
            .map(|(&f, cf)| (f, cf))
            .collect();
        let mut varied = 0;
        for a in &e.analytes {
            let range = a.range_for(case.sex);
            let abnormal = present.iter().find_map(|&(fi, cf)| {
                let f = k.finding(fi);
                (f.analyte.as_deref() == Some(a.id.as_str()) && f.exams.contains(&e.id))
                    .then_some((fi, cf.value?))
            });
            let abnormal = match abnormal {
                Some((fi, _))
                    if self.chance(NoiseKind::ExamFalseNegative, &e.id, &k.finding(fi).id) =>
                {
                    self.fire(
                        NoiseKind::ExamFalseNegative,
                        turn,
                        Some(&k.finding(fi).id),
                        format!("{} read normal on {}", a.name, e.id),
                    );
                    None
                }
                other => other,
            };
            let mut value = match abnormal {
                Some((_, v)) => v,
                None => {
                    // Middle 80% of the range, so a normal value never sits on a limit.
                    let span = range.high - range.low;
                    rng.random_range(range.low + 0.1 * span..=range.high - 0.1 * span)
                }
            };
            let flag_of = |v: f64| {
                if v < range.low {
                    -1
                } else if v > range.high {
                    1
                } else {
                    0
                }
            };
            if self.chance(NoiseKind::LabVariation, &e.id, &a.id) {
                // Within analytic variation: at most two coefficients of variation either way,
                // never across a reference limit (that is a false result, not variation).
                let h = self.hash(NoiseKind::LabVariation, fnv(&e.id), fnv(&a.id));
                let z = unit(mix(h, 1)) + unit(mix(h, 2)) - 1.0; // triangular on (-1, 1)
                let varied_value = value * (1.0 + 2.0 * ANALYTIC_CV * z);
                if flag_of(varied_value) == flag_of(value) {
                    value = varied_value;
                    varied += 1;
                }
            }
            let flag = match flag_of(value) {
                -1 => " (low)",
                1 => " (high)",
                _ => "",
            };
            let d = a.decimals as usize;
            lines.push(Line {
                text: format!(
                    "{}: {value:.d$} {} [ref {:.d$}-{:.d$}]{flag}",
                    a.name, a.unit, range.low, range.high
                ),
                shows: abnormal.map(|(fi, _)| fi),
                sentence: false,
            });
        }
        if varied > 0 {
            self.events.push(crate::noise::NoiseEvent {
                kind: NoiseKind::LabVariation,
                turn,
                finding: None,
                detail: format!("{varied} value(s) of {} varied", e.id),
            });
        }

        for &(fi, _) in &present {
            let f = k.finding(fi);
            if f.analyte.is_none()
                && f.exams.contains(&e.id)
                && let Some(report) = &f.report
            {
                if self.chance(NoiseKind::ExamFalseNegative, &e.id, &f.id) {
                    self.fire(
                        NoiseKind::ExamFalseNegative,
                        turn,
                        Some(&f.id),
                        format!("missed on {}", e.id),
                    );
                    continue;
                }
                lines.push(Line {
                    text: report.clone(),
                    shows: Some(fi),
                    sentence: true,
                });
            }
        }

        if let Some(lexicon) = lexicon
            && self.chance(NoiseKind::ExamFalsePositive, &e.id, "")
        {
            self.false_positive(k, lexicon, case, exam, &present, &mut lines, turn);
        }
        if lexicon.is_some() {
            self.exam_one_shot(k, lexicon, exam, &mut lines, turn);
        }

        let mut revealed: Vec<FindingIdx> = Vec::new();
        for l in &lines {
            if let Some(f) = l.shows
                && !revealed.contains(&f)
            {
                revealed.push(f);
            }
        }
        let mut texts: Vec<String> = lines.into_iter().map(|l| l.text).collect();
        if texts.is_empty() || (e.analytes.is_empty() && revealed.is_empty()) {
            texts.push(e.normal.clone());
        }
        let mut text = format!("{}: {}", e.name, texts.join("; "));
        if let Some(remark) = self.persona.exam_remark(mix(self.seed, u64::from(exam))) {
            text.push(' ');
            text.push_str(remark);
        }
        Report { text, revealed }
    }

    /// A finding the case lacks, reported by this exam: an analyte pushed into the abnormal
    /// range of a finding read from it, or a report sentence.
    #[allow(clippy::too_many_arguments)]
    fn false_positive(
        &mut self,
        k: &Knowledge,
        lexicon: &Lexicon,
        case: &Case,
        exam: ExamIdx,
        present: &[(FindingIdx, &medgym_clinic::CaseFinding)],
        lines: &mut Vec<Line>,
        turn: u32,
    ) {
        let e = k.exam(exam);
        let h = self.hash(NoiseKind::ExamFalsePositive, fnv(&e.id), 1);
        let has = |f: FindingIdx| present.iter().any(|&(p, _)| p == f);
        if !e.analytes.is_empty() {
            let options: Vec<&(String, FindingIdx, medgym_clinic::Range)> = lexicon.exam_analytes
                [exam as usize]
                .iter()
                .filter(|(a, f, _)| {
                    !has(*f)
                        && e.analytes
                            .iter()
                            .position(|x| &x.id == a)
                            .is_some_and(|i| lines.get(i).is_some_and(|l| l.shows.is_none()))
                })
                .collect();
            if options.is_empty() {
                return;
            }
            let &(ref a, f, r) = options[(h % options.len() as u64) as usize];
            let Some(i) = e.analytes.iter().position(|x| &x.id == a) else {
                return;
            };
            let an = &e.analytes[i];
            let range = an.range_for(case.sex);
            let value = r.low + (r.high - r.low) * unit(mix(h, 2));
            let flag = if value < range.low {
                " (low)"
            } else if value > range.high {
                " (high)"
            } else {
                return;
            };
            let d = an.decimals as usize;
            lines[i] = Line {
                text: format!(
                    "{}: {value:.d$} {} [ref {:.d$}-{:.d$}]{flag}",
                    an.name, an.unit, range.low, range.high
                ),
                shows: Some(f),
                sentence: false,
            };
            self.fire(
                NoiseKind::ExamFalsePositive,
                turn,
                Some(&k.finding(f).id),
                format!("{} abnormal on {}", an.name, e.id),
            );
        } else {
            let options: Vec<FindingIdx> = lexicon.exam_reports[exam as usize]
                .iter()
                .copied()
                .filter(|&f| !has(f))
                .collect();
            if options.is_empty() {
                return;
            }
            let f = options[(h % options.len() as u64) as usize];
            let Some(report) = &k.finding(f).report else {
                return;
            };
            lines.push(Line {
                text: report.clone(),
                shows: Some(f),
                sentence: true,
            });
            self.fire(
                NoiseKind::ExamFalsePositive,
                turn,
                Some(&k.finding(f).id),
                format!("reported on {}", e.id),
            );
        }
    }

    /// The exam one-shot noise that is due, if this report gives it something to act on.
    fn exam_one_shot(
        &mut self,
        k: &Knowledge,
        lexicon: Option<&Lexicon>,
        exam: ExamIdx,
        lines: &mut Vec<Line>,
        turn: u32,
    ) {
        let e = k.exam(exam);
        let showing: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].shows.is_some())
            .collect();
        let h = |kind| self.hash(kind, fnv(&e.id), 0) as usize;
        if self.ready(NoiseKind::ExamOmission, turn) && showing.len() >= 2 {
            let i = showing[h(NoiseKind::ExamOmission) % showing.len()];
            let f = lines[i].shows.map(|f| k.finding(f).id.clone());
            if lines[i].sentence {
                lines.remove(i);
            } else {
                // An analyte row cannot vanish from a panel: its value goes unreported.
                let name = lines[i].text.split(':').next().unwrap_or("").to_string();
                lines[i] = Line {
                    text: format!("{name}: not reported"),
                    shows: None,
                    sentence: false,
                };
            }
            self.fire(
                NoiseKind::ExamOmission,
                turn,
                f.as_deref(),
                format!("dropped from {}", e.id),
            );
            return;
        }
        if self.ready(NoiseKind::ExamBodyPartSwap, turn) {
            let adjacent = &k.noise.adjacent;
            let target = showing.iter().copied().find_map(|i| {
                let id = lines[i].shows.map(|f| k.finding(f).id.clone())?;
                (lines[i].sentence)
                    .then(|| self.swap_word(adjacent, &lines[i].text, &id))
                    .flatten()
                    .map(|w| (i, id, w))
            });
            if let Some((i, id, (from, to))) = target {
                let text = replace_words(&lines[i].text, &from, &to);
                // The reader takes the moved sentence for whatever finding of this exam it
                // now names, if any.
                let read = lexicon.and_then(|l| {
                    l.understand_all(&text).findings.into_iter().find(|&g| {
                        Some(g) != lines[i].shows && l.exam_reports[exam as usize].contains(&g)
                    })
                });
                if let Some(g) = read {
                    lines[i].shows = Some(g);
                }
                lines[i].text = text;
                self.fire(
                    NoiseKind::ExamBodyPartSwap,
                    turn,
                    Some(&id),
                    format!("{from} → {to}"),
                );
                return;
            }
        }
        if self.ready(NoiseKind::ExamAmbiguity, turn) && !showing.is_empty() {
            let i = showing[h(NoiseKind::ExamAmbiguity) % showing.len()];
            let id = lines[i].shows.map(|f| k.finding(f).id.clone());
            let old = std::mem::take(&mut lines[i].text);
            lines[i].text = if lines[i].sentence {
                format!(
                    "equivocal: {} cannot be confirmed or excluded, suggest repeat",
                    old.trim_end_matches('.').to_lowercase()
                )
            } else {
                format!("{old} (equivocal: sample quality poor, suggest repeat)")
            };
            lines[i].shows = None;
            self.fire(
                NoiseKind::ExamAmbiguity,
                turn,
                id.as_deref(),
                format!("hedged on {}", e.id),
            );
        }
    }
}
