//! Evaluation metrics over trajectory records.
//!
//! With one true disease per case:
//! - top-k accuracy: share of episodes whose differential ranks the truth within the first k
//!   (`outcome.rank <= k`; the primary alone counts as rank 1 when there is no differential).
//! - DDR (differential recall): share of episodes whose differential contains the truth.
//! - DDP (differential precision): mean over episodes of hits / |differential|, where hits is 1
//!   when the truth is in the differential and 0 otherwise (an episode without a diagnosis
//!   scores 0).
//! - DDF1: the harmonic mean of DDR and DDP (of the means, as DDXPlus reports it).
//!
//! Truncated episodes count as misses everywhere.

use std::collections::BTreeMap;
use std::fmt::Write;

use medgym_env::record::EpisodeRecord;

/// The metrics of a set of episodes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Summary {
    /// Domain, or "all".
    pub label: String,
    /// Episodes.
    pub episodes: usize,
    /// Top-1 accuracy.
    pub top1: f64,
    /// Top-3 accuracy.
    pub top3: f64,
    /// Top-5 accuracy.
    pub top5: f64,
    /// Differential recall.
    pub ddr: f64,
    /// Differential precision.
    pub ddp: f64,
    /// Harmonic mean of DDR and DDP.
    pub ddf1: f64,
    /// Mean money spent (USD).
    pub cost_usd: f64,
    /// Mean discomfort.
    pub discomfort: f64,
    /// Mean turns.
    pub turns: f64,
    /// Mean total reward.
    pub reward: f64,
    /// Share of episodes truncated by a limit.
    pub truncated: f64,
}

/// The size of the differential an episode gave (0 without a diagnosis).
fn differential_len(r: &EpisodeRecord) -> usize {
    match (&r.outcome.diagnosis, r.outcome.differential.len()) {
        (None, _) => 0,
        (Some(_), 0) => 1,
        (Some(_), n) => n,
    }
}

/// The metrics of some episodes under a label.
pub fn summarize<'a>(label: &str, records: impl IntoIterator<Item = &'a EpisodeRecord>) -> Summary {
    let mut s = Summary {
        label: label.to_string(),
        ..Default::default()
    };
    for r in records {
        let o = &r.outcome;
        s.episodes += 1;
        let rank = o.rank.unwrap_or(u32::MAX);
        s.top1 += f64::from(u8::from(rank <= 1));
        s.top3 += f64::from(u8::from(rank <= 3));
        s.top5 += f64::from(u8::from(rank <= 5));
        let n = differential_len(r);
        if o.rank.is_some() && n > 0 {
            s.ddr += 1.0;
            s.ddp += 1.0 / n as f64;
        }
        s.cost_usd += o.cost_usd;
        s.discomfort += f64::from(o.discomfort);
        s.turns += f64::from(o.turns);
        s.reward += o.total_reward;
        s.truncated += f64::from(u8::from(o.truncated));
    }
    if s.episodes > 0 {
        let n = s.episodes as f64;
        for v in [
            &mut s.top1,
            &mut s.top3,
            &mut s.top5,
            &mut s.ddr,
            &mut s.ddp,
            &mut s.cost_usd,
            &mut s.discomfort,
            &mut s.turns,
            &mut s.reward,
            &mut s.truncated,
        ] {
            *v /= n;
        }
    }
    s.ddf1 = if s.ddr + s.ddp > 0.0 {
        2.0 * s.ddr * s.ddp / (s.ddr + s.ddp)
    } else {
        0.0
    };
    s
}

/// One row per domain (sorted by name), then "all".
pub fn by_domain(records: &[EpisodeRecord]) -> Vec<Summary> {
    let mut groups: BTreeMap<&str, Vec<&EpisodeRecord>> = BTreeMap::new();
    for r in records {
        groups.entry(r.domain.as_str()).or_default().push(r);
    }
    let mut rows: Vec<Summary> = groups.into_iter().map(|(d, rs)| summarize(d, rs)).collect();
    rows.push(summarize("all", records));
    rows
}

/// A Markdown table of summaries; `first` names the first column.
pub fn markdown(first: &str, rows: &[Summary]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| {first} | episodes | top-1 | top-3 | top-5 | DDR | DDP | DDF1 | cost USD | discomfort | turns | reward | truncated |"
    );
    let _ = writeln!(
        out,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for s in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.1} | {:.2} | {:.2} | {:+.3} | {:.3} |",
            s.label,
            s.episodes,
            s.top1,
            s.top3,
            s.top5,
            s.ddr,
            s.ddp,
            s.ddf1,
            s.cost_usd,
            s.discomfort,
            s.turns,
            s.reward,
            s.truncated
        );
    }
    out
}

/// Mean per episode of each reward term (summed over the episode's steps), in the
/// environment's report order; terms a record does not know are appended by name.
pub fn reward_terms<'a>(
    records: impl IntoIterator<Item = &'a EpisodeRecord>,
) -> Vec<(String, f64)> {
    let mut sums: Vec<(String, f64)> = medgym_env::reward::TERMS
        .iter()
        .map(|t| (t.to_string(), 0.0))
        .collect();
    let mut n = 0usize;
    for r in records {
        n += 1;
        for s in &r.steps {
            for (k, v) in &s.reward_components {
                match sums.iter_mut().find(|(t, _)| t == k) {
                    Some((_, x)) => *x += v,
                    None => sums.push((k.clone(), *v)),
                }
            }
        }
    }
    if n > 0 {
        for (_, v) in &mut sums {
            *v /= n as f64;
        }
    }
    sums
}

/// A Markdown table of mean reward terms, one row per labelled set of episodes.
pub fn terms_markdown(first: &str, rows: &[(String, Vec<(String, f64)>)]) -> String {
    let mut out = String::new();
    let Some((_, head)) = rows.first() else {
        return out;
    };
    let _ = write!(out, "| {first} |");
    for (t, _) in head {
        let _ = write!(out, " {t} |");
    }
    let _ = writeln!(out, " total |");
    let _ = write!(out, "|---|");
    for _ in head {
        let _ = write!(out, "---:|");
    }
    let _ = writeln!(out, "---:|");
    for (label, terms) in rows {
        let _ = write!(out, "| {label} |");
        for (_, v) in terms {
            let _ = write!(out, " {v:+.3} |");
        }
        let _ = writeln!(out, " {:+.3} |", terms.iter().map(|(_, v)| v).sum::<f64>());
    }
    out
}
