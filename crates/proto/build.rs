//! Generates the medgym.v1 code with protox (pure Rust, no system `protoc`) and writes the
//! descriptor set that server reflection serves.

use std::{env, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let out = PathBuf::from(env::var("OUT_DIR")?);
    println!("cargo:rerun-if-changed={}", root.display());

    let files = protox::compile(
        ["medgym/v1/environment.proto", "medgym/v1/bench.proto"],
        [&root],
    )?;
    std::fs::write(
        out.join("medgym_descriptor.bin"),
        prost::Message::encode_to_vec(&files),
    )?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // Ordered maps: the same episode must encode to the same bytes.
        .btree_map(".")
        .compile_fds(files)?;
    Ok(())
}
