//! Hugging Face `config.json` files as model configs (`tilesim
//! import-model`, and a `config.json` path wherever a model is named): the
//! Llama, Mistral, Mixtral, Qwen2 (dense and MoE) and DeepSeek-V2/V3
//! families. Their shapes map onto `ModelFile`, multi-head latent
//! attention, shared experts and dense first layers included; what the
//! model schema cannot map yet (dense layers at chosen places, MoE every
//! k-th layer) is refused with the field that asks for it, and details
//! that do not change the bytes and FLOPs much (biases, rotary scaling, a
//! sliding window the schema does not model, DeepSeek-V3's group-limited
//! routing and MTP module) are written as comments in the imported TOML.
//! arch/configs.md, "Hugging Face models".

use super::model::{MlaFile, ModelFile};
use super::{ConfigError, ConfigErrorKind, Invalid};
use crate::diag::Location;
use crate::dtype::Dtype;
use crate::model::Model;
use serde_json::{Map, Value};
use std::path::Path;

/// The `model_type`s read, and the family each belongs to.
const FAMILIES: &[(&str, &str)] = &[
    ("llama", "Llama"),
    ("mistral", "Mistral"),
    ("mixtral", "Mixtral"),
    ("qwen2", "Qwen2"),
    ("qwen2_moe", "Qwen2-MoE"),
    ("deepseek_v2", "DeepSeek-V2"),
    ("deepseek_v3", "DeepSeek-V3"),
];

/// A config.json read into the model schema, with what it did not map.
#[derive(Debug)]
pub struct Imported {
    pub model: ModelFile,
    /// The `model_type`.
    pub model_type: String,
    /// Details of the config that the model schema leaves out, one line each.
    pub notes: Vec<String>,
}

/// Whether `file` names a Hugging Face config (a `.json` file).
pub fn is_hf(file: &str) -> bool {
    file.ends_with(".json")
}

/// The name a model imported from `file` gets by default: the directory's
/// name for a `config.json` (`llama-2-7b/config.json` is `llama-2-7b`),
/// else the file's stem; lower case, spaces and other separators as `-`.
pub fn default_name(file: &str) -> String {
    let p = Path::new(file);
    let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
    let raw = if stem == "config" {
        p.parent()
            .and_then(|d| d.file_name())
            .and_then(|s| s.to_str())
            .filter(|s| !s.is_empty() && *s != "." && *s != "..")
            .unwrap_or(stem)
    } else {
        stem
    };
    let name: String = raw
        .chars()
        .map(|c| if c.is_alphanumeric() || matches!(c, '.' | '_' | '-') { c.to_ascii_lowercase() } else { '-' })
        .collect();
    if name.is_empty() { "model".into() } else { name }
}

