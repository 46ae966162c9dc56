//! Runs the Cairo 2.8.2 compiler (the `wasm-cairo` npm package) through
//! `scripts/cairo/wasm-cairo.mjs`, one Node process per contract.
//!
//! It installs the pinned npm dependency with `npm ci` when missing, spawns
//! Node, and hands back what the compiler returned. It must never interpret
//! compiler output beyond success/failure, and never install anything other
//! than what `scripts/cairo/package-lock.json` pins.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::error::{ContractsError, Result};

/// File name of the Node runner script inside the runner directory.
pub const RUNNER_SCRIPT: &str = "wasm-cairo.mjs";

/// What the compiler returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A contract class.
    Ok(String),
    /// Anything else: the compiler failed; this is what it returned.
    Failed(String),
    /// The WebAssembly module trapped (a panic inside wasm-cairo); its stderr.
    Crashed(String),
    /// The WebAssembly module trapped at the 4 GiB wasm32 memory limit; its stderr.
    OutOfMemory(String),
}

/// A handle on an installed runner directory (`scripts/cairo`).
#[derive(Debug, Clone)]
pub struct WasmCairo {
    dir: PathBuf,
}

impl WasmCairo {
    /// The runner directory for repository `root`: `<root>/scripts/cairo`
    /// when it holds the runner, otherwise the copy next to this crate's
    /// sources (useful with `--root` pointing at another package).
    pub fn locate(root: &Path) -> PathBuf {
        let in_root = root.join("scripts/cairo");
        if in_root.join(RUNNER_SCRIPT).is_file() {
            in_root
        } else {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("cairo")
        }
    }

    /// Checks that Node is available and installs `wasm-cairo` with
    /// `npm ci --no-audit --no-fund` if `node_modules` lacks it.
    pub fn prepare(dir: &Path) -> Result<Self> {
        let script = dir.join(RUNNER_SCRIPT);
        if !script.is_file() {
            return Err(ContractsError::RunnerMissing { script });
        }
        match Command::new("node").arg("--version").output() {
            Ok(out) if out.status.success() => {
                tracing::debug!("node {}", String::from_utf8_lossy(&out.stdout).trim());
            }
            Ok(_) => return Err(ContractsError::NodeMissing),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ContractsError::NodeMissing)
            }
            Err(e) => return Err(ContractsError::io("node", e)),
        }
        if !dir
            .join("node_modules/wasm-cairo/wasm-cairo_bg.wasm")
            .is_file()
        {
            tracing::info!("installing wasm-cairo: npm ci in {}", dir.display());
            let out = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(dir)
                .stdin(Stdio::null())
                .output()
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => ContractsError::NpmMissing {
                        dir: dir.to_path_buf(),
                    },
                    _ => ContractsError::io("npm", e),
                })?;
            if !out.status.success() {
                return Err(ContractsError::NpmCiFailed {
                    dir: dir.to_path_buf(),
                    status: out.status.to_string(),
                    output: format!(
                        "{}{}",
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr)
                    ),
                });
            }
        }
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    /// Compiles a single-contract source to a contract class (JSON).
    pub fn compile(&self, source: &Path, out: &Path) -> Result<(Outcome, Duration)> {
        self.run("compile", source, out)
    }

    /// The pinned compiler module, `node_modules/wasm-cairo/wasm-cairo_bg.wasm`, which also
    /// carries the corelib (see [`super::corelib`]).
    pub fn wasm_path(&self) -> PathBuf {
        self.dir.join("node_modules/wasm-cairo/wasm-cairo_bg.wasm")
    }

    fn run(&self, mode: &str, source: &Path, out: &Path) -> Result<(Outcome, Duration)> {
        let started = Instant::now();
        let mut command = Command::new("node");
        command
            .arg(self.dir.join(RUNNER_SCRIPT))
            .arg(mode)
            .arg(source)
            .arg(out);
        let what = format!("running `{mode}` on {}", source.display());
        let output = command
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => ContractsError::NodeMissing,
                _ => ContractsError::io("node", e),
            })?;
        let elapsed = started.elapsed();
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
        tracing::debug!("{what}: {stderr}");
        let failed = match output.status.code() {
            Some(0) => false,
            Some(2) => true,
            Some(3) => {
                tracing::debug!("wasm-cairo trapped while {what}");
                return Ok((Outcome::Crashed(stderr), elapsed));
            }
            Some(4) => {
                tracing::debug!("wasm-cairo ran out of memory while {what}");
                return Ok((Outcome::OutOfMemory(stderr), elapsed));
            }
            _ => {
                return Err(ContractsError::RunnerFailed {
                    what,
                    status: output.status.to_string(),
                    stderr,
                })
            }
        };
        let text = std::fs::read_to_string(out).map_err(|e| ContractsError::io(out, e))?;
        Ok((
            if failed {
                Outcome::Failed(text)
            } else {
                Outcome::Ok(text)
            },
            elapsed,
        ))
    }
}
