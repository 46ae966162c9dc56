//! Turns a contract class produced by the Cairo compiler into the artifacts
//! we deploy: repaired Sierra, CASM, and their hashes.
//!
//! wasm-cairo encodes the Sierra branch target `Fallthrough` as statement
//! 4294967295 (`usize::MAX` on its 32-bit target), which every Sierra→CASM
//! compiler rejects. The repair renames the crate (`astro::` → package name),
//! rewrites exactly those targets back to `Fallthrough`, and re-encodes the
//! program. CASM is compiled with cairo-lang-starknet-classes 2.19.4 and the
//! class hash is computed with starknet-rs, the same code deploy tooling uses.
//!
//! This module is pure: it never touches the filesystem or runs processes,
//! and it must never change anything in a class besides the crate name and
//! the broken branch targets.

use cairo_lang_sierra::program::{BranchTarget, Program, Statement, StatementIdx};
use cairo_lang_starknet_classes::casm_contract_class::CasmContractClass;
use cairo_lang_starknet_classes::contract_class::ContractClass;
use cairo_lang_utils::ordered_hash_map::OrderedHashMap;
use starknet_core::types::contract::SierraClass;

use super::error::{ContractsError, Result};
use super::flatten::WASM_CRATE_NAME;

/// How a 32-bit build of the Cairo compiler writes `BranchTarget::Fallthrough`.
pub const BROKEN_FALLTHROUGH: usize = u32::MAX as usize;

/// Number of leading felts in `sierra_program` holding the Sierra and
/// compiler versions (major, minor, patch each).
const VERSION_HEADER_FELTS: usize = 6;

/// A contract class after repair, with its CASM and hashes.
#[derive(Debug, Clone)]
pub struct ProcessedContract {
    /// The repaired Sierra contract class.
    pub class: ContractClass,
    /// The CASM compiled from it.
    pub casm: CasmContractClass,
    /// How many `Fallthrough` targets were repaired (0 for a healthy class).
    pub fallthrough_repairs: usize,
    /// Sierra class hash (0x-prefixed hex).
    pub class_hash: String,
    /// Blake2s compiled class hash (Starknet >= 0.14.1), 0x-prefixed hex.
    pub compiled_class_hash: String,
    /// Poseidon compiled class hash (older Starknet versions), 0x-prefixed hex.
    pub legacy_compiled_class_hash: String,
}

/// Replaces every `astro::` (the crate name wasm-cairo always uses) with
/// `<package>::` in the raw class JSON, so ABI and debug names name the package.
pub fn rename_crate(raw_json: &str, package: &str) -> String {
    raw_json.replace(&format!("{WASM_CRATE_NAME}::"), &format!("{package}::"))
}

/// Parses contract class JSON.
pub fn parse_class(json: &str) -> Result<ContractClass> {
    serde_json::from_str(json).map_err(|e| ContractsError::Sierra(e.to_string()))
}

/// Parses CASM contract class JSON.
pub fn parse_casm(json: &str) -> Result<CasmContractClass> {
    serde_json::from_str(json).map_err(|e| ContractsError::Casm(format!("invalid CASM JSON: {e}")))
}

/// Rewrites every branch target `Statement(4294967295)` to `Fallthrough`.
/// Returns how many were rewritten.
pub fn repair_program(program: &mut Program) -> usize {
    let mut repairs = 0;
    for statement in &mut program.statements {
        if let Statement::Invocation(invocation) = statement {
            for branch in &mut invocation.branches {
                if branch.target == BranchTarget::Statement(StatementIdx(BROKEN_FALLTHROUGH)) {
                    branch.target = BranchTarget::Fallthrough;
                    repairs += 1;
                }
            }
        }
    }
    repairs
}

/// Repairs the broken `Fallthrough` targets of a class. A class without
/// broken targets is returned unchanged (byte-for-byte the same encoding).
///
/// The repaired program is re-encoded with [`ContractClass::new`]; the
/// original version header (Sierra and compiler versions), debug info,
/// entry points and ABI are kept.
pub fn repair_class(class: &ContractClass) -> Result<(ContractClass, usize)> {
    let mut program = class
        .extract_sierra_program(false)
        .map_err(|e| ContractsError::Sierra(format!("cannot decode the Sierra program: {e}")))?
        .program;
    let repairs = repair_program(&mut program);
    if repairs == 0 {
        return Ok((class.clone(), 0));
    }
    let mut repaired = ContractClass::new(
        &program,
        class.entry_points_by_type.clone(),
        class.abi.clone(),
        OrderedHashMap::default(),
    )
    .map_err(|e| ContractsError::Sierra(format!("cannot re-encode the Sierra program: {e}")))?;
    repaired.sierra_program_debug_info = class.sierra_program_debug_info.clone();
    repaired.contract_class_version = class.contract_class_version.clone();
    // `ContractClass::new` stamps the versions of the crate doing the
    // encoding; the program is still the one the original compiler produced.
    if class.sierra_program.len() < VERSION_HEADER_FELTS
        || repaired.sierra_program.len() < VERSION_HEADER_FELTS
    {
        return Err(ContractsError::Sierra(
            "the Sierra program has no version header".into(),
        ));
    }
    repaired.sierra_program[..VERSION_HEADER_FELTS]
        .clone_from_slice(&class.sierra_program[..VERSION_HEADER_FELTS]);
    Ok((repaired, repairs))
}

