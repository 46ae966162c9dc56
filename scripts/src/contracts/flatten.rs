//! Flattens the multi-file Cairo package under `contracts/` into one source
//! string per contract, because wasm-cairo only compiles a single in-memory
//! file. The flattened source is also what a contract's source hash covers.
//!
//! Every file-module declaration (`mod x;`, with its visibility and
//! attributes) is replaced by `mod x { <contents of the file> }`, recursively.
//! Along the way the module tree is scanned for `#[starknet::contract]`
//! modules. A contract's source leaves out the module files that define other
//! contracts and every `#[cfg(test)]` file module, so editing tests or another
//! contract does not change it.
//!
//! This module only reads the package; it must never write files, rewrite
//! Cairo code beyond splicing module files in, or guess at paths (a missing
//! module file is an error, never skipped).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::error::{ContractsError, Result};

/// The name wasm-cairo gives the crate it compiles (it is not configurable).
pub const WASM_CRATE_NAME: &str = "astro";

const ATTR_CFG_TEST: &str = "#[cfg(test)]";
const ATTR_CONTRACT: &str = "#[starknet::contract]";

/// A Cairo package (a directory with `Scarb.toml` and `src/lib.cairo`),
/// loaded and scanned: every module file reachable from `src/lib.cairo`.
#[derive(Debug)]
pub struct Package {
    dir: PathBuf,
    name: String,
    files: Vec<ModFile>,
}

/// A `#[starknet::contract]` module defined by a module file of the package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractInfo {
    /// The contract module's name, e.g. `Staking`.
    pub name: String,
    /// The file defining it, relative to the package directory.
    pub file: PathBuf,
}

/// The flattened source of one contract.
#[derive(Debug, Clone)]
pub struct Flattened {
    /// The flattened Cairo source.
    pub source: String,
}

#[derive(Debug)]
struct ModFile {
    /// Path relative to the package directory.
    rel: PathBuf,
    text: String,
    decls: Vec<Decl>,
    /// Contracts defined in this file (any `#[starknet::contract] mod X`).
    contracts: Vec<String>,
    /// Contracts defined outside any `#[cfg(test)]` scope.
    production_contracts: Vec<String>,
    /// Whether the file is only compiled for tests (reached through `#[cfg(test)]`).
    test_only: bool,
}

/// A file-module declaration `[attrs] [pub[(..)]] mod name;`.
#[derive(Debug)]
struct Decl {
    /// Byte offset of the first attribute (or of the visibility / `mod`).
    start: usize,
    /// Byte offset just after the module name.
    name_end: usize,
    /// Byte offset just after the `;`.
    end: usize,
    cfg_test: bool,
    /// Index of the declared file in `Package::files`.
    child: usize,
}

impl Package {
    /// Loads the package in `dir`: reads the package name from `Scarb.toml`
    /// and scans every module file reachable from `src/lib.cairo`.
    pub fn load(dir: &Path) -> Result<Self> {
        let name = read_package_name(&dir.join("Scarb.toml"))?;
        let mut package = Package {
            dir: dir.to_path_buf(),
            name,
            files: Vec::new(),
        };
        let mut seen = HashMap::new();
        package.load_file(PathBuf::from("src/lib.cairo"), false, &mut seen)?;
        package.check_unique_contracts()?;
        Ok(package)
    }

    /// The package name from `Scarb.toml` (`ciro`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The contracts the package builds, sorted by name. Contracts that are
    /// only compiled for tests (under `#[cfg(test)]`) are not included.
    pub fn contracts(&self) -> Vec<ContractInfo> {
        let mut contracts: Vec<ContractInfo> = self
            .files
            .iter()
            .flat_map(|file| {
                file.production_contracts
                    .iter()
                    .filter(|_| !file.test_only)
                    .map(|name| ContractInfo {
                        name: name.clone(),
                        file: file.rel.clone(),
                    })
            })
            .collect();
        contracts.sort_by(|a, b| a.name.cmp(&b.name));
        contracts
    }

