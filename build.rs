//! Embeds every shipped config (configs/chips/*.toml, configs/models/*.toml)
//! into the binary, so an installed `tilesim` works from any directory.

use std::fmt::Write;
use std::path::Path;

fn main() {
    let root = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    let mut out = String::new();
    for (kind, dir) in [("CHIPS", "configs/chips"), ("MODELS", "configs/models")] {
        println!("cargo:rerun-if-changed={dir}");
        let path = Path::new(&root).join(dir);
        let mut files: Vec<_> = std::fs::read_dir(&path)
            .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "toml"));
        files.sort();
        writeln!(out, "pub static {kind}: &[(&str, &str)] = &[").unwrap();
        for f in files {
            let stem = f.file_stem().unwrap().to_str().unwrap().to_string();
            writeln!(out, "    ({stem:?}, include_str!({:?})),", f.display().to_string()).unwrap();
        }
        writeln!(out, "];").unwrap();
    }
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("shipped.rs");
    std::fs::write(dest, out).unwrap();
}
