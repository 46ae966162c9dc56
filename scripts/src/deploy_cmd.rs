//! `ciro contracts deploy`: the deploy routine of `ciro-bindings` with a progress bar and a
//! summary.

use std::path::Path;

use ciro_bindings::deploy::{Deploy, Progress};
use ciro_bindings::units::format_tokens;
use ciro_bindings::{Chain, DeployConfig};
use indicatif::{ProgressBar, ProgressStyle};

use crate::net::NetworkArgs;

/// Deploys (or, with `dry_run`, estimates) the suite on the network `net` names, writing
/// the manifest under `root`.
pub async fn run(
    net: &NetworkArgs,
    root: &Path,
    config: Option<DeployConfig>,
    dry_run: bool,
) -> anyhow::Result<std::process::ExitCode> {
    let network = net.network()?;
    let manifest = net.manifest_path(root, &network);
    let chain = Chain::connect(&network.url).await?;
    let account = net.signer(&chain).await?;
    println!(
        "{} the CIRO suite on {} ({}, chain {}) -> {}",
        if dry_run { "estimating" } else { "deploying" },
        network.name,
        network.url,
        chain.chain_name(),
        manifest.display()
    );

    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let mut lines = Vec::new();
    let deploy = Deploy {
        chain: &chain,
        account: &account,
        network: network.name.clone(),
        config,
        dry_run,
    };
    let report = deploy
        .run(&manifest, |event| match event {
            Progress::Planned { total } => bar.set_length(total as u64),
            Progress::Started { label } => bar.set_message(label),
            Progress::Skipped { label } => {
                bar.inc(1);
                lines.push(format!("  done already   {label}"));
            }
            Progress::Sent { label, receipt } => {
                bar.inc(1);
                lines.push(format!(
                    "  sent           {label}: tx {:#x}, block {}, fee {} STRK, L2 gas {}",
                    receipt.hash,
                    receipt.block,
                    format_tokens(receipt.fee),
                    receipt.l2_gas
                ));
            }
            Progress::Estimated { label, fee } => {
                bar.inc(1);
                lines.push(match fee {
                    Ok(fee) => format!(
                        "  would send     {label}: about {} STRK",
                        format_tokens(fee)
                    ),
                    Err(why) => format!("  would send     {label}: fee unknown ({why})"),
                });
            }
        })
        .await;
    bar.finish_and_clear();
    for line in &lines {
        println!("{line}");
    }
    let report = report?;
    // Deploy refuses a one-person court on any other network; a devnet keeps the
    // convenient defaults, said out loud.
    if let Some(why) = &report.devnet_only {
        println!("devnet only: {why}; a deploy to any other network refuses this");
    }
    if dry_run {
        let known: u128 = report
            .estimates
            .iter()
            .filter_map(|(_, fee)| fee.as_ref().ok())
            .sum();
        println!(
            "dry run: {} steps to send, {} STRK estimated for those that can be estimated now; nothing sent",
            report.estimates.len(),
            format_tokens(known)
        );
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let fees: u128 = report.sent.iter().map(|(_, r)| r.fee).sum();
    println!(
        "{} transactions sent ({} STRK); manifest {}",
        report.sent.len(),
        format_tokens(fees),
        manifest.display()
    );
    for (name, contract) in &report.deployment.contracts {
        println!("  {name:<11} {:#x}", contract.address);
    }
    // Who holds each governance role on every contract (see the README's Trust section).
    let config = &report.deployment.config;
    let owner = config.owner.unwrap_or(report.deployment.deployer);
    println!("roles on every contract (the owner {owner:#x} grants and revokes them):");
    for (role, holder) in config.roles.resolved(owner) {
        let note = if holder == owner { " (the owner)" } else { "" };
        println!("  {role:<16} {holder:#x}{note}");
    }
    if let Some(owner) = report
        .deployment
        .config
        .owner
        .filter(|&owner| owner != report.deployment.deployer)
    {
        println!(
            "ownership: {owner:#x} is named owner of every contract; it takes them over with `ciro contracts accept-ownership` (until then the deployer still owns them)"
        );
    }
    Ok(std::process::ExitCode::SUCCESS)
}
