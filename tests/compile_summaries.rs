//! Snapshot of what the compiler makes of every shipped model on every
//! shipped chip (default decode workload): the plan, the instruction mix
//! and the bytes and MACs, or the reason it does not fit. A compiler change
//! shows up as a reviewed diff.

mod common;

use common::{chip, decode, model};
use serde_json::{Value, json};
use tilesim::compiler::{self, PlanRequest};
use tilesim::config::shipped;
use tilesim::roofline::TraceTotals;

#[test]
fn compiled_summaries() {
    for (mname, _) in shipped::MODELS {
        let m = model(mname);
        let mut rows = serde_json::Map::new();
        for (cname, _) in shipped::CHIPS {
            let c = chip(cname);
            let w = decode(&m);
            let v = match compiler::compile(&m, &c, &w, &PlanRequest::default()) {
                Err(e) => json!({ "error": e.to_string() }),
                Ok(comp) => {
                    let t = TraceTotals::of(&c, &comp.trace());
                    let mix: serde_json::Map<String, Value> =
                        t.per_opcode.iter().filter(|(_, n)| *n > 0).map(|(k, n)| (k.clone(), json!(n))).collect();
                    json!({
                        "plan": comp.plan.describe(),
                        "instructions": t.instructions,
                        "mix": mix,
                        "weight_bytes": t.weight_bytes,
                        "kv_bytes": t.kv_read,
                        "memory_read": t.memory_read,
                        "memory_write": t.memory_write,
                        "message_bytes": t.message_bytes,
                        "macs": t.macs,
                        "flops": t.flops,
                    })
                }
            };
            rows.insert(cname.to_string(), v);
        }
        insta::assert_json_snapshot!(*mname, Value::Object(rows));
    }
}
