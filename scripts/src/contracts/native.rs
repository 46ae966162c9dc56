//! Runs the Cairo tests with the native Cairo 2.8.2 test runner.
//!
//! wasm-cairo's test runner is limited to wasm32's 4 GiB and tells nothing about a failing
//! test. The native runner (`scripts/cairo-test-runner`, its own Cargo workspace) compiles
//! `contracts/src` as it is, with real diagnostics and file locations, and prints every
//! failure with its panic data. It needs two things prepared here:
//!
//! - the corelib, extracted from the pinned wasm-cairo package (see [`super::corelib`]);
//! - two patched dependencies, whose sources are copied from the local cargo registry into
//!   `scripts/cairo-test-runner/.patched/` with a few exact edits (see [`PATCHED`] and that
//!   crate's `Cargo.toml`): `cairo-vm` 1.0.2, which no longer builds on current Rust, and
//!   `cairo-lang-runner` 2.8.2, which copied the whole compiled program, debug information
//!   included, on every contract call (the suite took 33 minutes with the copy, 9.5 without).
//!
//! This module never edits files outside `scripts/cairo-test-runner/.patched/` and the
//! scratch directory `<root>/target/ciro/`.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::error::{ContractsError, Result};
use super::{corelib, Workspace};

/// The runner crate, relative to the repository root.
pub const RUNNER_CRATE: &str = "scripts/cairo-test-runner";
/// The runner's binary name.
const RUNNER_BIN: &str = "ciro-cairo-test";
/// Marker written once a patched copy is complete.
const PATCH_MARKER: &str = ".ciro-patched";

/// A registry crate the runner builds from a patched copy.
pub struct Patched {
    /// Crate name.
    pub name: &'static str,
    /// Exact version.
    pub version: &'static str,
    /// `(file, text, replacement)`: each text must occur exactly once in its file.
    pub fixes: &'static [(&'static str, &'static str, &'static str)],
}

impl Patched {
    fn dir_name(&self) -> String {
        format!("{}-{}", self.name, self.version)
    }
}

/// The patched crates; `scripts/cairo-test-runner/Cargo.toml` points `[patch.crates-io]` at
/// `.patched/<name>-<version>` for each.
pub const PATCHED: [Patched; 2] = [
    Patched {
        name: "cairo-vm",
        version: "1.0.2",
        // `num_integer::Integer`'s `is_multiple_of(&self, &Self)` is shadowed by the
        // inherent `usize::is_multiple_of(self, usize)` in Rust 1.87 and later.
        fixes: &[
            (
                "src/hint_processor/builtin_hint_processor/signature.rs",
                ".is_multiple_of(&(CELLS_PER_SIGNATURE as usize))",
                ".is_multiple_of(CELLS_PER_SIGNATURE as usize)",
            ),
            (
                "src/vm/runners/cairo_pie.rs",
                ".is_multiple_of(&CELL_BYTE_LEN)",
                ".is_multiple_of(CELL_BYTE_LEN)",
            ),
            // A path dependency is linted like a local crate: its warnings under a newer
            // compiler would be errors, and printed on every build.
            ("src/lib.rs", "#![deny(warnings)]", "#![allow(warnings)]"),
        ],
    },
    Patched {
        name: "cairo-lang-runner",
        version: "2.8.2",
        fixes: &[
            // `assemble_ex` takes `&self`; the clone copied the whole program with its debug
            // information (every Sierra statement's references) for each test and for each
            // contract call inside it: 33 minutes of the suite's run instead of 9.5.
            (
                "src/lib.rs",
                "self.casm_program.clone().assemble_ex(",
                "self.casm_program.assemble_ex(",
            ),
            (
                "src/lib.rs",
                "//! Basic runner for running a Sierra program on the vm.\n",
                "//! Basic runner for running a Sierra program on the vm.\n#![allow(warnings)]\n",
            ),
        ],
    },
];

/// Counts of a runner's `test result:` line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TestCounts {
    /// Tests that passed.
    pub passed: usize,
    /// Tests that failed.
    pub failed: usize,
    /// Tests skipped because of `#[ignore]`.
    pub ignored: usize,
    /// Tests not selected by the filter.
    pub filtered_out: usize,
}

impl TestCounts {
    /// Parses `test result: ok. 3 passed; 1 failed; 0 ignored; 2 filtered out;`.
    pub fn parse(line: &str) -> Option<Self> {
        let rest = line.split("test result:").nth(1)?;
        let words: Vec<&str> = rest
            .split(|c: char| c.is_whitespace() || c == ';' || c == '.' || c == ',')
            .filter(|w| !w.is_empty())
            .collect();
        let mut counts = Self::default();
        for pair in words.windows(2) {
            let Ok(n) = pair[0].parse::<usize>() else {
                continue;
            };
            match pair[1] {
                "passed" => counts.passed = n,
                "failed" => counts.failed = n,
                "ignored" => counts.ignored = n,
                "filtered" => counts.filtered_out = n,
                _ => {}
            }
        }
        Some(counts)
    }

