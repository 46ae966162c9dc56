//! What a node offers the programs around it: the job request and its checks, the
//! commands, the events, the state shared with the gateway, and the handle.

use super::*;

/// A job to run, as a client hands it to its node.
#[derive(Clone, Debug)]
pub struct JobRequest {
    /// A binary Wasm module (see [`crate::sandbox`] for its ABI).
    pub module: Vec<u8>,
    pub input: Vec<u8>,
    pub capability: String,
    pub redundancy: u8,
    pub reward: u128,
    pub limits: JobLimits,
    /// How long the client waits for k agreeing results.
    pub deadline: Duration,
}

/// Why a job was not accepted for submission.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("module: {0}")]
    Module(#[from] SandboxError),
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("the node is compiling other modules; try again shortly")]
    Busy,
    #[error("the node has stopped")]
    Stopped,
}

/// How long compiling a submitted module may take, and how long a submission waits for
/// its turn to compile.
pub const COMPILE_BUDGET: Duration = Duration::from_secs(10);

/// Modules compiled at once for submissions; the rest wait their turn.
pub(super) const COMPILING_AT_ONCE: usize = 1;

/// A job whose request passed every check, with its hashes.
#[derive(Debug)]
pub struct Checked {
    pub(super) request: JobRequest,
    pub(super) module: Hash,
    pub(super) input: Hash,
    pub(super) spec: Hash,
}

impl JobRequest {
    /// Checks everything but the module: cheap, and done before any work is spent on it.
    fn check_fields(&self) -> Result<(), SubmitError> {
        let invalid = |field, message: &str| SubmitError::Invalid {
            field,
            message: message.into(),
        };
        protocol::check_capability(&self.capability)
            .map_err(|e| invalid("capability", &e.to_string()))?;
        if self.redundancy == 0 || self.redundancy > protocol::MAX_REDUNDANCY {
            return Err(invalid("redundancy", "must be 1 to 8"));
        }
        self.limits
            .check()
            .map_err(|e| invalid("limits", &e.to_string()))?;
        if self.input.len() > protocol::MAX_BLOB_BYTES {
            return Err(invalid("input", "larger than 8 MiB"));
        }
        if self.module.len() > protocol::MAX_BLOB_BYTES {
            return Err(invalid("module", "larger than 8 MiB"));
        }
        if self.deadline.is_zero() || self.deadline > Duration::from_secs(24 * 3600) {
            return Err(invalid("deadline", "must be between 1 s and 24 h"));
        }
        Ok(())
    }
}

/// Checks a job for submission. The module is compiled, and the module and input hashed,
/// on a blocking thread, one submission at a time, within `budget`: a module built to be
/// slow to compile costs its sender a refusal, never the node its event loop.
pub async fn check(
    sandbox: &Sandbox,
    turn: &Arc<tokio::sync::Semaphore>,
    request: JobRequest,
    budget: Duration,
) -> Result<Checked, SubmitError> {
    request.check_fields()?;
    let permit = tokio::time::timeout(budget, turn.clone().acquire_owned())
        .await
        .map_err(|_| SubmitError::Busy)?
        .map_err(|_| SubmitError::Stopped)?;
    let sandbox = sandbox.clone();
    let compiling = tokio::task::spawn_blocking(move || {
        // The turn is held until compiling ends, even past the budget: a runaway
        // compilation keeps others waiting, not piling up on blocking threads.
        let _permit = permit;
        let module = sandbox.check(&request.module)?;
        let input = Hash::of(&request.input);
        let spec = spec_hash(&module, &input, &request.capability, &request.limits);
        Ok(Checked {
            request,
            module,
            input,
            spec,
        })
    });
    match tokio::time::timeout(budget, compiling).await {
        Ok(Ok(checked)) => checked,
        Ok(Err(_)) => Err(SubmitError::Stopped),
        Err(_) => Err(SubmitError::Module(SandboxError::CompileTimeout(
            budget.as_secs(),
        ))),
    }
}

