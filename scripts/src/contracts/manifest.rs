//! The committed contract artifacts (`contracts/artifacts/`) and their
//! `manifest.json`: file naming, source hashes, reading/writing, and the
//! consistency check CI runs.
//!
//! The manifest records, per contract, which source produced the artifacts
//! and the hashes deploy tooling will see. Writing is deterministic (sorted
//! keys, pretty JSON) so a rebuild of unchanged sources is byte-identical.
//! This module never compiles Cairo and never deletes anything it did not
//! itself list in the manifest.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::{ContractsError, Result};
use super::sierra;

/// Name of the manifest file inside the artifacts directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Bumped whenever the driver changes how sources are flattened or how
/// artifacts are produced, so that every contract is considered stale.
pub const DRIVER_VERSION: &str = "ciro-contracts-driver/1";

/// The Cairo language version the sources target.
pub const CAIRO_VERSION: &str = "2.8.2";

/// The compiler used when scarb is not installed.
pub const WASM_COMPILER: &str = "wasm-cairo 0.10.2";

/// The Sierra→CASM compiler the driver links.
pub const CASM_COMPILER: &str = "cairo-lang-starknet-classes 2.19.4";

/// `contracts/artifacts/manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Package name from Scarb.toml.
    pub package: String,
    /// Cairo language version.
    pub cairo_version: String,
    /// Cairo→Sierra compiler, e.g. `wasm-cairo 0.10.2` or `scarb 2.8.2`.
    pub compiler: String,
    /// Sierra→CASM compiler.
    pub casm_compiler: String,
    /// Per contract, keyed (and therefore sorted) by contract name.
    pub contracts: BTreeMap<String, ContractEntry>,
}

/// One contract's artifacts and hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractEntry {
    /// File name of the repaired Sierra class.
    pub contract_class: String,
    /// File name of the CASM class.
    pub compiled_contract_class: String,
    /// sha256 of the driver version and the flattened per-contract source.
    pub source_hash: String,
    /// Sierra class hash.
    pub class_hash: String,
    /// Blake2s compiled class hash (Starknet >= 0.14.1).
    pub compiled_class_hash: String,
    /// Poseidon compiled class hash, for reference.
    pub legacy_compiled_class_hash: String,
    /// Number of `Fallthrough` branch targets repaired.
    pub fallthrough_repairs: usize,
}

impl Manifest {
    /// An empty manifest for `package`, built by `compiler`.
    pub fn new(package: &str, compiler: &str) -> Self {
        Self {
            package: package.to_string(),
            cairo_version: CAIRO_VERSION.to_string(),
            compiler: compiler.to_string(),
            casm_compiler: CASM_COMPILER.to_string(),
            contracts: BTreeMap::new(),
        }
    }

    /// Reads `<dir>/manifest.json`; `None` if it does not exist.
    pub fn load(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(MANIFEST_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                serde_json::from_str(&text)
                    .map(Some)
                    .map_err(|source| ContractsError::Json {
                        path,
                        what: "the artifacts manifest",
                        source,
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ContractsError::io(path, e)),
        }
    }

    /// The manifest's committed form: pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut json = serde_json::to_string_pretty(self).expect("manifest serializes");
        json.push('\n');
        json
    }

    /// Writes `<dir>/manifest.json` (only if its content changed).
    pub fn save(&self, dir: &Path) -> Result<()> {
        write_if_changed(&dir.join(MANIFEST_FILE), &self.to_json())
    }
}

/// `<package>_<Contract>.contract_class.json`, as scarb names it.
pub fn sierra_file_name(package: &str, contract: &str) -> String {
    format!("{package}_{contract}.contract_class.json")
}

/// `<package>_<Contract>.compiled_contract_class.json`, as scarb names it.
pub fn casm_file_name(package: &str, contract: &str) -> String {
    format!("{package}_{contract}.compiled_contract_class.json")
}

