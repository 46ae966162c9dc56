//! `ciro-indexer`: the indexer and its HTTP API as a standalone binary; the same as
//! `ciro indexer run`.

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// Follow the CIRO contracts into a database and serve them over HTTP.
#[derive(Debug, Parser)]
#[command(name = "ciro-indexer", version)]
struct Cli {
    #[command(flatten)]
    chain: ciro_indexer::ChainArgs,
    #[command(flatten)]
    args: ciro_indexer::IndexerArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let result = async {
        let config = ciro_indexer::Config::load(&cli.args, &cli.chain)?;
        let shutdown = ciro_indexer::service::shutdown_on_signals();
        ciro_indexer::service::run(config, shutdown, None).await
    }
    .await;
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
