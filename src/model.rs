//! The derived description of a transformer model, and the closed-form
//! bytes and FLOPs of its parts that the compiler and roofline share.

use crate::dtype::Dtype;
use std::ops::Range;

/// Multi-head latent attention (DeepSeek-V2, arXiv 2405.04434, section
/// 2.1): keys and values are compressed into one latent vector per token of
/// `kv_lora_rank` elements, beside a decoupled RoPE key of
/// `qk_rope_head_dim` shared by every head; each head's query is
/// `qk_nope_head_dim + qk_rope_head_dim` wide, its value `v_head_dim`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mla {
    /// Rank of the query compression (`None`: a full query projection).
    pub q_lora_rank: Option<u64>,
    pub kv_lora_rank: u64,
    pub qk_nope_head_dim: u64,
    pub qk_rope_head_dim: u64,
    pub v_head_dim: u64,
}

#[derive(Clone, Debug)]
pub struct Model {
    pub name: String,
    pub description: String,
    pub layers: u64,
    pub hidden: u64,
    pub heads: u64,
    pub kv_heads: u64,
    pub head_dim: u64,
    /// FFN inner size (per routed expert for mixture-of-experts models).
    pub ffn: u64,
    pub vocab: u64,
    /// Experts per layer (1 for a dense model) and experts per token.
    pub experts: u64,
    pub top_k: u64,
    /// Shared experts of every MoE layer (always active, beside the routed
    /// ones) and the inner size of each; 0 when there are none.
    pub shared_experts: u64,
    pub shared_ffn: u64,
    /// The first `dense_layers` layers of an MoE model have one dense FFN
    /// of inner size `dense_ffn` instead of experts.
    pub dense_layers: u64,
    pub dense_ffn: u64,
    /// Multi-head latent attention instead of MHA/GQA.
    pub mla: Option<Mla>,
    /// Type the parameters are published in.
    pub dtype: Dtype,
    /// Whether the LM head reuses the embedding matrix.
    pub tied_embeddings: bool,
}

impl Model {
    /// The first `layers` layers of the model, a slice for quick studies
    /// (`--layers`), named `NAME[N-layers]`; the dense layers it keeps are
    /// those among the first `layers`.
    pub fn first_layers(&self, layers: u64) -> Result<Model, String> {
        if layers == 0 || layers > self.layers {
            return Err(format!("--layers must be in 1..={} for {}, found {layers}", self.layers, self.name));
        }
        let mut m = self.clone();
        m.layers = layers;
        m.dense_layers = self.dense_layers.min(layers);
        m.name = format!("{}[{layers}-layers]", self.name);
        Ok(m)
    }

    /// Query width (all heads): heads x head_dim (for MLA head_dim is
    /// qk_nope_head_dim + qk_rope_head_dim).
    pub fn q_dim(&self) -> u64 {
        self.heads * self.head_dim
    }
    /// K (or V) width of standard attention: KV heads x head_dim.
    pub fn kv_dim(&self) -> u64 {
        self.kv_heads * self.head_dim
    }