    /// `cairo: N passed, M failed` (plus `, K ignored` when K > 0).
    pub fn summary_line(&self) -> String {
        let mut line = format!("cairo: {} passed, {} failed", self.passed, self.failed);
        if self.ignored > 0 {
            line.push_str(&format!(", {} ignored", self.ignored));
        }
        line
    }
}

/// Options of `ciro contracts test`.
#[derive(Debug, Clone, Default)]
pub struct TestOptions {
    /// Only run tests whose path contains this, e.g. `test_escrow::test_accept`.
    pub filter: Option<String>,
}

/// Result of a test run that compiled: the runner's counts.
#[derive(Debug, Clone, Copy)]
pub struct TestReport {
    /// Counts from the runner's last `test result:` line.
    pub counts: TestCounts,
}

impl TestReport {
    /// Whether every selected test passed.
    pub fn success(&self) -> bool {
        self.counts.failed == 0
    }
}

/// Builds the runner if needed, prepares the corelib and runs the tests, streaming the
/// runner's output. Fails when the tests do not compile or the runner cannot run; failing
/// tests are reported in the returned counts.
pub fn test(ws: &Workspace, options: &TestOptions) -> Result<TestReport> {
    let package = ws.package()?;
    let runner = build_runner(ws)?;
    let wasm = super::wasm_cairo::WasmCairo::prepare(&ws.runner_dir)?;
    let toolchain_dir = ws.scratch("cairo-2.8")?;
    corelib::install(&wasm.wasm_path(), &toolchain_dir)?;
    let project = write_project(ws, package.name())?;

    let filter = options.filter.clone().unwrap_or_default();
    tracing::info!(
        "running the Cairo tests{}",
        if filter.is_empty() {
            String::new()
        } else {
            format!(" matching `{filter}`")
        }
    );
    let started = std::time::Instant::now();
    // The runner finds `corelib/src` above its working directory; CARGO_MANIFEST_DIR (set
    // under `cargo run`) would be searched first, so it is removed.
    let mut child = Command::new(&runner)
        .arg(&project)
        .arg(&filter)
        .current_dir(&toolchain_dir)
        .env_remove("CARGO_MANIFEST_DIR")
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| ContractsError::io(&runner, e))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut counts = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| ContractsError::io(&runner, e))?;
        if let Some(parsed) = TestCounts::parse(&line) {
            counts = Some(parsed);
        }
        println!("{line}");
    }
    let status = child.wait().map_err(|e| ContractsError::io(&runner, e))?;
    tracing::info!(
        "the Cairo tests took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    match counts {
        Some(counts) => Ok(TestReport { counts }),
        // No `test result:` line: the crate did not compile (diagnostics are on stderr).
        None => Err(ContractsError::NativeTestsFailed {
            status: status.to_string(),
        }),
    }
}

/// Writes `<root>/target/ciro/cairo-project/cairo_project.toml` naming `contracts/src` as
/// the crate `package`, and returns its directory.
fn write_project(ws: &Workspace, package: &str) -> Result<PathBuf> {
    let dir = ws.scratch("cairo-project")?;
    std::fs::create_dir_all(&dir).map_err(|e| ContractsError::io(&dir, e))?;
    let src = ws.contracts_dir.join("src");
    let src = src
        .canonicalize()
        .map_err(|e| ContractsError::io(&src, e))?;
    let toml = format!(
        "[crate_roots]\n{package} = {src:?}\n\n[config.global]\nedition = \"2024_07\"\n",
        src = src.display().to_string()
    );
    let path = dir.join("cairo_project.toml");
    super::manifest::write_if_changed(&path, &toml)?;
    Ok(dir)
}

/// `cargo build --release --locked` of the runner crate (a no-op when it is up to date), after
/// making sure the patched `cairo-vm` is in place. Returns the binary's path.
fn build_runner(ws: &Workspace) -> Result<PathBuf> {
    let crate_dir = ws.root.join(RUNNER_CRATE);
    let manifest = crate_dir.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(ContractsError::RunnerCrateMissing { manifest });
    }
    for patched in &PATCHED {
        prepare_patched(ws, &crate_dir, patched)?;
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate_dir.join("target"));
    let binary = target_dir.join("release").join(RUNNER_BIN);
    if !binary.is_file() {
        tracing::info!(
            "building the native Cairo 2.8.2 test runner once (a few minutes on a cold cache)"
        );
    }
    let status = Command::new(cargo())
        .args([
            "build",
            "--release",
            "--locked",
            "--quiet",
            "--manifest-path",
        ])
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", &target_dir)
        .status()
        .map_err(|e| ContractsError::io(&manifest, e))?;
    if !status.success() {
        return Err(ContractsError::RunnerBuildFailed {
            manifest,
            status: status.to_string(),
        });
    }
    Ok(binary)
}

