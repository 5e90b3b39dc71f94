//! Every command's JSON validates against arch/report-schema.md: each key
//! the tables list is present with its type, and no key is left unlisted.

mod common;

use common::{text, tilesim};
use serde_json::Value;
use std::collections::BTreeMap;

type Tables = BTreeMap<String, Vec<(String, String)>>;

/// The `### NAME` tables of the schema document: (key, type) rows.
fn tables() -> Tables {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/arch/report-schema.md")).unwrap();
    let mut out = Tables::new();
    let mut current = None;
    for line in doc.lines() {
        if let Some(name) = line.strip_prefix("### ") {
            current = Some(name.trim().to_string());
            out.entry(name.trim().to_string()).or_default();
        } else if let (Some(name), Some(row)) = (&current, line.strip_prefix("| `")) {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let key = cells[0].trim_end_matches('`').to_string();
            out.get_mut(name).unwrap().push((key, cells[1].to_string()));
        }
    }
    out
}

fn check(tables: &Tables, table: &str, v: &Value, path: &str, errors: &mut Vec<String>) {
    let rows = tables.get(table).unwrap_or_else(|| panic!("no table `{table}` in arch/report-schema.md"));
    let Some(obj) = v.as_object() else {
        errors.push(format!("{path}: not an object"));
        return;
    };
    for k in obj.keys() {
        if !rows.iter().any(|(key, _)| key == k) {
            errors.push(format!("{path}.{k}: not in table `{table}`"));
        }
    }
    for (key, ty) in rows {
        let at = format!("{path}.{key}");
        let Some(x) = obj.get(key) else {
            errors.push(format!("{at}: missing"));
            continue;
        };
        let (ty, nullable) = match ty.strip_suffix('?') {
            Some(t) => (t, true),
            None => (ty.as_str(), false),
        };
        if x.is_null() {
            if !nullable {
                errors.push(format!("{at}: null, but `{ty}` is not nullable"));
            }
            continue;
        }
        let ok = match ty {
            "integer" => x.is_u64() || x.is_i64(),
            "number" => x.is_number(),
            "string" => x.is_string(),
            "bool" => x.is_boolean(),
            "array" => x.is_array(),
            "object" => x.is_object(),
            t if t.starts_with("object ") => {
                check(tables, &t[7..], x, &at, errors);
                true
            }
            t if t.starts_with("array of ") => {
                let items = x.as_array().map(|a| a.as_slice()).unwrap_or_default();
                for (i, item) in items.iter().enumerate() {
                    // A row that could not run has the `failed` keys.
                    let failed = t == "array of row" && item["status"] != "ok";
                    check(tables, if failed { "failed" } else { &t[9..] }, item, &format!("{at}[{i}]"), errors);
                }
                x.is_array()
            }
            t => panic!("unknown type `{t}` for {at}"),
        };
        if !ok {
            errors.push(format!("{at}: not {ty}: {x}"));
        }
    }
}

fn json(args: &[&str]) -> Value {
    let (code, out, err) = text(&tilesim(args));
    assert_eq!(code, 0, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn validate(table: &str, v: &Value) {
    let mut errors = Vec::new();
    check(&tables(), table, v, table, &mut errors);
    assert!(errors.is_empty(), "against arch/report-schema.md:\n{}", errors.join("\n"));
    assert_eq!(v["schema_version"], tilesim::report::schema::SCHEMA_VERSION);
}

#[test]
fn run_json_validates() {
    let dir = std::env::temp_dir().join(format!("tilesim-schema-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let t = dir.join("s.tbin");
    let t = t.to_str().unwrap();
    let (code, _, err) = text(&tilesim(&[
        "compile",
        "--model",
        "llama-2-7b",
        "--chip",
        "dgx-h100",
        "--layers",
        "2",
        "--context",
        "128",
        "--tp",
        "2",
        "-o",
        t,
    ]));
    assert_eq!(code, 0, "{err}");
    let v = json(&["run", t, "--chip", "dgx-h100", "--json"]);
    validate("run", &v);
    assert_eq!(v["command"], "run");
    assert!(v["floor"].is_object() && v["plan"]["tp"] == 2);
    // The critical path's classes sum to the run's cycles; `bound` is its largest.
    let cp = &v["critical_path"];
    let by = cp["cycles_by_class"].as_object().unwrap();
    assert_eq!(by.values().map(|c| c.as_u64().unwrap()).sum::<u64>(), v["cycles"].as_u64().unwrap());
    assert_eq!(cp["cycles"], v["cycles"]);
    assert_eq!(v["bound"], cp["bound"]);
    let largest = by.values().map(|c| c.as_u64().unwrap()).max().unwrap();
    assert_eq!(by[cp["bound"].as_str().unwrap()].as_u64().unwrap(), largest);
    // A synthetic trace: no workload, plan or floor, and the reason.
    let v = json(&["run", "traces/uniform-r0.1-p4-booksim-mesh8x8.trace", "--chip", "booksim-mesh8x8", "--json"]);
    validate("run", &v);
    assert!(v["floor"].is_null() && v["floor_unavailable"].is_string());
    std::fs::remove_dir_all(&dir).ok();
}

/// `compare --json` of llama-2-7b's first layer at `context` on `chips`.
fn compare_json(context: &str, chips: [&str; 2]) -> Value {
    let mut args = vec!["compare", "--model", "llama-2-7b", "--layers", "1", "--context", context, "--json"];
    for c in chips {
        args.extend(["--chip", c]);
    }
    json(&args)
}

#[test]
fn compare_and_roofline_json_validate() {
    let v = compare_json("128", ["h100", "mini-mesh"]);
    validate("compare", &v);
    assert_eq!(v["command"], "compare");
    assert!(v["rows"][0]["simulated"].is_object());
    // A chip that cannot hold the model is a `failed` entry.
    let v = compare_json("64", ["mini-mesh", "groq-lpu"]);
    validate("compare", &v);
    assert_eq!(v["rows"][1]["status"], "does-not-fit");
    let v = json(&["roofline", "--model", "llama-2-70b", "--chip", "groq-576", "--weights-dtype", "fp8", "--json"]);
    validate("compare", &v);
    assert_eq!(v["command"], "roofline");
    assert!(v["rows"][0]["simulated"].is_null());
    assert_eq!(v["rows"][0]["floor"]["bound"], "latency");
}

#[test]
fn characterize_json_validates() {
    let v = json(&["characterize", "--chip", "mini-mesh", "--json"]);
    validate("characterize", &v);
}

#[test]
fn sweep_rows_use_the_same_names() {
    let (code, out, err) = text(&tilesim(&[
        "sweep",
        "--model",
        "llama-2-7b",
        "--chip",
        "h100",
        "--batch",
        "1",
        "--floor-only",
        "--format",
        "json",
    ]));
    assert_eq!(code, 0, "{err}");
    let row: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    for key in ["floor_seconds", "floor_bound", "latency_floor_seconds", "price_usd", "power_w", "over_floor"] {
        assert!(row.get(key).is_some(), "sweep row lacks {key}");
    }
}
