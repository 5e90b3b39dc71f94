//! Model config files: schema, validation, derivation into `model::Model`.

use super::{ConfigError, Invalid, invalid, locate, parse_toml};
use crate::dtype::Dtype;
use crate::model::{Mla, Model};
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
    /// Shared experts of every MoE layer, always active (0: none).
    #[serde(default)]
    pub shared_experts: u64,
    /// Inner size of each shared expert.
    #[serde(default)]
    pub shared_ffn: u64,
    /// Layers at the start of an MoE model with a dense FFN instead of
    /// experts (0: none).
    #[serde(default)]
    pub dense_layers: u64,
    /// Inner size of those layers' dense FFN.
    #[serde(default)]
    pub dense_ffn: u64,
    /// Multi-head latent attention (a `[mla]` table; absent: MHA/GQA).
    #[serde(default)]
    pub mla: Option<MlaFile>,
}

/// The `[mla]` table: multi-head latent attention (DeepSeek-V2/V3).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlaFile {
    /// Rank of the query compression (absent: a full query projection).
    #[serde(default)]
    pub q_lora_rank: Option<u64>,
    /// Width of the compressed KV latent (cached per token and layer).
    pub kv_lora_rank: u64,
    /// Per-head query/key width without rotary embedding.
    pub qk_nope_head_dim: u64,
    /// Width of the decoupled RoPE key (shared by all heads, cached) and of
    /// each head's RoPE query part.
    pub qk_rope_head_dim: u64,
    /// Per-head value width.
    pub v_head_dim: u64,
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
    let mla = match &f.mla {
        None => None,
        Some(a) => Some(derive_mla(f, a)?),
    };
    for (count, size, what) in
        [("shared_experts", "shared_ffn", "shared experts"), ("dense_layers", "dense_ffn", "dense layers")]
    {
        let (c, z) = match count {
            "shared_experts" => (f.shared_experts, f.shared_ffn),
            _ => (f.dense_layers, f.dense_ffn),
        };
        if (c == 0) != (z == 0) {
            let (field, found) = if c == 0 { (count, size) } else { (size, count) };
            return Err(invalid(field, format!("must be given (at least 1) with `{found}`: {what} need both")));
        }
        if c > 0 && f.experts == 1 {
            return Err(invalid(
                count,
                format!("needs a mixture-of-experts model (experts > 1): {what} sit beside routed experts"),
            ));
        }
    }
    for (field, v, max) in [
        ("shared_experts", f.shared_experts, lim::MAX_EXPERTS),
        ("shared_ffn", f.shared_ffn, lim::MAX_FFN),
        ("dense_ffn", f.dense_ffn, lim::MAX_FFN),
    ] {
        if v > max {
            return Err(invalid(field, format!("must be at most {max} (arch/limits.md), found {v}")));
        }
    }
    if f.dense_layers > f.layers {
        return Err(invalid("dense_layers", format!("cannot exceed layers ({}), found {}", f.layers, f.dense_layers)));
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
        shared_experts: f.shared_experts,
        shared_ffn: f.shared_ffn,
        dense_layers: f.dense_layers,
        dense_ffn: f.dense_ffn,
        mla,
        dtype: f.dtype,
        tied_embeddings: f.tied_embeddings,
    })
}

/// The `[mla]` table, checked against the head fields it must agree with.
fn derive_mla(f: &ModelFile, a: &MlaFile) -> Result<Mla, Invalid> {
    use crate::limits as lim;
    for (field, v, max) in [
        ("mla.kv_lora_rank", a.kv_lora_rank, lim::MAX_HIDDEN),
        ("mla.q_lora_rank", a.q_lora_rank.unwrap_or(1), lim::MAX_HIDDEN),
        ("mla.qk_nope_head_dim", a.qk_nope_head_dim, lim::MAX_HEAD_DIM),
        ("mla.qk_rope_head_dim", a.qk_rope_head_dim, lim::MAX_HEAD_DIM),
        ("mla.v_head_dim", a.v_head_dim, lim::MAX_HEAD_DIM),
    ] {
        if v == 0 {
            return Err(invalid(field, "must be at least 1, found 0"));
        }
        if v > max {
            return Err(invalid(field, format!("must be at most {max} (arch/limits.md), found {v}")));
        }
    }
    if f.kv_heads != f.heads {
        return Err(invalid(
            "kv_heads",
            format!(
                "must equal heads ({}) with [mla]: every head has its own keys and values, expanded from the latent; found {}",
                f.heads, f.kv_heads
            ),
        ));
    }
    let qk = a.qk_nope_head_dim + a.qk_rope_head_dim;
    if f.head_dim != qk {
        return Err(invalid(
            "head_dim",
            format!(
                "must be mla.qk_nope_head_dim + mla.qk_rope_head_dim ({qk}) with [mla] (the query head width), found {}",
                f.head_dim
            ),
        ));
    }
    Ok(Mla {
        q_lora_rank: a.q_lora_rank,
        kv_lora_rank: a.kv_lora_rank,
        qk_nope_head_dim: a.qk_nope_head_dim,
        qk_rope_head_dim: a.qk_rope_head_dim,
        v_head_dim: a.v_head_dim,
    })
}