    /// The source to compile contract `name` on its own: everything except
    /// module files defining other contracts and `#[cfg(test)]` file modules.
    pub fn for_contract(&self, name: &str) -> Result<Flattened> {
        if !self.contracts().iter().any(|c| c.name == name) {
            return Err(ContractsError::UnknownContract {
                name: name.to_string(),
                known: self
                    .contracts()
                    .into_iter()
                    .map(|c| c.name)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        let mut source = String::new();
        self.render_file(0, name, &mut source);
        Ok(Flattened { source })
    }

    fn render_file(&self, index: usize, contract: &str, out: &mut String) {
        let file = &self.files[index];
        let mut pos = 0;
        for decl in &file.decls {
            out.push_str(&file.text[pos..decl.start]);
            pos = decl.end;
            if self.dropped(decl, contract) {
                continue;
            }
            out.push_str(&file.text[decl.start..decl.name_end]);
            out.push_str(" {\n");
            self.render_file(decl.child, contract, out);
            if !out.ends_with('\n') {
                out.push('\n');
            }
            out.push('}');
        }
        out.push_str(&file.text[pos..]);
    }

    /// Whether `decl` is left out of the source of `contract`: it is a
    /// `#[cfg(test)]` module, or its file defines only other contracts.
    fn dropped(&self, decl: &Decl, contract: &str) -> bool {
        let child = &self.files[decl.child];
        decl.cfg_test
            || (!child.contracts.is_empty() && !child.contracts.iter().any(|c| c == contract))
    }

    fn load_file(
        &mut self,
        rel: PathBuf,
        test_only: bool,
        seen: &mut HashMap<PathBuf, PathBuf>,
    ) -> Result<usize> {
        let path = self.dir.join(&rel);
        let text = std::fs::read_to_string(&path).map_err(|e| ContractsError::io(&path, e))?;
        let scan = scan(&text, &rel)?;
        let index = self.files.len();
        self.files.push(ModFile {
            rel: rel.clone(),
            text,
            decls: Vec::new(),
            contracts: scan.contracts,
            production_contracts: scan.production_contracts,
            test_only,
        });
        // `src/lib.cairo` (always loaded first) declares files next to
        // itself; any other `a/b.cairo` declares files under `a/b/`.
        let child_dir = if index == 0 {
            rel.parent().map(Path::to_path_buf).unwrap_or_default()
        } else {
            rel.with_extension("")
        };
        let mut decls = Vec::with_capacity(scan.decls.len());
        for raw in scan.decls {
            let child_rel = child_dir.join(format!("{}.cairo", raw.name));
            if !self.dir.join(&child_rel).is_file() {
                return Err(ContractsError::MissingModuleFile {
                    declared_in: rel.clone(),
                    module: raw.name,
                    line: raw.line,
                    expected: child_rel,
                });
            }
            if seen.insert(child_rel.clone(), rel.clone()).is_some() {
                return Err(ContractsError::DuplicateModuleFile {
                    file: child_rel,
                    declared_in: rel.clone(),
                });
            }
            let child = self.load_file(child_rel, test_only || raw.cfg_test, seen)?;
            decls.push(Decl {
                start: raw.start,
                name_end: raw.name_end,
                end: raw.end,
                cfg_test: raw.cfg_test,
                child,
            });
        }
        self.files[index].decls = decls;
        Ok(index)
    }

    fn check_unique_contracts(&self) -> Result<()> {
        let mut by_name: BTreeMap<&str, &Path> = BTreeMap::new();
        for file in &self.files {
            for name in &file.contracts {
                if let Some(first) = by_name.insert(name, &file.rel) {
                    return Err(ContractsError::DuplicateContract {
                        name: name.clone(),
                        first: first.to_path_buf(),
                        second: file.rel.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    #[cfg(test)]
    fn declared_modules(&self) -> Vec<String> {
        self.files
            .iter()
            .flat_map(|f| {
                f.decls.iter().map(|d| {
                    let child = &self.files[d.child].rel;
                    let name = child.file_stem().expect("module file name");
                    format!("{}:{}", f.rel.display(), name.to_string_lossy())
                })
            })
            .collect()
    }
}

/// Reads `name = "..."` from the `[package]` section of a `Scarb.toml`.
pub fn read_package_name(scarb_toml: &Path) -> Result<String> {
    let text =
        std::fs::read_to_string(scarb_toml).map_err(|e| ContractsError::io(scarb_toml, e))?;
    let mut section = String::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.starts_with('[') {
            section = line
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string();
        } else if section == "package" {
            if let Some((key, value)) = line.split_once('=') {
                if key.trim() == "name" {
                    let value = value.trim().trim_matches('"');
                    if !value.is_empty() {
                        return Ok(value.to_string());
                    }
                }
            }
        }
    }
    Err(ContractsError::PackageName {
        path: scarb_toml.to_path_buf(),
    })
}

// ---------------------------------------------------------------------------
// Scanning: a tiny tokenizer that understands comments and string literals,
// enough to follow braces, attributes and `mod` declarations.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ident,
    Punct(char),
    Literal,
}

#[derive(Debug, Clone, Copy)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
    line: usize,
}

fn tokenize(text: &str) -> Vec<Token> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    let mut line = 1;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let start_line = line;
        match c {
            b'\n' => {
                line += 1;
                i += 1;
                continue;
            }
            c if c.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' | b'\'' => {
                i += 1;
                while i < bytes.len() && bytes[i] != c {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    if bytes.get(i) == Some(&b'\n') {
                        line += 1;
                    }
                    i += 1;
                }
                i = (i + 1).min(bytes.len());
                tokens.push(Token {
                    kind: Kind::Literal,
                    start,
                    end: i,
                    line: start_line,
                });
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                tokens.push(Token {
                    kind: Kind::Ident,
                    start,
                    end: i,
                    line,
                });
            }
            c if c.is_ascii_digit() => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                tokens.push(Token {
                    kind: Kind::Literal,
                    start,
                    end: i,
                    line,
                });
            }
            _ => {
                let ch = text[i..].chars().next().expect("in bounds");
                i += ch.len_utf8();
                tokens.push(Token {
                    kind: Kind::Punct(ch),
                    start,
                    end: i,
                    line,
                });
            }
        }
    }
    tokens
}

struct RawDecl {
    start: usize,
    name_end: usize,
    end: usize,
    name: String,
    line: usize,
    cfg_test: bool,
}

struct Scan {
    decls: Vec<RawDecl>,
    contracts: Vec<String>,
    production_contracts: Vec<String>,
}

struct Attr {
    start: usize,
    text: String,
}

struct InlineModule {
    /// Brace depth inside the module's block.
    depth: usize,
    cfg_test: bool,
}

fn scan(text: &str, rel: &Path) -> Result<Scan> {
    let tokens = tokenize(text);
    let tok_text = |t: &Token| &text[t.start..t.end];
    let is_ident = |i: usize, word: &str| {
        tokens
            .get(i)
            .is_some_and(|t| t.kind == Kind::Ident && tok_text(t) == word)
    };
    let is_punct = |i: usize, p: char| tokens.get(i).is_some_and(|t| t.kind == Kind::Punct(p));

    let mut result = Scan {
        decls: vec![],
        contracts: vec![],
        production_contracts: vec![],
    };
    let mut depth = 0usize;
    let mut inline: Vec<InlineModule> = Vec::new();
    let mut attrs: Vec<Attr> = Vec::new();
    let has_attr = |attrs: &[Attr], want: &str| attrs.iter().any(|a| a.text == want);

    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i];
        match t.kind {
            Kind::Punct('#') if is_punct(i + 1, '[') => {
                // An attribute: `#[ ... ]` with nested brackets.
                let mut j = i + 1;
                let mut brackets = 0i32;
                let mut norm = String::from("#");
                while j < tokens.len() {
                    norm.push_str(tok_text(&tokens[j]));
                    match tokens[j].kind {
                        Kind::Punct('[') => brackets += 1,
                        Kind::Punct(']') => {
                            brackets -= 1;
                            if brackets == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                attrs.push(Attr {
                    start: t.start,
                    text: norm,
                });
                i = j + 1;
                continue;
            }
            Kind::Punct('{') => {
                depth += 1;
                attrs.clear();
            }
            Kind::Punct('}') => {
                if depth == 0 {
                    return Err(ContractsError::UnbalancedBraces {
                        file: rel.to_path_buf(),
                        line: t.line,
                    });
                }
                if inline.last().is_some_and(|m| m.depth == depth) {
                    inline.pop();
                }
                depth -= 1;
                attrs.clear();
            }
            Kind::Ident if matches!(tok_text(&t), "pub" | "mod") => {
                // Skip the visibility, `pub` or `pub(...)`.
                let mut k = i;
                if tok_text(&t) == "pub" {
                    k += 1;
                    if is_punct(k, '(') {
                        while k < tokens.len() && !is_punct(k, ')') {
                            k += 1;
                        }
                        k += 1;
                    }
                }
                let named =
                    is_ident(k, "mod") && tokens.get(k + 1).is_some_and(|n| n.kind == Kind::Ident);
                if !named {
                    // `pub fn`, `pub struct`, ...: keep the pending attributes.
                    i = k.max(i + 1);
                    continue;
                }
                let name_tok = tokens[k + 1];
                let name = tok_text(&name_tok).to_string();
                let cfg_test = has_attr(&attrs, ATTR_CFG_TEST);
                if is_punct(k + 2, ';') {
                    if depth > 0 {
                        return Err(ContractsError::NestedFileModule {
                            declared_in: rel.to_path_buf(),
                            module: name,
                            line: tokens[k].line,
                        });
                    }
                    result.decls.push(RawDecl {
                        start: attrs.first().map_or(t.start, |a| a.start),
                        name_end: name_tok.end,
                        end: tokens[k + 2].end,
                        name,
                        line: tokens[k].line,
                        cfg_test,
                    });
                    attrs.clear();
                    i = k + 3;
                    continue;
                }
                if is_punct(k + 2, '{') {
                    let in_test_scope = cfg_test || inline.iter().any(|m| m.cfg_test);
                    let is_contract = attrs.iter().any(|a| {
                        a.text == ATTR_CONTRACT
                            || a.text.starts_with(&ATTR_CONTRACT.replace(']', "("))
                    });
                    if is_contract {
                        if !in_test_scope {
                            result.production_contracts.push(name.clone());
                        }
                        result.contracts.push(name);
                    }
                    inline.push(InlineModule {
                        depth: depth + 1,
                        cfg_test: in_test_scope,
                    });
                    // The `{` itself is handled (and attributes cleared) next.
                    i = k + 2;
                    continue;
                }
                attrs.clear();
                i = k + 2;
                continue;
            }
            _ => attrs.clear(),
        }
        i += 1;
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn package(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "Scarb.toml",
            "[package]\nname = \"ciro\"\nversion = \"0.1.0\"\n",
        );
        for (rel, text) in files {
            write(dir.path(), rel, text);
        }
        dir
    }

    fn sample() -> tempfile::TempDir {
        package(&[
            (
                "src/lib.cairo",
                "pub mod interfaces;\npub mod token;\npub(crate) mod staking;\n// mod commented_out;\n#[cfg(test)]\nmod tests;\n",
            ),
            ("src/interfaces.cairo", "#[starknet::interface]\npub trait IToken<T> {\n    fn total(self: @T) -> u256;\n}\n"),
            ("src/token.cairo", "pub mod token;\n"),
            (
                "src/token/token.cairo",
                "#[starknet::contract]\npub mod Token {\n    const S: felt252 = '}';\n    // } mod nope;\n}\n",
            ),
            ("src/staking.cairo", "pub mod errors;\npub mod staking;\n"),
            ("src/staking/errors.cairo", "pub const E: felt252 = 'E';\n"),
            ("src/staking/staking.cairo", "#[starknet::contract]\nmod Staking {\n    fn f() {}\n}\n"),
            ("src/tests.cairo", "mod test_token;\n#[cfg(test)] mod test_staking;\n"),
            (
                "src/tests/test_token.cairo",
                "#[test]\nfn test_mint() {}\n#[test]\n#[should_panic]\n#[ignore]\nfn test_mint_zero() {}\nfn helper() {}\nmod inner {\n    #[test]\n    fn deep() {}\n}\n",
            ),
            (
                "src/tests/test_staking.cairo",
                "#[starknet::contract]\nmod MockOracle {}\n#[test]\n#[available_gas(1000)]\nfn test_stake() {}\n",
            ),
        ])
    }

    #[test]
    fn finds_nested_modules_and_contracts() {
        let dir = sample();
        let pkg = Package::load(dir.path()).unwrap();
        assert_eq!(pkg.name(), "ciro");
        assert_eq!(
            pkg.declared_modules(),
            [
                "src/lib.cairo:interfaces",
                "src/lib.cairo:token",
                "src/lib.cairo:staking",
                "src/lib.cairo:tests",
                "src/token.cairo:token",
                "src/staking.cairo:errors",
                "src/staking.cairo:staking",
                "src/tests.cairo:test_token",
                "src/tests.cairo:test_staking",
            ]
        );
        let contracts: Vec<_> = pkg.contracts().into_iter().map(|c| c.name).collect();
        assert_eq!(contracts, ["Staking", "Token"], "MockOracle is test-only");
    }

    #[test]
    fn for_contract_drops_other_contracts_and_cfg_test_modules() {
        let dir = sample();
        let pkg = Package::load(dir.path()).unwrap();
        let staking = pkg.for_contract("Staking").unwrap().source;
        assert!(
            staking.starts_with("pub mod interfaces {\n#[starknet::interface]"),
            "{staking}"
        );
        assert!(
            staking.contains("pub(crate) mod staking {\npub mod errors {\npub const E"),
            "visibility kept, files spliced recursively: {staking}"
        );
        assert!(staking.contains("// mod commented_out;"), "{staking}");
        assert!(!staking.contains("mod errors;"), "{staking}");
        assert!(staking.contains("mod Staking {"), "{staking}");
        assert!(
            staking.contains("pub mod errors {"),
            "shared files stay: {staking}"
        );
        assert!(staking.contains("pub mod interfaces {"));
        assert!(staking.contains("pub mod token {\n\n}"), "{staking}");
        assert!(
            !staking.contains("Token {"),
            "other contract dropped: {staking}"
        );
        assert!(
            !staking.contains("tests") && !staking.contains("cfg(test)"),
            "{staking}"
        );
        let token = pkg.for_contract("Token").unwrap().source;
        assert!(token.contains("pub mod Token {") && !token.contains("mod Staking"));
        assert!(matches!(
            pkg.for_contract("MockOracle"),
            Err(ContractsError::UnknownContract { .. })
        ));
    }

    #[test]
    fn missing_module_file_names_declaring_file_module_and_path() {
        let dir = package(&[
            ("src/lib.cairo", "mod a;\n"),
            ("src/a.cairo", "\n\npub mod b;\n"),
        ]);
        let err = Package::load(dir.path()).unwrap_err();
        match &err {
            ContractsError::MissingModuleFile {
                declared_in,
                module,
                line,
                expected,
            } => {
                assert_eq!(declared_in, Path::new("src/a.cairo"));
                assert_eq!(module, "b");
                assert_eq!(*line, 3);
                assert_eq!(expected, Path::new("src/a/b.cairo"));
            }
            other => panic!("unexpected {other:?}"),
        }
        let msg = err.to_string();
        assert!(
            msg.contains("src/a.cairo:3") && msg.contains("`b`") && msg.contains("src/a/b.cairo")
        );
    }

    #[test]
    fn file_module_inside_inline_block_is_rejected() {
        let dir = package(&[("src/lib.cairo", "mod outer {\n    mod inner;\n}\n")]);
        let err = Package::load(dir.path()).unwrap_err();
        assert!(
            matches!(&err, ContractsError::NestedFileModule { module, line: 2, .. } if module == "inner"),
            "{err:?}"
        );
    }

    #[test]
    fn duplicate_contract_names_are_rejected() {
        let dir = package(&[
            ("src/lib.cairo", "mod a;\nmod b;\n"),
            ("src/a.cairo", "#[starknet::contract]\nmod X {}\n"),
            ("src/b.cairo", "#[starknet::contract]\npub mod X {}\n"),
        ]);
        assert!(matches!(
            Package::load(dir.path()),
            Err(ContractsError::DuplicateContract { .. })
        ));
    }

    #[test]
    fn package_name_comes_from_the_package_section() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Scarb.toml");
        std::fs::write(
            &path,
            "[workspace]\nname = \"nope\"\n\n[package]\n# c\nname = \"ciro\" # x\n",
        )
        .unwrap();
        assert_eq!(read_package_name(&path).unwrap(), "ciro");
        std::fs::write(&path, "[dependencies]\nname = \"x\"\n").unwrap();
        assert!(matches!(
            read_package_name(&path),
            Err(ContractsError::PackageName { .. })
        ));
    }
}
