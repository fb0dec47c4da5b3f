//! Embeds `knowledge/icd10cm.json` when the knowledge builder has written it (cfg `medgym_icd10cm`).

use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let knowledge = dir.join("../../knowledge");
    println!("cargo::rerun-if-changed={}", knowledge.display());
    println!("cargo::rustc-check-cfg=cfg(medgym_icd10cm)");
    let file = knowledge.join("icd10cm.json");
    if file.is_file() {
        let file = file.canonicalize().unwrap_or(file);
        println!("cargo::rustc-cfg=medgym_icd10cm");
        println!("cargo::rustc-env=MEDGYM_ICD10CM={}", file.display());
    }
}
