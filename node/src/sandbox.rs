//! Runs a job's Wasm module on its input in wasmtime, inside the job's [`Limits`].
//!
//! The module is a pure function. Its ABI:
//! - it imports nothing: no WASI, no host calls, so no clock, filesystem, network or
//!   randomness can reach it, and a module that asks for any import is refused;
//! - it exports `memory`, `alloc(len: i32) -> i32` (where the host writes the input) and
//!   `run(ptr: i32, len: i32) -> i64`, which returns the output's `ptr << 32 | len`.
//!
//! Determinism: NaNs are canonicalized, relaxed SIMD is deterministic, threads are not compiled in.
//! The same module and input give the same bytes on every worker, which is what k-of-n
//! verification compares. Fuel bounds the instructions, a [`ResourceLimiter`] bounds the
//! memory, and an epoch ticker bounds the wall-clock time.
//! This module never touches the network.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    thread,
    time::{Duration, Instant},
};

use wasmtime::{Config, Engine, Instance, Module, ResourceLimiter, Store, Trap};

use crate::protocol::{Hash, Limits, MAX_BLOB_BYTES};

/// How often the wall-clock ticker advances the engine's epoch.
const TICK: Duration = Duration::from_millis(10);
/// Compiled modules kept, by hash.
const CACHE_MODULES: usize = 64;
/// The deepest block nesting a function may have. Compile time grows faster than the
/// nesting: 30,000 nested blocks, 240 KB of module, took 16 s to compile.
pub const MAX_NESTING: usize = 1_000;
/// The most operators one function may have.
pub const MAX_FUNCTION_OPERATORS: usize = 1_000_000;

/// The engines whose epochs the process's one ticker thread advances. An engine leaves
/// the list once its last clone is dropped.
fn ticker() -> &'static Mutex<Vec<wasmtime::EngineWeak>> {
    static ENGINES: std::sync::OnceLock<Mutex<Vec<wasmtime::EngineWeak>>> =
        std::sync::OnceLock::new();
    ENGINES.get_or_init(|| {
        thread::Builder::new()
            .name("ciro-epoch".into())
            .spawn(|| loop {
                thread::sleep(TICK);
                ticker().lock().expect("ticker lock").retain(|weak| {
                    weak.upgrade()
                        .map(|engine| engine.increment_epoch())
                        .is_some()
                });
            })
            .expect("the epoch thread starts");
        Mutex::default()
    })
}

/// Why a job did not produce an output. Every variant is the job's fault, not the node's.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SandboxError {
    #[error("not a valid WebAssembly module: {0}")]
    InvalidModule(String),
    #[error("the module is too costly to compile: {0}")]
    TooComplex(String),
    #[error("the module took longer than {0} s to compile")]
    CompileTimeout(u64),
    #[error("the module imports `{0}`; job modules may import nothing")]
    Imports(String),
    #[error("the module does not export `{0}` with the right type")]
    MissingExport(&'static str),
    #[error("ran out of fuel ({0} units)")]
    OutOfFuel(u64),
    #[error("exceeded the memory limit of {0} bytes")]
    OutOfMemory(u32),
    #[error("exceeded the time limit of {0} ms")]
    Timeout(u32),
    #[error("trapped: {0}")]
    Trap(String),
    #[error("returned an output outside its memory, or larger than {MAX_BLOB_BYTES} bytes")]
    BadOutput,
}

/// The output and what producing it cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    pub output: Vec<u8>,
    pub fuel_used: u64,
    pub elapsed: Duration,
}

/// A wasmtime engine shared by every job on a node, with a cache of compiled modules.
#[derive(Clone)]
pub struct Sandbox {
    engine: Engine,
    cache: Arc<Mutex<HashMap<Hash, Module>>>,
}

