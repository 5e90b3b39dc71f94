//! The derived description of a transformer model, and the closed-form
//! bytes and FLOPs of its parts that the compiler and roofline share.

use crate::dtype::Dtype;

#[derive(Clone, Debug)]
pub struct Model {
    pub name: String,
    pub description: String,
    pub layers: u64,
    pub hidden: u64,
    pub heads: u64,
    pub kv_heads: u64,
    pub head_dim: u64,
    /// FFN inner size (per expert for mixture-of-experts models).
    pub ffn: u64,
    pub vocab: u64,
    /// Experts per layer (1 for a dense model) and experts per token.
    pub experts: u64,
    pub top_k: u64,
    /// Type the parameters are published in.
    pub dtype: Dtype,
    /// Whether the LM head reuses the embedding matrix.
    pub tied_embeddings: bool,
}

impl Model {
    /// The first `layers` layers of the model, a slice for quick studies
    /// (`--layers`), named `NAME[N-layers]`.
    pub fn first_layers(&self, layers: u64) -> Result<Model, String> {
        if layers == 0 || layers > self.layers {
            return Err(format!("--layers must be in 1..={} for {}, found {layers}", self.layers, self.name));
        }
        let mut m = self.clone();
        m.layers = layers;
        m.name = format!("{}[{layers}-layers]", self.name);
        Ok(m)
    }

    pub fn q_dim(&self) -> u64 {
        self.heads * self.head_dim
    }
    pub fn kv_dim(&self) -> u64 {
        self.kv_heads * self.head_dim
    }
    /// Attention projection parameters per layer (Q, K, V, O).
    pub fn attn_params(&self) -> u64 {
        self.hidden * (self.q_dim() + 2 * self.kv_dim()) + self.q_dim() * self.hidden
    }
    /// Parameters of one FFN expert (gate, up, down).
    pub fn expert_params(&self) -> u64 {
        3 * self.hidden * self.ffn
    }
    /// Router parameters per layer (0 for dense models).
    pub fn router_params(&self) -> u64 {
        if self.experts > 1 { self.hidden * self.experts } else { 0 }
    }
    /// Norm weights per layer (two RMSNorms).
    pub fn norm_params(&self) -> u64 {
        2 * self.hidden
    }
    pub fn layer_params(&self) -> u64 {
        self.attn_params() + self.experts * self.expert_params() + self.router_params() + self.norm_params()
    }
    /// Parameters a token touches in one layer (top_k experts).
    pub fn active_layer_params(&self) -> u64 {
        self.attn_params()
            + self.top_k.min(self.experts) * self.expert_params()
            + self.router_params()
            + self.norm_params()
    }
    pub fn embedding_params(&self) -> u64 {
        self.vocab * self.hidden
    }
    pub fn lm_head_params(&self) -> u64 {
        if self.tied_embeddings { 0 } else { self.vocab * self.hidden }
    }
    /// All parameters.
    pub fn params(&self) -> u64 {
        self.layers * self.layer_params() + self.embedding_params() + self.lm_head_params() + self.hidden
    }
    /// Parameters a single token touches (embedding row excluded: one row).
    pub fn active_params(&self) -> u64 {
        self.layers * self.active_layer_params() + self.vocab * self.hidden + self.hidden
    }
    /// KV-cache elements per token position (K and V, all layers).
    pub fn kv_elements_per_token(&self) -> u64 {
        2 * self.layers * self.kv_dim()
    }
}
