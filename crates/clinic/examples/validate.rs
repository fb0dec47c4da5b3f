//! Validates a knowledge directory: `cargo run -p medgym-clinic --example validate -- DIR`.

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "knowledge".into());
    match medgym_clinic::Knowledge::load_dir(std::path::Path::new(&dir)) {
        Ok(k) => println!(
            "{dir}: ok ({} findings, {} exams, {} diseases, {} cases)",
            k.findings.len(),
            k.exams.len(),
            k.diseases.len(),
            k.cases.len()
        ),
        Err(e) => {
            eprintln!("{dir}: {e}");
            std::process::exit(1);
        }
    }
}
