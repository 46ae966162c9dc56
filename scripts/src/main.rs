//! The `ciro` command-line interface: `ciro <group> <action>`.
//!
//! This file only parses arguments, sets up logging and dispatches to the
//! library; it must never contain build, test or check logic.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use ciro::contracts::{self, BuildOptions, BuildStatus, TestOptions, Workspace};
use clap::{Args, Parser, Subcommand};

/// The CIRO Network operator CLI.
#[derive(Debug, Parser)]
#[command(name = "ciro", version, about)]
struct Cli {
    /// Repository root (the directory containing contracts/Scarb.toml).
    /// Defaults to the nearest such directory above the current one.
    #[arg(long, global = true, env = "CIRO_ROOT", value_name = "DIR")]
    root: Option<PathBuf>,

    #[command(subcommand)]
    group: Group,
}

/// Command groups.
#[derive(Debug, Subcommand)]
enum Group {
    /// Build, check and test the Cairo contracts.
    #[command(subcommand)]
    Contracts(ContractsAction),
}

/// `ciro contracts <action>`.
#[derive(Debug, Subcommand)]
enum ContractsAction {
    /// Compile the contracts into contracts/artifacts/ (Sierra, CASM, manifest.json).
    Build(BuildArgs),
    /// Run the Cairo tests with the native Cairo 2.8.2 test runner.
    Test(TestArgs),
}

/// Arguments of `ciro contracts build`.
#[derive(Debug, Args)]
struct BuildArgs {
    /// Recompile every contract, even when its sources did not change.
    #[arg(long, conflicts_with = "check")]
    force: bool,
    /// Compile nothing: fail if the committed artifacts are stale or inconsistent (for CI).
    #[arg(long)]
    check: bool,
    /// Maximum number of compiler processes at once [default: number of cores].
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
}

/// Arguments of `ciro contracts test`.
#[derive(Debug, Args)]
struct TestArgs {
    /// Only run tests whose path contains this, e.g. `test_escrow::test_accept`.
    #[arg(long)]
    filter: Option<String>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_target(false)
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let ws = Workspace::discover(cli.root.as_deref()).context("locating the repository")?;
    let jobs = |jobs: Option<u16>| jobs.map_or_else(contracts::default_jobs, usize::from);
    match cli.group {
        Group::Contracts(ContractsAction::Build(args)) if args.check => {
            let started = std::time::Instant::now();
            let summary = contracts::check(&ws).context("checking the contract artifacts")?;
            println!(
                "contracts: {} up to date ({:.1} s)",
                summary.contracts,
                started.elapsed().as_secs_f64()
            );
        }
        Group::Contracts(ContractsAction::Build(args)) => {
            let options = BuildOptions {
                force: args.force,
                jobs: jobs(args.jobs),
            };
            let report = contracts::build(&ws, &options).context("building the contracts")?;
            let compiled = report
                .contracts
                .iter()
                .filter(|c| c.status != BuildStatus::Cached)
                .count();
            println!(
                "contracts: {} compiled, {} cached with {} in {:.1} s -> {}",
                compiled,
                report.contracts.len() - compiled,
                report.compiler,
                report.elapsed.as_secs_f64(),
                ws.artifacts_dir.display()
            );
        }
        Group::Contracts(ContractsAction::Test(args)) => {
            let options = TestOptions {
                filter: args.filter,
            };
            let report = contracts::test(&ws, &options).context("running the Cairo tests")?;
            println!("{}", report.counts.summary_line());
            if !report.success() {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
