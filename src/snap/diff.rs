//! Unified diffs of snapshots (the `similar` crate, which insta uses too).

use similar::TextDiff;

/// The unified diff from the accepted snapshot of `name` (`old`, empty
/// for a new case) to this run's (`new`), three lines of context, headed
/// `--- NAME.snap` / `+++ NAME.snap.new`.
pub fn unified(old: &str, new: &str, name: &str) -> String {
    TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("{name}.snap"), &format!("{name}.snap.new"))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_lines_show_with_context() {
        let old = "a 1\nb 2\ncycles 100\nc 3\n";
        let new = "a 1\nb 2\ncycles 105\nc 3\n";
        let d = unified(old, new, "x");
        assert!(d.starts_with("--- x.snap\n+++ x.snap.new\n@@ -1,4 +1,4 @@\n"), "{d}");
        assert!(d.contains("\n-cycles 100\n+cycles 105\n"), "{d}");
        let all_new = unified("", new, "x");
        assert_eq!(all_new.lines().filter(|l| l.starts_with('+') && !l.starts_with("+++")).count(), 4);
    }
}
