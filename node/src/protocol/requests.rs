//! Requests and responses, one peer to another: bids, assignments, blob fetches, result
//! commits and payloads, framed by [`JobCodec`].

use super::*;

/// A worker's offer for a job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bid {
    pub job_id: JobId,
    pub price: u128,
    pub eta_ms: u32,
    /// What the worker says it has staked; the client checks it against its own source.
    pub stake_claim: u128,
    pub reputation_claim_ppm: u32,
    /// The account behind the worker; a client that settles on chain ignores bids
    /// without one.
    pub backing: Option<Backing>,
    /// The worker's signed agreement to escrow terms; a client that settles on chain
    /// cannot assign the worker without one.
    pub consent: Option<Consent>,
}

/// A worker's signed consent to an escrow job (the `Bid` of `ciro_bindings::bid`): the
/// least reward, the most collateral and the time its result is due on chain. The spec hash
/// is the job id's felt and the signer is the backing account, so neither travels here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub price: u128,
    pub collateral: u128,
    /// Unix seconds.
    pub deadline: u64,
    /// Unix seconds (chain time) after which it cannot be used.
    pub expiry: u64,
    /// A felt, big-endian.
    pub nonce: [u8; 32],
    /// The account's signature (felts, big-endian).
    pub signature: Vec<[u8; 32]>,
}

impl Consent {
    pub(super) fn check(&self) -> Result<(), WireError> {
        check_signature(&self.signature)
    }
}

/// The client's choice of a worker, with what it needs to fetch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub job_id: JobId,
    pub module: Hash,
    pub input: Hash,
    pub limits: Limits,
    /// Unix milliseconds by which the result must be committed.
    pub deadline_ms: u64,
}

/// The result's hash, sent before the result itself, so a worker cannot copy another's,
/// with the salt of the worker's on-chain commitment to it: the client checks that the
/// escrow job's commitment opens to this result (`ciro_bindings::commitment`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultCommit {
    pub job_id: JobId,
    pub result: Hash,
    pub fuel_used: u64,
    /// A felt, big-endian.
    pub salt: [u8; 32],
}

/// A client's signed acceptance of the receiving worker's result, paid from the client's
/// deposit by a batch (`ciro_bindings::acceptance`). The worker is the receiver's account
/// and the spec hash the job id's felt, so neither travels here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    pub job_id: JobId,
    /// The client's account (a felt, big-endian): it pays and it signed.
    pub client: [u8; 32],
    /// The capability's felt.
    pub capability: [u8; 32],
    pub amount: u128,
    pub fee_bps: u16,
    /// The worker's commitment to the accepted result (a felt, big-endian).
    pub commitment: [u8; 32],
    /// A felt, big-endian.
    pub nonce: [u8; 32],
    /// The client account's signature (felts, big-endian).
    pub signature: Vec<[u8; 32]>,
}

impl Accepted {
    pub(super) fn check(&self) -> Result<(), WireError> {
        check_signature(&self.signature)
    }
}

/// A direct request from one peer to another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Worker → client.
    Bid(Bid),
    /// Client → worker.
    Assign(Assignment),
    /// Worker → client: a module or an input of a job the worker is assigned.
    Fetch { job_id: JobId, hash: Hash },
    /// Worker → client.
    Commit(ResultCommit),
    /// Worker → client, after its commit was acknowledged: the output, or the
    /// deterministic failure (out of fuel, a trap) the run ended in.
    Result {
        job_id: JobId,
        output: Vec<u8>,
        error: Option<String>,
    },
    /// Client → worker: the assignment is on chain as escrow job `escrow_id`, where the
    /// worker submits its result hash.
    Escrowed { job_id: JobId, escrow_id: u64 },
    /// Client → worker: the worker's result is accepted, paid from the client's deposit.
    Accepted(Accepted),
    /// Never sent: what the codec hands the node in place of a frame it refused, so the
    /// node can answer it and count it against the sender.
    #[serde(skip)]
    Refused(WireError),
}