/// What the gateway and the embedding program can ask of the node.
pub enum Command {
    Submit(Box<Checked>, oneshot::Sender<JobId>),
    FindWorkers {
        capability: String,
        count: usize,
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    Peers(oneshot::Sender<Vec<PeerInfo>>),
    Job(JobId, oneshot::Sender<Option<ClientJob>>),
    Jobs(oneshot::Sender<Vec<JobSummary>>),
    Dial(Multiaddr),
}

/// A job as `GET /v1/jobs` lists it.
#[derive(Clone, Debug, Serialize)]
pub struct JobSummary {
    pub job_id: JobId,
    pub status: JobStatus,
    pub capability: String,
    pub created_ms: u64,
    pub completed_ms: Option<u64>,
}

impl From<&ClientJob> for JobSummary {
    fn from(job: &ClientJob) -> Self {
        Self {
            job_id: job.id,
            status: job.status,
            capability: job.capability.clone(),
            created_ms: job.created_ms,
            completed_ms: job.completed_ms,
        }
    }
}

/// A peer as `/v1/peers` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct PeerInfo {
    pub peer_id: PeerId,
    pub connected: bool,
    pub addrs: Vec<Multiaddr>,
    pub agent: Option<String>,
    pub capabilities: Vec<String>,
    pub gossip_score: Option<f64>,
    pub strikes: u64,
    pub banned: bool,
    /// The account and stake the chain backs it with, once verified.
    pub backer: Option<Backer>,
}

/// What happened in a node, as it happens, for programs that embed it.
#[derive(Clone, Debug)]
pub enum NodeEvent {
    /// This node published the announcement of its job.
    Announced { job: JobId, at: Instant },
    /// This node, as a worker for the job's capability, received its announcement.
    Heard { job: JobId, at: Instant },
    /// A job this node submitted completed or failed.
    Settled {
        job: JobId,
        status: JobStatus,
        at: Instant,
    },
    /// Every escrow slot of a job this node submitted is settled on chain.
    SettledOnChain { job: JobId, slots: Vec<SlotReport> },
    /// This node, as a worker, submitted its result for a job on chain.
    SubmittedOnChain { job: JobId, escrow_id: u64 },
    /// This node, as a worker, finalized its slot after the challenge window: it was paid
    /// without the client's acceptance.
    FinalizedOnChain { job: JobId, escrow_id: u64 },
    /// This node, as a worker, was paid for `jobs` from their clients' deposits, `amount` in
    /// all before fees, by the batch in transaction `tx_hash`.
    BatchSettled {
        tx_hash: String,
        jobs: Vec<JobId>,
        amount: u128,
    },
    /// A slot an earlier run of this client left unsettled is settled now.
    Recovered(SlotReport),
    /// This node, as an arbitrator, voted on a dispute.
    Voted { dispute_id: u64, worker_right: bool },
}

/// State the node shares with its gateway and its handle.
pub struct Shared {
    pub peer_id: PeerId,
    /// The latest chain-checked reputation record of each worker account heard of.
    pub reputation: Mutex<HashMap<[u8; 32], protocol::ReputationUpdate>>,
    pub metrics: Metrics,
    /// When the event loop last ticked.
    pub heartbeat: Heartbeat,
    pub listen_addrs: Mutex<Vec<Multiaddr>>,
    pub commands: mpsc::Sender<Command>,
    pub events: tokio::sync::broadcast::Sender<NodeEvent>,
    pub(super) sandbox: Sandbox,
    /// Turns to compile a submitted module (see [`check`]).
    pub(super) compiling: Arc<tokio::sync::Semaphore>,
}

impl Shared {
    /// Events from now on. A receiver that falls more than 4096 events behind misses
    /// the oldest.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    pub(super) fn emit(&self, event: NodeEvent) {
        let _ = self.events.send(event);
    }

    /// A job this node submitted, as its event loop holds it now.
    pub async fn job(&self, id: &JobId) -> Option<ClientJob> {
        self.ask(|reply| Command::Job(*id, reply)).await.flatten()
    }

    /// Every job this node submitted, newest first.
    pub async fn jobs(&self) -> Vec<JobSummary> {
        self.ask(Command::Jobs).await.unwrap_or_default()
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(make(tx)).await.ok()?;
        rx.await.ok()
    }

    /// Checks a job off the event loop (see [`check`]), then hands it to the node.
    pub async fn submit(&self, request: JobRequest) -> Result<JobId, SubmitError> {
        let checked = check(&self.sandbox, &self.compiling, request, COMPILE_BUDGET).await?;
        self.ask(|tx| Command::Submit(Box::new(checked), tx))
            .await
            .ok_or(SubmitError::Stopped)
    }

    pub async fn find_workers(&self, capability: &str, count: usize) -> Vec<PeerId> {
        self.ask(|reply| Command::FindWorkers {
            capability: capability.into(),
            count,
            reply,
        })
        .await
        .unwrap_or_default()
    }

    pub async fn peers(&self) -> Vec<PeerInfo> {
        self.ask(Command::Peers).await.unwrap_or_default()
    }
}

