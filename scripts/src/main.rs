//! The `ciro` command-line interface: `ciro <group> <action>`.
//!
//! This file only parses arguments, sets up logging and dispatches to the
//! library; it must never contain build, test or check logic.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use ciro::contracts::{self, BuildOptions, BuildStatus, TestOptions, Workspace};
use ciro::net::NetworkArgs;
use ciro_bindings::acceptance::{Acceptance, SignedAcceptance};
use ciro_bindings::commitment::Opening;
use ciro_bindings::governance::UpgradeStep;
use ciro_bindings::ops::{self, JobTerms};
use ciro_bindings::units::{capability, format_tokens, parse_felt, parse_tokens};
use ciro_bindings::{Contract, DeployConfig};
use clap::{Args, Parser, Subcommand};
use starknet::core::types::Felt;

/// The CIRO Network operator CLI.
#[derive(Debug, Parser)]
#[command(name = "ciro", version, about)]
struct Cli {
    /// Repository root (the directory containing contracts/Scarb.toml).
    /// Defaults to the nearest such directory above the current one.
    #[arg(long, global = true, env = "CIRO_ROOT", value_name = "DIR")]
    root: Option<PathBuf>,

    #[command(flatten)]
    net: NetworkArgs,

    #[command(subcommand)]
    group: Group,
}

/// Command groups.
#[derive(Debug, Subcommand)]
enum Group {
    /// Build, check, test and deploy the Cairo contracts.
    #[command(subcommand)]
    Contracts(ContractsAction),
    /// Run a local starknet-devnet (seed 0) in this process until Ctrl-C.
    #[cfg(feature = "devnet")]
    Devnet(DevnetArgs),
    /// Run a whole network here: devnet, the deployed suite, staked workers, the indexer,
    /// worker nodes and a client node; submit sample jobs and show them settle.
    #[cfg(feature = "devnet")]
    Up(UpArgs),
    /// Stake, register capabilities, unstake, and read a worker's standing.
    #[command(subcommand)]
    Worker(WorkerAction),
    /// Create and drive jobs through the escrow.
    #[command(subcommand)]
    Job(JobAction),
    /// A client's deposit for batched settlement, its acceptances, and batches that pay them.
    #[command(subcommand)]
    Batch(BatchAction),
    /// Read disputes, vote as an arbitrator, resolve by the votes cast after the voting period.
    #[command(subcommand)]
    Dispute(DisputeAction),
    /// Mint, approve and read CIRO (minting needs the MINTER role).
    #[command(subcommand)]
    Token(TokenAction),
    /// Index the contracts' events into a database and serve them over HTTP.
    #[command(subcommand)]
    Indexer(IndexerAction),
    /// Run a peer of the job network.
    #[command(subcommand)]
    Node(NodeAction),
}

/// `ciro up`.
#[cfg(feature = "devnet")]
#[derive(Debug, Args)]
struct UpArgs {
    /// Worker nodes to run, each with its own staked account.
    #[arg(long, default_value_t = 3)]
    workers: usize,
    /// Sample jobs to submit (the example workloads in turn).
    #[arg(long, default_value_t = 6)]
    jobs: usize,
    /// Workers that must agree on each job's result.
    #[arg(long, default_value_t = 2)]
    redundancy: u8,
    /// Exit once every job has settled on chain: 0 if all were paid, 1 otherwise.
    #[arg(long)]
    then_exit: bool,
    /// The indexer's HTTP address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    indexer_http: std::net::SocketAddr,
    /// The client node's HTTP gateway.
    #[arg(long, default_value = "127.0.0.1:8090")]
    http: std::net::SocketAddr,
    /// Where state goes (manifest, indexer database, node keys) [default: target/ciro-up].
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Pay each worker through an escrow job of its own (collateral, disputes, timeouts)
    /// instead of from the client's deposit with acceptances settled in batches.
    #[arg(long)]
    escrow: bool,
    /// The embedded devnet makes a block every N seconds, so its clock moves without
    /// traffic (timeouts and challenge windows end on time).
    #[arg(long, value_name = "SECONDS", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..))]
    block_time: u64,
    /// The embedded devnet makes one block per transaction instead.
    #[arg(long, conflicts_with = "block_time")]
    block_per_transaction: bool,
}

/// `ciro node <action>`.
#[derive(Debug, Subcommand)]
enum NodeAction {
    /// Run a node until Ctrl-C or SIGTERM: worker for its `--capability`s, client through
    /// its HTTP gateway (see node/README.md).
    Run(Box<ciro_node::NodeArgs>),
}

/// `ciro job submit`: a job for the network, through a node's gateway.
#[derive(Debug, Args)]
struct SubmitArgs {
    /// The module: binary Wasm or WebAssembly text (see node/workloads/).
    #[arg(long, value_name = "FILE")]
    wasm: PathBuf,
    /// The input file.
    #[arg(long, value_name = "FILE", conflicts_with = "input_hex")]
    input: Option<PathBuf>,
    /// The input as hex, instead of a file.
    #[arg(long, value_name = "HEX")]
    input_hex: Option<String>,
    /// The capability workers must have.
    #[arg(long, default_value = "wasm")]
    capability: String,
    /// How many workers must agree on the result (1 to 8).
    #[arg(long, default_value_t = 1)]
    redundancy: u8,
    /// The reward per worker, in the token's smallest unit.
    #[arg(long, default_value_t = 0)]
    reward: u128,
    /// Fuel (instructions, roughly) the job may burn.
    #[arg(long)]
    fuel: Option<u64>,
    /// Memory the job may use, in bytes.
    #[arg(long)]
    memory: Option<u32>,
    /// Wall-clock time one run may take, in milliseconds.
    #[arg(long)]
    timeout_ms: Option<u32>,
    /// Seconds to wait for agreeing results before the job fails.
    #[arg(long, default_value_t = 120)]
    deadline: u64,
    /// The node's HTTP gateway.
    #[arg(long, env = "CIRO_NODE_URL", default_value = "http://127.0.0.1:8090/")]
    node: url::Url,
    /// Write the result's bytes here instead of printing them as hex.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Print the job's id and return at once; `GET /v1/jobs/{id}` on the node tells how it
    /// goes.
    #[arg(long, conflicts_with = "output")]
    no_wait: bool,
}

/// `ciro indexer <action>`.
#[derive(Debug, Subcommand)]
enum IndexerAction {
    /// Follow the chain until Ctrl-C or SIGTERM, serving the HTTP API (see indexer/README.md).
    Run(ciro_indexer::IndexerArgs),
}

/// A dispute ruling, as typed on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum RulingArg {
    /// The worker's result stands: it is paid.
    Worker,
    /// The client is right: refund, and the worker's collateral is slashed.
    Client,
}

/// `ciro dispute <action>`.
#[derive(Debug, Subcommand)]
enum DisputeAction {
    /// Show a dispute.
    Status {
        /// Dispute id.
        id: u64,
    },
    /// Vote (arbitrators only); the first ruling to reach the quorum settles the job.
    Vote {
        /// Dispute id.
        id: u64,
        /// Who is right.
        #[arg(long, value_enum)]
        ruling: RulingArg,
    },
    /// Resolve by the votes cast once the voting period has passed: more votes win, a tie or
    /// none pays the worker (anyone).
    ResolveTimeout {
        /// Dispute id.
        id: u64,
    },
}

