//! `ciro-cairo-test <project-dir> [filter]`: compiles the Cairo project described by
//! `<project-dir>/cairo_project.toml` with the test and Starknet plugins and runs every
//! `#[test]` whose path contains `filter`.
//!
//! The core library is found the way the Cairo compiler always finds it: a `corelib/src`
//! directory above the working directory. `ciro contracts test` prepares one and runs this
//! binary from there; run directly, it needs the same.
//!
//! Exit codes: 0 all selected tests passed, 1 a test failed or the project did not compile,
//! 2 bad arguments.

use std::path::PathBuf;
use std::process::ExitCode;

use cairo_lang_test_runner::{RunProfilerConfig, TestRunConfig, TestRunner};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(project) = args.next().map(PathBuf::from) else {
        eprintln!("usage: ciro-cairo-test <project-dir> [filter]");
        return ExitCode::from(2);
    };
    let filter = args.next().unwrap_or_default();
    let config = TestRunConfig {
        filter,
        ignored: false,
        include_ignored: false,
        run_profiler: RunProfilerConfig::None,
        gas_enabled: true,
        print_resource_usage: false,
    };
    let result = TestRunner::new(&project, true, false, config).and_then(|runner| runner.run());
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            // The runner has already printed diagnostics and failures; this is its verdict.
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}
