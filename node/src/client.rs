//! A client of a node's HTTP gateway: what `ciro job submit` uses to hand a job to a node
//! and follow it until it settles.

use std::{path::Path, time::Duration};

use anyhow::Context;
use base64::{engine::general_purpose::STANDARD, Engine};
use serde_json::{json, Value};
use url::Url;

/// A job as the CLI reads it from files and flags.
#[derive(Clone, Debug)]
pub struct Submission {
    pub module: Vec<u8>,
    pub input: Vec<u8>,
    pub capability: String,
    pub redundancy: u8,
    pub reward: u128,
    pub fuel: Option<u64>,
    pub memory_bytes: Option<u32>,
    pub timeout_ms: Option<u32>,
    pub deadline_secs: u64,
}

/// Reads a module file: binary Wasm as it is, WebAssembly text compiled to binary.
pub fn read_module(path: &Path) -> anyhow::Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if bytes.starts_with(b"\0asm") {
        return Ok(bytes);
    }
    wat::parse_bytes(&bytes)
        .map(|b| b.into_owned())
        .map_err(|e| {
            anyhow::anyhow!(
                "{} is neither binary Wasm nor WebAssembly text: {e}",
                path.display()
            )
        })
}

/// A snapshot of a job, as the gateway reports it.
#[derive(Clone, Debug)]
pub struct Progress {
    pub status: String,
    pub bids: usize,
    pub assigned: usize,
    pub delivered: usize,
    pub body: Value,
}

impl Progress {
    fn from(body: Value) -> Self {
        let count = |key: &str, state: Option<&str>| {
            body[key].as_array().map_or(0, |items| {
                items
                    .iter()
                    .filter(|i| state.is_none_or(|s| i["state"] == s))
                    .count()
            })
        };
        Self {
            status: body["status"].as_str().unwrap_or("unknown").to_owned(),
            bids: count("bids", None),
            assigned: count("assignments", None),
            delivered: count("assignments", Some("delivered")),
            body,
        }
    }

    pub fn settled(&self) -> bool {
        matches!(self.status.as_str(), "completed" | "failed")
    }
}

/// A gateway's client.
pub struct Gateway {
    base: Url,
    http: reqwest::Client,
}

async fn answer(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .context("reading the gateway's answer")?;
    if !status.is_success() {
        let field = body["field"]
            .as_str()
            .map(|f| format!(" ({f})"))
            .unwrap_or_default();
        anyhow::bail!(
            "the node refused: {}{field} [{status}]",
            body["error"].as_str().unwrap_or("?")
        );
    }
    Ok(body)
}

impl Gateway {
    pub fn new(base: Url) -> Self {
        Self {
            base,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("an HTTP client builds"),
        }
    }

    fn url(&self, path: &str) -> Url {
        self.base.join(path).expect("static paths join")
    }

    /// Submits a job; returns its id.
    pub async fn submit(&self, job: &Submission) -> anyhow::Result<String> {
        let body = json!({
            "module": STANDARD.encode(&job.module),
            "input": STANDARD.encode(&job.input),
            "capability": job.capability,
            "redundancy": job.redundancy,
            "reward": job.reward.to_string(),
            "fuel": job.fuel,
            "memory_bytes": job.memory_bytes,
            "timeout_ms": job.timeout_ms,
            "deadline_secs": job.deadline_secs,
        });
        let response = self
            .http
            .post(self.url("v1/jobs"))
            .json(&body)
            .send()
            .await
            .with_context(|| format!("reaching the node at {}", self.base))?;
        let answer = answer(response).await?;
        answer["job_id"]
            .as_str()
            .map(str::to_owned)
            .context("the node's answer has no job_id")
    }

    pub async fn job(&self, id: &str) -> anyhow::Result<Progress> {
        let response = self
            .http
            .get(self.url(&format!("v1/jobs/{id}")))
            .send()
            .await
            .with_context(|| format!("reaching the node at {}", self.base))?;
        Ok(Progress::from(answer(response).await?))
    }

    /// Polls the job until it settles, calling `progress` on every change.
    pub async fn wait(
        &self,
        id: &str,
        mut progress: impl FnMut(&Progress),
    ) -> anyhow::Result<Progress> {
        let mut last = None;
        loop {
            let now = self.job(id).await?;
            let key = (now.status.clone(), now.bids, now.assigned, now.delivered);
            if last.as_ref() != Some(&key) {
                progress(&now);
                last = Some(key);
            }
            if now.settled() {
                return Ok(now);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
