//! Extracts the Cairo core library ("corelib") that the `wasm-cairo` npm
//! package (0.10.2) embeds in `wasm-cairo_bg.wasm`, and installs it as real
//! files (`<dest>/corelib/src/lib.cairo`, ...) so that a native Cairo 2.8.2
//! test runner can compile against the very corelib wasm-cairo uses.
//!
//! wasm-cairo builds its corelib into the binary as a
//! `match path { "array.cairo" => include_str!(..), .. }`. In the compiled
//! module that is one function which
//!
//! 1. compares the requested path with every file name in turn
//!    (`i32.const NAME_ADDR; i32.const NAME_LEN; call <compare>`), and
//! 2. has one arm per file that stores the contents into the returned `&str`
//!    (`i32.const LEN; i32.store offset=56`, then
//!    `i32.const ADDR; i32.store offset=52`).
//!
//! The arms are laid out in code order as: the file compared last first,
//! then the other files in compare order. [`extract`] recovers this from the
//! module's data segments and code with `wasmparser`; [`install`] writes it
//! to disk.
//!
//! This module must never write outside the destination directory given to
//! [`install`] (every file name read from the wasm is checked to be a plain
//! relative path), and never accept a tree whose hash is not
//! [`CORELIB_TREE_SHA256`]: a different tree means the npm package changed,
//! and its corelib has not been checked against the native test runner.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmparser::{DataKind, FunctionBody, Operator, Parser, Payload};

use super::error::{ContractsError, Result};

/// SHA-256 (hex) of the corelib tree in wasm-cairo 0.10.2, as computed by
/// [`tree_hash`]. [`install`] refuses any other tree.
pub const CORELIB_TREE_SHA256: &str =
    "fc2049de6252e4576d57bc6655ec945ab1cf21775f3435f095dede53c5062f77";

/// Name of the marker file in `<dest>/corelib` holding the installed tree's hash.
pub const MARKER_FILE: &str = ".tree-sha256";

/// `memarg.offset` of the store that writes a file's length into the result.
const LEN_STORE_OFFSET: u64 = 56;
/// `memarg.offset` of the store that writes a file's address into the result.
const ADDR_STORE_OFFSET: u64 = 52;
/// The corelib function compares at least this many file names.
const MIN_NAME_COMPARES: usize = 100;
/// Smallest possible encoding of one name compare: two one-byte `i32.const`s
/// and a `call` (each opcode plus a one-byte immediate).
const MIN_COMPARE_BYTES: u64 = 6;
/// Largest linear-memory image built from the data segments (the pinned
/// module needs a few MiB); guards against absurd offsets in a bad module.
const MAX_MEMORY_IMAGE: u64 = 256 << 20;