/// Arguments of `ciro devnet`.
#[cfg(feature = "devnet")]
#[derive(Debug, Args)]
struct DevnetArgs {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 5050)]
    port: u16,
    /// Host to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// Seed of the predeployed accounts.
    #[arg(long, default_value_t = 0)]
    seed: u32,
    /// Number of predeployed accounts.
    #[arg(long, default_value_t = 10)]
    accounts: u8,
    /// Make a block every N seconds, so the chain's clock moves without traffic, as on a
    /// live chain: timeouts and challenge windows end on time.
    #[arg(long, value_name = "SECONDS", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..))]
    block_time: u64,
    /// Make one block per transaction instead (devnet's own default): faster for scripts,
    /// but the chain's clock stands still while nothing is sent.
    #[arg(long, conflicts_with = "block_time")]
    block_per_transaction: bool,
    /// Also print the accounts' private keys (well-known test keys of this seed).
    #[arg(long)]
    print_keys: bool,
}

/// `ciro worker <action>`.
#[derive(Debug, Subcommand)]
enum WorkerAction {
    /// Stake CIRO (approves the staking contract in the same transaction).
    Stake {
        /// Amount in CIRO, e.g. 150 or 0.5.
        #[arg(long)]
        amount: String,
        /// Use the existing allowance instead of approving.
        #[arg(long)]
        no_approve: bool,
    },
    /// Register capabilities (replaces the previous set).
    Register {
        /// A capability, e.g. wasm or gpu:h100; repeat for several.
        #[arg(long = "capability", required = true)]
        capabilities: Vec<String>,
    },
    /// Start unstaking an amount; it is withdrawable after the unstake window.
    UnstakeIntent {
        /// Amount in CIRO.
        #[arg(long)]
        amount: String,
    },
    /// Withdraw every unstake intent whose window has passed.
    Unstake,
    /// Show stake, capabilities and reputation.
    Status {
        /// Worker address [default: the signing account].
        #[arg(long = "worker")]
        worker: Option<String>,
    },
    /// Sign a bid for an escrow job: your consent to its terms, without which no client can
    /// assign you or lock your stake. Prints the signed bid as JSON, for
    /// `ciro job assign <ID> --bid`.
    Bid {
        /// Escrow job id.
        id: u64,
        /// The least reward you take, in CIRO [default: the job's reward].
        #[arg(long)]
        price: Option<String>,
        /// The most collateral you let the job lock, in CIRO [default: the job's].
        #[arg(long)]
        collateral: Option<String>,
        /// Unix seconds by which your result is due; the job's deadline becomes this
        /// [default: the job's deadline].
        #[arg(long)]
        deadline: Option<u64>,
        /// Seconds (of chain time) the bid stays usable.
        #[arg(long, default_value_t = 600)]
        expires_in: u64,
    },
}

/// `ciro job <action>`.
/// A committed result's opening, as `ciro job submit-result` prints it.
#[derive(Args, Debug)]
struct OpeningArgs {
    /// The committed result hash.
    #[arg(long)]
    result_hash: String,
    /// The commitment's salt.
    #[arg(long)]
    salt: String,
}

impl OpeningArgs {
    fn parse(&self) -> anyhow::Result<Opening> {
        opening(&self.result_hash, &self.salt)
    }
}

fn opening(result_hash: &str, salt: &str) -> anyhow::Result<Opening> {
    Ok(Opening {
        result_hash: parse_felt("--result-hash", result_hash)?,
        salt: parse_felt("--salt", salt)?,
    })
}

/// An opening to reveal first, if the result is not revealed yet.
#[derive(Args, Debug)]
struct OptionalOpening {
    /// The committed result hash (with `--salt`).
    #[arg(long, requires = "salt")]
    result_hash: Option<String>,
    /// The commitment's salt (with `--result-hash`).
    #[arg(long, requires = "result_hash")]
    salt: Option<String>,
}

impl OptionalOpening {
    fn parse(&self) -> anyhow::Result<Option<Opening>> {
        match (&self.result_hash, &self.salt) {
            (Some(result_hash), Some(salt)) => opening(result_hash, salt).map(Some),
            _ => Ok(None),
        }
    }
}

#[derive(Debug, Subcommand)]
enum JobAction {
    /// Create a job and escrow its reward (approves the escrow in the same transaction).
    Create {
        /// Reward in CIRO.
        #[arg(long)]
        reward: String,
        /// Required capability, e.g. wasm.
        #[arg(long)]
        capability: String,
        /// Hash of the job specification.
        #[arg(long, default_value = "0x1")]
        spec_hash: String,
        /// Seconds until the result is due.
        #[arg(long, default_value_t = 3600)]
        deadline_in: u64,
        /// Seconds after submission in which the client may dispute.
        #[arg(long, default_value_t = 600)]
        challenge_window: u64,
        /// Collateral the worker locks, in CIRO.
        #[arg(long, default_value = "0")]
        collateral: String,
        /// Use the existing allowance instead of approving.
        #[arg(long)]
        no_approve: bool,
    },
    /// Show a job.
    Status {
        /// Job id.
        id: u64,
    },
    /// Assign a worker on its signed bid (client).
    Assign {
        /// Job id.
        id: u64,
        /// The worker's signed bid, as `ciro worker bid` prints it: the JSON itself, or the
        /// path of a file holding it.
        #[arg(long)]
        bid: String,
    },
    /// Run a Wasm job on the network through a node, and wait for its verified result.
    Submit(SubmitArgs),
    /// Commit the result on chain (worker): only a commitment to the hash is published.
    /// Prints the opening (result hash and salt): give it to the client, and keep it to
    /// reveal the result with `finalize` or in a dispute.
    SubmitResult {
        /// Job id.
        id: u64,
        /// Hash of the result.
        #[arg(long)]
        result_hash: String,
        /// The commitment's salt; a random one if not given. Keep it secret until revealing.
        #[arg(long)]
        salt: Option<String>,
    },
    /// Reveal a committed result on chain (anyone holding its opening).
    Reveal {
        /// Job id.
        id: u64,
        #[command(flatten)]
        opening: OpeningArgs,
    },
    /// Accept the result and pay the worker (client).
    Accept {
        /// Job id.
        id: u64,
    },
    /// Dispute the result (client). Approves and pays the job's dispute bond in the same
    /// transaction: the worker gets it if the arbitrators find the result right.
    Dispute {
        /// Job id.
        id: u64,
        /// Hash of the evidence.
        #[arg(long)]
        evidence_hash: String,
    },
    /// Pay the worker after the challenge window (anyone). The result must be revealed:
    /// give its opening to reveal it in the same transaction.
    Finalize {
        /// Job id.
        id: u64,
        #[command(flatten)]
        opening: OptionalOpening,
    },
    /// Refund the client and slash the worker after a missed deadline (anyone).
    Timeout {
        /// Job id.
        id: u64,
    },
}

