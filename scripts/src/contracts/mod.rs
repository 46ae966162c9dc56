//! Builds, checks and tests the Cairo contracts in `contracts/`.
//!
//! `build` compiles each `#[starknet::contract]` (with scarb when it is on
//! PATH, otherwise with wasm-cairo on a flattened per-contract source),
//! repairs the Sierra, compiles CASM and writes `contracts/artifacts/`.
//! `check` verifies the committed artifacts without compiling Cairo.
//! `test` runs the Cairo tests and, because wasm-cairo hides which test
//! failed, narrows failures down by re-running subsets.
//!
//! This module orchestrates only: it must never print results itself
//! (callers render the returned reports) and never write outside
//! `contracts/artifacts/` and the scratch directory `<root>/target/ciro/`.

pub mod corelib;
pub mod error;
pub mod flatten;
pub mod manifest;
pub mod native;
pub mod sierra;
pub mod wasm_cairo;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use error::{ContractsError, Result};
use flatten::{Flattened, Package};
use manifest::{CheckSummary, ContractEntry, Manifest};
pub use native::{test, TestCounts, TestOptions, TestReport};
use sierra::ProcessedContract;
use wasm_cairo::{Outcome, WasmCairo};

/// The command that regenerates the artifacts (quoted in error messages).
pub const BUILD_COMMAND: &str = "cargo run -p ciro -- contracts build";
/// The command that runs the Cairo tests (quoted in error messages).
pub const TEST_COMMAND: &str = "cargo run -p ciro -- contracts test";

/// Paths of one checkout of the repository.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// Repository root: the directory containing `contracts/Scarb.toml`.
    pub root: PathBuf,
    /// The Cairo package, `<root>/contracts`.
    pub contracts_dir: PathBuf,
    /// Committed build output, `<root>/contracts/artifacts`.
    pub artifacts_dir: PathBuf,
    /// Scratch space for flattened sources and raw compiler output, `<root>/target/ciro`.
    pub work_dir: PathBuf,
    /// The Node runner directory (see [`WasmCairo::locate`]).
    pub runner_dir: PathBuf,
}

impl Workspace {
    /// Uses `root` when given, otherwise walks up from the current
    /// directory to the first directory containing `contracts/Scarb.toml`.
    pub fn discover(root: Option<&Path>) -> Result<Self> {
        let root = match root {
            Some(root) => {
                if !root.join("contracts/Scarb.toml").is_file() {
                    return Err(ContractsError::BadRoot {
                        root: root.to_path_buf(),
                    });
                }
                root.to_path_buf()
            }
            None => {
                let start = std::env::current_dir().map_err(|e| ContractsError::io(".", e))?;
                start
                    .ancestors()
                    .find(|dir| dir.join("contracts/Scarb.toml").is_file())
                    .map(Path::to_path_buf)
                    .ok_or(ContractsError::RootNotFound {
                        start: start.clone(),
                    })?
            }
        };
        Ok(Self::at(root))
    }

    /// The workspace rooted at `root` (no checks).
    pub fn at(root: PathBuf) -> Self {
        Self {
            contracts_dir: root.join("contracts"),
            artifacts_dir: root.join("contracts/artifacts"),
            work_dir: root.join("target/ciro"),
            runner_dir: WasmCairo::locate(&root),
            root,
        }
    }

    /// Loads and scans the Cairo package.
    pub fn package(&self) -> Result<Package> {
        Package::load(&self.contracts_dir)
    }

    fn scratch(&self, name: &str) -> Result<PathBuf> {
        std::fs::create_dir_all(&self.work_dir)
            .map_err(|e| ContractsError::io(&self.work_dir, e))?;
        Ok(self.work_dir.join(name))
    }
}

/// Default parallelism: the number of available cores.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

// ---------------------------------------------------------------------------
// build

/// Options of `ciro contracts build`.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Recompile even contracts whose source hash matches the manifest.
    pub force: bool,
    /// Maximum number of compiler processes at once.
    pub jobs: usize,
}

