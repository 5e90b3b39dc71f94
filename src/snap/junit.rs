//! A settled run as JUnit XML, the report format CI systems read: one
//! `<testcase>` per case, a `<failure>` carrying the unified diff for a new
//! or changed snapshot, an `<error>` for a case that could not run.

use super::diff;
use super::settle::{Report, Status};
use std::io::{self, Write};

/// Writes `report` of suite `suite` (its file name, as shown to the user)
/// as a JUnit XML document; `seconds` is the whole run's wall time.
pub fn write(w: &mut dyn Write, suite: &str, report: &Report, seconds: f64) -> io::Result<()> {
    let tests = report.outcomes.len();
    let failures = report.outcomes.iter().filter(|o| !o.status.passed() && o.status != Status::Error).count();
    let errors = report.count(Status::Error);
    let classname = format!("tilesim.snap.{}", class_of(suite));
    writeln!(w, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        w,
        r#"<testsuites name="tilesim snap" tests="{tests}" failures="{failures}" errors="{errors}" time="{seconds:.3}">"#
    )?;
    writeln!(
        w,
        r#"  <testsuite name="{}" tests="{tests}" failures="{failures}" errors="{errors}" skipped="0" time="{seconds:.3}">"#,
        attr(suite)
    )?;
    for o in &report.outcomes {
        write!(
            w,
            r#"    <testcase name="{}" classname="{}" time="{:.3}""#,
            attr(&o.name),
            attr(&classname),
            o.seconds
        )?;
        let cycles = o.cycles_line();
        match o.status {
            Status::Match => writeln!(w, "/>")?,
            Status::WithinTolerance | Status::Accepted => {
                writeln!(w, ">")?;
                let note =
                    format!("{}: {cycles}", if o.status == Status::Accepted { "accepted" } else { "within tolerance" });
                writeln!(w, "      <system-out>{}</system-out>", text(&note))?;
                writeln!(w, "    </testcase>")?;
            }
            Status::Changed | Status::New | Status::Rejected => {
                writeln!(w, ">")?;
                let message = format!("{}: {cycles}", o.status.name());
                let d = diff::unified(o.old.as_deref().unwrap_or(""), o.new.as_deref().unwrap_or(""), &o.name);
                writeln!(
                    w,
                    r#"      <failure message="{}" type="{}">{}</failure>"#,
                    attr(&message),
                    o.status.name(),
                    text(&d)
                )?;
                writeln!(w, "    </testcase>")?;
            }
            Status::Error => {
                writeln!(w, ">")?;
                let e = o.error.as_deref().unwrap_or("");
                let first = e.lines().next().unwrap_or("");
                writeln!(w, r#"      <error message="{}" type="error">{}</error>"#, attr(first), text(e))?;
                writeln!(w, "    </testcase>")?;
            }
        }
    }
    writeln!(w, "  </testsuite>")?;
    writeln!(w, "</testsuites>")
}

/// The suite's file stem, for the JUnit class name (no dots: tools read
/// them as packages).
fn class_of(suite: &str) -> String {
    let stem = std::path::Path::new(suite).file_stem().map_or("suite".into(), |s| s.to_string_lossy().into_owned());
    stem.replace('.', "_")
}

/// Text content: `&`, `<`, `>` escaped, and characters XML 1.0 cannot
/// hold replaced by U+FFFD.
fn text(s: &str) -> String {
    escape(s, false)
}

/// An attribute value (double-quoted): also `"`, and line breaks kept as
/// character references.
fn attr(s: &str) -> String {
    escape(s, true)
}

fn escape(s: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\r' if attribute => out.push_str("&#13;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(attr("a<b>&\"c\"\n"), "a&lt;b&gt;&amp;&quot;c&quot;&#10;");
        assert_eq!(text("x\u{1}y\n\"z\""), "x\u{FFFD}y\n\"z\"");
        assert_eq!(class_of("examples/snap/suite.v2.toml"), "suite_v2");
    }
}