/// Reads `text` (the contents of `file`) into the model schema; `name`
/// defaults to [`default_name`].
pub fn read(file: &str, text: &str, name: Option<&str>) -> Result<Imported, ConfigError> {
    let root: Value = serde_json::from_str(text).map_err(|e| ConfigError {
        loc: if e.line() > 0 { Location::line(file, e.line() as u64, Some(e.column())) } else { Location::file(file) },
        kind: ConfigErrorKind::Parse(format!("not a JSON config: {e}")),
    })?;
    let Value::Object(obj) = root else {
        return Err(ConfigError {
            loc: Location::file(file),
            kind: ConfigErrorKind::Parse("expected a JSON object (a Hugging Face config.json)".into()),
        });
    };
    let c = Json { file, text, obj: &obj };
    let model_type = c.string("model_type")?;
    let Some(&(_, family)) = FAMILIES.iter().find(|(t, _)| *t == model_type) else {
        let known: Vec<&str> = FAMILIES.iter().map(|(t, _)| *t).collect();
        return Err(c.invalid(
            "model_type",
            format!("is `{model_type}`; tilesim imports the model types {} (arch/configs.md)", known.join(", ")),
        ));
    };

    // What the schema cannot hold: refuse, naming every field that asks for it.
    let mut refused: Vec<(&str, String)> = Vec::new();
    if let Some(Value::Array(a)) = obj.get("mlp_only_layers").filter(|v| v.as_array().is_some_and(|a| !a.is_empty())) {
        refused.push(("mlp_only_layers", format!("lists {} dense layers at chosen places in an MoE model", a.len())));
    }
    if let Some(step) = c.opt_u64("decoder_sparse_step")?.filter(|&s| s > 1)
        && c.opt_u64("num_experts")?.is_some()
    {
        refused.push(("decoder_sparse_step", format!("= {step}: MoE only every {step}th layer")));
    }
    if let Some(freq) = c.opt_u64("moe_layer_freq")?.filter(|&f| f > 1)
        && matches!(model_type.as_str(), "deepseek_v2" | "deepseek_v3")
    {
        refused.push(("moe_layer_freq", format!("= {freq}: MoE only every {freq}th layer")));
    }
    if let Some((key, first)) = refused.first() {
        let others: Vec<String> = refused[1..].iter().map(|(k, m)| format!("`{k}` {m}")).collect();
        let also = if others.is_empty() { String::new() } else { format!("; also {}", others.join("; ")) };
        return Err(c.invalid(
            key,
            format!(
                "{first}{also}. The compiler cannot map this yet: tilesim's model schema has dense layers only at \
                 the start of an MoE model (`dense_layers`), experts in every layer after them \
                 (arch/configs.md, \"Hugging Face models\")"
            ),
        ));
    }

    let layers = c.u64("num_hidden_layers")?;
    let hidden = c.u64("hidden_size")?;
    let heads = c.u64("num_attention_heads")?;
    let deepseek = matches!(model_type.as_str(), "deepseek_v2" | "deepseek_v3");
    let mut notes = Vec::new();
    // Multi-head latent attention (DeepSeek): every head's query is
    // qk_nope + qk_rope wide, its keys and values come from the latent.
    let mla = match c.opt_u64("kv_lora_rank")? {
        Some(kv_lora_rank) => {
            let q_lora_rank = c.opt_u64("q_lora_rank")?;
            Some(MlaFile {
                q_lora_rank,
                kv_lora_rank,
                qk_nope_head_dim: c.u64("qk_nope_head_dim")?,
                qk_rope_head_dim: c.u64("qk_rope_head_dim")?,
                v_head_dim: c.u64("v_head_dim")?,
            })
        }
        None => None,
    };
    let kv_heads = match (&mla, c.opt_u64("num_key_value_heads")?) {
        (Some(_), Some(n)) if n != heads => {
            notes.push(format!(
                "num_key_value_heads = {n}: not used by multi-head latent attention (every one of the {heads} heads \
                 has its own keys and values, expanded from the latent)"
            ));
            heads
        }
        (Some(_), _) => heads,
        (None, n) => n.unwrap_or(heads),
    };
    let head_dim = match (&mla, c.opt_u64("head_dim")?) {
        (Some(a), _) => a.qk_nope_head_dim + a.qk_rope_head_dim,
        (None, explicit) => match explicit {
            Some(d) => d,
            None => {
                if heads == 0 || !hidden.is_multiple_of(heads) {
                    return Err(c.invalid(
                        "num_attention_heads",
                        format!("({heads}) must divide hidden_size ({hidden}) when the config gives no head_dim"),
                    ));
                }
                hidden / heads
            }
        },
    };
    let vocab = c.u64("vocab_size")?;
    let (experts, top_k, ffn) = match model_type.as_str() {
        "mixtral" => (c.u64("num_local_experts")?, c.u64("num_experts_per_tok")?, c.u64("intermediate_size")?),
        "qwen2_moe" | "deepseek_v2" | "deepseek_v3" => {
            let experts = match model_type.as_str() {
                "qwen2_moe" => c.u64("num_experts")?,
                _ => c.u64("n_routed_experts")?,
            };
            (experts, c.u64("num_experts_per_tok")?, c.u64("moe_intermediate_size")?)
        }
        _ => (1, 1, c.u64("intermediate_size")?),
    };
    let dtype_key = if obj.contains_key("torch_dtype") { "torch_dtype" } else { "dtype" };
    let dtype = match obj.get(dtype_key) {
        None | Some(Value::Null) => Dtype::Bf16,
        Some(_) => {
            match c.string(dtype_key)?.as_str() {
                "bfloat16" => Dtype::Bf16,
                "float16" => Dtype::Fp16,
                "float32" => Dtype::Fp32,
                other => {
                    return Err(c.invalid(
                    dtype_key,
                    format!("is `{other}`; expected bfloat16, float16 or float32 (the type the weights are published in)"),
                ));
                }
            }
        }
    };
    let tied = match obj.get("tie_word_embeddings") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => return Err(c.invalid("tie_word_embeddings", format!("must be true or false, found {v}"))),
    };

    // Shared experts and dense first layers.
    let (shared_experts, shared_ffn) = match model_type.as_str() {
        "qwen2_moe" => match c.opt_u64("shared_expert_intermediate_size")?.filter(|&n| n > 0) {
            Some(n) => {
                notes.push(format!(
                    "the shared expert's sigmoid gate (hidden_size x 1 = {hidden} parameters a layer, {} in all)",
                    hidden * layers
                ));
                (1, n)
            }
            None => (0, 0),
        },
        _ if deepseek => match c.opt_u64("n_shared_experts")?.filter(|&n| n > 0) {
            Some(n) => (n, ffn),
            None => (0, 0),
        },
        _ => (0, 0),
    };
    let (dense_layers, dense_ffn) = match c.opt_u64("first_k_dense_replace")?.filter(|&k| k > 0 && deepseek) {
        Some(k) => (k, c.u64("intermediate_size")?),
        None => (0, 0),
    };
    if deepseek {
        if let (Some(g), Some(t)) = (c.opt_u64("n_group")?, c.opt_u64("topk_group")?)
            && g > 1
        {
            notes.push(format!(
                "group-limited routing (n_group = {g}, topk_group = {t}): tokens reach top_k experts \
                 by tilesim's deterministic routing (arch/compiler.md), the same bytes and FLOPs per token"
            ));
        }
        if let Some(Value::String(m)) = obj.get("topk_method").filter(|v| v.as_str() == Some("noaux_tc")) {
            notes.push(format!(
                "topk_method = {m}: the router's score-correction bias (n_routed_experts values a layer)"
            ));
        }
        if let Some(n) = c.opt_u64("num_nextn_predict_layers")?.filter(|&n| n > 0) {
            notes.push(format!(
                "num_nextn_predict_layers = {n}: the multi-token-prediction module (not counted in the parameters, \
                 not run; DeepSeek-V3's 671 B total excludes its 14 B MTP module)"
            ));
        }
    }
    if let Some(Value::Object(q)) = obj.get("quantization_config") {
        let method = q.get("quant_method").and_then(Value::as_str).unwrap_or("unknown");
        let fmt = q.get("fmt").and_then(Value::as_str).map(|f| format!(" ({f})")).unwrap_or_default();
        notes.push(format!(
            "quantization_config: the checkpoint is published quantized, {method}{fmt}; dtype here is torch_dtype's \
             (run the quantized width with --weights-dtype)"
        ));
    }
    if !obj.contains_key(dtype_key) {
        notes.push("no torch_dtype given: bf16 assumed".to_string());
    }
    let sliding = c.opt_u64("sliding_window")?;
    let sliding_on = !matches!(obj.get("use_sliding_window"), Some(Value::Bool(false)));
    if let (Some(w), true) = (sliding, sliding_on) {
        notes.push(format!(
            "sliding_window = {w}: not modelled; attention reads the whole KV cache, which overstates KV reads at \
             contexts beyond {w} tokens"
        ));
    }
    if matches!(obj.get("attention_bias"), Some(Value::Bool(true)))
        || matches!(model_type.as_str(), "qwen2" | "qwen2_moe")
    {
        notes.push("Q/K/V projection biases: not modelled (under 0.1% of the weights)".to_string());
    }
    if obj.get("rope_scaling").is_some_and(|v| !v.is_null()) {
        notes.push("rope_scaling: no effect on bytes or FLOPs".to_string());
    }
    let name = name.map(str::to_string).unwrap_or_else(|| default_name(file));
    let gqa = if kv_heads < heads { format!(", GQA {heads}/{kv_heads} heads") } else { String::new() };
    let mut moe = if experts > 1 { format!(", {experts} experts top-{top_k}") } else { String::new() };
    if shared_experts > 0 {
        moe.push_str(&format!(" + {shared_experts} shared"));
    }
    if dense_layers > 0 {
        moe.push_str(&format!(", {dense_layers} dense first"));
    }
    let gqa = if mla.is_some() { format!(", MLA latent {}", mla.as_ref().map_or(0, |a| a.kv_lora_rank)) } else { gqa };
    let model = ModelFile {
        description: format!("{family}-style model imported from {file} ({layers} layers{gqa}{moe})"),
        name,
        layers,
        hidden,
        heads,
        kv_heads,
        head_dim,
        ffn,
        vocab,
        experts,
        top_k,
        dtype,
        tied_embeddings: tied,
        shared_experts,
        shared_ffn,
        dense_layers,
        dense_ffn,
        mla,
    };
    Ok(Imported { model, model_type, notes })
}