/// A running node.
pub struct NodeHandle {
    pub shared: Arc<Shared>,
    pub(super) task: tokio::task::JoinHandle<()>,
    pub(super) stop: CancellationToken,
}

/// How long [`NodeHandle::shutdown`] waits for the event loop before aborting it.
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(2);

impl NodeHandle {
    pub fn peer_id(&self) -> PeerId {
        self.shared.peer_id
    }

    /// The listen addresses, each with the `/p2p/` suffix others dial.
    pub fn addrs(&self) -> Vec<Multiaddr> {
        self.shared
            .listen_addrs
            .lock()
            .expect("addrs lock")
            .iter()
            .map(|a| a.clone().with(Protocol::P2p(self.peer_id())))
            .collect()
    }

    /// Stops the node at once, as a crash would: connections drop, nothing is said.
    pub fn kill(&self) {
        self.task.abort();
    }

    /// Stops the node: the event loop finishes what it is handling and ends, its
    /// connections close, and its settlement stops with it. A loop that does not end
    /// within [`SHUTDOWN_WAIT`] is aborted.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if tokio::time::timeout(SHUTDOWN_WAIT, &mut self.task)
            .await
            .is_err()
        {
            tracing::warn!("the node did not stop within {SHUTDOWN_WAIT:?}; aborting it");
        }
    }

    /// Waits for the node's task to end (it ends when killed or shut down).
    pub async fn join(&mut self) {
        let _ = (&mut self.task).await;
    }
}

impl Drop for NodeHandle {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::workloads;

    fn request(module: Vec<u8>) -> JobRequest {
        JobRequest {
            module,
            input: vec![1, 2, 3],
            capability: "wasm".into(),
            redundancy: 2,
            reward: 5,
            limits: JobLimits::default(),
            deadline: Duration::from_secs(60),
        }
    }

    #[tokio::test]
    async fn a_submission_is_checked_off_the_loop_within_a_budget_and_one_at_a_time() {
        let sandbox = Sandbox::new().unwrap();
        let turn = Arc::new(tokio::sync::Semaphore::new(COMPILING_AT_ONCE));
        let matmul = workloads::compile(workloads::MATMUL);

        let checked = check(&sandbox, &turn, request(matmul.clone()), COMPILE_BUDGET)
            .await
            .unwrap();
        assert_eq!(checked.module, Hash::of(&matmul));
        assert_eq!(checked.input, Hash::of(&[1, 2, 3]));
        let limits = JobLimits::default();
        assert_eq!(
            checked.spec,
            spec_hash(&checked.module, &checked.input, "wasm", &limits)
        );

        // Compiling that outlasts the budget is refused as the module's fault.
        let fresh = Sandbox::new().unwrap();
        let timed_out = check(&fresh, &turn, request(matmul.clone()), Duration::ZERO).await;
        assert!(matches!(
            timed_out,
            Err(SubmitError::Module(SandboxError::CompileTimeout(0)))
        ));

        // While another submission holds the turn, a second one waits, then is turned away.
        let held = turn.clone().acquire_owned().await.unwrap();
        let busy = check(
            &sandbox,
            &turn,
            request(matmul.clone()),
            Duration::from_millis(50),
        )
        .await;
        assert!(matches!(busy, Err(SubmitError::Busy)), "{busy:?}");
        drop(held);
        assert!(check(&sandbox, &turn, request(matmul), COMPILE_BUDGET)
            .await
            .is_ok());

        // Bad fields are refused before any compiling.
        let mut bad = request(b"not even wasm".to_vec());
        bad.redundancy = 0;
        assert!(matches!(
            check(&sandbox, &turn, bad, COMPILE_BUDGET).await,
            Err(SubmitError::Invalid {
                field: "redundancy",
                ..
            })
        ));
    }
}