/// What happened to one contract during a build.
#[derive(Debug, Clone, PartialEq)]
pub enum BuildStatus {
    /// Compiled now, taking this long.
    Compiled(Duration),
    /// Up to date; nothing compiled.
    Cached,
}

/// One contract of a [`BuildReport`].
#[derive(Debug, Clone)]
pub struct BuiltContract {
    /// Contract name.
    pub name: String,
    /// Compiled or cached.
    pub status: BuildStatus,
    /// Its Sierra class hash.
    pub class_hash: String,
}

/// Result of a successful build.
#[derive(Debug, Clone)]
pub struct BuildReport {
    /// Compiler used for this build (`wasm-cairo 0.10.2` or `scarb x.y.z`).
    pub compiler: String,
    /// Per contract, in name order.
    pub contracts: Vec<BuiltContract>,
    /// Wall-clock time of the whole build.
    pub elapsed: Duration,
}

/// Builds the contract artifacts (see the module docs).
pub fn build(ws: &Workspace, options: &BuildOptions) -> Result<BuildReport> {
    let started = Instant::now();
    let package = ws.package()?;
    let sources = flatten_contracts(&package)?;
    let old = Manifest::load(&ws.artifacts_dir)?.filter(|m| m.package == package.name());

    let (compiler, compiled, failures) = match scarb_version() {
        Some(version) => {
            tracing::info!("using {version} (found on PATH)");
            let raw = build_with_scarb(ws, &package)?;
            (version, raw, Vec::new())
        }
        None => {
            let stale: Vec<&str> = sources
                .iter()
                .filter(|(name, (_, hash))| {
                    options.force || !up_to_date(ws, &package, old.as_ref(), name, hash)
                })
                .map(|(name, _)| name.as_str())
                .collect();
            let (raw, failures) = build_with_wasm(ws, &sources, &stale, options.jobs)?;
            (manifest::WASM_COMPILER.to_string(), raw, failures)
        }
    };

    let mut manifest = old
        .clone()
        .unwrap_or_else(|| Manifest::new(package.name(), &compiler));
    if !compiled.is_empty() {
        manifest.compiler = compiler.clone();
    }
    // Repair, CASM and hashes: CPU-bound, one contract per job.
    let names: Vec<&String> = compiled.keys().collect();
    let processed = parallel_map(&names, options.jobs, |name| {
        sierra::process(&compiled[*name].0, package.name())
    });
    let mut processed: HashMap<&String, Result<ProcessedContract>> =
        names.iter().copied().zip(processed).collect();
    let mut report = Vec::new();
    for (name, (_, source_hash)) in &sources {
        if failures.iter().any(|(failed, _)| failed == name) {
            continue;
        }
        let Some((_, elapsed)) = compiled.get(name) else {
            let entry = &manifest.contracts[name];
            tracing::info!("{name}: cached, class hash {}", entry.class_hash);
            report.push(BuiltContract {
                name: name.clone(),
                status: BuildStatus::Cached,
                class_hash: entry.class_hash.clone(),
            });
            continue;
        };
        let entry = processed
            .remove(name)
            .expect("processed every compiled contract")
            .and_then(|p| write_artifacts(ws, package.name(), name, p, source_hash))
            .map_err(|e| e.in_contract(name))?;
        tracing::info!(
            "{name}: compiled in {:.1} s, class hash {}, compiled class hash {}{}",
            elapsed.as_secs_f64(),
            entry.class_hash,
            entry.compiled_class_hash,
            match entry.fallthrough_repairs {
                0 => String::new(),
                n => format!(" ({n} fallthrough targets repaired)"),
            }
        );
        report.push(BuiltContract {
            name: name.clone(),
            status: BuildStatus::Compiled(*elapsed),
            class_hash: entry.class_hash.clone(),
        });
        manifest.contracts.insert(name.clone(), entry);
    }
    // Contracts that no longer exist: drop their artifacts.
    let gone: Vec<String> = manifest
        .contracts
        .keys()
        .filter(|n| !sources.contains_key(*n))
        .cloned()
        .collect();
    for name in gone {
        let entry = manifest.contracts.remove(&name).expect("listed above");
        tracing::info!("{name}: no longer in the sources, removing its artifacts");
        for file in [entry.contract_class, entry.compiled_contract_class] {
            let path = ws.artifacts_dir.join(file);
            if path.is_file() {
                std::fs::remove_file(&path).map_err(|e| ContractsError::io(&path, e))?;
            }
        }
    }
    manifest.save(&ws.artifacts_dir)?;
    let mut failures: Vec<ContractsError> = failures.into_iter().map(|(_, e)| e).collect();
    match failures.len() {
        0 => {}
        1 => return Err(failures.remove(0)),
        _ => return Err(ContractsError::Several(failures)),
    }
    Ok(BuildReport {
        compiler,
        contracts: report,
        elapsed: started.elapsed(),
    })
}

