//! Embeds `knowledge/hpo_terms.json` when the knowledge builder has written it (cfg `medgym_hpo`).
//! `knowledge/icd10cm.json` comes from `medgym-clinic`, which embeds it for diagnosis resolution.

use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let knowledge = dir.join("../../knowledge");
    println!("cargo::rerun-if-changed={}", knowledge.display());
    println!("cargo::rustc-check-cfg=cfg(medgym_hpo)");
    let file = knowledge.join("hpo_terms.json");
    if file.is_file() {
        let file = file.canonicalize().unwrap_or(file);
        println!("cargo::rustc-cfg=medgym_hpo");
        println!("cargo::rustc-env=MEDGYM_HPO={}", file.display());
    }
}
