//! A Perfetto (Chrome trace-event JSON) timeline of a serving run: one
//! process per pool with its batch steps as slices (named by what they
//! hold, the step's shape in `args`) and counter tracks of the queue and
//! the KV cache; KV transfers on a track of their own.

use super::engine::{Outcome, StepRecord};
use std::io::{self, Write};

/// A JSON string literal.
fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON number (finite; anything else as 0).
fn num(x: f64) -> String {
    if x.is_finite() { format!("{x}") } else { "0".into() }
}

fn step_name(r: &StepRecord) -> String {
    let s = &r.step;
    match (s.prefill_tokens > 0, s.decode_users > 0) {
        (true, true) => format!("mixed: {} prompt tokens + {} decodes", s.prefill_tokens, s.decode_users),
        (true, false) => format!("prefill: {} tokens of {} request(s)", s.prefill_tokens, s.prefill_seqs),
        _ => format!("decode: {} users", s.decode_users),
    }
}

/// Writes the timeline; `pools` names each pool (its role and chip).
pub fn write_chrome(w: &mut dyn Write, outcome: &Outcome, pools: &[String]) -> io::Result<()> {
    let us = |s: f64| num(s * 1e6);
    writeln!(w, "{{\"displayTimeUnit\":\"ms\",\"traceEvents\":[")?;
    let mut first = true;
    let mut emit = |w: &mut dyn Write, e: String| -> io::Result<()> {
        if !first {
            w.write_all(b",\n")?;
        }
        first = false;
        w.write_all(e.as_bytes())
    };
    for (p, name) in pools.iter().enumerate() {
        let pid = p + 1;
        emit(
            w,
            format!("{{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":{pid},\"args\":{{\"name\":{}}}}}", string(name)),
        )?;
        emit(
            w,
            format!(
                "{{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":{pid},\"tid\":1,\"args\":{{\"name\":\"batch steps\"}}}}"
            ),
        )?;
    }
    for r in &outcome.steps {
        let pid = r.pool + 1;
        let s = &r.step;
        emit(
            w,
            format!(
                "{{\"name\":{},\"ph\":\"X\",\"pid\":{pid},\"tid\":1,\"ts\":{},\"dur\":{},\"args\":{{\
                 \"prefill_tokens\":{},\"prefill_requests\":{},\"prefill_context\":{},\"decode_users\":{},\
                 \"decode_context\":{}}}}}",
                string(&step_name(r)),
                us(r.start_seconds),
                us(r.end_seconds - r.start_seconds),
                s.prefill_tokens,
                s.prefill_seqs,
                num(s.prefill_context),
                s.decode_users,
                num(s.decode_context)
            ),
        )?;
        emit(
            w,
            format!(
                "{{\"name\":\"requests\",\"ph\":\"C\",\"pid\":{pid},\"ts\":{},\"args\":{{\"waiting\":{},\"running\":{}}}}}",
                us(r.start_seconds),
                r.waiting,
                r.running
            ),
        )?;
        emit(
            w,
            format!(
                "{{\"name\":\"KV pages used\",\"ph\":\"C\",\"pid\":{pid},\"ts\":{},\"args\":{{\"pages\":{}}}}}",
                us(r.start_seconds),
                r.kv_pages
            ),
        )?;
    }
    if !outcome.transfers.is_empty() {
        let pid = pools.len() + 1;
        emit(
            w,
            format!("{{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":{pid},\"args\":{{\"name\":\"KV transfers\"}}}}"),
        )?;
        for t in &outcome.transfers {
            emit(
                w,
                format!(
                    "{{\"name\":\"request {}\",\"ph\":\"X\",\"pid\":{pid},\"tid\":1,\"ts\":{},\"dur\":{},\"args\":{{\"bytes\":{}}}}}",
                    t.request,
                    us(t.start_seconds),
                    us(t.end_seconds - t.start_seconds),
                    num(t.bytes)
                ),
            )?;
        }
    }
    writeln!(w, "\n]}}")
}