struct Limiter {
    memory_bytes: usize,
    hit: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.hit = true;
            wasmtime::bail!("memory limit");
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

impl Sandbox {
    pub fn new() -> anyhow::Result<Self> {
        let mut config = Config::new();
        config
            .consume_fuel(true)
            .epoch_interruption(true)
            .cranelift_nan_canonicalization(true)
            .relaxed_simd_deterministic(true)
            .max_wasm_stack(512 * 1024);
        let engine = Engine::new(&config).map_err(|e| anyhow::anyhow!("wasmtime: {e}"))?;
        ticker().lock().expect("ticker lock").push(engine.weak());
        Ok(Self {
            engine,
            cache: Arc::default(),
        })
    }

    /// Checks a module without running it: it must compile, import nothing and export the
    /// ABI. Clients call this before announcing, so a bad module never reaches a worker.
    pub fn check(&self, module: &[u8]) -> Result<Hash, SandboxError> {
        let hash = Hash::of(module);
        self.compile(&hash, module)?;
        Ok(hash)
    }

    fn compile(&self, hash: &Hash, bytes: &[u8]) -> Result<Module, SandboxError> {
        if let Some(module) = self.cache.lock().expect("cache lock").get(hash) {
            return Ok(module.clone());
        }
        if !bytes.starts_with(b"\0asm") {
            return Err(SandboxError::InvalidModule(
                "binary modules only (compile WebAssembly text first)".into(),
            ));
        }
        screen(bytes)?;
        let module = Module::new(&self.engine, bytes)
            .map_err(|e| SandboxError::InvalidModule(format!("{e:#}")))?;
        if let Some(import) = module.imports().next() {
            return Err(SandboxError::Imports(format!(
                "{}::{}",
                import.module(),
                import.name()
            )));
        }
        let exports: Vec<_> = module.exports().map(|e| e.name().to_owned()).collect();
        for name in ["memory", "alloc", "run"] {
            if !exports.iter().any(|e| e == name) {
                return Err(SandboxError::MissingExport(name));
            }
        }
        let mut cache = self.cache.lock().expect("cache lock");
        if cache.len() >= CACHE_MODULES {
            cache.clear();
        }
        cache.insert(*hash, module.clone());
        Ok(module)
    }