/// The config.json key each schema field comes from, for locating errors.
fn source_key(field: &str, model_type: &str) -> &'static str {
    match field {
        "layers" => "num_hidden_layers",
        "hidden" => "hidden_size",
        "heads" => "num_attention_heads",
        "kv_heads" => "num_key_value_heads",
        "head_dim" => "head_dim",
        "vocab" => "vocab_size",
        "experts" => match model_type {
            "mixtral" => "num_local_experts",
            "qwen2_moe" => "num_experts",
            _ => "n_routed_experts",
        },
        "top_k" => "num_experts_per_tok",
        "shared_experts" => "n_shared_experts",
        "shared_ffn" => match model_type {
            "qwen2_moe" => "shared_expert_intermediate_size",
            _ => "moe_intermediate_size",
        },
        "dense_layers" => "first_k_dense_replace",
        "dense_ffn" => "intermediate_size",
        "mla.kv_lora_rank" => "kv_lora_rank",
        "mla.q_lora_rank" => "q_lora_rank",
        "mla.qk_nope_head_dim" => "qk_nope_head_dim",
        "mla.qk_rope_head_dim" => "qk_rope_head_dim",
        "mla.v_head_dim" => "v_head_dim",
        "ffn" => match model_type {
            "qwen2_moe" | "deepseek_v2" | "deepseek_v3" => "moe_intermediate_size",
            _ => "intermediate_size",
        },
        "name" => "name",
        _ => "model_type",
    }
}