/// Checks the parameter count in 128-bit arithmetic against
/// `limits::MAX_PARAMS` (so every count the model derives fits u64 with
/// room for bytes and tokens), naming the field whose part is largest.
fn params_in_bounds(f: &ModelFile) -> Result<(), Invalid> {
    let w = |v: u64| v as u128;
    let (q, kv) = (w(f.heads) * w(f.head_dim), w(f.kv_heads) * w(f.head_dim));
    let attn = match &f.mla {
        None => w(f.hidden) * (q + 2 * kv) + q * w(f.hidden),
        Some(a) => {
            let r = w(a.q_lora_rank.unwrap_or(0));
            let lat = w(a.kv_lora_rank);
            (w(f.hidden) + r) * (q + r)
                + (w(f.hidden) + 1) * (lat + w(a.qk_rope_head_dim))
                + lat * w(f.heads) * (w(a.qk_nope_head_dim) + w(a.v_head_dim))
                + w(f.heads) * w(a.v_head_dim) * w(f.hidden)
        }
    };
    let experts = (w(f.experts) * w(f.ffn) + w(f.shared_experts) * w(f.shared_ffn) + w(f.dense_ffn)) * 3 * w(f.hidden);
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

#[cfg(test)]
mod tests {
    use super::load_str;

    const MOE: &str = "name = \"m\"\ndescription = \"d\"\nlayers = 4\nhidden = 256\nheads = 4\nkv_heads = 4\nhead_dim = 48\n\
                       ffn = 64\nvocab = 1000\nexperts = 8\ntop_k = 2\ndtype = \"bf16\"\ntied_embeddings = false\n";
    const MLA: &str = "\n[mla]\nkv_lora_rank = 32\nqk_nope_head_dim = 32\nqk_rope_head_dim = 16\nv_head_dim = 32\n";

    fn err(text: &str) -> String {
        load_str("m.toml", text).unwrap_err().to_string()
    }

    #[test]
    fn the_optional_parts_load_and_count() {
        let text = format!("{MOE}shared_experts = 2\nshared_ffn = 64\ndense_layers = 1\ndense_ffn = 512\n{MLA}");
        let m = load_str("m.toml", &text).unwrap();
        let a = m.mla.unwrap();
        assert_eq!((a.q_lora_rank, a.kv_lora_rank, a.qk_rope_head_dim), (None, 32, 16));
        // Query 256 x 4 x 48, KV down 256 x 48, KV up 32 x 4 x 64, O 4 x 32 x 256.
        let attn = 256 * 4 * 48 + 256 * 48 + 32 * 4 * 64 + 4 * 32 * 256;
        assert_eq!(m.attn_params(), attn);
        let norms = 2 * 256 + 32;
        assert_eq!(m.layer_params_at(0), attn + 3 * 256 * 512 + norms);
        assert_eq!(m.layer_params_at(1), attn + (8 + 2) * 3 * 256 * 64 + 256 * 8 + norms);
        assert_eq!(m.active_layer_params_at(3), attn + (2 + 2) * 3 * 256 * 64 + 256 * 8 + norms);
        assert_eq!(m.kv_elements_per_token(), 4 * (32 + 16));
        // Without the optional fields, the model is as before.
        let plain = load_str("m.toml", MOE).unwrap();
        assert_eq!(plain.layer_params_at(0), plain.layer_params_at(3));
        assert_eq!(plain.kv_elements_per_token(), 4 * 2 * 4 * 48);
    }

    #[test]
    fn inconsistent_optional_parts_are_refused_at_their_field() {
        let e = err(&format!("{MOE}shared_experts = 1\n"));
        assert!(e.contains("`shared_ffn`") && e.contains("must be given"), "{e}");
        let e = err(&format!("{MOE}dense_ffn = 64\n"));
        assert!(e.contains("`dense_layers`"), "{e}");
        let e = err(&format!("{MOE}dense_layers = 5\ndense_ffn = 64\n"));
        assert!(e.contains("cannot exceed layers (4)"), "{e}");
        let e = err(&format!(
            "{}shared_experts = 1\nshared_ffn = 64\n",
            MOE.replace("experts = 8", "experts = 1").replace("top_k = 2", "top_k = 1")
        ));
        assert!(e.contains("needs a mixture-of-experts model"), "{e}");
        let e = err(&format!("{}{MLA}", MOE.replace("kv_heads = 4", "kv_heads = 2")));
        assert!(e.contains("`kv_heads`") && e.contains("must equal heads (4) with [mla]"), "{e}");
        let e = err(&format!("{}{MLA}", MOE.replace("head_dim = 48", "head_dim = 64")));
        assert!(e.contains("`head_dim`") && e.contains("(48)"), "{e}");
        let e = err(&format!("{MOE}{}", MLA.replace("v_head_dim = 32", "v_head_dim = 0")));
        assert!(e.contains("mla.v_head_dim") && e.contains("at least 1"), "{e}");
        let e = err(&format!("{MOE}{MLA}kv_rank = 3\n"));
        assert!(e.contains("kv_rank"), "an unknown key in [mla] is refused: {e}");
    }
}
