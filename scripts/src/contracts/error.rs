//! The single error type of the contracts driver.
//!
//! Every failure the driver can report is one variant here, with a message
//! that says what went wrong and what to do about it. This module only
//! describes errors; it must never perform I/O or decide how errors are
//! printed or which exit code they map to (that is `main.rs`'s job).

use std::path::PathBuf;

/// Everything that can go wrong while flattening, compiling, repairing,
/// checking or testing the Cairo contracts.
#[derive(Debug, thiserror::Error)]
pub enum ContractsError {
    /// No directory from the start directory upwards contains `contracts/Scarb.toml`.
    #[error(
        "could not find the repository root: no contracts/Scarb.toml in {} or any of its parents; \
         run ciro from inside the repository, or pass --root <dir> (or set CIRO_ROOT)",
        start.display()
    )]
    RootNotFound {
        /// Directory the search started from.
        start: PathBuf,
    },

    /// An explicit `--root` / `CIRO_ROOT` does not contain `contracts/Scarb.toml`.
    #[error("{} does not look like the repository root: {} is missing", root.display(), root.join("contracts/Scarb.toml").display())]
    BadRoot {
        /// The root that was given.
        root: PathBuf,
    },

    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A JSON file could not be parsed.
    #[error("{} is not valid JSON for {what}: {source}", path.display())]
    Json {
        /// The file involved.
        path: PathBuf,
        /// What the file was expected to contain.
        what: &'static str,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },

    /// `Scarb.toml` has no `[package] name = "..."`.
    #[error("could not read the package name from {}: expected `name = \"...\"` in its [package] section", path.display())]
    PackageName {
        /// Path of the Scarb.toml.
        path: PathBuf,
    },

    /// A `mod x;` declaration appears inside an inline `mod y { ... }` block.
    #[error(
        "{}:{line}: `mod {module};` is declared inside an inline module block; the driver only \
         supports file modules declared at the top level of a file (move the declaration into \
         its own file, e.g. make the inline module a file module)",
        declared_in.display()
    )]
    NestedFileModule {
        /// File containing the declaration (relative to the package).
        declared_in: PathBuf,
        /// Declared module name.
        module: String,
        /// 1-based line of the declaration.
        line: usize,
    },

    /// A `mod x;` declaration has no backing file.
    #[error(
        "{}:{line}: module `{module}` is declared but its file {} does not exist",
        declared_in.display(),
        expected.display()
    )]
    MissingModuleFile {
        /// File containing the declaration (relative to the package).
        declared_in: PathBuf,
        /// Declared module name.
        module: String,
        /// 1-based line of the declaration.
        line: usize,
        /// Where the module's file was expected.
        expected: PathBuf,
    },

    /// Braces in a Cairo file do not balance.
    #[error("{}:{line}: unbalanced `}}`; the driver cannot follow the file's module structure", file.display())]
    UnbalancedBraces {
        /// File involved (relative to the package).
        file: PathBuf,
        /// 1-based line of the offending brace.
        line: usize,
    },

    /// The same module file is reached twice (a module cycle or duplicate path).
    #[error("{} is included twice (declared again in {}); each module file may be declared once", file.display(), declared_in.display())]
    DuplicateModuleFile {
        /// The file reached twice.
        file: PathBuf,
        /// The second declaring file.
        declared_in: PathBuf,
    },

    /// Two `#[starknet::contract]` modules share a name.
    #[error("contract `{name}` is defined twice: in {} and in {}; contract names must be unique", first.display(), second.display())]
    DuplicateContract {
        /// Contract name.
        name: String,
        /// First defining file.
        first: PathBuf,
        /// Second defining file.
        second: PathBuf,
    },

    /// A contract was requested that the package does not define.
    #[error("the package defines no contract named `{name}` (it defines: {known})")]
    UnknownContract {
        /// Requested name.
        name: String,
        /// Comma-separated list of defined contracts.
        known: String,
    },

    /// `node` is not installed.
    #[error(
        "`node` was not found on PATH: the Cairo compiler runs as WebAssembly under Node.js; \
         install Node.js 18 or newer (or install scarb, which the driver prefers when present)"
    )]
    NodeMissing,

    /// `npm` is not installed.
    #[error("`npm` was not found on PATH: it is needed once to install the wasm-cairo compiler into {}; install npm (it ships with Node.js)", dir.display())]
    NpmMissing {
        /// The runner directory.
        dir: PathBuf,
    },

    /// `npm ci` failed.
    #[error(
        "`npm ci --no-audit --no-fund` failed in {} ({status}); check network access to the npm \
         registry and that package-lock.json is committed. Output:\n{output}",
        dir.display()
    )]
    NpmCiFailed {
        /// The runner directory.
        dir: PathBuf,
        /// Exit status description.
        status: String,
        /// Combined stdout/stderr.
        output: String,
    },

    /// The runner script is missing.
    #[error("the wasm-cairo runner {} does not exist; it lives in scripts/cairo of the repository", script.display())]
    RunnerMissing {
        /// Expected script path.
        script: PathBuf,
    },

    /// The node process crashed or misbehaved (not a compile error).
    #[error("the wasm-cairo runner failed while {what} ({status}); its stderr:\n{stderr}")]
    RunnerFailed {
        /// What the runner was doing.
        what: String,
        /// Exit status description.
        status: String,
        /// Captured stderr.
        stderr: String,
    },

    /// A contract did not compile.
    #[error(
        "contract `{contract}` failed to compile (flattened source: {}).\n{diagnostics}",
        source_file.display()
    )]
    CompileFailed {
        /// Contract name.
        contract: String,
        /// Path of the flattened source that was compiled.
        source_file: PathBuf,
        /// Compiler output, with locations mapped back to the package files where possible.
        diagnostics: String,
    },

    /// The native test runner's crate is not in the checkout.
    #[error("the native Cairo test runner crate is missing: {}", manifest.display())]
    RunnerCrateMissing {
        /// Expected `Cargo.toml`.
        manifest: PathBuf,
    },

    /// `cargo build` of the native test runner failed.
    #[error(
        "building the native Cairo test runner failed ({status}); rerun `cargo build --release \
         --locked --manifest-path {}` to see why", manifest.display()
    )]
    RunnerBuildFailed {
        /// The runner's `Cargo.toml`.
        manifest: PathBuf,
        /// Exit status description.
        status: String,
    },

    /// A patched crate's source could not be found in, or fetched into, the cargo registry.
    #[error("cannot get the {krate} source from the cargo registry: {reason}")]
    PatchSource {
        /// The crate and version, e.g. `cairo-vm-1.0.2`.
        krate: String,
        /// What went wrong.
        reason: String,
    },

    /// A patched crate's source does not contain a line a fix expects.
    #[error(
        "cannot apply the runner's fix: {} does not contain `{expected}` exactly once",
        file.display()
    )]
    PatchMismatch {
        /// The file being fixed.
        file: PathBuf,
        /// The text that was expected.
        expected: String,
    },

    /// The native runner ended without a `test result:` line: the package did not compile.
    #[error(
        "the Cairo package did not compile for testing ({status}); the compiler's diagnostics \
         are printed above"
    )]
    NativeTestsFailed {
        /// Exit status description.
        status: String,
    },

    /// The Sierra JSON could not be decoded or re-encoded.
    #[error("invalid Sierra contract class: {0}")]
    Sierra(String),

    /// Sierra to CASM compilation failed.
    #[error("Sierra to CASM compilation failed: {0}")]
    Casm(String),

    /// The class hash could not be computed.
    #[error("could not compute the Sierra class hash: {0}")]
    ClassHash(String),

    /// An error while processing one contract.
    #[error("contract `{contract}`: {source}")]
    Contract {
        /// Contract name.
        contract: String,
        /// The underlying error.
        #[source]
        source: Box<ContractsError>,
    },

    /// Several independent failures (e.g. several contracts failed to compile).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n\n"))]
    Several(Vec<ContractsError>),

    /// `scarb build` failed or did not produce an expected artifact.
    #[error("scarb build failed: {0}")]
    Scarb(String),

    /// The committed artifacts do not match the sources or each other.
    #[error(
        "contract artifacts in {} are stale or inconsistent:\n{}\nrun `cargo run -p ciro -- contracts build` \
         (add --force if the sources did not change but an artifact was edited by hand) and commit contracts/artifacts/",
        artifacts_dir.display(),
        problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n")
    )]
    StaleArtifacts {
        /// The artifacts directory.
        artifacts_dir: PathBuf,
        /// One line per problem, each naming the contract.
        problems: Vec<String>,
    },

    /// The Cairo corelib could not be found inside wasm-cairo's WebAssembly module.
    #[error(
        "could not extract the Cairo corelib from {}: {reason}. The extractor knows the layout \
         of the wasm-cairo 0.10.2 npm package only (pinned by scripts/cairo/package-lock.json); \
         reinstall it with `npm ci --no-audit --no-fund` in scripts/cairo, or, if the package was \
         upgraded on purpose, update scripts/src/contracts/corelib.rs for its layout",
        wasm.as_ref().map_or_else(|| "the given wasm module".to_string(), |p| p.display().to_string())
    )]
    CorelibLayout {
        /// The wasm file, when known.
        wasm: Option<PathBuf>,
        /// What was not recognised.
        reason: String,
    },

    /// The corelib extracted from wasm-cairo is not the pinned one.
    #[error(
        "the Cairo corelib extracted from {} has tree hash {actual}, but corelib.rs pins \
         {expected}: the wasm-cairo npm package changed. Reinstall the pinned package with \
         `npm ci --no-audit --no-fund` in scripts/cairo; if the upgrade is intended, check that \
         the native test runner works with the new corelib and update CORELIB_TREE_SHA256 in \
         scripts/src/contracts/corelib.rs",
        wasm.display()
    )]
    CorelibHashMismatch {
        /// The wasm file the corelib was extracted from.
        wasm: PathBuf,
        /// The pinned tree hash.
        expected: String,
        /// The hash of what was extracted.
        actual: String,
    },
}

impl ContractsError {
    /// Builds an [`ContractsError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// Wraps this error with the name of the contract being processed.
    pub fn in_contract(self, contract: &str) -> Self {
        Self::Contract {
            contract: contract.to_string(),
            source: Box::new(self),
        }
    }
}

/// Result alias for the contracts driver.
pub type Result<T, E = ContractsError> = std::result::Result<T, E>;