/// Extracts the corelib embedded in a wasm-cairo module: relative path
/// (`"num/traits/zero.cairo"`) to file contents.
///
/// Fails with [`ContractsError::CorelibLayout`] when `wasm` is not a valid
/// module or does not contain the corelib in the layout described in the
/// module docs. Does not check the tree hash (see [`install`]).
pub fn extract(wasm: &[u8]) -> Result<BTreeMap<String, Vec<u8>>> {
    let (memory, bodies) = parse_module(wasm)?;

    // The one function comparing the most file names is the corelib match.
    let mut best: Option<Scan> = None;
    let mut tied = false;
    for body in &bodies {
        let range = body.range();
        if range.end - range.start < MIN_NAME_COMPARES as u64 * MIN_COMPARE_BYTES {
            continue;
        }
        let scan = scan_function(body, &memory)?;
        match &best {
            Some(b) if scan.names.len() < b.names.len() => {}
            Some(b) if scan.names.len() == b.names.len() => tied = true,
            _ => {
                tied = false;
                best = Some(scan);
            }
        }
    }
    let scan = best.unwrap_or_default();
    if scan.names.len() < MIN_NAME_COMPARES {
        return Err(layout(format!(
            "no function compares at least {MIN_NAME_COMPARES} `.cairo` file names (the most \
             found in one function: {})",
            scan.names.len()
        )));
    }
    if tied {
        return Err(layout(format!(
            "several functions compare {} `.cairo` file names; cannot tell which one is the \
             corelib",
            scan.names.len()
        )));
    }

    // Arms: pointers to the contents, never into the names, always in memory.
    let names_start = scan
        .names
        .iter()
        .map(|s| u64::from(s.addr))
        .min()
        .unwrap_or(0);
    let names_end = scan.names.iter().map(|s| s.end()).max().unwrap_or(0);
    let arms: Vec<Span> = scan
        .arms
        .iter()
        .copied()
        .filter(|arm| {
            !(names_start..names_end).contains(&u64::from(arm.addr))
                && arm.end() <= memory.len() as u64
        })
        .collect();
    if arms.len() != scan.names.len() {
        return Err(layout(format!(
            "the corelib function compares {} file names but has {} content arms \
             (`i32.const; i32.store offset={LEN_STORE_OFFSET}` / `i32.const; i32.store \
             offset={ADDR_STORE_OFFSET}`); expected one arm per name",
            scan.names.len(),
            arms.len()
        )));
    }

    // Arms are in code order: the last compared name, then the others in order.
    let (last, others) = scan.names.split_last().expect("at least 100 names");
    let mut files = BTreeMap::new();
    for (name, arm) in std::iter::once(last).chain(others).zip(&arms) {
        let name = std::str::from_utf8(name.bytes(&memory))
            .expect("checked while scanning")
            .to_string();
        check_relative_path(&name)?;
        let contents = arm.bytes(&memory).to_vec();
        if std::str::from_utf8(&contents).is_err() {
            return Err(layout(format!(
                "the contents found for {name} are not valid UTF-8"
            )));
        }
        if files.insert(name.clone(), contents).is_some() {
            return Err(layout(format!("file name {name} is compared twice")));
        }
    }
    check_lib_modules(&files)?;
    Ok(files)
}

/// SHA-256 (hex) of a file tree: for each file in path order, the path's
/// bytes, a 0 byte, the contents' length as 8 little-endian bytes, then the
/// contents.
pub fn tree_hash(files: &BTreeMap<String, Vec<u8>>) -> String {
    let mut hasher = Sha256::new();
    for (path, contents) in files {
        hasher.update(path.as_bytes());
        hasher.update([0]);
        hasher.update((contents.len() as u64).to_le_bytes());
        hasher.update(contents);
    }
    hex::encode(hasher.finalize())
}

/// Makes `<dest>/corelib/src` hold exactly the corelib embedded in the
/// wasm-cairo module at `wasm_path`, and returns that `src` directory.
///
/// When `<dest>/corelib/.tree-sha256` holds [`CORELIB_TREE_SHA256`] and the
/// files on disk still hash to it, nothing is read from `wasm_path`.
/// Otherwise the tree is extracted, checked against the pinned hash, written
/// into a temporary directory inside `dest` and renamed into place, so that
/// `<dest>/corelib` is never seen half-written.
pub fn install(wasm_path: &Path, dest: &Path) -> Result<PathBuf> {
    let corelib = dest.join("corelib");
    let src = corelib.join("src");
    if is_installed(&corelib) {
        return Ok(src);
    }
    let wasm = fs::read(wasm_path).map_err(|e| ContractsError::io(wasm_path, e))?;
    let files = extract(&wasm).map_err(|e| match e {
        ContractsError::CorelibLayout { wasm: None, reason } => ContractsError::CorelibLayout {
            wasm: Some(wasm_path.to_path_buf()),
            reason,
        },
        e => e,
    })?;
    let actual = tree_hash(&files);
    if actual != CORELIB_TREE_SHA256 {
        return Err(ContractsError::CorelibHashMismatch {
            wasm: wasm_path.to_path_buf(),
            expected: CORELIB_TREE_SHA256.to_string(),
            actual,
        });
    }
    tracing::info!(
        "installing the Cairo corelib ({} files) from {} into {}",
        files.len(),
        wasm_path.display(),
        corelib.display()
    );
    fs::create_dir_all(dest).map_err(|e| ContractsError::io(dest, e))?;
    let tmp = fresh_dir(dest, ".corelib.tmp")?;
    if let Err(e) = write_tree(&tmp, &files) {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    replace_dir(&tmp, &corelib, dest)?;
    Ok(src)
}

// ---------------------------------------------------------------------------
// reading the module

/// A byte range of the linear memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    addr: u32,
    len: u32,
}

