//! Wiring: the manifest, the chain, the database, the engine and the HTTP server, run
//! together until shutdown. `ciro indexer run` and `ciro-indexer` both call [`run`].

use std::time::Duration;

use ciro_bindings::chain::redact;
use ciro_bindings::{Chain, ChainError, Deployment};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::api::{router, AppState};
use crate::config::Config;
use crate::engine::Engine;
use crate::error::{IndexerError, Result};
use crate::fetch::Fetcher;
use crate::metrics::{Metrics, Status};
use crate::model::hex;
use crate::processors::INDEXED;
use crate::store::Store;

/// Connects to the RPC, retrying while it is unreachable (the chain may start after the
/// indexer), and checks it serves the manifest's chain.
async fn connect_chain(
    config: &Config,
    deployment: &Deployment,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Option<Chain>> {
    let mut wait = Duration::from_millis(250);
    let chain = loop {
        match Chain::connect(&config.rpc_url).await {
            Ok(chain) => break chain,
            Err(e @ ChainError::Unreachable { .. }) => {
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "waiting for the RPC");
                tokio::select! {
                    _ = shutdown.changed() => return Ok(None),
                    _ = tokio::time::sleep(wait) => {}
                }
                wait = (wait * 2).min(Duration::from_millis(config.max_backoff_ms));
            }
            Err(e) => return Err(e.into()),
        }
    };
    deployment.check_chain(&chain, &config.manifest)?;
    Ok(Some(chain))
}

/// Runs the indexer and its HTTP API until `shutdown` turns true (or the engine meets an
/// error no retry can fix). `ready` receives the bound HTTP address.
pub async fn run(
    config: Config,
    mut shutdown: watch::Receiver<bool>,
    ready: Option<tokio::sync::oneshot::Sender<std::net::SocketAddr>>,
) -> Result<()> {
    let deployment = Deployment::load_complete(&config.manifest, "devnet")?;
    let store = Store::connect(&config.database).await?;
    let escrow = deployment.address(ciro_bindings::Contract::JobEscrow)?;
    store.claim(&hex(deployment.chain_id), &hex(escrow)).await?;

    let metrics = Metrics::new();
    let status = Status::shared();
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| IndexerError::Http {
            addr: config.listen.to_string(),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| IndexerError::Http {
        addr: config.listen.to_string(),
        source,
    })?;
    let app = router(AppState {
        store: store.clone(),
        metrics: metrics.clone(),
        status: status.clone(),
    });
    let mut server_stop = shutdown.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = server_stop.wait_for(|stop| *stop).await;
            })
            .await
    });
    tracing::info!(%addr, database = store.shown(), rpc = %redact(&config.rpc_url), "indexer listening");
    if let Some(ready) = ready {
        let _ = ready.send(addr);
    }

    let result = async {
        let Some(chain) = connect_chain(&config, &deployment, &mut shutdown).await? else {
            return Ok(());
        };
        let contracts = INDEXED
            .iter()
            .map(|c| Ok((*c, deployment.address(*c)?)))
            .collect::<Result<Vec<_>>>()?;
        let fetcher = Fetcher::new(
            chain.rpc().clone(),
            contracts,
            config.page_size,
            config.header_concurrency,
        );
        let first = deployment.first_block();
        if let Some(from) = config.from_block.filter(|&f| f > first) {
            if store.cursor().await?.is_none() {
                return Err(IndexerError::Config(format!(
                    "--from-block {from} on an empty database would miss the contracts' events from block {first}; start at {first} or earlier"
                )));
            }
        }
        let start = config.from_block.unwrap_or(first);
        let engine = Engine::new(
            store.clone(),
            fetcher,
            config.clone(),
            start,
            metrics,
            status,
        );
        engine.run(shutdown.clone()).await
    }
    .await;

    // The engine stopped (shutdown or a fatal error): stop serving too.
    if result.is_err() {
        server.abort();
    } else {
        let _ = server.await;
    }
    store.close().await;
    result
}

/// A watch channel that turns true on Ctrl-C or SIGTERM.
pub fn shutdown_on_signals() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("a SIGTERM handler installs");
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutting down");
        let _ = tx.send(true);
    });
    rx
}
