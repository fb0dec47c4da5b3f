//! The examiner: exam orders become reports.

use medgym_clinic::{Case, ExamIdx, FindingIdx, Knowledge};
use rand::Rng;

/// An exam report and what it disclosed.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The report text.
    pub text: String,
    /// Findings the report showed.
    pub revealed: Vec<FindingIdx>,
}

/// Performs an exam on the case. Analytes the case says nothing about get a value drawn inside
/// the reference range from `rng`: AgentClinic's "normal readings" for what the case does not
/// specify, so an unremarkable result looks like a real one.
pub fn examine(knowledge: &Knowledge, case: &Case, exam: ExamIdx, rng: &mut impl Rng) -> Report {
    let e = knowledge.exam(exam);
    let mut revealed = Vec::new();
    let mut lines = Vec::new();

    for a in &e.analytes {
        let range = a.range_for(case.sex);
        let abnormal = case.findings.iter().find_map(|cf| {
            let fi = knowledge.finding_idx(&cf.finding)?;
            let f = knowledge.finding(fi);
            (f.analyte.as_deref() == Some(a.id.as_str()) && f.exams.contains(&e.id))
                .then_some((fi, cf.value?))
        });
        let value = match abnormal {
            Some((fi, v)) => {
                if !revealed.contains(&fi) {
                    revealed.push(fi);
                }
                v
            }
            None => {
                // Middle 80% of the range, so a normal value never sits on a limit.
                let span = range.high - range.low;
                rng.random_range(range.low + 0.1 * span..=range.high - 0.1 * span)
            }
        };
        let flag = if value < range.low {
            " (low)"
        } else if value > range.high {
            " (high)"
        } else {
            ""
        };
        let d = a.decimals as usize;
        lines.push(format!(
            "{}: {value:.d$} {} [ref {:.d$}-{:.d$}]{flag}",
            a.name, a.unit, range.low, range.high
        ));
    }

    for cf in &case.findings {
        let Some(fi) = knowledge.finding_idx(&cf.finding) else {
            continue;
        };
        let f = knowledge.finding(fi);
        if f.analyte.is_none()
            && f.exams.contains(&e.id)
            && let Some(report) = &f.report
        {
            revealed.push(fi);
            lines.push(report.clone());
        }
    }

    if lines.is_empty() || (e.analytes.is_empty() && revealed.is_empty()) {
        lines.push(e.normal.clone());
    }
    Report {
        text: format!("{}: {}", e.name, lines.join("; ")),
        revealed,
    }
}