/// The source hash of a contract: sha256 (hex) over the driver version, the
/// package name and the flattened per-contract source. Test-only modules are
/// not part of that source, so editing tests never stales artifacts.
pub fn source_hash(package: &str, flattened_source: &str) -> String {
    let mut hasher = Sha256::new();
    for part in [DRIVER_VERSION, package, flattened_source] {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    hex::encode(hasher.finalize())
}

/// Writes `content` to `path` unless the file already holds exactly that.
pub fn write_if_changed(path: &Path, content: &str) -> Result<()> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == content) {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| ContractsError::io(parent, e))?;
    }
    std::fs::write(path, content).map_err(|e| ContractsError::io(path, e))
}

/// Outcome of a successful [`check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSummary {
    /// Number of contracts verified.
    pub contracts: usize,
}

/// Verifies the committed artifacts without compiling any Cairo:
///
/// * every contract in `source_hashes` (name → current source hash) is in
///   the manifest with the same source hash, and vice versa;
/// * both artifact files exist;
/// * the CASM re-derived from the committed Sierra equals the committed CASM,
///   and its compiled class hash and the Sierra class hash equal the manifest.
///
/// All problems are collected into one [`ContractsError::StaleArtifacts`].
pub fn check(
    artifacts_dir: &Path,
    package: &str,
    source_hashes: &BTreeMap<String, String>,
) -> Result<CheckSummary> {
    let stale = |problems: Vec<String>| ContractsError::StaleArtifacts {
        artifacts_dir: artifacts_dir.to_path_buf(),
        problems,
    };
    let manifest = match Manifest::load(artifacts_dir) {
        Ok(Some(manifest)) => manifest,
        Ok(None) => {
            return Err(stale(vec![format!(
                "{} does not exist (contracts: {})",
                artifacts_dir.join(MANIFEST_FILE).display(),
                source_hashes.keys().cloned().collect::<Vec<_>>().join(", ")
            )]))
        }
        Err(e) => return Err(stale(vec![e.to_string()])),
    };
    let mut problems = Vec::new();
    if manifest.package != package {
        problems.push(format!(
            "the manifest is for package `{}`, the sources are package `{package}`",
            manifest.package
        ));
    }
    let names: BTreeSet<&String> = source_hashes
        .keys()
        .chain(manifest.contracts.keys())
        .collect();
    let mut present = Vec::new();
    for name in names {
        let (Some(expected_hash), Some(entry)) =
            (source_hashes.get(name), manifest.contracts.get(name))
        else {
            problems.push(if source_hashes.contains_key(name) {
                format!("{name}: defined in the sources but missing from the manifest")
            } else {
                format!("{name}: in the manifest but no longer defined in the sources")
            });
            continue;
        };
        if &entry.source_hash != expected_hash {
            problems.push(format!(
                "{name}: the sources changed since the artifacts were built (source hash {} in the manifest, {} now)",
                short(&entry.source_hash),
                short(expected_hash)
            ));
        }
        present.push((name, entry));
    }
    // Re-deriving CASM is the expensive part: one contract per core.
    let verified = super::parallel_map(&present, super::default_jobs(), |(name, entry)| {
        verify_artifacts(artifacts_dir, package, name, entry)
    });
    problems.extend(verified.into_iter().flatten());
    if problems.is_empty() {
        Ok(CheckSummary {
            contracts: manifest.contracts.len(),
        })
    } else {
        Err(stale(problems))
    }
}