impl Span {
    fn end(self) -> u64 {
        u64::from(self.addr) + u64::from(self.len)
    }

    /// The bytes of this span; it must lie inside `memory`.
    fn bytes(self, memory: &[u8]) -> &[u8] {
        &memory[self.addr as usize..self.end() as usize]
    }

    fn get(self, memory: &[u8]) -> Option<&[u8]> {
        memory.get(self.addr as usize..usize::try_from(self.end()).ok()?)
    }
}

/// What one function body holds: the file names it compares and its
/// candidate content arms (address stores paired with the latest length store).
#[derive(Debug, Default)]
struct Scan {
    names: Vec<Span>,
    arms: Vec<Span>,
}

fn layout(reason: impl Into<String>) -> ContractsError {
    ContractsError::CorelibLayout {
        wasm: None,
        reason: reason.into(),
    }
}

fn malformed(e: wasmparser::BinaryReaderError) -> ContractsError {
    layout(format!("it is not a valid WebAssembly module ({e})"))
}

/// The linear-memory image built from the active data segments, and the
/// function bodies.
fn parse_module(wasm: &[u8]) -> Result<(Vec<u8>, Vec<FunctionBody<'_>>)> {
    if !wasm.starts_with(b"\0asm") {
        return Err(layout(
            "it is not a WebAssembly module (it does not start with the magic bytes `\\0asm`)",
        ));
    }
    let mut segments = Vec::new();
    let mut bodies = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(malformed)? {
            Payload::DataSection(reader) => {
                for data in reader {
                    let data = data.map_err(malformed)?;
                    let DataKind::Active {
                        memory_index: 0,
                        offset_expr,
                    } = data.kind
                    else {
                        continue;
                    };
                    let mut ops = offset_expr.get_operators_reader();
                    let offset = match (ops.read(), ops.read(), ops.eof()) {
                        (Ok(Operator::I32Const { value }), Ok(Operator::End), true) => value as u32,
                        _ => {
                            return Err(layout(
                                "an active data segment's offset is not a single `i32.const`",
                            ))
                        }
                    };
                    segments.push((offset, data.data));
                }
            }
            Payload::CodeSectionEntry(body) => bodies.push(body),
            _ => {}
        }
    }
    let size = segments
        .iter()
        .map(|(offset, data)| u64::from(*offset) + data.len() as u64)
        .max()
        .unwrap_or(0);
    if size > MAX_MEMORY_IMAGE {
        return Err(layout(format!(
            "its data segments reach up to byte {size} of linear memory (more than \
             {MAX_MEMORY_IMAGE} is not expected)"
        )));
    }
    let mut memory = vec![0; size as usize];
    for (offset, data) in segments {
        memory[offset as usize..offset as usize + data.len()].copy_from_slice(data);
    }
    Ok((memory, bodies))
}

/// A compared name: valid UTF-8 in memory, ending in `.cairo`, without NUL.
fn is_file_name(memory: &[u8], span: Span) -> bool {
    // Cheap byte checks first: most `i32.const; i32.const; call` are not names.
    span.get(memory).is_some_and(|bytes| {
        bytes.ends_with(b".cairo") && !bytes.contains(&0) && std::str::from_utf8(bytes).is_ok()
    })
}

fn scan_function(body: &FunctionBody<'_>, memory: &[u8]) -> Result<Scan> {
    let mut scan = Scan::default();
    let mut ops = body.get_operators_reader().map_err(malformed)?;
    // Values of the last two operators when they were `i32.const`s.
    let (mut prev, mut prev2): (Option<u32>, Option<u32>) = (None, None);
    let mut last_len: Option<u32> = None;
    while !ops.eof() {
        let op = ops.read().map_err(malformed)?;
        match &op {
            Operator::Call { .. } => {
                if let (Some(addr), Some(len)) = (prev2, prev) {
                    let span = Span { addr, len };
                    if is_file_name(memory, span) {
                        scan.names.push(span);
                    }
                }
            }
            Operator::I32Store { memarg } if memarg.offset == LEN_STORE_OFFSET => {
                last_len = prev;
            }
            Operator::I32Store { memarg } if memarg.offset == ADDR_STORE_OFFSET => {
                if let (Some(addr), Some(len)) = (prev, last_len) {
                    scan.arms.push(Span { addr, len });
                }
            }
            _ => {}
        }
        let current = match op {
            Operator::I32Const { value } => Some(value as u32),
            _ => None,
        };
        prev2 = current.and(prev);
        prev = current;
    }
    Ok(scan)
}

