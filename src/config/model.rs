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

pub fn load_str(file: &str, text: &str) -> Result<Model, ConfigError> {
    let raw: ModelFile = parse_toml(file, text)?;
    derive(&raw).map_err(|inv| locate(file, text, inv))
}

pub fn derive(f: &ModelFile) -> Result<Model, Invalid> {
    use crate::limits as lim;
    for (field, v, max) in [
        ("layers", f.layers, lim::MAX_LAYERS),
        ("hidden", f.hidden, lim::MAX_HIDDEN),
        ("heads", f.heads, lim::MAX_HEADS),
        ("kv_heads", f.kv_heads, lim::MAX_HEADS),
        ("head_dim", f.head_dim, lim::MAX_HEAD_DIM),
        ("ffn", f.ffn, lim::MAX_FFN),
        ("vocab", f.vocab, lim::MAX_VOCAB),
        ("experts", f.experts, lim::MAX_EXPERTS),
        ("top_k", f.top_k, lim::MAX_EXPERTS),
    ] {
        if v == 0 {
            return Err(invalid(field, "must be at least 1, found 0"));
        }
        if v > max {
            return Err(invalid(field, format!("must be at most {max} (arch/limits.md), found {v}")));
        }
    }
    if !f.heads.is_multiple_of(f.kv_heads) {
        return Err(invalid("kv_heads", format!("must divide heads ({}), found {}", f.heads, f.kv_heads)));
    }
    if f.top_k > f.experts {
        return Err(invalid("top_k", format!("cannot exceed experts ({}), found {}", f.experts, f.top_k)));
    }
    params_in_bounds(f)?;
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

/// Checks the parameter count in 128-bit arithmetic against
/// `limits::MAX_PARAMS` (so every count the model derives fits u64 with
/// room for bytes and tokens), naming the field whose part is largest.
fn params_in_bounds(f: &ModelFile) -> Result<(), Invalid> {
    let w = |v: u64| v as u128;
    let (q, kv) = (w(f.heads) * w(f.head_dim), w(f.kv_heads) * w(f.head_dim));
    let attn = w(f.hidden) * (q + 2 * kv) + q * w(f.hidden);
    let experts = w(f.experts) * 3 * w(f.hidden) * w(f.ffn);
    let layer = attn + experts + w(f.hidden) * w(f.experts) + 2 * w(f.hidden);
    let embedding = 2 * w(f.vocab) * w(f.hidden);
    let total = w(f.layers) * layer + embedding + w(f.hidden);
    if total <= crate::limits::MAX_PARAMS {
        return Ok(());
    }
    // Blame the field that makes the largest part too large.
    let field = if layer > crate::limits::MAX_PARAMS {
        if experts >= attn { if w(f.experts) > 1 { "experts" } else { "ffn" } } else { "heads" }
    } else if embedding > crate::limits::MAX_PARAMS {
        "vocab"
    } else {
        "layers"
    };
    Err(invalid(
        field,
        format!("makes the model {total} parameters, more than the 2^50 a model may have (arch/limits.md)"),
    ))
}