    /// Attention projection parameters per layer (matrices only). Standard:
    /// Q, K, V, O. MLA: the query down- and up-projections (or one query
    /// projection without `q_lora_rank`), the joint KV down-projection with
    /// the RoPE key (hidden x (kv_lora_rank + rope)), the KV up-projection
    /// (W_UK and W_UV: kv_lora_rank x heads (nope + v)) and O.
    pub fn attn_params(&self) -> u64 {
        match self.mla {
            None => self.hidden * (self.q_dim() + 2 * self.kv_dim()) + self.q_dim() * self.hidden,
            Some(a) => {
                let q = match a.q_lora_rank {
                    Some(r) => self.hidden * r + r * self.q_dim(),
                    None => self.hidden * self.q_dim(),
                };
                q + self.hidden * (a.kv_lora_rank + a.qk_rope_head_dim)
                    + a.kv_lora_rank * self.heads * (a.qk_nope_head_dim + a.v_head_dim)
                    + self.heads * a.v_head_dim * self.hidden
            }
        }
    }
    /// Parameters of one routed FFN expert (gate, up, down).
    pub fn expert_params(&self) -> u64 {
        3 * self.hidden * self.ffn
    }
    /// Parameters of the shared experts of one MoE layer.
    pub fn shared_params(&self) -> u64 {
        3 * self.hidden * self.shared_ffn * self.shared_experts
    }
    /// Parameters of the FFN of one dense layer of an MoE model.
    pub fn dense_ffn_params(&self) -> u64 {
        3 * self.hidden * self.dense_ffn
    }
    /// Router parameters per layer (0 for dense models).
    pub fn router_params(&self) -> u64 {
        if self.experts > 1 { self.hidden * self.experts } else { 0 }
    }
    /// Norm weights per layer: two RMSNorms, and MLA's norms of the KV
    /// latent and the query latent.
    pub fn norm_params(&self) -> u64 {
        let latent = self.mla.map_or(0, |a| a.kv_lora_rank + a.q_lora_rank.unwrap_or(0));
        2 * self.hidden + latent
    }
    /// Whether layer `l` routes to experts (else a dense FFN).
    pub fn is_moe_layer(&self, l: u64) -> bool {
        self.experts > 1 && l >= self.dense_layers
    }
    /// Parameters of layer `l`.
    pub fn layer_params_at(&self, l: u64) -> u64 {
        let ffn = if self.is_moe_layer(l) {
            self.experts * self.expert_params() + self.shared_params() + self.router_params()
        } else if self.experts > 1 {
            self.dense_ffn_params()
        } else {
            self.expert_params()
        };
        self.attn_params() + ffn + self.norm_params()
    }
    /// Parameters a token touches in layer `l` (top_k routed experts and
    /// the shared ones).
    pub fn active_layer_params_at(&self, l: u64) -> u64 {
        if !self.is_moe_layer(l) {
            return self.layer_params_at(l);
        }
        self.attn_params()
            + self.top_k.min(self.experts) * self.expert_params()
            + self.shared_params()
            + self.router_params()
            + self.norm_params()
    }
    /// Parameters of layers `r`.
    pub fn layers_params(&self, r: Range<u64>) -> u64 {
        let dense = self.dense_in(r.clone());
        let moe = r.end.saturating_sub(r.start) - dense;
        let at = |moe_layer: bool| self.layer_params_at(if moe_layer { self.dense_layers } else { 0 });
        dense * at(false) + moe * at(true)
    }
    /// Parameters a token touches in layers `r`.
    pub fn active_layers_params(&self, r: Range<u64>) -> u64 {
        let dense = self.dense_in(r.clone());
        let moe = r.end.saturating_sub(r.start) - dense;
        let at = |moe_layer: bool| self.active_layer_params_at(if moe_layer { self.dense_layers } else { 0 });
        dense * at(false) + moe * at(true)
    }
    /// How many of layers `r` have a dense FFN in a model with experts (0
    /// in a dense model: all its layers are alike).
    pub fn dense_in(&self, r: Range<u64>) -> u64 {
        if self.experts > 1 { r.end.min(self.dense_layers).saturating_sub(r.start) } else { 0 }
    }
    /// Parameters of the last layer (a routed-expert layer in an MoE model
    /// unless every layer is dense).
    pub fn layer_params(&self) -> u64 {
        self.layer_params_at(self.layers.saturating_sub(1))
    }
    /// Parameters a token touches in the last layer.
    pub fn active_layer_params(&self) -> u64 {
        self.active_layer_params_at(self.layers.saturating_sub(1))
    }
    pub fn embedding_params(&self) -> u64 {
        self.vocab * self.hidden
    }
    pub fn lm_head_params(&self) -> u64 {
        if self.tied_embeddings { 0 } else { self.vocab * self.hidden }
    }
    /// All parameters.
    pub fn params(&self) -> u64 {
        self.layers_params(0..self.layers) + self.embedding_params() + self.lm_head_params() + self.hidden
    }
    /// Parameters a single token touches (embedding row excluded: one row;
    /// the LM head and final norm included).
    pub fn active_params(&self) -> u64 {
        self.active_layers_params(0..self.layers) + self.vocab * self.hidden + self.hidden
    }

    /// KV groups of a layer: the KV heads, or one latent shared by every
    /// head (MLA).
    pub fn kv_groups(&self) -> u64 {
        if self.mla.is_some() { 1 } else { self.kv_heads }
    }
    /// Query heads per KV group.
    pub fn heads_per_group(&self) -> u64 {
        self.heads / self.kv_groups()
    }
    /// Elements one KV group caches per layer and position: K and V of
    /// the head (2 x head_dim), or for MLA the compressed latent and the
    /// decoupled RoPE key, kv_lora_rank + qk_rope_head_dim (DeepSeek-V2,
    /// arXiv 2405.04434, section 2.1: only c_t^KV and k_t^R are cached).
    pub fn kv_elements_per_group(&self) -> u64 {
        match self.mla {
            None => 2 * self.head_dim,
            Some(a) => a.kv_lora_rank + a.qk_rope_head_dim,
        }
    }
    /// KV-cache elements per layer and position.
    pub fn kv_elements_per_position(&self) -> u64 {
        self.kv_groups() * self.kv_elements_per_group()
    }
    /// KV-cache elements per token position (all layers).
    pub fn kv_elements_per_token(&self) -> u64 {
        self.layers * self.kv_elements_per_position()
    }
    /// KV-cache bytes of `positions` positions over `layers` layers in type
    /// `kv`: the one closed form of KV bytes (plan, roofline and floor,
    /// serve's KV capacity all come here).
    pub fn kv_bytes(&self, kv: Dtype, layers: u64, positions: f64) -> f64 {
        layers as f64 * positions * self.kv_elements_per_position() as f64 * kv.bits() as f64 / 8.0
    }
    /// Bytes of one KV group's cache over `positions` positions of one
    /// layer, whole bytes (the blocks the compiler loads).
    pub fn kv_group_bytes(&self, kv: Dtype, positions: u64) -> u64 {
        kv.bytes(self.kv_elements_per_group() * positions)
    }
    /// Attention multiply-accumulates per query token and attended
    /// position (all heads): scores and context, 2 x heads x head_dim; for
    /// MLA in the weight-absorbed form, scores over the latent and the RoPE
    /// key and context over the latent, heads x (2 kv_lora_rank + rope).
    pub fn attn_macs_per_position(&self) -> u64 {
        match self.mla {
            None => 2 * self.heads * self.head_dim,
            Some(a) => self.heads * (2 * a.kv_lora_rank + a.qk_rope_head_dim),
        }
    }
    /// Matrix parameters a token multiplies in layer `l` (its active
    /// parameters less the norms): its MACs outside attention.
    pub fn active_matrix_params_at(&self, l: u64) -> u64 {
        self.active_layer_params_at(l) - self.norm_params()
    }
}