// ---------------------------------------------------------------------------
// validation

/// File names become paths under the destination: only plain relative paths
/// (no `..`, `.`, empty, absolute or backslash components) are accepted.
fn check_relative_path(name: &str) -> Result<()> {
    let plain = !name.contains('\\')
        && name
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
    if plain {
        Ok(())
    } else {
        Err(layout(format!(
            "file name {name:?} is not a plain relative path"
        )))
    }
}

/// `lib.cairo` exists and each of its `mod x;` declarations has an `x.cairo`.
fn check_lib_modules(files: &BTreeMap<String, Vec<u8>>) -> Result<()> {
    let lib = files
        .get("lib.cairo")
        .ok_or_else(|| layout("the extracted files have no lib.cairo"))?;
    let lib = std::str::from_utf8(lib).expect("checked to be UTF-8");
    for module in declared_modules(lib) {
        if !files.contains_key(&format!("{module}.cairo")) {
            return Err(layout(format!(
                "lib.cairo declares `mod {module};` but no {module}.cairo was extracted"
            )));
        }
    }
    Ok(())
}

/// Names of the file modules declared (`[pub[(..)]] mod x;`) on their own
/// lines in `source`.
fn declared_modules(source: &str) -> Vec<&str> {
    source
        .lines()
        .filter_map(|line| {
            let line = line.split("//").next().unwrap_or("").trim();
            let line = match line.strip_prefix("pub") {
                Some(rest) if rest.starts_with('(') => rest.split_once(')')?.1,
                Some(rest) => rest,
                None => line,
            };
            let name = line
                .trim_start()
                .strip_prefix("mod ")?
                .strip_suffix(';')?
                .trim();
            (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
                .then_some(name)
        })
        .collect()
}

// ---------------------------------------------------------------------------
// installing

/// Whether `corelib` holds the marker with the pinned hash and a `src` tree
/// that hashes to it.
fn is_installed(corelib: &Path) -> bool {
    let marker_ok = fs::read_to_string(corelib.join(MARKER_FILE))
        .is_ok_and(|marker| marker.trim() == CORELIB_TREE_SHA256);
    marker_ok
        && read_tree(&corelib.join("src"))
            .is_some_and(|files| tree_hash(&files) == CORELIB_TREE_SHA256)
}

/// All regular files under `dir` by relative `/`-separated path; `None` if
/// anything cannot be read or is neither a file nor a directory (a symlink).
fn read_tree(dir: &Path) -> Option<BTreeMap<String, Vec<u8>>> {
    fn walk(dir: &Path, prefix: &str, files: &mut BTreeMap<String, Vec<u8>>) -> Option<()> {
        for entry in fs::read_dir(dir).ok()? {
            let entry = entry.ok()?;
            let name = entry.file_name().into_string().ok()?;
            let path = format!("{prefix}{name}");
            let kind = entry.file_type().ok()?;
            if kind.is_dir() {
                walk(&entry.path(), &format!("{path}/"), files)?;
            } else if kind.is_file() {
                files.insert(path, fs::read(entry.path()).ok()?);
            } else {
                return None;
            }
        }
        Some(())
    }
    let mut files = BTreeMap::new();
    walk(dir, "", &mut files)?;
    Some(files)
}

/// Creates a new, empty directory `<parent>/<prefix>-<pid>-<n>`.
fn fresh_dir(parent: &Path, prefix: &str) -> Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = parent.join(format!("{prefix}-{}-{n}", std::process::id()));
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(ContractsError::io(&dir, e)),
        }
    }
}