/// Reads and validates a config.json as a model (what `--model
/// config.json` loads). Errors name the JSON key and its line.
pub fn load(file: &str, text: &str) -> Result<Model, ConfigError> {
    let imp = read(file, text, None)?;
    derive(file, text, &imp)
}

fn derive(file: &str, text: &str, imp: &Imported) -> Result<Model, ConfigError> {
    super::model::derive(&imp.model).map_err(|inv: Invalid| {
        let key = source_key(&inv.field, &imp.model_type);
        ConfigError {
            loc: key_location(file, text, key),
            kind: ConfigErrorKind::Invalid {
                field: key.to_string(),
                message: format!("gives the model's {} {}", inv.field, inv.message),
            },
        }
    })
}

/// `tilesim import-model`: the model config (TOML) of a config.json,
/// checked as `load` checks it.
pub fn import(file: &str, text: &str, name: Option<&str>) -> Result<String, ConfigError> {
    let imp = read(file, text, name)?;
    derive(file, text, &imp)?;
    Ok(to_toml(file, &imp))
}

fn to_toml(file: &str, imp: &Imported) -> String {
    let m = &imp.model;
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    let mut out = format!(
        "# Imported by `tilesim import-model` from {file} (model_type {}).\n# Fields: arch/configs.md.\n",
        imp.model_type
    );
    for n in &imp.notes {
        out.push_str(&format!("# Not modelled: {n}\n"));
    }
    out.push_str(&format!(
        "name = {}\ndescription = {}\nlayers = {}\nhidden = {}\nheads = {}\nkv_heads = {}\nhead_dim = {}\nffn = \
         {}\nvocab = {}\nexperts = {}\ntop_k = {}\ndtype = {}\ntied_embeddings = {}\n",
        q(&m.name),
        q(&m.description),
        m.layers,
        m.hidden,
        m.heads,
        m.kv_heads,
        m.head_dim,
        m.ffn,
        m.vocab,
        m.experts,
        m.top_k,
        q(m.dtype.name()),
        m.tied_embeddings
    ));
    if m.shared_experts > 0 {
        out.push_str(&format!("shared_experts = {}\nshared_ffn = {}\n", m.shared_experts, m.shared_ffn));
    }
    if m.dense_layers > 0 {
        out.push_str(&format!("dense_layers = {}\ndense_ffn = {}\n", m.dense_layers, m.dense_ffn));
    }
    if let Some(a) = &m.mla {
        out.push_str("\n[mla]\n");
        if let Some(r) = a.q_lora_rank {
            out.push_str(&format!("q_lora_rank = {r}\n"));
        }
        out.push_str(&format!(
            "kv_lora_rank = {}\nqk_nope_head_dim = {}\nqk_rope_head_dim = {}\nv_head_dim = {}\n",
            a.kv_lora_rank, a.qk_nope_head_dim, a.qk_rope_head_dim, a.v_head_dim
        ));
    }
    out
}