impl Request {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Bid(_) => "bid",
            Self::Assign(_) => "assign",
            Self::Fetch { .. } => "fetch",
            Self::Commit(_) => "commit",
            Self::Result { .. } => "result",
            Self::Escrowed { .. } => "escrowed",
            Self::Accepted(_) => "accepted",
            Self::Refused(_) => "refused",
        }
    }

    pub(super) fn check(&self) -> Result<(), WireError> {
        match self {
            Self::Assign(a) => a.limits.check(),
            Self::Accepted(a) => a.check(),
            Self::Bid(bid) => {
                if let Some(b) = &bid.backing {
                    b.check()?;
                }
                if let Some(c) = &bid.consent {
                    c.check()?;
                }
                Ok(())
            }
            Self::Result { error: Some(e), .. } if e.len() > 1024 => {
                Err(WireError::Invalid("error message too long"))
            }
            Self::Result { output, .. } if output.len() > MAX_BLOB_BYTES => {
                Err(WireError::TooLarge {
                    size: output.len(),
                    limit: MAX_BLOB_BYTES,
                })
            }
            _ => Ok(()),
        }
    }
}

/// Why a request was turned down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    UnknownJob,
    NotAssigned,
    Closed,
    Busy,
    RateLimited,
    HashMismatch,
    NoCommit,
    BadRequest,
    /// The chain does not back the sender: no stake, not active, or not registered for
    /// the capability.
    Unbacked,
    /// The bid carries no signed consent to the escrow terms the client asks (reward,
    /// collateral, deadline), so the worker cannot be assigned on chain.
    Unconsented,
    /// The client's deposit cannot pay the job.
    Unfunded,
}

/// The answer to a [`Request`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    Ack,
    Blob(Vec<u8>),
    Refused(Refusal),
    /// A bid taken by a client that pays from its deposit: the account that pays, bound to
    /// the client's peer id, so the worker can check the deposit before it runs anything.
    Payer(Backing),
}

/// Decodes and checks one response frame.
pub fn decode_response(bytes: &[u8]) -> Result<Response, WireError> {
    let response: Response = decode(bytes)?;
    if let Response::Payer(backing) = &response {
        backing.check()?;
    }
    Ok(response)
}

/// Frames requests and responses as a 4-byte big-endian length and a postcard body.
/// A length above [`MAX_FRAME_BYTES`] is refused before anything is read.
#[derive(Clone, Copy, Debug, Default)]
pub struct JobCodec;

/// Reads one frame. A length above the limit is refused before the body is read.
pub(super) async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME_BYTES {
        return Err(invalid(WireError::TooLarge {
            size: len,
            limit: MAX_FRAME_BYTES,
        }));
    }
    let mut buf = Vec::with_capacity(len.min(64 * 1024));
    io.take(len as u64).read_to_end(&mut buf).await?;
    if buf.len() != len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(buf)
}

pub(super) async fn write_frame<T: AsyncWrite + Unpin + Send, M: Serialize>(
    io: &mut T,
    message: &M,
) -> io::Result<()> {
    let body = postcard::to_stdvec(message).map_err(io::Error::other)?;
    if body.len() > MAX_FRAME_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            WireError::TooLarge {
                size: body.len(),
                limit: MAX_FRAME_BYTES,
            },
        ));
    }
    io.write_all(&(body.len() as u32).to_be_bytes()).await?;
    io.write_all(&body).await?;
    io.close().await
}

pub(super) fn invalid(e: WireError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Decodes and checks one request frame.
pub fn decode_request(bytes: &[u8]) -> Result<Request, WireError> {
    let request: Request = decode(bytes)?;
    request.check()?;
    Ok(request)
}

impl libp2p::request_response::Codec for JobCodec {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = Response;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Request> {
        // A refused frame still reaches the node, which answers it and penalizes the
        // sender; libp2p would otherwise drop the stream without telling anyone.
        let frame = match read_frame(io).await {
            Ok(frame) => frame,
            Err(e) => match e.get_ref().and_then(|e| e.downcast_ref::<WireError>()) {
                Some(wire) => return Ok(Request::Refused(wire.clone())),
                None => return Err(e),
            },
        };
        Ok(decode_request(&frame).unwrap_or_else(Request::Refused))
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Response> {
        decode_response(&read_frame(io).await?).map_err(invalid)
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Request,
    ) -> io::Result<()> {
        if let Request::Refused(e) = request {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, e));
        }
        write_frame(io, &request).await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Response,
    ) -> io::Result<()> {
        write_frame(io, &response).await
    }
}

/// The frame a well-behaved peer would send for `request`; tests and tools use it to build
/// hostile variants.
pub fn encode_request(request: &Request) -> Vec<u8> {
    postcard::to_stdvec(request).expect("requests always encode")
}