/// Writes `<root>/src/<path>` for every file, then the marker `<root>/.tree-sha256`.
fn write_tree(root: &Path, files: &BTreeMap<String, Vec<u8>>) -> Result<()> {
    let src = root.join("src");
    for (name, contents) in files {
        let path = src.join(name);
        let parent = path.parent().expect("a file under src");
        fs::create_dir_all(parent).map_err(|e| ContractsError::io(parent, e))?;
        fs::write(&path, contents).map_err(|e| ContractsError::io(&path, e))?;
    }
    let marker = root.join(MARKER_FILE);
    fs::write(&marker, format!("{}\n", tree_hash(files)))
        .map_err(|e| ContractsError::io(&marker, e))
}

/// Moves the complete tree `tmp` to `target` (both inside `dest`), moving any
/// previous `target` aside first and deleting it afterwards.
fn replace_dir(tmp: &Path, target: &Path, dest: &Path) -> Result<()> {
    let old = match fs::symlink_metadata(target) {
        Ok(_) => {
            let old = fresh_dir(dest, ".corelib.old")?;
            // Rename onto the (empty) fresh directory: allowed for directories.
            match fs::rename(target, &old) {
                Ok(()) => Some(old),
                Err(e) => {
                    let _ = fs::remove_dir(&old);
                    if e.kind() != std::io::ErrorKind::NotFound {
                        let _ = fs::remove_dir_all(tmp);
                        return Err(ContractsError::io(target, e));
                    }
                    None
                }
            }
        }
        Err(_) => None,
    };
    if let Err(e) = fs::rename(tmp, target) {
        let _ = fs::remove_dir_all(tmp);
        // Another process may have installed the same tree meanwhile.
        if !is_installed(target) {
            return Err(ContractsError::io(target, e));
        }
    }
    if let Some(old) = old {
        if let Err(e) = fs::remove_dir_all(&old) {
            tracing::warn!(
                "could not remove the previous corelib {}: {e}",
                old.display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    /// The pinned wasm-cairo module, installed with `npm ci` when missing.
    fn wasm() -> &'static [u8] {
        static WASM: OnceLock<Vec<u8>> = OnceLock::new();
        WASM.get_or_init(|| {
            let path = wasm_path();
            if !path.is_file() {
                let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("cairo");
                super::super::wasm_cairo::WasmCairo::prepare(&dir)
                    .unwrap_or_else(|e| panic!("installing wasm-cairo failed: {e}"));
            }
            fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
    }

    fn wasm_path() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("cairo/node_modules/wasm-cairo/wasm-cairo_bg.wasm")
    }

    /// [`wasm_path`], after making sure the file exists.
    fn wasm_path_installed() -> PathBuf {
        wasm();
        wasm_path()
    }

    fn extracted() -> &'static BTreeMap<String, Vec<u8>> {
        static FILES: OnceLock<BTreeMap<String, Vec<u8>>> = OnceLock::new();
        FILES.get_or_init(|| extract(wasm()).expect("extracting the pinned corelib"))
    }

    #[test]
    fn corelib_extracts_the_pinned_tree() {
        let started = std::time::Instant::now();
        let files = extract(wasm()).unwrap();
        eprintln!("extract took {:?}", started.elapsed());
        assert_eq!(files.len(), 123);
        assert_eq!(tree_hash(&files), CORELIB_TREE_SHA256);
        for name in ["lib.cairo", "array.cairo", "num/traits/zero.cairo"] {
            assert!(files.contains_key(name), "{name} missing");
        }
        let lib = std::str::from_utf8(&files["lib.cairo"]).unwrap();
        assert!(lib.starts_with("pub mod traits;"), "{}", &lib[..80]);
        assert!(declared_modules(lib).len() >= 40);
    }

    #[test]
    fn corelib_tree_hash_format_is_stable() {
        // Computed independently: sha256(b"a.cairo\0" + le64(1) + b"x" + b"b/c.cairo\0" + le64(0)).
        let files = BTreeMap::from([
            ("b/c.cairo".to_string(), Vec::new()),
            ("a.cairo".to_string(), b"x".to_vec()),
        ]);
        assert_eq!(
            tree_hash(&files),
            "8523d80ecb8ae0c2698a0343c3446cf369b817d3e9e16e0aa95c9552ec6a5176"
        );
    }

    #[test]
    fn corelib_install_twice_takes_the_fast_path() {
        let dir = tempfile::tempdir().unwrap();
        let src = install(&wasm_path_installed(), dir.path()).unwrap();
        assert_eq!(src, dir.path().join("corelib/src"));
        assert_eq!(read_tree(&src).as_ref(), Some(extracted()));
        assert_eq!(
            fs::read_to_string(dir.path().join("corelib").join(MARKER_FILE)).unwrap(),
            format!("{CORELIB_TREE_SHA256}\n")
        );
        // The fast path does not read the wasm at all.
        let again = install(Path::new("/nonexistent/wasm-cairo_bg.wasm"), dir.path()).unwrap();
        assert_eq!(again, src);
        assert_eq!(read_tree(&src).as_ref(), Some(extracted()));
        // Nothing but `corelib` is left in the destination.
        let entries: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(entries, ["corelib"]);
    }

    #[test]
    fn corelib_tampering_triggers_reextraction() {
        let dir = tempfile::tempdir().unwrap();
        let bogus = Path::new("/nonexistent/wasm-cairo_bg.wasm");
        let src = install(&wasm_path_installed(), dir.path()).unwrap();
        let marker = dir.path().join("corelib").join(MARKER_FILE);
        let tamperings: [(&str, &dyn Fn()); 4] = [
            ("marker", &|| fs::write(&marker, "0000\n").unwrap()),
            ("edited file", &|| {
                fs::write(src.join("lib.cairo"), "// edited\n").unwrap()
            }),
            ("extra file", &|| {
                fs::write(src.join("num/extra.cairo"), "").unwrap()
            }),
            ("removed file", &|| {
                fs::remove_file(src.join("num/traits/zero.cairo")).unwrap()
            }),
        ];
        for (what, tamper) in tamperings {
            tamper();
            // Proof that the fast path is not taken: the wasm must be read.
            let err = install(bogus, dir.path()).unwrap_err();
            assert!(matches!(err, ContractsError::Io { .. }), "{what}: {err}");
            assert_eq!(install(&wasm_path_installed(), dir.path()).unwrap(), src);
            assert_eq!(read_tree(&src).as_ref(), Some(extracted()), "{what}");
            assert_eq!(
                fs::read_to_string(&marker).unwrap().trim(),
                CORELIB_TREE_SHA256,
                "{what}"
            );
        }
    }

    #[test]
    fn corelib_bad_modules_are_errors() {
        let real = wasm();
        let inputs: [(&str, &[u8]); 5] = [
            ("empty", b""),
            ("garbage", b"definitely not a wasm module"),
            ("truncated", &real[..real.len() / 2]),
            ("header only", b"\0asm\x01\0\0\0"),
            ("cut after the header", &real[..64]),
        ];
        for (what, bytes) in inputs {
            match extract(bytes) {
                Err(ContractsError::CorelibLayout { wasm: None, reason }) => {
                    eprintln!("{what}: {reason}")
                }
                other => panic!("{what}: expected a layout error, got {other:?}"),
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("garbage.wasm");
        fs::write(&path, b"garbage").unwrap();
        let err = install(&path, &dir.path().join("out")).unwrap_err();
        assert!(
            matches!(&err, ContractsError::CorelibLayout { wasm: Some(p), .. } if *p == path),
            "{err}"
        );
        assert!(err.to_string().contains("garbage.wasm"), "{err}");
        assert!(!dir.path().join("out").exists());
    }

    #[test]
    fn corelib_file_names_must_stay_inside_the_destination() {
        for good in ["lib.cairo", "num/traits/zero.cairo"] {
            assert!(check_relative_path(good).is_ok(), "{good}");
        }
        for bad in [
            "../x.cairo",
            "/etc/x.cairo",
            "a//b.cairo",
            "a/./b.cairo",
            "a\\..\\b.cairo",
            "",
        ] {
            assert!(check_relative_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn corelib_module_declarations_are_parsed() {
        let lib = "pub mod a;\nmod b; // comment\npub(crate) mod c;\n#[cfg(test)]\nmod d;\nmod inline {\n}\nuse x::mod_y;\n// mod z;\n";
        assert_eq!(declared_modules(lib), ["a", "b", "c", "d"]);
    }
}