    /// Runs `module` on `input`. Blocking: call it from a blocking thread.
    pub fn run(
        &self,
        module: &[u8],
        input: &[u8],
        limits: &Limits,
    ) -> Result<Execution, SandboxError> {
        let started = Instant::now();
        let module = self.compile(&Hash::of(module), module)?;
        let mut store = Store::new(
            &self.engine,
            Limiter {
                memory_bytes: limits.memory_bytes as usize,
                hit: false,
            },
        );
        store.limiter(|l| l);
        store
            .set_fuel(limits.fuel)
            .expect("fuel is enabled on the engine");
        let ticks = (limits.timeout_ms as u64).div_ceil(TICK.as_millis() as u64);
        store.set_epoch_deadline(ticks.max(1));

        let result: wasmtime::Result<Option<Vec<u8>>> = (|| {
            let instance = Instance::new(&mut store, &module, &[])?;
            let memory = instance
                .get_memory(&mut store, "memory")
                .ok_or_else(|| wasmtime::format_err!("no memory"))?;
            let alloc = instance.get_typed_func::<i32, i32>(&mut store, "alloc")?;
            let run = instance.get_typed_func::<(i32, i32), i64>(&mut store, "run")?;
            let len = i32::try_from(input.len()).expect("inputs are bounded");
            let ptr = alloc.call(&mut store, len)?;
            memory.write(&mut store, ptr as u32 as usize, input)?;
            let packed = run.call(&mut store, (ptr, len))? as u64;
            let (out_ptr, out_len) = ((packed >> 32) as usize, (packed & 0xffff_ffff) as usize);
            if out_len > MAX_BLOB_BYTES {
                return Ok(None);
            }
            Ok(memory
                .data(&store)
                .get(out_ptr..out_ptr.saturating_add(out_len))
                .map(<[u8]>::to_vec))
        })();

        let fuel_used = limits.fuel - store.get_fuel().unwrap_or(0);
        match result {
            Ok(Some(output)) => Ok(Execution {
                output,
                fuel_used,
                elapsed: started.elapsed(),
            }),
            Ok(None) => Err(SandboxError::BadOutput),
            Err(_) if store.data().hit => Err(SandboxError::OutOfMemory(limits.memory_bytes)),
            Err(e) => Err(match e.downcast_ref::<Trap>() {
                Some(Trap::OutOfFuel) => SandboxError::OutOfFuel(limits.fuel),
                Some(Trap::Interrupt) => SandboxError::Timeout(limits.timeout_ms),
                Some(trap) => SandboxError::Trap(trap.to_string()),
                None if format!("{e}").contains("type mismatch") => {
                    SandboxError::MissingExport("alloc/run")
                }
                None => SandboxError::Trap(format!("{e:#}")),
            }),
        }
    }
}

/// Refuses, in one linear pass over its code, a module whose shape would make compiling it
/// take far longer than its size suggests (see [`MAX_NESTING`]). Modules pass through it
/// before wasmtime sees them, on the client before it announces and on every worker
/// before it runs, so the refusal is the same everywhere.
pub fn screen(bytes: &[u8]) -> Result<(), SandboxError> {
    use wasmparser::{Operator, Parser, Payload};
    let invalid = |e: wasmparser::BinaryReaderError| SandboxError::InvalidModule(e.to_string());
    let mut function = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        let Payload::CodeSectionEntry(body) = payload.map_err(invalid)? else {
            continue;
        };
        let mut operators = body.get_operators_reader().map_err(invalid)?;
        let (mut depth, mut count) = (0usize, 0usize);
        while !operators.eof() {
            match operators.read().map_err(invalid)? {
                Operator::Block { .. }
                | Operator::Loop { .. }
                | Operator::If { .. }
                | Operator::TryTable { .. } => depth += 1,
                Operator::End => depth = depth.saturating_sub(1),
                Operator::BrTable { targets } => count += targets.len() as usize,
                _ => {}
            }
            count += 1;
            if depth > MAX_NESTING {
                return Err(SandboxError::TooComplex(format!(
                    "function {function} nests blocks more than {MAX_NESTING} deep"
                )));
            }
            if count > MAX_FUNCTION_OPERATORS {
                return Err(SandboxError::TooComplex(format!(
                    "function {function} has more than {MAX_FUNCTION_OPERATORS} operators"
                )));
            }
        }
        function += 1;
    }
    Ok(())
}

/// The example workloads shipped with the node, as WebAssembly text.
pub mod workloads {
    /// Iterates a 64-bit mixing function: input `u32 rounds, u64 seed` (LE), output the
    /// final `u64` (LE).
    pub const HASH_CHAIN: &str = include_str!("../workloads/hash_chain.wat");
    /// Counts primes below `n`: input `u32 n` (LE), output `u32` (LE).
    pub const PRIME_SIEVE: &str = include_str!("../workloads/prime_sieve.wat");
    /// Multiplies two `n × n` matrices generated from a seed: input `u32 n, u32 seed`
    /// (LE), output a `u64` checksum of the product (LE).
    pub const MATMUL: &str = include_str!("../workloads/matmul.wat");

    /// Every workload, by name.
    pub const ALL: [(&str, &str); 3] = [
        ("hash_chain", HASH_CHAIN),
        ("prime_sieve", PRIME_SIEVE),
        ("matmul", MATMUL),
    ];

    /// The binary module of a workload's text.
    pub fn compile(text: &str) -> Vec<u8> {
        wat::parse_str(text).expect("shipped workloads are valid WebAssembly text")
    }