/// Re-derives the CASM of one contract from its committed Sierra and
/// compares it and the hashes with the committed CASM and the manifest.
/// Returns the problems found (empty when consistent).
pub fn verify_artifacts(
    artifacts_dir: &Path,
    package: &str,
    name: &str,
    entry: &ContractEntry,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (file, expected) in [
        (&entry.contract_class, sierra_file_name(package, name)),
        (
            &entry.compiled_contract_class,
            casm_file_name(package, name),
        ),
    ] {
        if *file != expected {
            problems.push(format!(
                "{name}: the manifest names artifact {file}, expected {expected}"
            ));
        }
    }
    let read = |file: &str| -> std::result::Result<String, String> {
        let path: PathBuf = artifacts_dir.join(file);
        std::fs::read_to_string(&path)
            .map_err(|e| format!("{name}: cannot read {}: {e}", path.display()))
    };
    let (sierra_json, casm_json) = match (
        read(&entry.contract_class),
        read(&entry.compiled_contract_class),
    ) {
        (Ok(s), Ok(c)) => (s, c),
        (s, c) => {
            problems.extend(s.err());
            problems.extend(c.err());
            return problems;
        }
    };
    let derived = sierra::parse_class(&sierra_json).and_then(|class| {
        let casm = sierra::compile_casm(&class)?;
        Ok((sierra::class_hash(&sierra_json)?, casm))
    });
    let (class_hash, casm) = match derived {
        Ok(derived) => derived,
        Err(e) => {
            problems.push(format!("{name}: {}: {e}", entry.contract_class));
            return problems;
        }
    };
    if class_hash != entry.class_hash {
        problems.push(format!(
            "{name}: class hash of {} is {class_hash}, the manifest says {}",
            entry.contract_class, entry.class_hash
        ));
    }
    let compiled = sierra::compiled_class_hash(&casm);
    if compiled != entry.compiled_class_hash {
        problems.push(format!(
            "{name}: compiled class hash re-derived from {} is {compiled}, the manifest says {}",
            entry.contract_class, entry.compiled_class_hash
        ));
    }
    let legacy = sierra::legacy_compiled_class_hash(&casm);
    if legacy != entry.legacy_compiled_class_hash {
        problems.push(format!(
            "{name}: legacy compiled class hash is {legacy}, the manifest says {}",
            entry.legacy_compiled_class_hash
        ));
    }
    match sierra::parse_casm(&casm_json) {
        Ok(committed) if committed == casm => {}
        Ok(_) => problems.push(format!(
            "{name}: {} differs from the CASM compiled from {}",
            entry.compiled_contract_class, entry.contract_class
        )),
        Err(e) => problems.push(format!("{name}: {}: {e}", entry.compiled_contract_class)),
    }
    problems
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAW: &str = include_str!("fixtures/counter.raw.contract_class.json");

    /// Writes the fixture's artifacts as a build would; returns the source hashes.
    fn build_fixture(dir: &Path) -> BTreeMap<String, String> {
        let processed = sierra::process(RAW, "ciro").unwrap();
        let hash = source_hash("ciro", "mod Counter {}");
        let entry = ContractEntry {
            contract_class: sierra_file_name("ciro", "Counter"),
            compiled_contract_class: casm_file_name("ciro", "Counter"),
            source_hash: hash.clone(),
            class_hash: processed.class_hash.clone(),
            compiled_class_hash: processed.compiled_class_hash.clone(),
            legacy_compiled_class_hash: processed.legacy_compiled_class_hash.clone(),
            fallthrough_repairs: processed.fallthrough_repairs,
        };
        write_if_changed(
            &dir.join(&entry.contract_class),
            &sierra::class_to_json(&processed.class).unwrap(),
        )
        .unwrap();
        write_if_changed(
            &dir.join(&entry.compiled_contract_class),
            &sierra::casm_to_json(&processed.casm).unwrap(),
        )
        .unwrap();
        let mut manifest = Manifest::new("ciro", WASM_COMPILER);
        manifest.contracts.insert("Counter".into(), entry);
        manifest.save(dir).unwrap();
        BTreeMap::from([("Counter".to_string(), hash)])
    }

    fn problems(result: Result<CheckSummary>) -> Vec<String> {
        match result {
            Err(ContractsError::StaleArtifacts { problems, .. }) => problems,
            other => panic!("expected stale artifacts, got {other:?}"),
        }
    }

    #[test]
    fn fresh_artifacts_pass_and_manifest_is_stable() {
        let dir = tempfile::tempdir().unwrap();
        let hashes = build_fixture(dir.path());
        assert_eq!(
            check(dir.path(), "ciro", &hashes).unwrap(),
            CheckSummary { contracts: 1 }
        );
        let first = std::fs::read_to_string(dir.path().join(MANIFEST_FILE)).unwrap();
        let loaded = Manifest::load(dir.path()).unwrap().unwrap();
        assert_eq!(
            loaded.to_json(),
            first,
            "manifest round-trips byte for byte"
        );
        let keys: Vec<&str> = first
            .lines()
            .filter_map(|l| l.strip_prefix("  \"").and_then(|l| l.split('"').next()))
            .collect();
        assert_eq!(
            keys,
            [
                "package",
                "cairo_version",
                "compiler",
                "casm_compiler",
                "contracts"
            ]
        );
    }

    #[test]
    fn changed_source_missing_and_extra_contracts_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut hashes = build_fixture(dir.path());
        hashes.insert(
            "Counter".into(),
            source_hash("ciro", "mod Counter { changed }"),
        );
        hashes.insert("Vault".into(), "00".into());
        let found = problems(check(dir.path(), "ciro", &hashes));
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0].starts_with("Counter: the sources changed"),
            "{found:?}"
        );
        assert!(
            found[1].starts_with("Vault: defined in the sources but missing"),
            "{found:?}"
        );

        let found = problems(check(dir.path(), "ciro", &BTreeMap::new()));
        assert!(
            found[0].starts_with("Counter: in the manifest but no longer defined"),
            "{found:?}"
        );
    }

    #[test]
    fn missing_artifact_or_manifest_fails() {
        let dir = tempfile::tempdir().unwrap();
        let hashes = build_fixture(dir.path());
        std::fs::remove_file(dir.path().join(casm_file_name("ciro", "Counter"))).unwrap();
        let found = problems(check(dir.path(), "ciro", &hashes));
        assert!(found.iter().any(|p| p.contains("cannot read")), "{found:?}");
        std::fs::remove_file(dir.path().join(MANIFEST_FILE)).unwrap();
        let err = check(dir.path(), "ciro", &hashes).unwrap_err().to_string();
        assert!(
            err.contains("manifest.json does not exist") && err.contains("contracts build"),
            "{err}"
        );
    }

    #[test]
    fn tampered_manifest_hash_fails() {
        let dir = tempfile::tempdir().unwrap();
        let hashes = build_fixture(dir.path());
        let mut manifest = Manifest::load(dir.path()).unwrap().unwrap();
        manifest
            .contracts
            .get_mut("Counter")
            .unwrap()
            .compiled_class_hash = "0x1234".into();
        manifest.save(dir.path()).unwrap();
        let found = problems(check(dir.path(), "ciro", &hashes));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("compiled class hash") && found[0].contains("0x1234"));
    }

    #[test]
    fn tampered_sierra_or_casm_artifact_fails() {
        let dir = tempfile::tempdir().unwrap();
        let hashes = build_fixture(dir.path());
        let casm_path = dir.path().join(casm_file_name("ciro", "Counter"));
        let original_casm = std::fs::read_to_string(&casm_path).unwrap();
        let mut casm = sierra::parse_casm(&original_casm).unwrap();
        casm.bytecode.pop();
        std::fs::write(&casm_path, sierra::casm_to_json(&casm).unwrap()).unwrap();
        let found = problems(check(dir.path(), "ciro", &hashes));
        assert!(
            found[0].contains("differs from the CASM compiled from"),
            "{found:?}"
        );
        std::fs::write(&casm_path, original_casm).unwrap();

        // An ABI edit changes the Sierra class hash.
        let sierra_path = dir.path().join(sierra_file_name("ciro", "Counter"));
        let text = std::fs::read_to_string(&sierra_path).unwrap();
        std::fs::write(&sierra_path, text.replacen("\"get\"", "\"got\"", 1)).unwrap();
        let found = problems(check(dir.path(), "ciro", &hashes));
        assert!(
            found.iter().any(|p| p.contains("class hash of")),
            "{found:?}"
        );
    }

    #[test]
    fn source_hash_covers_driver_package_and_source() {
        let a = source_hash("ciro", "x");
        assert_eq!(a.len(), 64);
        assert_eq!(a, source_hash("ciro", "x"));
        assert_ne!(a, source_hash("ciro", "y"));
        assert_ne!(a, source_hash("other", "x"));
    }
}