/// Where `"key":` first appears in the JSON text (its line and column), or
/// the file alone.
fn key_location(file: &str, text: &str, key: &str) -> Location {
    let quoted = format!("\"{key}\"");
    let mut from = 0;
    while let Some(i) = text[from..].find(&quoted) {
        let at = from + i;
        let rest = text[at + quoted.len()..].trim_start();
        if rest.starts_with(':') {
            return Location::at_offset(file, text, at);
        }
        from = at + quoted.len();
    }
    Location::file(file)
}

/// Typed access to the top-level keys of a config.json, with errors at the
/// key's line.
struct Json<'a> {
    file: &'a str,
    text: &'a str,
    obj: &'a Map<String, Value>,
}

impl Json<'_> {
    fn invalid(&self, key: &str, message: String) -> ConfigError {
        ConfigError {
            loc: key_location(self.file, self.text, key),
            kind: ConfigErrorKind::Invalid { field: key.to_string(), message },
        }
    }

    fn missing(&self, key: &str, what: &str) -> ConfigError {
        ConfigError {
            loc: Location::file(self.file),
            kind: ConfigErrorKind::Parse(format!("missing `{key}` ({what}), which this model type needs")),
        }
    }

    fn string(&self, key: &str) -> Result<String, ConfigError> {
        match self.obj.get(key) {
            Some(Value::String(s)) => Ok(s.clone()),
            None | Some(Value::Null) => Err(self.missing(key, "a string")),
            Some(v) => Err(self.invalid(key, format!("must be a string, found {v}"))),
        }
    }

    fn opt_u64(&self, key: &str) -> Result<Option<u64>, ConfigError> {
        match self.obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.as_u64() {
                Some(n) => Ok(Some(n)),
                None => Err(self.invalid(key, format!("must be a non-negative integer, found {v}"))),
            },
        }
    }

    fn u64(&self, key: &str) -> Result<u64, ConfigError> {
        self.opt_u64(key)?.ok_or_else(|| self.missing(key, "a non-negative integer"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LLAMA: &str = r#"{
  "model_type": "llama",
  "hidden_size": 64,
  "intermediate_size": 128,
  "num_attention_heads": 8,
  "num_hidden_layers": 2,
  "num_key_value_heads": 2,
  "vocab_size": 1000,
  "torch_dtype": "float16"
}"#;

    #[test]
    fn a_llama_config_maps_field_by_field() {
        let m = load("x/tiny-llama/config.json", LLAMA).unwrap();
        assert_eq!(m.name, "tiny-llama");
        assert_eq!((m.layers, m.hidden, m.heads, m.kv_heads, m.head_dim), (2, 64, 8, 2, 8));
        assert_eq!((m.ffn, m.vocab, m.experts, m.top_k), (128, 1000, 1, 1));
        assert_eq!(m.dtype, Dtype::Fp16);
        assert!(!m.tied_embeddings);
        let toml = import("x/tiny-llama/config.json", LLAMA, Some("t")).unwrap();
        let again = super::super::model::load_str("t.toml", &toml).unwrap();
        assert_eq!((again.name.as_str(), again.kv_heads), ("t", 2));
    }

    #[test]
    fn errors_name_the_key_and_its_line() {
        let bad = LLAMA.replace("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3");
        let e = load("c.json", &bad).unwrap_err().to_string();
        assert_eq!(e, "c.json:7:3: `num_key_value_heads` gives the model's kv_heads must divide heads (8), found 3");
        let e = load("c.json", &LLAMA.replace("\"model_type\": \"llama\"", "\"model_type\": \"gemma\"")).unwrap_err();
        assert!(e.to_string().starts_with("c.json:2:3: `model_type` is `gemma`"), "{e}");
        let e = load("c.json", &LLAMA.replace("  \"vocab_size\": 1000,\n", "")).unwrap_err();
        assert_eq!(e.to_string(), "c.json: missing `vocab_size` (a non-negative integer), which this model type needs");
        let e = load("c.json", "{\"model_type\": ").unwrap_err();
        assert!(e.to_string().starts_with("c.json:1:"), "{e}");
    }

    #[test]
    fn names_come_from_the_directory_or_the_file() {
        assert_eq!(default_name("a/Mixtral 8x7B/config.json"), "mixtral-8x7b");
        assert_eq!(default_name("qwen2-7b.json"), "qwen2-7b");
        assert_eq!(default_name("config.json"), "config");
    }
}