    /// A module built to be costly to compile: its `run` holds `body` inside `depth`
    /// nested `kind` blocks (`block`, `loop`), 3 bytes a level. For tests of
    /// [`super::screen`] and of what a node does with such a module.
    pub fn nested(kind: &str, depth: usize, body: &str) -> Vec<u8> {
        compile(&format!(
            r#"(module (memory (export "memory") 1)
                 (func (export "alloc") (param i32) (result i32) i32.const 0)
                 (func (export "run") (param i32 i32) (result i64) {} {body} {} i64.const 0))"#,
            format!("{kind} ").repeat(depth),
            "end ".repeat(depth)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox() -> Sandbox {
        Sandbox::new().unwrap()
    }

    /// The same mixing function as hash_chain.wat, written independently in Rust.
    fn hash_chain_reference(rounds: u32, seed: u64) -> u64 {
        let mut x = seed;
        for _ in 0..rounds {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            x = z ^ (z >> 31);
        }
        x
    }

    fn primes_below(n: u32) -> u32 {
        (2..n)
            .filter(|&k| (2..).take_while(|d| d * d <= k).all(|d| k % d != 0))
            .count() as u32
    }

    fn matmul_reference(n: u32, seed: u32) -> u64 {
        let mut state = seed;
        let mut next = || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 16) as i64 % 1000
        };
        let n = n as usize;
        let a: Vec<i64> = (0..n * n).map(|_| next()).collect();
        let b: Vec<i64> = (0..n * n).map(|_| next()).collect();
        let mut sum = 0u64;
        for i in 0..n {
            for j in 0..n {
                let c: i64 = (0..n).map(|k| a[i * n + k] * b[k * n + j]).sum();
                sum = sum.rotate_left(5) ^ c as u64;
            }
        }
        sum
    }