/// `ciro batch <action>`.
#[derive(Debug, Subcommand)]
enum BatchAction {
    /// Add CIRO to your deposit, which pays the acceptances you sign (approves the escrow in
    /// the same transaction).
    Deposit {
        /// Amount in CIRO.
        #[arg(long)]
        amount: String,
        /// Use the existing allowance instead of approving.
        #[arg(long)]
        no_approve: bool,
    },
    /// Show a deposit and its pending withdrawal.
    Status {
        /// Client address [default: the signing account].
        #[arg(long = "of")]
        of: Option<String>,
    },
    /// Ask to withdraw from your deposit; `withdraw` pays it a day later. Until then the
    /// deposit still pays the acceptances you signed.
    RequestWithdrawal {
        /// Amount in CIRO.
        #[arg(long)]
        amount: String,
    },
    /// Withdraw what you asked for once its day has passed.
    Withdraw,
    /// Accept a worker's result and sign its payment from your deposit (client). Prints the
    /// signed acceptance as JSON: give it to the worker, or settle it with `ciro batch settle`.
    Accept {
        /// The worker paid.
        #[arg(long)]
        worker: String,
        /// What you pay, in CIRO; the worker gets it minus the protocol fee.
        #[arg(long)]
        amount: String,
        /// The worker's result commitment (what its opening opens).
        #[arg(long)]
        commitment: String,
        /// Hash of the job specification.
        #[arg(long, default_value = "0x1")]
        spec_hash: String,
        /// The capability the job needed.
        #[arg(long, default_value = "wasm")]
        capability: String,
        /// A value you never used in an acceptance before [default: a random one].
        #[arg(long)]
        nonce: Option<String>,
    },
    /// Pay signed acceptances in one transaction (anyone: the acceptances carry the clients'
    /// signatures).
    Settle {
        /// A signed acceptance as `ciro batch accept` prints it, or a file holding one or a
        /// JSON array of them; repeat for several.
        #[arg(long = "acceptance", required = true)]
        acceptances: Vec<String>,
    },
}

/// `ciro token <action>`.
#[derive(Debug, Subcommand)]
enum TokenAction {
    /// Mint CIRO to an address (needs the MINTER role).
    Mint {
        /// Recipient [default: the signing account].
        #[arg(long)]
        to: Option<String>,
        /// Amount in CIRO.
        #[arg(long)]
        amount: String,
    },
    /// Show the CIRO in existence and the supply cap that minting can never pass.
    Supply,
    /// Show a CIRO balance.
    Balance {
        /// Address [default: the signing account].
        #[arg(long = "of")]
        of: Option<String>,
    },
    /// Approve a spender.
    Approve {
        /// Spender address.
        #[arg(long)]
        spender: String,
        /// Amount in CIRO.
        #[arg(long)]
        amount: String,
    },
}

/// `ciro contracts <action>`.
#[derive(Debug, Subcommand)]
enum ContractsAction {
    /// Compile the contracts into contracts/artifacts/ (Sierra, CASM, manifest.json).
    Build(BuildArgs),
    /// Run the Cairo tests with the native Cairo 2.8.2 test runner.
    Test(TestArgs),
    /// Declare, deploy and wire the whole suite; resumes an interrupted deploy.
    Deploy(DeployArgs),
    /// Take over every contract that names the signer as its next owner (a deploy with
    /// `--owner` names it; ownership moves only when the new owner accepts).
    AcceptOwnership,
    /// Timelocked upgrades: announce a class, execute it once the delay has passed, cancel
    /// it, or show where each contract stands.
    #[command(subcommand)]
    Upgrade(UpgradeAction),
}