/// Per contract (sorted by name): the flattened source and its source hash.
fn flatten_contracts(package: &Package) -> Result<BTreeMap<String, (Flattened, String)>> {
    package
        .contracts()
        .into_iter()
        .map(|contract| {
            let flat = package.for_contract(&contract.name)?;
            let hash = manifest::source_hash(package.name(), &flat.source);
            Ok((contract.name, (flat, hash)))
        })
        .collect()
}

fn up_to_date(
    ws: &Workspace,
    package: &Package,
    manifest: Option<&Manifest>,
    name: &str,
    source_hash: &str,
) -> bool {
    manifest
        .and_then(|m| m.contracts.get(name))
        .is_some_and(|entry| {
            entry.source_hash == source_hash
                && ws
                    .artifacts_dir
                    .join(manifest::sierra_file_name(package.name(), name))
                    .is_file()
                && ws
                    .artifacts_dir
                    .join(manifest::casm_file_name(package.name(), name))
                    .is_file()
        })
}

/// Writes both artifact files of a processed contract; returns its manifest entry.
fn write_artifacts(
    ws: &Workspace,
    package: &str,
    name: &str,
    processed: ProcessedContract,
    source_hash: &str,
) -> Result<ContractEntry> {
    let entry = ContractEntry {
        contract_class: manifest::sierra_file_name(package, name),
        compiled_contract_class: manifest::casm_file_name(package, name),
        source_hash: source_hash.to_string(),
        class_hash: processed.class_hash,
        compiled_class_hash: processed.compiled_class_hash,
        legacy_compiled_class_hash: processed.legacy_compiled_class_hash,
        fallthrough_repairs: processed.fallthrough_repairs,
    };
    manifest::write_if_changed(
        &ws.artifacts_dir.join(&entry.contract_class),
        &sierra::class_to_json(&processed.class)?,
    )?;
    manifest::write_if_changed(
        &ws.artifacts_dir.join(&entry.compiled_contract_class),
        &sierra::casm_to_json(&processed.casm)?,
    )?;
    Ok(entry)
}

/// Raw compiler output per contract, with the time its compilation took.
type RawClasses = HashMap<String, (String, Duration)>;

/// Compiles `stale` contracts with wasm-cairo, `jobs` at a time. Returns
/// the compiled classes and, separately, the contracts that failed.
fn build_with_wasm(
    ws: &Workspace,
    sources: &BTreeMap<String, (Flattened, String)>,
    stale: &[&str],
    jobs: usize,
) -> Result<(RawClasses, Vec<(String, ContractsError)>)> {
    if stale.is_empty() {
        return Ok((HashMap::new(), Vec::new()));
    }
    let runner = WasmCairo::prepare(&ws.runner_dir)?;
    tracing::info!(
        "compiling {} contract(s) with {} ({} at a time): {}",
        stale.len(),
        manifest::WASM_COMPILER,
        jobs.min(stale.len()),
        stale.join(", ")
    );
    let results = parallel_map(stale, jobs, |name| -> Result<_> {
        let flat = &sources[*name].0;
        let source = ws.scratch(&format!("{name}.cairo"))?;
        std::fs::write(&source, &flat.source).map_err(|e| ContractsError::io(&source, e))?;
        let out = ws.scratch(&format!("{name}.raw.contract_class.json"))?;
        match runner.compile(&source, &out)? {
            (Outcome::Ok(raw), elapsed) => Ok(Ok((raw, elapsed))),
            (Outcome::OutOfMemory(stderr), _) => Ok(Err(ContractsError::CompileFailed {
                contract: name.to_string(),
                source_file: source,
                diagnostics: format!(
                    "wasm-cairo ran out of memory (wasm32 modules are limited to 4 GiB).\n{stderr}"
                ),
            })),
            (Outcome::Failed(text) | Outcome::Crashed(text), _) => {
                tracing::error!("{name}: compilation failed; looking for diagnostics");
                let diagnostics = explain_failure(&text);
                Ok(Err(ContractsError::CompileFailed {
                    contract: name.to_string(),
                    source_file: source,
                    diagnostics,
                }))
            }
        }
    });
    let mut compiled = HashMap::new();
    let mut failures = Vec::new();
    for (name, result) in stale.iter().zip(results) {
        match result? {
            Ok(raw) => {
                compiled.insert(name.to_string(), raw);
            }
            Err(e) => failures.push((name.to_string(), e)),
        }
    }
    Ok((compiled, failures))
}