    fn input(words: &[u32]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    #[test]
    fn workloads_compute_what_their_references_compute() {
        let sandbox = sandbox();
        let limits = Limits::default();

        let module = workloads::compile(workloads::HASH_CHAIN);
        let mut hc = 1000u32.to_le_bytes().to_vec();
        hc.extend(42u64.to_le_bytes());
        let out = sandbox.run(&module, &hc, &limits).unwrap();
        assert_eq!(out.output, hash_chain_reference(1000, 42).to_le_bytes());
        assert!(out.fuel_used > 1000, "fuel {}", out.fuel_used);

        let module = workloads::compile(workloads::PRIME_SIEVE);
        for n in [0, 2, 3, 100, 10_007] {
            let out = sandbox.run(&module, &input(&[n]), &limits).unwrap();
            assert_eq!(out.output, primes_below(n).to_le_bytes(), "n = {n}");
        }

        let module = workloads::compile(workloads::MATMUL);
        for (n, seed) in [(1, 7), (5, 1), (24, 99)] {
            let out = sandbox.run(&module, &input(&[n, seed]), &limits).unwrap();
            assert_eq!(out.output, matmul_reference(n, seed).to_le_bytes());
        }
    }

    #[test]
    fn runs_are_deterministic_across_engines() {
        let module = workloads::compile(workloads::MATMUL);
        let a = sandbox()
            .run(&module, &input(&[16, 3]), &Limits::default())
            .unwrap();
        let b = sandbox()
            .run(&module, &input(&[16, 3]), &Limits::default())
            .unwrap();
        assert_eq!(a.output, b.output);
        assert_eq!(a.fuel_used, b.fuel_used);
    }

    #[test]
    fn limits_stop_runaway_modules() {
        let sandbox = sandbox();
        let spin = wat::parse_str(
            r#"(module (memory (export "memory") 1)
                (func (export "alloc") (param i32) (result i32) i32.const 0)
                (func (export "run") (param i32 i32) (result i64) (loop (br 0)) i64.const 0))"#,
        )
        .unwrap();
        let tight = Limits {
            fuel: 1_000_000,
            ..Limits::default()
        };
        assert_eq!(
            sandbox.run(&spin, &[], &tight),
            Err(SandboxError::OutOfFuel(1_000_000))
        );
        let slow = Limits {
            fuel: Limits::MAX_FUEL,
            timeout_ms: 50,
            ..Limits::default()
        };
        let started = Instant::now();
        assert_eq!(
            sandbox.run(&spin, &[], &slow),
            Err(SandboxError::Timeout(50))
        );
        assert!(started.elapsed() < Duration::from_secs(5));

        let hog = wat::parse_str(
            r#"(module (memory (export "memory") 1)
                (func (export "alloc") (param i32) (result i32) i32.const 0)
                (func (export "run") (param i32 i32) (result i64)
                  (drop (memory.grow (i32.const 4096))) i64.const 0))"#,
        )
        .unwrap();
        let small = Limits {
            memory_bytes: 1 << 20,
            ..Limits::default()
        };
        assert_eq!(
            sandbox.run(&hog, &[], &small),
            Err(SandboxError::OutOfMemory(1 << 20))
        );
    }

    use workloads::nested;

    #[test]
    fn modules_too_costly_to_compile_are_refused_before_compiling_by_clients_and_workers() {
        let sandbox = sandbox();
        assert!(sandbox.check(&nested("block", MAX_NESTING, "")).is_ok());
        let limits = Limits::default();
        for kind in ["block", "loop"] {
            let deep = nested(kind, MAX_NESTING + 1, "");
            let refused = Err(SandboxError::TooComplex(format!(
                "function 1 nests blocks more than {MAX_NESTING} deep"
            )));
            let started = Instant::now();
            assert_eq!(sandbox.check(&deep).map(|_| ()), refused);
            assert_eq!(sandbox.run(&deep, &[], &limits).map(|_| ()), refused);
            assert!(started.elapsed() < Duration::from_secs(1), "{kind}");
        }
        // 30,000 levels, 240 KB: the module that froze a node for 16 s.
        let started = Instant::now();
        assert!(matches!(
            sandbox.check(&nested("block", 30_000, "")),
            Err(SandboxError::TooComplex(_))
        ));
        assert!(started.elapsed() < Duration::from_secs(1));

        let long = nested("block", 1, &"nop ".repeat(MAX_FUNCTION_OPERATORS));
        assert_eq!(
            sandbox.check(&long).map(|_| ()),
            Err(SandboxError::TooComplex(format!(
                "function 1 has more than {MAX_FUNCTION_OPERATORS} operators"
            )))
        );
        // Malformed code is a clear refusal, not a panic.
        let mut broken = nested("block", 2, "");
        let at = broken.len() - 3;
        broken.truncate(at);
        assert!(matches!(
            sandbox.check(&broken),
            Err(SandboxError::InvalidModule(_))
        ));
    }

    #[test]
    fn modules_that_reach_outside_or_break_the_abi_are_refused() {
        let sandbox = sandbox();
        let wasi = wat::parse_str(
            r#"(module (import "wasi_snapshot_preview1" "fd_write"
                  (func (param i32 i32 i32 i32) (result i32)))
                (memory (export "memory") 1))"#,
        )
        .unwrap();
        assert_eq!(
            sandbox.check(&wasi),
            Err(SandboxError::Imports(
                "wasi_snapshot_preview1::fd_write".into()
            ))
        );
        let no_run = wat::parse_str(
            r#"(module (memory (export "memory") 1)
                (func (export "alloc") (param i32) (result i32) i32.const 0))"#,
        )
        .unwrap();
        assert_eq!(
            sandbox.check(&no_run),
            Err(SandboxError::MissingExport("run"))
        );
        assert!(matches!(
            sandbox.check(b"\0asm\x01\0\0\0garbage"),
            Err(SandboxError::InvalidModule(_))
        ));
        assert!(matches!(
            sandbox.check(b"(module)"),
            Err(SandboxError::InvalidModule(_))
        ));
        let out_of_bounds = wat::parse_str(
            r#"(module (memory (export "memory") 1)
                (func (export "alloc") (param i32) (result i32) i32.const 0)
                (func (export "run") (param i32 i32) (result i64) i64.const 0xffff00000010))"#,
        )
        .unwrap();
        assert_eq!(
            sandbox.run(&out_of_bounds, &[], &Limits::default()),
            Err(SandboxError::BadOutput)
        );
        let traps = wat::parse_str(
            r#"(module (memory (export "memory") 1)
                (func (export "alloc") (param i32) (result i32) i32.const 0)
                (func (export "run") (param i32 i32) (result i64) unreachable))"#,
        )
        .unwrap();
        assert!(matches!(
            sandbox.run(&traps, &[], &Limits::default()),
            Err(SandboxError::Trap(_))
        ));
    }
}
