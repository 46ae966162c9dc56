// Runs the Cairo 2.8.2 compiler shipped as WebAssembly by the `wasm-cairo`
// npm package. Driven by `ciro contracts build`; it only
// reads the given source file and writes the raw result to the given output
// file. It never interprets or rewrites compiler output: repairs and hashing
// happen on the Rust side.
//
// Usage:
//   node wasm-cairo.mjs compile <in.cairo> <out.json>
//
// On errors the compiler returns just "Compilation failed." (its diagnostics
// are lost inside wasm); `ciro contracts test` compiles the same sources
// natively and shows them.
//
// Exit codes: 0 success; 2 the compiler returned something other than a
// contract class (the output file holds it); 3 the WebAssembly module trapped
// (a panic inside the compiler; stack on stderr); 4 it trapped with its
// memory at the wasm32 4 GiB limit, i.e. it ran out of memory; 1 usage or
// internal error.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { initSync, compileStarknetContract } from 'wasm-cairo/wasm-cairo.js';

// wasm32 memory cannot grow past 4 GiB; a trap this close to it is an OOM.
const OOM_THRESHOLD_MIB = 3800;

let wasmExports;

const USAGE = 'usage: node wasm-cairo.mjs compile <in.cairo> <out.json>';

function main() {
  const [mode, input, output] = process.argv.slice(2);
  if (mode !== 'compile' || !input || !output) {
    console.error(USAGE);
    return 1;
  }
  const source = readFileSync(input, 'utf8');
  const require = createRequire(import.meta.url);
  wasmExports = initSync({ module: readFileSync(require.resolve('wasm-cairo/wasm-cairo_bg.wasm')) });

  const started = Date.now();
  // allowWarnings = true, replaceIds = false.
  const result = String(compileStarknetContract(source, true, false));
  const ok = result.trimStart().startsWith('{');
  writeFileSync(output, result);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.error(`wasm-cairo ${mode} took ${seconds} s`);
  return ok ? 0 : 2;
}

try {
  process.exitCode = main();
} catch (err) {
  console.error(`wasm-cairo.mjs: ${err && err.stack ? err.stack : err}`);
  if (err instanceof WebAssembly.RuntimeError) {
    const mib = wasmExports ? Math.round(wasmExports.memory.buffer.byteLength / 2 ** 20) : 0;
    console.error(`wasm memory: ${mib} MiB (wasm32 limit: 4096 MiB)`);
    process.exitCode = mib >= OOM_THRESHOLD_MIB ? 4 : 3;
  } else {
    process.exitCode = 1;
  }
}