/// Ensures `<crate_dir>/.patched/<name>-<version>` holds the registry's source of `patched`
/// with its fixes applied. A copy is made in a staging directory and renamed when complete.
fn prepare_patched(ws: &Workspace, crate_dir: &Path, patched: &Patched) -> Result<()> {
    let name = patched.dir_name();
    let dest = crate_dir.join(".patched").join(&name);
    if dest.join(PATCH_MARKER).is_file() {
        return Ok(());
    }
    let source = locate_registry_source(ws, patched)?;
    tracing::info!("patching {name} from {}", source.display());
    let staging = crate_dir.join(".patched").join(format!("{name}.staging"));
    let _ = std::fs::remove_dir_all(&staging);
    copy_dir(&source, &staging)?;
    for (file, from, to) in patched.fixes {
        let path = staging.join(file);
        let text = std::fs::read_to_string(&path).map_err(|e| ContractsError::io(&path, e))?;
        if text.matches(from).count() != 1 {
            return Err(ContractsError::PatchMismatch {
                file: path,
                expected: from.to_string(),
            });
        }
        let fixed = text.replace(from, to);
        std::fs::write(&path, fixed).map_err(|e| ContractsError::io(&path, e))?;
    }
    std::fs::write(
        staging.join(PATCH_MARKER),
        "patched by `ciro contracts test`\n",
    )
    .map_err(|e| ContractsError::io(&staging, e))?;
    let _ = std::fs::remove_dir_all(&dest);
    std::fs::rename(&staging, &dest).map_err(|e| ContractsError::io(&dest, e))?;
    Ok(())
}

/// Finds the unpacked source of `patched` in the local cargo registry, downloading it
/// through `cargo metadata` on a one-dependency manifest when needed.
fn locate_registry_source(ws: &Workspace, patched: &Patched) -> Result<PathBuf> {
    let krate = patched.dir_name();
    let failed = |reason: String| ContractsError::PatchSource {
        krate: krate.clone(),
        reason,
    };
    let dir = ws.scratch(&format!("fetch-{krate}"))?;
    std::fs::create_dir_all(dir.join("src")).map_err(|e| ContractsError::io(&dir, e))?;
    let manifest = dir.join("Cargo.toml");
    super::manifest::write_if_changed(
        &manifest,
        &format!(
            "[package]\nname = \"fetch-{0}\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n\
             [dependencies]\n{0} = {{ version = \"={1}\", default-features = false }}\n\n\
             [workspace]\n",
            patched.name, patched.version
        ),
    )?;
    super::manifest::write_if_changed(&dir.join("src/lib.rs"), "")?;
    let output = Command::new(cargo())
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(&manifest)
        .output()
        .map_err(|e| ContractsError::io(&manifest, e))?;
    if !output.status.success() {
        return Err(failed(
            String::from_utf8_lossy(&output.stderr).trim().to_string(),
        ));
    }
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| failed(format!("unreadable `cargo metadata` output: {e}")))?;
    metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == patched.name && p["version"] == patched.version)
        .and_then(|p| p["manifest_path"].as_str())
        .and_then(|m| Path::new(m).parent().map(Path::to_path_buf))
        .ok_or_else(|| failed(format!("`cargo metadata` does not list {krate}")))
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(|e| ContractsError::io(to, e))?;
    for entry in std::fs::read_dir(from).map_err(|e| ContractsError::io(from, e))? {
        let entry = entry.map_err(|e| ContractsError::io(from, e))?;
        let target = to.join(entry.file_name());
        let kind = entry
            .file_type()
            .map_err(|e| ContractsError::io(entry.path(), e))?;
        if kind.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target).map_err(|e| ContractsError::io(&target, e))?;
        }
    }
    Ok(())
}

/// The cargo that runs us, or `cargo` from PATH.
fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_passing_and_failing_result_lines() {
        let ok = "test result: ok. 240 passed; 0 failed; 0 ignored; 0 filtered out;";
        assert_eq!(
            TestCounts::parse(ok),
            Some(TestCounts {
                passed: 240,
                failed: 0,
                ignored: 0,
                filtered_out: 0
            })
        );
        let failed = "test result: FAILED. 3 passed; 2 failed; 1 ignored";
        let counts = TestCounts::parse(failed).unwrap();
        assert_eq!((counts.passed, counts.failed, counts.ignored), (3, 2, 1));
        assert_eq!(
            counts.summary_line(),
            "cairo: 3 passed, 2 failed, 1 ignored"
        );
        assert_eq!(TestCounts::parse("test foo ... ok"), None);
    }

    #[test]
    fn every_fix_changes_its_text() {
        for patched in &PATCHED {
            for (file, from, to) in patched.fixes {
                assert_ne!(from, to, "{file}");
                assert!(!from.is_empty(), "{file}");
            }
        }
    }

    #[test]
    fn the_runner_manifest_patches_every_patched_crate() {
        let manifest = include_str!("../../cairo-test-runner/Cargo.toml");
        for patched in &PATCHED {
            let line = format!(
                "{} = {{ path = \".patched/{}\" }}",
                patched.name,
                patched.dir_name()
            );
            assert!(manifest.contains(&line), "missing `{line}`");
        }
    }
}
