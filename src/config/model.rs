//! Model config files: schema, validation, derivation into `model::Model`.

use super::{ConfigError, Invalid, invalid, locate, parse_toml};
use crate::dtype::Dtype;
use crate::model::Model;
use serde::Deserialize;

/// A model config file (`configs/models/*.toml`). Shapes follow the
/// published model cards.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    /// Short name used on the command line and in trace headers.
    pub name: String,
    pub description: String,
    /// Transformer layers.
    pub layers: u64,
    /// Model (residual stream) width.
    pub hidden: u64,
    /// Query heads.
    pub heads: u64,
    /// Key/value heads (grouped-query attention when fewer than heads).
    pub kv_heads: u64,
    /// Width of each head.
    pub head_dim: u64,
    /// FFN inner size (per expert for MoE).
    pub ffn: u64,
    /// Vocabulary size.
    pub vocab: u64,
    /// Experts per layer (1 for dense).
    pub experts: u64,
    /// Experts each token is routed to (1 for dense).
    pub top_k: u64,
    /// Type the parameters are published in (e.g. bf16).
    pub dtype: Dtype,
    /// Whether the LM head shares the embedding matrix.
    pub tied_embeddings: bool,
}

/// Parses, validates and derives a model config; a `.json` file is a
/// Hugging Face `config.json`, imported by `config::hf`.
pub fn load_str(file: &str, text: &str) -> Result<Model, ConfigError> {
    if super::hf::is_hf(file) {
        return super::hf::load(file, text);
    }
    let raw: ModelFile = parse_toml(file, text)?;
    derive(&raw).map_err(|inv| locate(file, text, inv))
}

pub fn derive(f: &ModelFile) -> Result<Model, Invalid> {
    for (field, v) in [
        ("layers", f.layers),
        ("hidden", f.hidden),
        ("heads", f.heads),
        ("kv_heads", f.kv_heads),
        ("head_dim", f.head_dim),
        ("ffn", f.ffn),
        ("vocab", f.vocab),
        ("experts", f.experts),
        ("top_k", f.top_k),
    ] {
        if v == 0 {
            return Err(invalid(field, "must be at least 1, found 0"));
        }
    }
    if !f.heads.is_multiple_of(f.kv_heads) {
        return Err(invalid("kv_heads", format!("must divide heads ({}), found {}", f.heads, f.kv_heads)));
    }
    if f.top_k > f.experts {
        return Err(invalid("top_k", format!("cannot exceed experts ({}), found {}", f.experts, f.top_k)));
    }
    if f.name.is_empty() || f.name.contains(char::is_whitespace) {
        return Err(invalid("name", "must be a non-empty name without spaces"));
    }
    Ok(Model {
        name: f.name.clone(),
        description: f.description.clone(),
        layers: f.layers,
        hidden: f.hidden,
        heads: f.heads,
        kv_heads: f.kv_heads,
        head_dim: f.head_dim,
        ffn: f.ffn,
        vocab: f.vocab,
        experts: f.experts,
        top_k: f.top_k,
        dtype: f.dtype,
        tied_embeddings: f.tied_embeddings,
    })
}