/// `ciro contracts upgrade <action>`.
#[derive(Debug, Subcommand)]
enum UpgradeAction {
    /// Each contract's class, owner, setup, pause, upgrade delay and pending upgrade, with
    /// the time it can run.
    Status {
        /// Only this contract [default: all five].
        #[arg(long, value_parser = parse_contract)]
        contract: Option<Contract>,
    },
    /// Announce an upgrade to an already declared class; it can run after the contract's
    /// upgrade delay (at least 97 days). Needs UPGRADE_GOVERNOR.
    Announce {
        /// The contract to upgrade: CiroToken, Staking, Reputation, JobEscrow or Disputes.
        #[arg(long, value_parser = parse_contract)]
        contract: Contract,
        /// The class it will run (declared on the network).
        #[arg(long)]
        class_hash: String,
        /// A felt of the calldata passed to the new class's `upgrade_init`; repeat for
        /// several, in order [default: none, and `upgrade_init` is not called].
        #[arg(long = "init")]
        init: Vec<String>,
        /// Check it against the chain and show the fee and the window; send nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Run the pending upgrade, once its delay has passed and before it expires.
    /// Needs UPGRADE_GOVERNOR.
    Execute {
        /// The contract to upgrade.
        #[arg(long, value_parser = parse_contract)]
        contract: Contract,
        /// The init data, exactly as announced.
        #[arg(long = "init")]
        init: Vec<String>,
        /// Check it against the chain and show the fee; send nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Withdraw the pending upgrade. Needs UPGRADE_GOVERNOR.
    Cancel {
        /// The contract whose upgrade to withdraw.
        #[arg(long, value_parser = parse_contract)]
        contract: Contract,
        /// Check it against the chain and show the fee; send nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

fn parse_contract(name: &str) -> Result<Contract, String> {
    Contract::parse(name).ok_or_else(|| {
        format!(
            "unknown contract {name:?}: one of CiroToken, Staking, Reputation, JobEscrow, Disputes"
        )
    })
}

/// Arguments of `ciro contracts deploy`. Flags override the TOML file, which overrides the
/// defaults (see `DeployConfig`).
#[derive(Debug, Args)]
struct DeployArgs {
    /// TOML file with the deploy settings.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Only print the estimated fee of each step; send nothing.
    #[arg(long)]
    dry_run: bool,
    /// Treasury address [default: the deployer].
    #[arg(long)]
    treasury: Option<String>,
    /// Owner of the contracts after deployment [default: the deployer].
    #[arg(long)]
    owner: Option<String>,
    /// Protocol fee in basis points [default: 250].
    #[arg(long)]
    fee_bps: Option<u16>,
    /// Collateral share slashed on timeout, basis points [default: 1000].
    #[arg(long)]
    timeout_slash_bps: Option<u16>,
    /// Minimum stake in CIRO [default: 100].
    #[arg(long)]
    min_stake: Option<String>,
    /// The most CIRO that can ever be minted [default: 1000000000].
    #[arg(long)]
    supply_cap: Option<String>,
    /// Bond a client pays to dispute a result, in CIRO; the worker gets it if the client
    /// loses [default: 10].
    #[arg(long)]
    dispute_bond: Option<String>,
    /// Unstake window in seconds [default: 604800].
    #[arg(long)]
    unstake_window: Option<u64>,
    /// Dispute quorum [default: 1].
    #[arg(long)]
    quorum: Option<u32>,
    /// Dispute voting period in seconds [default: 259200].
    #[arg(long)]
    voting_period: Option<u64>,
    /// An arbitrator address; repeat for several [default: the deployer].
    #[arg(long = "arbitrator")]
    arbitrators: Vec<String>,
}

impl DeployArgs {
    /// The settings: defaults, then the file, then the flags. `None` when nothing was given,
    /// so a resumed deploy reuses the manifest's settings.
    fn config(&self) -> anyhow::Result<Option<DeployConfig>> {
        let flags_given = self.treasury.is_some()
            || self.owner.is_some()
            || self.fee_bps.is_some()
            || self.timeout_slash_bps.is_some()
            || self.min_stake.is_some()
            || self.supply_cap.is_some()
            || self.dispute_bond.is_some()
            || self.unstake_window.is_some()
            || self.quorum.is_some()
            || self.voting_period.is_some()
            || !self.arbitrators.is_empty();
        if self.config.is_none() && !flags_given {
            return Ok(None);
        }
        let mut config = match &self.config {
            Some(path) => DeployConfig::from_toml_file(path)?,
            None => DeployConfig::default(),
        };
        if let Some(v) = &self.treasury {
            config.treasury = Some(parse_felt("--treasury", v)?);
        }
        if let Some(v) = &self.owner {
            config.owner = Some(parse_felt("--owner", v)?);
        }
        if let Some(v) = self.fee_bps {
            config.fee_bps = v;
        }
        if let Some(v) = self.timeout_slash_bps {
            config.timeout_slash_bps = v;
        }
        if let Some(v) = &self.min_stake {
            config.min_stake = v.clone();
        }
        if let Some(v) = &self.dispute_bond {
            config.dispute_bond = v.clone();
        }
        if let Some(v) = &self.supply_cap {
            config.supply_cap = v.clone();
        }
        if let Some(v) = self.unstake_window {
            config.unstake_window_secs = v;
        }
        if let Some(v) = self.quorum {
            config.quorum = v;
        }
        if let Some(v) = self.voting_period {
            config.voting_period_secs = v;
        }
        if !self.arbitrators.is_empty() {
            config.arbitrators = self
                .arbitrators
                .iter()
                .map(|a| parse_felt("--arbitrator", a))
                .collect::<Result<_, _>>()?;
        }
        config.validate()?;
        Ok(Some(config))
    }
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

/// Our own progress at info; the in-process devnet logs every request and VM step at info,
/// so its crates speak only on warnings unless `RUST_LOG` says otherwise.
const DEFAULT_LOG: &str =
    "info,rpc=warn,starknet_devnet_server=warn,starknet_devnet_core=warn,blockifier=warn,cairo_vm=warn";

/// `ciro up` speaks through its progress display and summary; its parts log only trouble.
#[cfg(feature = "devnet")]
const UP_LOG: &str = "warn,rpc=error,starknet_devnet_server=error,starknet_devnet_core=error";

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_log = match &cli.group {
        #[cfg(feature = "devnet")]
        Group::Up(_) => UP_LOG,
        _ => DEFAULT_LOG,
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_log)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_target(false)
        .init();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The indexer's settings: its own flags, plus the global `--network`, `--rpc-url` and
/// `--manifest` when given. A relative manifest path is found under the repository root.
fn indexer_config(
    net: &NetworkArgs,
    root_flag: Option<&std::path::Path>,
    args: &ciro_indexer::IndexerArgs,
) -> anyhow::Result<ciro_indexer::Config> {
    let network = net.network()?;
    let explicit = net.rpc_url.is_some() || network.name != "devnet";
    let root = root(root_flag).ok();
    let chain = ciro_indexer::ChainArgs {
        rpc_url: explicit.then(|| network.url.clone()),
        manifest: match (&net.manifest, &root) {
            (Some(m), _) => Some(m.clone()),
            (None, Some(root)) if network.name != "devnet" => {
                Some(net.manifest_path(root, &network))
            }
            _ => None,
        },
    };
    let mut config = ciro_indexer::Config::load(args, &chain)?;
    if config.manifest.is_relative() && !config.manifest.exists() {
        if let Some(root) = root {
            config.manifest = root.join(&config.manifest);
        }
    }
    Ok(config)
}

/// How long blocking threads still busy when a command ends (a module compiling, a job
/// running) may keep the process alive: a signal always stops it promptly.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Runs `work` to its end on a fresh runtime, then leaves what still runs on blocking
/// threads after [`SHUTDOWN_GRACE`].
fn block_on(
    work: impl std::future::Future<Output = anyhow::Result<ExitCode>>,
) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let outcome = runtime.block_on(work);
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    outcome
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.group {
        #[cfg(feature = "devnet")]
        Group::Devnet(args) => return block_on(devnet(args)),
        #[cfg(feature = "devnet")]
        Group::Up(args) => {
            let dir = match args.dir.clone() {
                Some(dir) => dir,
                None => ciro::up::default_dir(&root(cli.root.as_deref())?),
            };
            return block_on(up(args, dir));
        }
        Group::Worker(action) => {
            return block_on(worker(&cli.net, &root(cli.root.as_deref())?, action))
        }
        Group::Job(action) => return block_on(job(&cli.net, &root(cli.root.as_deref())?, action)),
        Group::Token(action) => {
            return block_on(token(&cli.net, &root(cli.root.as_deref())?, action))
        }
        Group::Batch(action) => {
            return block_on(batch(&cli.net, &root(cli.root.as_deref())?, action))
        }
        Group::Dispute(action) => {
            return block_on(dispute(&cli.net, &root(cli.root.as_deref())?, action))
        }
        Group::Indexer(IndexerAction::Run(args)) => {
            let config = indexer_config(&cli.net, cli.root.as_deref(), &args)?;
            return block_on(async {
                let shutdown = ciro_indexer::service::shutdown_on_signals();
                ciro_indexer::service::run(config, shutdown, None).await?;
                Ok(ExitCode::SUCCESS)
            });
        }
        Group::Node(NodeAction::Run(args)) => {
            return block_on(async {
                let http = args.http;
                let config = node_config(&cli.net, cli.root.as_deref(), *args).await?;
                let settles = config.chain.is_some();
                let node = ciro_node::Node::start(config).await?;
                let gateway = ciro_node::gateway::serve(node.shared.clone(), http).await?;
                if settles {
                    println!("settling on chain");
                }
                for addr in node.addrs() {
                    println!("listening on {addr}");
                }
                println!("gateway on http://{}", gateway.addr);
                let mut shutdown = ciro_indexer::service::shutdown_on_signals();
                let _ = shutdown.wait_for(|stop| *stop).await;
                gateway.shutdown().await;
                node.shutdown().await;
                Ok(ExitCode::SUCCESS)
            });
        }
        Group::Contracts(ContractsAction::Deploy(args)) => {
            let root = root(cli.root.as_deref())?;
            let config = args.config()?;
            return block_on(ciro::deploy_cmd::run(&cli.net, &root, config, args.dry_run));
        }
        Group::Contracts(ContractsAction::AcceptOwnership) => {
            let root = root(cli.root.as_deref())?;
            return block_on(async {
                let session = cli.net.session(&root).await?;
                let (taken, receipt) = session.accept_ownership().await?;
                let names: Vec<_> = taken.iter().map(|c| c.name()).collect();
                println!(
                    "{}",
                    tx_line(
                        &format!("{:#x} now owns {}", session.me(), names.join(", ")),
                        &receipt
                    )
                );
                Ok(ExitCode::SUCCESS)
            });
        }
        Group::Contracts(ContractsAction::Upgrade(action)) => {
            let root = root(cli.root.as_deref())?;
            return block_on(upgrade_cmd(&cli.net, &root, action));
        }
        Group::Contracts(_) => {}
    }
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
        Group::Contracts(
            ContractsAction::Deploy(_)
            | ContractsAction::AcceptOwnership
            | ContractsAction::Upgrade(_),
        )
        | Group::Worker(_)
        | Group::Job(_)
        | Group::Batch(_)
        | Group::Dispute(_)
        | Group::Token(_)
        | Group::Node(_)
        | Group::Indexer(_) => {
            unreachable!("handled above")
        }
        #[cfg(feature = "devnet")]
        Group::Devnet(_) | Group::Up(_) => unreachable!("handled above"),
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

/// A node's settings from `ciro node run`'s flags; with `--settle`, the chain, the
/// manifest and the signer from the global flags.
async fn node_config(
    net: &NetworkArgs,
    given_root: Option<&std::path::Path>,
    args: ciro_node::NodeArgs,
) -> anyhow::Result<ciro_node::NodeConfig> {
    use ciro_node::chain::ChainSettings;
    if !args.settle {
        return Ok(args.into_config());
    }
    let (chain, deployment) = net.connect_deployed(&root(given_root)?).await?;
    let (address, key) = net.signing_key(&chain).await?;
    let collateral =
        ciro_bindings::units::parse_tokens(&args.collateral).context("--collateral")?;
    let max_collateral = args
        .max_collateral
        .as_deref()
        .map(ciro_bindings::units::parse_tokens)
        .transpose()
        .context("--max-collateral")?;
    let deposit = args
        .deposit
        .as_deref()
        .map(ciro_bindings::units::parse_tokens)
        .transpose()
        .context("--deposit")?;
    let settings = ChainSettings {
        collateral,
        max_collateral,
        challenge_window_secs: args.challenge_window,
        arbitrate: args.arbitrate,
        batching: ciro_node::chain::Batching {
            deposit,
            max_jobs: args.batch_size.into(),
            max_wait: std::time::Duration::from_millis(args.batch_wait_ms),
            ..Default::default()
        },
        ..ChainSettings::new(
            chain.url().clone(),
            deployment,
            address,
            key.secret_scalar(),
        )
    };
    let indexer = args.indexer.clone();
    let mut config = args.into_config();
    config.chain = Some(settings);
    if let Some(indexer) = indexer {
        config.reputation = std::sync::Arc::new(ciro_node::reputation::IndexerSource::new(
            indexer,
            std::time::Duration::from_secs(10),
        ));
    }
    Ok(config)
}

/// `ciro job submit`: hands the job to a node's gateway and shows it move until it
/// settles. Exits non-zero when the job fails.
async fn submit_job(args: SubmitArgs) -> anyhow::Result<ExitCode> {
    use ciro_node::client::{read_module, Gateway, Submission};
    let input = match (&args.input, &args.input_hex) {
        (Some(path), None) => {
            std::fs::read(path).with_context(|| format!("reading {}", path.display()))?
        }
        (None, Some(text)) => {
            hex::decode(text.trim_start_matches("0x")).context("--input-hex is not hex")?
        }
        _ => anyhow::bail!("give --input FILE or --input-hex HEX"),
    };
    let job = Submission {
        module: read_module(&args.wasm)?,
        input,
        capability: args.capability,
        redundancy: args.redundancy,
        reward: args.reward,
        fuel: args.fuel,
        memory_bytes: args.memory,
        timeout_ms: args.timeout_ms,
        deadline_secs: args.deadline,
    };
    let gateway = Gateway::new(args.node);
    let started = std::time::Instant::now();
    let id = gateway.submit(&job).await?;
    if args.no_wait {
        println!("job {id}");
        return Ok(ExitCode::SUCCESS);
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
            .expect("a valid template"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(100));
    // A hidden bar (no terminal) prints nothing, so the lines go to stdout directly.
    let say = |line: String| {
        if bar.is_hidden() {
            println!("{line}");
        } else {
            bar.println(line);
        }
    };
    say(format!("job {id}"));
    let done = gateway
        .wait(&id, |p| {
            let line = format!(
                "{}: {} bids, {} assigned, {}/{} results",
                p.status, p.bids, p.assigned, p.delivered, job.redundancy
            );
            say(format!("  {:>6} ms  {line}", started.elapsed().as_millis()));
            bar.set_message(line);
        })
        .await?;
    bar.finish_and_clear();
    let body = &done.body;
    for failure in body["verification_failures"]
        .as_array()
        .into_iter()
        .flatten()
    {
        println!(
            "verification failure: worker {} ({})",
            failure["worker"].as_str().unwrap_or("?"),
            failure["reason"].as_str().unwrap_or("?")
        );
    }
    if done.status != "completed" {
        eprintln!(
            "job {id} failed: {}",
            body["error"].as_str().unwrap_or("unknown")
        );
        return Ok(ExitCode::FAILURE);
    }
    let result = &body["result"];
    let agreeing: Vec<&str> = result["agreeing"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|w| w.as_str())
        .collect();
    println!(
        "completed in {:.2} s: {} of {} workers agree on {}",
        started.elapsed().as_secs_f64(),
        agreeing.len(),
        done.assigned,
        result["hash"].as_str().unwrap_or("?")
    );
    for worker in agreeing {
        println!("  {worker}");
    }
    match (&result["outcome"]["output"], &result["outcome"]["error"]) {
        (serde_json::Value::String(b64), _) => {
            use base64::Engine as _;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .context("the node sent an output that is not base64")?;
            match &args.output {
                Some(path) => {
                    std::fs::write(path, &bytes)
                        .with_context(|| format!("writing {}", path.display()))?;
                    println!("output: {} bytes -> {}", bytes.len(), path.display());
                }
                None => println!("output: 0x{}", hex::encode(&bytes)),
            }
        }
        (_, serde_json::Value::String(error)) => {
            // The workers agree that the job itself fails (out of fuel, a trap): a
            // verified answer, but not a result.
            eprintln!("the job itself failed: {error}");
            return Ok(ExitCode::FAILURE);
        }
        _ => anyhow::bail!("the node's result has no outcome"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Where deployment manifests live: `--root`, or the current directory.
fn root(given: Option<&std::path::Path>) -> anyhow::Result<PathBuf> {
    match given {
        Some(root) => Ok(root.to_owned()),
        None => std::env::current_dir().context("reading the current directory"),
    }
}

#[cfg(feature = "devnet")]
/// `ciro up`: see [`ciro::up`].
#[cfg(feature = "devnet")]
async fn up(args: UpArgs, dir: PathBuf) -> anyhow::Result<ExitCode> {
    use ciro::up::{tokens, LocalNetwork, Step, UpSettings};
    use std::time::Duration;
    if args.redundancy == 0 || args.redundancy as usize > args.workers {
        anyhow::bail!(
            "--redundancy {} needs 1 to --workers ({}) workers",
            args.redundancy,
            args.workers
        );
    }
    let settings = UpSettings {
        workers: args.workers,
        dir,
        indexer_http: args.indexer_http,
        client_http: args.http,
        deposit: if args.escrow {
            None
        } else {
            UpSettings::default().deposit
        },
        blocks: if args.block_per_transaction {
            ciro_devnet::Blocks::PerTransaction
        } else {
            ciro_devnet::Blocks::Every(args.block_time)
        },
        ..UpSettings::default()
    };
    let started = std::time::Instant::now();
    let bar = progress_bar(6 + 2 * args.workers as u64);
    bar.set_message("starting devnet");
    let network = LocalNetwork::start(&settings, |step| {
        let line = match step {
            Step::Devnet(url) => format!("devnet on {url}"),
            Step::Deployed(escrow) => format!("suite deployed (escrow {escrow:#x})"),
            Step::Funded { worker } => format!("worker {worker:#x} funded, staked, registered"),
            Step::Indexer(addr) => format!("indexer on http://{addr}"),
            Step::Node { peer, role } => format!("{role} node {peer}"),
        };
        bar.inc(1);
        if bar.is_hidden() {
            println!("{line}");
        } else {
            bar.println(line);
        }
    })
    .await?;
    network.wait_for_workers(Duration::from_secs(30)).await?;
    bar.inc(1);
    bar.finish_and_clear();

    let gateway = network.gateway().expect("the client runs a gateway");
    println!(
        "client gateway  http://{gateway}/v1/jobs   (ciro job submit --node http://{gateway}/)"
    );
    println!("indexer         http://{}/v1/workers", network.indexer);
    if let Some(addr) = network.bootstrap().first() {
        println!("client node     {addr}   (--bootstrap for more nodes)");
    }
    println!(
        "chain           {}   manifest {}",
        network.devnet.rpc_url(),
        network.manifest.display()
    );

    let reward = ciro_bindings::units::ONE;
    let jobs = network
        .submit_samples(args.jobs, args.redundancy, reward)
        .await?;
    println!(
        "submitted {} jobs, {} workers each, {} per worker",
        jobs.len(),
        args.redundancy,
        tokens(reward)
    );
    let bar = progress_bar(jobs.len() as u64);
    bar.set_message("jobs settled on chain");
    let settled = network
        .wait_settled(&jobs, Duration::from_secs(300), |n| {
            bar.set_position(n as u64)
        })
        .await;
    bar.finish_and_clear();
    let settled = match settled {
        Ok(settled) => settled,
        Err(e) => {
            eprintln!("error: {e}");
            network.stop().await?;
            return Ok(ExitCode::FAILURE);
        }
    };
    let mut paid = 0;
    for job in &jobs {
        paid += usize::from(network.paid_in_full(job, &settled[job]).await);
    }
    println!(
        "{paid} of {} jobs settled and paid on chain in {:.1} s",
        jobs.len(),
        started.elapsed().as_secs_f64()
    );
    let mut batches: Vec<&str> = Vec::new();
    for job in &jobs {
        let slots: Vec<String> = settled[job]
            .iter()
            .map(|s| match (&s.acceptance, &s.tx_hash) {
                (Some(_), Some(tx)) => {
                    if !batches.contains(&tx.as_str()) {
                        batches.push(tx);
                    }
                    format!("{} in batch {}", s.state, batch_name(tx))
                }
                (Some(_), None) => s.state.to_string(),
                (None, _) => format!("escrow {} {}", s.escrow_id, s.state),
            })
            .collect();
        println!("  job {}  {}", &job.hex()[..12], slots.join(", "));
    }
    if !batches.is_empty() {
        println!(
            "{} jobs paid from the client's deposit in {} batch transactions:",
            jobs.len(),
            batches.len()
        );
        for tx in &batches {
            println!("  {tx}");
        }
    }
    network.indexer_synced(Duration::from_secs(30)).await?;
    println!("workers (from the indexer):");
    for worker in &network.workers {
        let w = network.worker_summary(worker).await?;
        println!(
            "  {:#x}  earned {:>14}  completed {:>3}  failed {}  score {:.3}",
            w.account,
            tokens(w.earned),
            w.jobs_completed,
            w.jobs_failed,
            w.score
        );
    }
    let treasury = network.owner.balance(network.treasury).await?;
    println!("treasury fees   {}", tokens(treasury));

    let code = if paid == jobs.len() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    };
    if !args.then_exit {
        println!("running; Ctrl-C stops everything");
        let mut shutdown = ciro_indexer::service::shutdown_on_signals();
        let _ = shutdown.wait_for(|stop| *stop).await;
    }
    network.stop().await?;
    Ok(code)
}

/// A batch transaction's short name: the start of its hash.
#[cfg(feature = "devnet")]
fn batch_name(tx: &str) -> &str {
    &tx[..tx.len().min(12)]
}

#[cfg(feature = "devnet")]
fn progress_bar(len: u64) -> indicatif::ProgressBar {
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(len)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{bar:30}] {pos}/{len} {msg} ({elapsed})",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

async fn devnet(args: DevnetArgs) -> anyhow::Result<ExitCode> {
    use ciro_devnet::{Blocks, Devnet, DevnetConfig};
    let config = DevnetConfig {
        seed: args.seed,
        accounts: args.accounts,
        host: args.host,
        port: args.port,
        blocks: if args.block_per_transaction {
            Blocks::PerTransaction
        } else {
            Blocks::Every(args.block_time)
        },
        full_state_archive: true,
    };
    let devnet = tokio::task::spawn_blocking(move || Devnet::spawn(config))
        .await
        .context("starting devnet")??;
    println!("devnet (seed {}) listening", args.seed);
    println!("rpc      {}", devnet.rpc_url());
    let chain = ciro_bindings::Chain::connect(devnet.rpc_url()).await?;
    println!("chain    {}", chain.chain_name());
    println!("accounts (each funded with STRK; use --devnet-account N with other commands)");
    for (i, account) in devnet.accounts().iter().enumerate() {
        if args.print_keys {
            println!(
                "  {i:>2}  {:#x}  key {:#x}",
                account.address, account.private_key
            );
        } else {
            println!("  {i:>2}  {:#x}", account.address);
        }
    }
    // Listen before saying so: a signal that arrives right after the banner must stop us
    // cleanly too.
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt()).context("listening for Ctrl-C")?;
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    println!("Ctrl-C stops it. RUST_LOG=starknet_devnet_server=info logs every request.");
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    tokio::task::spawn_blocking(move || devnet.stop())
        .await
        .context("stopping devnet")?;
    println!("devnet stopped");
    Ok(ExitCode::SUCCESS)
}

fn tx_line(action: &str, receipt: &ciro_bindings::Receipt) -> String {
    format!(
        "{action}: tx {:#x} in block {} (fee {} STRK)",
        receipt.hash,
        receipt.block,
        format_tokens(receipt.fee)
    )
}

/// A signed bid from `--bid`: JSON text, or the path of a file holding it.
/// The text of a JSON argument: `arg` itself when it is JSON, else the file it names.
fn json_arg(flag: &str, arg: &str) -> anyhow::Result<String> {
    if arg.trim_start().starts_with(['{', '[']) {
        Ok(arg.to_string())
    } else {
        std::fs::read_to_string(arg).with_context(|| format!("{flag}: reading {arg}"))
    }
}

fn read_bid(arg: &str) -> anyhow::Result<ciro_bindings::bid::SignedBid> {
    serde_json::from_str(&json_arg("--bid", arg)?)
        .context("--bid: not a signed bid as `ciro worker bid` prints it")
}

/// `ciro worker bid`: signs the worker's consent to escrow job `id`, on the job's own terms
/// unless told otherwise.
async fn sign_bid(
    net: &NetworkArgs,
    root: &std::path::Path,
    id: u64,
    price: Option<String>,
    collateral: Option<String>,
    deadline: Option<u64>,
    expires_in: u64,
) -> anyhow::Result<ExitCode> {
    let (chain, deployment) = net.connect_deployed(root).await?;
    let (address, key) = net.signing_key(&chain).await?;
    let account = chain.account(address, key.clone());
    let session = ciro_bindings::ops::Session::new(chain, deployment, account);
    let job = session.job_status(id).await?;
    let tokens = |arg: Option<String>, flag: &str, default: u128| -> anyhow::Result<u128> {
        match arg {
            Some(a) => parse_tokens(&a).with_context(|| flag.to_string()),
            None => Ok(default),
        }
    };
    let bid = ciro_bindings::bid::Bid {
        spec_hash: job.spec_hash,
        price: tokens(price, "--price", job.reward.low)?,
        collateral: tokens(collateral, "--collateral", job.collateral.low)?,
        deadline: deadline.unwrap_or(job.deadline),
        expiry: session.next_block_time().await?.saturating_add(expires_in),
        nonce: starknet::core::types::Felt::from(rand::random::<u128>()),
    };
    let signed = session.sign_bid(bid, &key)?;
    println!("{}", serde_json::to_string(&signed)?);
    Ok(ExitCode::SUCCESS)
}

async fn worker(
    net: &NetworkArgs,
    root: &std::path::Path,
    action: WorkerAction,
) -> anyhow::Result<ExitCode> {
    if let WorkerAction::Bid {
        id,
        price,
        collateral,
        deadline,
        expires_in,
    } = action
    {
        return sign_bid(net, root, id, price, collateral, deadline, expires_in).await;
    }
    let session = net.session(root).await?;
    match action {
        WorkerAction::Stake { amount, no_approve } => {
            let amount = parse_tokens(&amount)?;
            let receipt = session.worker_stake(amount, !no_approve).await?;
            println!(
                "{}",
                tx_line(&format!("staked {} CIRO", format_tokens(amount)), &receipt)
            );
        }
        WorkerAction::Register { capabilities } => {
            let receipt = session.worker_register(&capabilities).await?;
            println!(
                "{}",
                tx_line(&format!("registered {}", capabilities.join(", ")), &receipt)
            );
        }
        WorkerAction::UnstakeIntent { amount } => {
            let amount = parse_tokens(&amount)?;
            let receipt = session.worker_unstake_intent(amount).await?;
            println!(
                "{}",
                tx_line(
                    &format!("unstake intent for {} CIRO", format_tokens(amount)),
                    &receipt
                )
            );
        }
        WorkerAction::Unstake => {
            let (receipt, received) = session.worker_unstake().await?;
            println!(
                "{}",
                tx_line(
                    &format!("withdrew {} CIRO", format_tokens(received)),
                    &receipt
                )
            );
        }
        WorkerAction::Status { worker } => {
            let who = match worker {
                Some(w) => parse_felt("--worker", &w)?,
                None => session.me(),
            };
            println!("{}", session.worker_status(who).await?);
        }
        WorkerAction::Bid { .. } => unreachable!("handled above"),
    }
    Ok(ExitCode::SUCCESS)
}

async fn job(
    net: &NetworkArgs,
    root: &std::path::Path,
    action: JobAction,
) -> anyhow::Result<ExitCode> {
    if let JobAction::Submit(args) = action {
        return submit_job(args).await;
    }
    let session = net.session(root).await?;
    match action {
        JobAction::Create {
            reward,
            capability: cap,
            spec_hash,
            deadline_in,
            challenge_window,
            collateral,
            no_approve,
        } => {
            let terms = JobTerms {
                spec_hash: parse_felt("--spec-hash", &spec_hash)?,
                reward: parse_tokens(&reward)?,
                capability: capability(&cap)?,
                deadline_in,
                challenge_window,
                collateral: parse_tokens(&collateral)?,
            };
            let (id, receipt) = session.job_create(&terms, !no_approve).await?;
            println!("{}", tx_line(&format!("created job {id}"), &receipt));
            println!("job id {id}");
        }
        JobAction::Status { id } => {
            println!("{}", ops::describe_job(id, &session.job_status(id).await?))
        }
        JobAction::Assign { id, bid } => {
            let signed = read_bid(&bid)?;
            let receipt = session.job_assign(id, &signed).await?;
            println!(
                "{}",
                tx_line(
                    &format!("assigned job {id} to {:#x}", signed.worker),
                    &receipt
                )
            );
        }
        JobAction::Submit(_) => unreachable!("handled above"),
        JobAction::SubmitResult {
            id,
            result_hash,
            salt,
        } => {
            let opening = Opening {
                result_hash: parse_felt("--result-hash", &result_hash)?,
                salt: match salt {
                    Some(salt) => parse_felt("--salt", &salt)?,
                    None => starknet::core::types::Felt::from(rand::random::<u128>()),
                },
            };
            let receipt = session.job_submit(id, &opening).await?;
            println!("{}", tx_line(&format!("committed job {id}"), &receipt));
            println!(
                "opening: --result-hash {:#x} --salt {:#x} (keep it; reveal it with `ciro job finalize` or in a dispute)",
                opening.result_hash, opening.salt
            );
        }
        JobAction::Reveal { id, opening } => println!(
            "{}",
            tx_line(
                &format!("revealed job {id}"),
                &session.job_reveal(id, &opening.parse()?).await?
            )
        ),
        JobAction::Accept { id } => println!(
            "{}",
            tx_line(
                &format!("accepted job {id}"),
                &session.job_accept(id).await?
            )
        ),
        JobAction::Dispute { id, evidence_hash } => {
            let (dispute, receipt) = session
                .job_dispute(id, parse_felt("--evidence-hash", &evidence_hash)?)
                .await?;
            println!(
                "{}",
                tx_line(&format!("disputed job {id} (dispute {dispute})"), &receipt)
            );
        }
        JobAction::Finalize { id, opening } => {
            let opening = opening.parse()?;
            println!(
                "{}",
                tx_line(
                    &format!("finalized job {id}"),
                    &session.job_finalize(id, opening.as_ref()).await?
                )
            )
        }
        JobAction::Timeout { id } => println!(
            "{}",
            tx_line(
                &format!("timed out job {id}"),
                &session.job_timeout(id).await?
            )
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads signed acceptances: each argument is one as JSON, or a file with one or an array.
fn read_acceptances(args: &[String]) -> anyhow::Result<Vec<SignedAcceptance>> {
    let mut out = Vec::new();
    for arg in args {
        let text = json_arg("--acceptance", arg)?;
        let value: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("--acceptance {arg}: not JSON"))?;
        let items = match value {
            serde_json::Value::Array(items) => items,
            one => vec![one],
        };
        for item in items {
            out.push(serde_json::from_value(item).with_context(|| {
                format!(
                    "--acceptance {arg}: not a signed acceptance as `ciro batch accept` prints it"
                )
            })?);
        }
    }
    Ok(out)
}

async fn batch(
    net: &NetworkArgs,
    root: &std::path::Path,
    action: BatchAction,
) -> anyhow::Result<ExitCode> {
    if let BatchAction::Accept {
        worker,
        amount,
        commitment,
        spec_hash,
        capability: cap,
        nonce,
    } = action
    {
        let (chain, deployment) = net.connect_deployed(root).await?;
        let (address, key) = net.signing_key(&chain).await?;
        let account = chain.account(address, key.clone());
        let session = ciro_bindings::ops::Session::new(chain, deployment, account);
        let worker = parse_felt("--worker", &worker)?;
        let acceptance = Acceptance {
            worker,
            spec_hash: parse_felt("--spec-hash", &spec_hash)?,
            capability: capability(&cap)?,
            amount: parse_tokens(&amount)?,
            // The fee jobs are agreed under now; a later raise leaves it payable for a day.
            fee_bps: session.fee_bps().await?,
            commitment: parse_felt("--commitment", &commitment)?,
            nonce: match nonce {
                Some(n) => parse_felt("--nonce", &n)?,
                None => starknet::core::types::Felt::from(rand::random::<u128>()),
            },
        };
        if worker == session.me() {
            anyhow::bail!("--worker is your own account: a client cannot pay itself");
        }
        let signed = session.sign_acceptance(acceptance, &key)?;
        println!("{}", serde_json::to_string(&signed)?);
        return Ok(ExitCode::SUCCESS);
    }
    let session = net.session(root).await?;
    match action {
        BatchAction::Deposit { amount, no_approve } => {
            let amount = parse_tokens(&amount)?;
            let receipt = session.deposit(amount, !no_approve).await?;
            println!(
                "{}",
                tx_line(
                    &format!("deposited {} CIRO", format_tokens(amount)),
                    &receipt
                )
            );
        }
        BatchAction::Status { of } => {
            let who = match of {
                Some(a) => parse_felt("--of", &a)?,
                None => session.me(),
            };
            let (held, pending, available_at) = session.deposit_of(who).await?;
            println!("deposit     {} CIRO", format_tokens(held));
            if pending > 0 {
                println!(
                    "withdrawal  {} CIRO from {available_at} (unix)",
                    format_tokens(pending)
                );
            }
        }
        BatchAction::RequestWithdrawal { amount } => {
            let amount = parse_tokens(&amount)?;
            let receipt = session.request_withdrawal(amount).await?;
            let (_, _, available_at) = session.deposit_of(session.me()).await?;
            println!(
                "{}",
                tx_line(
                    &format!(
                        "asked to withdraw {} CIRO, withdrawable from {available_at} (unix)",
                        format_tokens(amount)
                    ),
                    &receipt
                )
            );
        }
        BatchAction::Withdraw => {
            let before = session.balance(session.me()).await?;
            let receipt = session.withdraw().await?;
            let paid = session.balance(session.me()).await?.saturating_sub(before);
            println!(
                "{}",
                tx_line(&format!("withdrew {} CIRO", format_tokens(paid)), &receipt)
            );
        }
        BatchAction::Settle { acceptances } => {
            let batch = read_acceptances(&acceptances)?;
            let receipt = session.settle_batch(&batch).await?;
            println!(
                "{}",
                tx_line(&format!("settled {} jobs", batch.len()), &receipt)
            );
        }
        BatchAction::Accept { .. } => unreachable!("handled above"),
    }
    Ok(ExitCode::SUCCESS)
}

async fn token(
    net: &NetworkArgs,
    root: &std::path::Path,
    action: TokenAction,
) -> anyhow::Result<ExitCode> {
    let session = net.session(root).await?;
    match action {
        TokenAction::Mint { to, amount } => {
            let to = match to {
                Some(to) => parse_felt("--to", &to)?,
                None => session.me(),
            };
            let amount = parse_tokens(&amount)?;
            let receipt = session.token_mint(to, amount).await?;
            println!(
                "{}",
                tx_line(
                    &format!("minted {} CIRO to {to:#x}", format_tokens(amount)),
                    &receipt
                )
            );
        }
        TokenAction::Supply => {
            let (supply, cap) = session.token_supply().await?;
            println!(
                "supply  {} CIRO\ncap     {} CIRO ({} CIRO left to mint)",
                format_tokens(supply),
                format_tokens(cap),
                format_tokens(cap.saturating_sub(supply))
            );
        }
        TokenAction::Balance { of } => {
            let who = match of {
                Some(of) => parse_felt("--of", &of)?,
                None => session.me(),
            };
            println!("{} CIRO", format_tokens(session.balance(who).await?));
        }
        TokenAction::Approve { spender, amount } => {
            let spender = parse_felt("--spender", &spender)?;
            let amount = parse_tokens(&amount)?;
            let receipt = session.token_approve(spender, amount).await?;
            println!(
                "{}",
                tx_line(
                    &format!("approved {} CIRO for {spender:#x}", format_tokens(amount)),
                    &receipt
                )
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn dispute(
    net: &NetworkArgs,
    root: &std::path::Path,
    action: DisputeAction,
) -> anyhow::Result<ExitCode> {
    let session = net.session(root).await?;
    match action {
        DisputeAction::Status { id } => {
            println!(
                "{}",
                ops::describe_dispute(id, &session.dispute_status(id).await?)
            )
        }
        DisputeAction::Vote { id, ruling } => {
            let worker_right = matches!(ruling, RulingArg::Worker);
            let receipt = session.dispute_vote(id, worker_right).await?;
            println!(
                "{}",
                tx_line(&format!("voted {ruling:?} on dispute {id}"), &receipt)
            );
        }
        DisputeAction::ResolveTimeout { id } => {
            let receipt = session.dispute_resolve_timeout(id).await?;
            println!(
                "{}",
                tx_line(&format!("resolved dispute {id} by default"), &receipt)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `ciro contracts upgrade`: every step reads the chain first and says what it found.
async fn upgrade_cmd(
    net: &NetworkArgs,
    root: &std::path::Path,
    action: UpgradeAction,
) -> anyhow::Result<ExitCode> {
    let session = net.session(root).await?;
    let felts = |values: &[String]| -> anyhow::Result<Vec<Felt>> {
        Ok(values
            .iter()
            .map(|v| parse_felt("--init", v))
            .collect::<Result<_, _>>()?)
    };
    let (contract, step, dry_run) = match action {
        UpgradeAction::Status { contract } => {
            let now = session.chain_time().await?;
            let contracts = contract.map_or(Contract::ALL.to_vec(), |c| vec![c]);
            for contract in contracts {
                let g = session.governance(contract).await?;
                println!("{contract} at {:#x}", g.address);
                println!("  class          {:#x}", g.class_hash);
                println!("  owner          {:#x}", g.owner);
                println!(
                    "  setup          {}",
                    if g.setup_open {
                        "open: wiring roles can still change (do not stake yet)"
                    } else {
                        "ended: wiring roles fixed until an upgrade"
                    }
                );
                println!("  paused         {}", if g.paused { "yes" } else { "no" });
                println!(
                    "  upgrade delay  {} s ({})",
                    g.upgrade_delay,
                    ciro_bindings::governance::duration(g.upgrade_delay)
                );
                match g.pending {
                    Some(p) => println!(
                        "  pending        class {:#x}, {}",
                        p.class_hash,
                        p.window(now)
                    ),
                    None => println!("  pending        none"),
                }
            }
            println!("chain time {now}");
            return Ok(ExitCode::SUCCESS);
        }
        UpgradeAction::Announce {
            contract,
            class_hash,
            init,
            dry_run,
        } => {
            let class_hash = parse_felt("--class-hash", &class_hash)?;
            if !session.chain.is_declared(class_hash).await? {
                anyhow::bail!(
                    "class {class_hash:#x} is not declared on {}: declare it first, so stakers can read the code they are asked to accept",
                    session.chain.chain_name()
                );
            }
            let init = felts(&init)?;
            (
                contract,
                UpgradeStep::Announce { class_hash, init },
                dry_run,
            )
        }
        UpgradeAction::Execute {
            contract,
            init,
            dry_run,
        } => (
            contract,
            UpgradeStep::Execute {
                init: felts(&init)?,
            },
            dry_run,
        ),
        UpgradeAction::Cancel { contract, dry_run } => (contract, UpgradeStep::Cancel, dry_run),
    };
    let before = session.governance(contract).await?;
    let now = session.chain_time().await?;
    if dry_run {
        let fee = session.estimate_upgrade(contract, &step).await?;
        println!(
            "dry run: {contract}.{} would succeed; estimated fee {} STRK; nothing sent",
            step.entry_point(),
            format_tokens(fee)
        );
        if let UpgradeStep::Announce { .. } = step {
            let ready_at = now + before.upgrade_delay;
            println!(
                "it could run from {ready_at} (in {}), for 14 days",
                ciro_bindings::governance::duration(before.upgrade_delay)
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let receipt = session.upgrade(contract, &step).await?;
    let after = session.governance(contract).await?;
    let what = match (&step, after.pending) {
        (UpgradeStep::Announce { class_hash, .. }, Some(p)) => {
            format!("announced {class_hash:#x} on {contract}: {}", p.window(now))
        }
        (UpgradeStep::Execute { .. }, _) => {
            format!("{contract} now runs class {:#x}", after.class_hash)
        }
        (UpgradeStep::Cancel, _) => format!(
            "cancelled the upgrade of {contract} to {:#x}",
            before.pending.map_or(Felt::ZERO, |p| p.class_hash)
        ),
        (UpgradeStep::Announce { .. }, None) => {
            anyhow::bail!("the announcement was included, but {contract} shows no pending upgrade")
        }
    };
    println!("{}", tx_line(&what, &receipt));
    Ok(ExitCode::SUCCESS)
}
