//! Embeds `knowledge/icd10cm.json` and `knowledge/hpo_terms.json` when the knowledge builder has
//! written them (cfgs `medgym_icd10cm`, `medgym_hpo`).

use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let knowledge = dir.join("../../knowledge");
    println!("cargo::rerun-if-changed={}", knowledge.display());
    for (name, cfg, env) in [
        ("icd10cm.json", "medgym_icd10cm", "MEDGYM_ICD10CM"),
        ("hpo_terms.json", "medgym_hpo", "MEDGYM_HPO"),
    ] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        let file = knowledge.join(name);
        if file.is_file() {
            let file = file.canonicalize().unwrap_or(file);
            println!("cargo::rustc-cfg={cfg}");
            println!("cargo::rustc-env={env}={}", file.display());
        }
    }
}