/// Compiles a Sierra class to CASM (no size limit, no Python hints).
pub fn compile_casm(class: &ContractClass) -> Result<CasmContractClass> {
    let program = class
        .extract_sierra_program(false)
        .map_err(|e| ContractsError::Sierra(format!("cannot decode the Sierra program: {e}")))?;
    CasmContractClass::from_contract_class(class.clone(), program, false, usize::MAX)
        .map_err(|e| ContractsError::Casm(e.to_string()))
}

/// Computes the Sierra class hash of contract class JSON with starknet-rs,
/// exactly as it is computed when the class is declared.
pub fn class_hash(class_json: &str) -> Result<String> {
    let class: SierraClass =
        serde_json::from_str(class_json).map_err(|e| ContractsError::ClassHash(e.to_string()))?;
    let hash = class
        .class_hash()
        .map_err(|e| ContractsError::ClassHash(e.to_string()))?;
    Ok(format!("{hash:#x}"))
}

/// The Blake2s compiled class hash of a CASM class.
pub fn compiled_class_hash(casm: &CasmContractClass) -> String {
    format!("{:#x}", casm.compiled_class_hash())
}

/// The Poseidon (pre-0.14.1) compiled class hash of a CASM class.
pub fn legacy_compiled_class_hash(casm: &CasmContractClass) -> String {
    format!("{:#x}", casm.legacy_compiled_class_hash())
}

/// The committed form of a Sierra class: pretty JSON with a trailing newline.
pub fn class_to_json(class: &ContractClass) -> Result<String> {
    let mut json =
        serde_json::to_string_pretty(class).map_err(|e| ContractsError::Sierra(e.to_string()))?;
    json.push('\n');
    Ok(json)
}

/// The committed form of a CASM class: pretty JSON with a trailing newline.
pub fn casm_to_json(casm: &CasmContractClass) -> Result<String> {
    let mut json =
        serde_json::to_string_pretty(casm).map_err(|e| ContractsError::Casm(e.to_string()))?;
    json.push('\n');
    Ok(json)
}

/// The whole pipeline for raw compiler output: rename the crate, repair,
/// compile CASM and compute the hashes.
pub fn process(raw_json: &str, package: &str) -> Result<ProcessedContract> {
    let renamed = rename_crate(raw_json, package);
    let (class, fallthrough_repairs) = repair_class(&parse_class(&renamed)?)?;
    let casm = compile_casm(&class)?;
    let class_hash = class_hash(&class_to_json(&class)?)?;
    Ok(ProcessedContract {
        compiled_class_hash: compiled_class_hash(&casm),
        legacy_compiled_class_hash: legacy_compiled_class_hash(&casm),
        class,
        casm,
        fallthrough_repairs,
        class_hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAW: &str = include_str!("fixtures/counter.raw.contract_class.json");

    #[test]
    fn raw_wasm_output_is_rejected_by_the_casm_compiler() {
        let class = parse_class(RAW).unwrap();
        let err = compile_casm(&class).unwrap_err().to_string();
        assert!(err.contains("target mismatch"), "{err}");
    }

    #[test]
    fn repaired_class_compiles_and_names_the_package() {
        let processed = process(RAW, "ciro").unwrap();
        assert!(processed.fallthrough_repairs > 0);
        let json = class_to_json(&processed.class).unwrap();
        assert!(!json.contains("astro::"), "crate name left in the class");
        let abi = serde_json::to_string(&processed.class.abi).unwrap();
        assert!(
            abi.contains("ciro::ICounter") && abi.contains("ciro::Counter::Event"),
            "{abi}"
        );
        assert!(!processed.casm.bytecode.is_empty());
        // The version header is the original one (Sierra 1.6.0, compiler 2.8.2).
        let header: Vec<String> = processed.class.sierra_program[..6]
            .iter()
            .map(|f| f.value.to_string())
            .collect();
        assert_eq!(header, ["1", "6", "0", "2", "8", "2"]);
        // No broken target survives.
        let mut program = processed
            .class
            .extract_sierra_program(false)
            .unwrap()
            .program;
        assert_eq!(repair_program(&mut program), 0);
    }

    #[test]
    fn repair_is_deterministic_and_idempotent() {
        let a = process(RAW, "ciro").unwrap();
        let b = process(RAW, "ciro").unwrap();
        assert_eq!(a.class_hash, b.class_hash);
        assert_eq!(a.compiled_class_hash, b.compiled_class_hash);
        assert_eq!(a.legacy_compiled_class_hash, b.legacy_compiled_class_hash);
        assert_ne!(a.compiled_class_hash, a.legacy_compiled_class_hash);
        assert!(a.class_hash.starts_with("0x") && a.compiled_class_hash.starts_with("0x"));
        assert_eq!(
            class_to_json(&a.class).unwrap(),
            class_to_json(&b.class).unwrap()
        );
        // Processing the repaired output again changes nothing.
        let again = process(&class_to_json(&a.class).unwrap(), "ciro").unwrap();
        assert_eq!(again.fallthrough_repairs, 0);
        assert_eq!(again.class_hash, a.class_hash);
        assert_eq!(again.compiled_class_hash, a.compiled_class_hash);
        // The committed CASM JSON round-trips.
        let casm = parse_casm(&casm_to_json(&a.casm).unwrap()).unwrap();
        assert_eq!(casm, a.casm);
    }
}