/// The text shown for a failed compilation. wasm-cairo 0.10.2 drops the Starknet compiler's
/// diagnostics, so this points at the native compiler, which shows them.
fn explain_failure(returned: &str) -> String {
    format!(
        "wasm-cairo returned: {}\nIt does not report the compiler's diagnostics. Run `{}` to \
         compile the same sources with the native Cairo 2.8.2 compiler, which prints them with \
         file and line.\n",
        returned.trim(),
        TEST_COMMAND
    )
}

/// `scarb --version` → `scarb 2.8.2`, or `None` when scarb is not installed.
fn scarb_version() -> Option<String> {
    let out = Command::new("scarb").arg("--version").output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text
        .lines()
        .next()?
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    Some(first)
}

/// Runs `scarb build` and returns each contract's raw class JSON.
fn build_with_scarb(ws: &Workspace, package: &Package) -> Result<RawClasses> {
    let started = Instant::now();
    let status = Command::new("scarb")
        .arg("build")
        .current_dir(&ws.contracts_dir)
        .status()
        .map_err(|e| ContractsError::Scarb(e.to_string()))?;
    if !status.success() {
        return Err(ContractsError::Scarb(format!(
            "`scarb build` exited with {status}"
        )));
    }
    let elapsed = started.elapsed();
    let target = ws.contracts_dir.join("target/dev");
    package
        .contracts()
        .into_iter()
        .map(|contract| {
            let path = target.join(manifest::sierra_file_name(package.name(), &contract.name));
            let raw = std::fs::read_to_string(&path).map_err(|e| {
                ContractsError::Scarb(format!("expected artifact {}: {e}", path.display()))
            })?;
            Ok((contract.name, (raw, elapsed)))
        })
        .collect()
}

// ---------------------------------------------------------------------------
// check

/// Verifies the committed artifacts against the sources without compiling
/// Cairo (see [`manifest::check`]).
pub fn check(ws: &Workspace) -> Result<CheckSummary> {
    let package = ws.package()?;
    let hashes = flatten_contracts(&package)?
        .into_iter()
        .map(|(name, (_, hash))| (name, hash))
        .collect();
    manifest::check(&ws.artifacts_dir, package.name(), &hashes)
}

/// Maps `f` over `items` on up to `jobs` threads, keeping the order.
pub(crate) fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let result = f(item);
                results.lock().expect("no panics while holding the lock")[i] = Some(result);
            });
        }
    });
    results
        .into_inner()
        .expect("no panics while holding the lock")
        .into_iter()
        .map(|r| r.expect("every item was processed"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_map_keeps_order() {
        let items: Vec<u32> = (0..20).collect();
        assert_eq!(
            parallel_map(&items, 3, |x| x * 2),
            items.iter().map(|x| x * 2).collect::<Vec<_>>()
        );
        assert!(parallel_map(&Vec::<u32>::new(), 4, |x| *x).is_empty());
    }

    #[test]
    fn discover_rejects_a_root_without_contracts() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Workspace::discover(Some(dir.path())),
            Err(ContractsError::BadRoot { .. })
        ));
    }
}
