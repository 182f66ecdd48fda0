//! The Landlock ruleset of a confined child.

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, NetPort, Ruleset, RulesetAttr,
    RulesetCreated, RulesetCreatedAttr, Scope, path_beneath_rules,
};

use super::ConfinementPolicy;
use crate::error::{Result, SandboxError};

/// The newest ABI whose rights we request; older kernels get a best-effort subset.
pub(crate) const TARGET_ABI: ABI = ABI::V6;

/// Builds (in the parent) the ruleset for `policy`.
pub(crate) fn ruleset(policy: &ConfinementPolicy) -> Result<RulesetCreated> {
    build(policy).map_err(|e| SandboxError::Confinement {
        layer: "landlock",
        reason: e.to_string(),
    })
}

fn build(
    policy: &ConfinementPolicy,
) -> std::result::Result<RulesetCreated, landlock::RulesetError> {
    let abi = TARGET_ABI;
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(abi))?
        .scope(Scope::from_all(abi))?;
    if !policy.network {
        ruleset = ruleset.handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp)?;
    }
    let read: Vec<std::path::PathBuf> = match &policy.read_paths {
        Some(paths) => paths.clone(),
        None => vec!["/".into()],
    };
    let mut created = ruleset.create()?;
    if !policy.network {
        for port in &policy.connect_ports {
            created = created.add_rule(NetPort::new(*port, AccessNet::ConnectTcp))?;
        }
    }
    let created = created
        .add_rules(path_beneath_rules(
            existing(&read),
            AccessFs::from_read(abi),
        ))?
        .add_rules(path_beneath_rules(
            existing(&policy.write_paths),
            AccessFs::from_all(abi),
        ))?
        // Programs write to /dev/null all the time; it discards, so it cannot leak.
        .add_rules(path_beneath_rules(
            existing(&["/dev/null".into()]),
            AccessFs::from_all(abi),
        ))?;
    Ok(created)
}

/// Paths that exist; a missing read path is not an error (e.g. no /usr/local).
fn existing(paths: &[std::path::PathBuf]) -> Vec<std::path::PathBuf> {
    paths.iter().filter(|p| p.exists()).cloned().collect()
}
