//! Hugging Face `config.json` import (`tilesim import-model`, and a
//! config.json wherever a model is named) on the real configs in
//! `tests/data/hf/` (their origins: tests/data/hf/README.md): every family
//! tilesim can map compiles and runs on h100; the ones it cannot (MLA,
//! shared experts) are refused with the file, line and field.

mod common;

use common::{text, tilesim};
use std::path::PathBuf;

const MAPPED: [&str; 4] = ["llama-3-8b", "mistral-7b-v0.1", "mixtral-8x7b-v0.1", "qwen2-7b"];

fn config(name: &str) -> String {
    format!("tests/data/hf/{name}/config.json")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tilesim-hf-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn each_mapped_family_imports_compiles_and_runs_on_h100() {
    for name in MAPPED {
        let dir = scratch(name);
        let toml = dir.join("model.toml");
        let (code, _, err) = text(&tilesim(&["import-model", &config(name), "-o", toml.to_str().unwrap()]));
        assert_eq!(code, 0, "{name}: {err}");
        let written = std::fs::read_to_string(&toml).unwrap();
        assert!(written.contains(&format!("name = \"{name}\"")), "{written}");
        // The imported TOML and the config.json itself both work as --model.
        for model in [toml.to_str().unwrap().to_string(), config(name)] {
            let trace = dir.join("t.tbin");
            let (code, _, err) = text(&tilesim(&[
                "compile",
                "--model",
                &model,
                "--chip",
                "h100",
                "--layers",
                "1",
                "--context",
                "256",
                "-o",
                trace.to_str().unwrap(),
            ]));
            assert_eq!(code, 0, "{name} ({model}): {err}");
            // No --chip: the trace's header names h100.
            let (code, out, err) = text(&tilesim(&["run", trace.to_str().unwrap(), "--json"]));
            assert_eq!(code, 0, "{name}: {err}");
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert!(v["tokens_per_second"].as_f64().unwrap() > 0.0, "{name}: {out}");
        }
        std::fs::remove_dir_all(dir).ok();
    }
}

#[test]
fn imported_shapes_match_the_shipped_configs_of_the_same_models() {
    for (hf, shipped) in [("llama-3-8b", "llama-3-8b"), ("mixtral-8x7b-v0.1", "mixtral-8x7b")] {
        let path = config(hf);
        let m = tilesim::config::model::load_str(&path, &std::fs::read_to_string(&path).unwrap()).unwrap();
        let s = common::model(shipped);
        assert_eq!(
            (m.layers, m.hidden, m.heads, m.kv_heads, m.head_dim, m.ffn, m.vocab, m.experts, m.top_k, m.dtype),
            (s.layers, s.hidden, s.heads, s.kv_heads, s.head_dim, s.ffn, s.vocab, s.experts, s.top_k, s.dtype),
            "{hf} against the shipped {shipped}"
        );
        assert_eq!(m.params(), s.params());
    }
}

#[test]
fn notes_say_what_is_not_modelled() {
    let (code, out, _) = text(&tilesim(&["import-model", &config("mistral-7b-v0.1")]));
    assert_eq!(code, 0);
    assert!(out.contains("# Not modelled: sliding_window = 4096"), "{out}");
    let (_, out, _) = text(&tilesim(&["import-model", &config("qwen2-7b"), "--name", "q"]));
    assert!(out.contains("Q/K/V projection biases") && out.contains("name = \"q\""), "{out}");
    assert!(!out.contains("sliding_window"), "use_sliding_window is false: {out}");
}

#[test]
fn what_the_compiler_cannot_map_is_refused_with_file_line_and_field() {
    for (name, line, field) in [
        ("deepseek-v2-lite", 20, "kv_lora_rank"),
        ("deepseek-v3", 21, "kv_lora_rank"),
        ("qwen1.5-moe-a2.7b", 29, "shared_expert_intermediate_size"),
    ] {
        let dir = scratch(name);
        let out = dir.join("m.toml");
        let (code, _, err) = text(&tilesim(&["import-model", &config(name), "-o", out.to_str().unwrap()]));
        assert_eq!(code, 2, "{name}: {err}");
        let at = format!("error: {}:{line}:3: `{field}`", config(name));
        assert!(err.starts_with(&at), "{name}: expected `{at}`, got {err}");
        assert!(err.contains("cannot map this yet"), "{err}");
        assert!(!out.exists(), "no output file may be left behind");
        // The same refusal where a model is named.
        let (code, _, err2) = text(&tilesim(&["roofline", "--model", &config(name), "--chip", "h100"]));
        assert_eq!(code, 2);
        assert_eq!(err, err2);
        std::fs::remove_dir_all(dir).ok();
    }
    let (_, _, err) = text(&tilesim(&["import-model", &config("deepseek-v2-lite")]));
    for part in ["multi-head latent attention", "`n_shared_experts` = 2", "`first_k_dense_replace` = 1"] {
        assert!(err.contains(part), "{part}: {err}");
    }
}
