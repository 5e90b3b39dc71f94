//! Golden tests of error messages, in the style of Calyx's `tests/errors`
//! and rust-analyzer's data-driven tests.
//!
//! Every file in `tests/errors/` (`*.toml`, `*.trace`, `*.tbin`) is a
//! malformed chip config, model config, text trace or binary trace. For each
//! one this runs the built binary as `tilesim check FILE` from the crate root
//! with a relative path (so messages are the same on every machine) and
//! checks that
//!
//! - it exits with status 2 and prints nothing on stdout,
//! - it does not panic,
//! - stderr names the file and a line number (configs and text traces) or a
//!   line or byte offset (binary traces),
//!
//! then snapshots the exit status and stderr with insta
//! (`tests/snapshots/errors__check@FILE.snap`). A changed message is a
//! reviewed diff: `INSTA_UPDATE=always cargo test --test errors`, then read
//! the new `.snap` files. `tests/errors/README.md` says how the binary
//! fixtures were made.
//!
//! The `regression_*` tests at the end are inputs on which `tilesim check`
//! once panicked or aborted instead of reporting an error.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Fixtures whose error rightly carries no line number, with the reason.
/// The harness checks they still lack one, so the list cannot go stale.
const NO_LINE: &[(&str, &str)] = &[("trace-empty.trace", "an empty file has no line to point at")];

fn root() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf())
}

/// `tilesim check FILE` run from the crate root.
fn run_check(rel: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tilesim")).arg("check").arg(rel).current_dir(root()).output().expect("run tilesim")
}

/// The line number in `error: FILE:LINE[:COL]: ...`, if the first error
/// about `file` has one.
fn line_of(stderr: &str, file: &str) -> Option<u64> {
    let rest = stderr.lines().find_map(|l| l.strip_prefix("error: ")?.strip_prefix(file)?.strip_prefix(':'))?;
    rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// The offset in `error: FILE (byte N): ...`.
fn byte_of(stderr: &str, file: &str) -> Option<u64> {
    let rest = stderr.lines().find_map(|l| l.strip_prefix("error: ")?.strip_prefix(file)?.strip_prefix(" (byte "))?;
    rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

#[test]
fn check() {
    let root = root();
    let mut problems: Vec<String> = Vec::new();
    let mut seen = Vec::new();
    insta::glob!("errors/*.{toml,trace,tbin}", |path| {
        let rel_path = path.strip_prefix(&root).expect("fixture under the crate root");
        let rel = rel_path.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        seen.push(name.clone());
        let out = run_check(&rel);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let code = out.status.code();

        let mut fail = |m: String| problems.push(format!("{rel}: {m}\n--- stderr ---\n{stderr}"));
        if code != Some(2) {
            fail(format!("exit status {code:?}, expected 2"));
        }
        if stderr.contains("panicked") {
            fail("panicked".into());
        }
        if !stdout.is_empty() {
            fail(format!("printed on stdout: {stdout}"));
        }
        if !stderr.contains(&format!("error: {rel}")) {
            fail("stderr does not name the file".into());
        }
        let line = line_of(&stderr, &rel).filter(|&l| l >= 1);
        let located = match path.extension().and_then(|e| e.to_str()) {
            Some("tbin") => line.is_some() || byte_of(&stderr, &rel).is_some(),
            _ => line.is_some(),
        };
        match (NO_LINE.iter().find(|(f, _)| *f == name), located) {
            (None, false) => fail("the error has no line number (or byte offset)".into()),
            (Some((_, why)), true) => fail(format!("now has a location; remove it from NO_LINE ({why})")),
            _ => {}
        }

        let status = code.map_or_else(|| "killed by a signal".to_string(), |c| c.to_string());
        insta::assert_snapshot!(format!("exit status: {status}\n{stderr}"));
    });
    for (f, _) in NO_LINE {
        if !seen.iter().any(|s| s == f) {
            problems.push(format!("NO_LINE names {f}, which is not a fixture"));
        }
    }
    assert!(seen.len() >= 25, "only {} fixtures", seen.len());
    assert!(problems.is_empty(), "{} fixture(s) failed:\n\n{}", problems.len(), problems.join("\n\n"));
}

/// Inputs on which `tilesim check` once panicked or aborted.
#[cfg(unix)]
mod regressions {
    /// Writes `text` to a temporary file named `name` and runs `tilesim check`
    /// on it, under a 1 GiB address-space limit so that an input which makes
    /// the checker allocate without bound fails fast instead of exhausting the
    /// machine.
    fn check_bounded(name: &str, text: &str) -> (Option<i32>, String) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(name);
        std::fs::write(&file, text).unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg("ulimit -v 1048576; exec \"$0\" check \"$1\"")
            .arg(env!("CARGO_BIN_EXE_tilesim"))
            .arg(&file)
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).to_string())
    }

    fn assert_reported(name: &str, text: &str, expect: &str) {
        let (code, stderr) = check_bounded(name, text);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(stderr.contains(expect), "expected `{expect}` in:\n{stderr}");
    }

    const CHIP: &str = include_str!("errors/chip-zero-bandwidth.toml");

    fn fixed_chip() -> String {
        CHIP.replace("\"0 B/cycle\"", "\"64 B/cycle\"")
    }

    /// `Checker::new` allocates one slot per declared tile, so a six-line trace
    /// declaring 2^32-1 tiles aborts with "memory allocation of 68719476720
    /// bytes failed" (exit 134).
    #[test]
    fn regression_huge_tile_count() {
        let t = "tilesim-trace 2\nchip x\ntiles 4294967295\n\ntile 0\ndelay cycles=1\n";
        assert_reported("huge.trace", t, "huge.trace:");
    }

    /// `parse_tile_set` expands a range before anything checks it against the
    /// header's tile count: `group 0 0-4294967295` in a 16-tile trace builds a
    /// 16 GiB vector.
    #[test]
    fn regression_huge_group_range() {
        let t = "tilesim-trace 2\nchip x\ntiles 16\ngroup 0 0-4294967295\n";
        assert_reported("group.trace", t, "group.trace:4:");
    }

    /// `NocTopology::tiles` multiplies the grid in u32: `grid = [65536, 65536]`
    /// panics with "attempt to multiply with overflow" in debug builds (and
    /// wraps to 0 tiles in release).
    #[test]
    fn regression_grid_overflow() {
        let t = fixed_chip().replace("grid = [4, 4]", "grid = [65536, 65536]");
        assert_reported("grid.toml", &t, "grid.toml:");
    }

    /// `hbm.stacks * hbm.channels_per_stack` is computed in u32 and panics on
    /// overflow in debug builds.
    #[test]
    fn regression_hbm_channel_overflow() {
        let t = fixed_chip()
            .replace("stacks = 2", "stacks = 65536")
            .replace("channels_per_stack = 8", "channels_per_stack = 65536")
            .replace("attach = [4, 7]\n", "");
        assert_reported("channels.toml", &t, "channels.toml:");
    }
}
