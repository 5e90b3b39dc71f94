//! Embeds every shipped config (configs/chips/*.toml, configs/models/*.toml)
//! into the binary, so an installed `tilesim` works from any directory; and
//! fingerprints the library's sources (`TILESIM_SOURCE_HASH`), so caches of
//! simulated results (`tilesim serve`'s step-time cache) are dropped when
//! the code that produced them changes.

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
    source_hash(Path::new(&root));
}

/// FNV-1a over the path and contents of every library source file (src/,
/// less the binary's src/main.rs and src/cli/), in path order.
fn source_hash(root: &Path) {
    println!("cargo:rerun-if-changed=src");
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        for e in rd.filter_map(|e| e.ok()) {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    let src = root.join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    files.retain(|p| !p.starts_with(src.join("cli")) && *p != src.join("main.rs"));
    files.sort();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for f in files {
        let rel = f.strip_prefix(root).unwrap_or(&f).to_string_lossy().replace('\\', "/");
        for b in rel.bytes().chain([0]).chain(std::fs::read(&f).unwrap_or_default()) {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
    println!("cargo:rustc-env=TILESIM_SOURCE_HASH={h:016x}");
}
