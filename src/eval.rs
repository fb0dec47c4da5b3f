//! `medgym eval`: metric tables (by domain and overall) over trajectory files, and SVG charts.
//! The metrics are defined in `medgym_agents::eval`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use medgym_agents::eval::{self, Summary};
use medgym_env::record::EpisodeRecord;
use plotters::prelude::*;

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Trajectory files (JSONL) or directories of them; one policy per file.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Write SVG charts to this directory: accuracy vs cost (one point per file) and the
    /// reward distribution of each file.
    #[arg(long, value_name = "DIR")]
    plot: Option<PathBuf>,
}

/// The label of a file in tables and charts: its name without extension.
fn label(path: &Path) -> String {
    path.file_stem().map_or_else(
        || path.display().to_string(),
        |s| s.to_string_lossy().into(),
    )
}

pub fn eval(args: EvalArgs) -> Result<()> {
    let mut overall: Vec<Summary> = Vec::new();
    let mut sets: Vec<(String, Vec<EpisodeRecord>)> = Vec::new();
    for path in &args.files {
        let records =
            medgym_sink::read_all(path).with_context(|| format!("reading {}", path.display()))?;
        let name = label(path);
        println!("## {name} ({} episodes)\n", records.len());
        let rows = eval::by_domain(&records);
        println!("{}", eval::markdown("domain", &rows));
        if let Some(mut all) = rows.last().cloned() {
            all.label = name.clone();
            overall.push(all);
        }
        sets.push((name, records));
    }
    if overall.len() > 1 {
        println!("## overall\n");
        println!("{}", eval::markdown("file", &overall));
    }
    let terms: Vec<(String, Vec<(String, f64)>)> = sets
        .iter()
        .map(|(name, records)| (name.clone(), eval::reward_terms(records)))
        .collect();
    println!("## mean reward terms per episode\n");
    println!("{}", eval::terms_markdown("file", &terms));
    if let Some(dir) = &args.plot {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join("accuracy_vs_cost.svg");
        accuracy_vs_cost(&path, &overall)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("drawing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
        for (name, records) in &sets {
            let path = dir.join(format!("reward_{name}.svg"));
            reward_histogram(&path, name, records)
                .map_err(|e| anyhow::anyhow!("{e}"))
                .with_context(|| format!("drawing {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(())
}

type Plot = std::result::Result<(), Box<dyn std::error::Error>>;

/// Top-1 accuracy against mean cost, one labelled point per file.
fn accuracy_vs_cost(path: &Path, rows: &[Summary]) -> Plot {
    let root = SVGBackend::new(path, (800, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let max_cost = rows.iter().map(|s| s.cost_usd).fold(0.0, f64::max);
    let x_max = (max_cost * 1.3).max(10.0);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Top-1 accuracy vs mean cost per episode",
            ("sans-serif", 22),
        )
        .margin(20)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(0.0..x_max, 0.0..1.05)?;
    chart
        .configure_mesh()
        .x_desc("mean cost (USD)")
        .y_desc("top-1 accuracy")
        .draw()?;
    chart.draw_series(rows.iter().enumerate().map(|(i, s)| {
        let color = Palette99::pick(i).to_rgba();
        EmptyElement::at((s.cost_usd, s.top1))
            + Circle::new((0, 0), 6, color.filled())
            + Text::new(s.label.clone(), (9, -14), ("sans-serif", 15))
    }))?;
    root.present()?;
    Ok(())
}

/// Histogram of total episode rewards.
fn reward_histogram(path: &Path, name: &str, records: &[EpisodeRecord]) -> Plot {
    const BINS: usize = 30;
    let rewards: Vec<f64> = records.iter().map(|r| r.outcome.total_reward).collect();
    let lo = rewards.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = rewards.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if lo.is_finite() && hi > lo {
        (lo, hi)
    } else if lo.is_finite() {
        (lo - 0.5, lo + 0.5)
    } else {
        (-1.0, 1.0)
    };
    let width = (hi - lo) / BINS as f64;
    let mut counts = [0u32; BINS];
    for r in &rewards {
        let b = (((r - lo) / width) as usize).min(BINS - 1);
        counts[b] += 1;
    }
    let top = counts.iter().copied().max().unwrap_or(0).max(1);
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Episode reward: {name} ({} episodes)", rewards.len()),
            ("sans-serif", 22),
        )
        .margin(20)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(lo..hi, 0u32..top + top / 10 + 1)?;
    chart
        .configure_mesh()
        .x_desc("total reward")
        .y_desc("episodes")
        .draw()?;
    chart.draw_series(counts.iter().enumerate().map(|(i, &c)| {
        let x0 = lo + i as f64 * width;
        Rectangle::new([(x0, 0), (x0 + width, c)], BLUE.mix(0.6).filled())
    }))?;
    root.present()?;
    Ok(())
}
