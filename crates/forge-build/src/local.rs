//! [`LocalSandbox`]: the [`Executor`] that runs builds on this host in
//! forge's sandbox (crate `forge-sandbox`; docs/sandbox.md).
//!
//! A [`BuildRequest`] becomes a [`SandboxSpec`]: the staging directory
//! bound writable at `/forge/store`, each path of the input closure bound
//! read-only over it at its own path, the root layers, the request's
//! environment over the sandbox's fixed one, the network (with the host's
//! resolver files) only when asked, the limits. The fetcher and
//! `forge shell` run through the same sandbox with specs of their own.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use forge_core::store_path::STORE_DIR;
use forge_sandbox::{Bind, Enforcement, Outcome, Output, RunOptions, Sandbox, SandboxSpec};
use forge_store::Layout;

use crate::error::BuildError;
use crate::executor::{BuilderStatus, ExecContext, Executor};
use crate::request::BuildRequest;

/// forge's own sandbox on this host.
#[derive(Debug, Clone)]
pub struct LocalSandbox {
    sandbox: Sandbox,
    enforcement: Enforcement,
}

impl LocalSandbox {
    /// Sandboxes run by re-executing `forge_exe` as their monitor.
    pub fn new(forge_exe: PathBuf, enforcement: Enforcement) -> Self {
        LocalSandbox {
            sandbox: Sandbox::new(&forge_exe),
            enforcement,
        }
    }

    /// A spec running `command` with this sandbox's enforcement.
    pub fn spec_for(&self, command: Vec<String>) -> SandboxSpec {
        let mut spec = SandboxSpec::new(command);
        spec.enforcement = self.enforcement;
        spec
    }

    /// The sandbox of `request`, its outputs going to `staging`.
    pub fn spec(&self, request: &BuildRequest, layout: &Layout, staging: &Path) -> SandboxSpec {
        let mut spec = self.spec_for(request.command.clone());
        spec.env
            .extend(request.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        spec.binds.push(Bind {
            host: staging.to_owned(),
            inside: PathBuf::from(STORE_DIR),
            writable: true,
        });
        spec.binds.extend(request.inputs.iter().map(|p| Bind {
            host: layout.physical(p),
            inside: PathBuf::from(p.to_string()),
            writable: false,
        }));
        spec.root_layers = request
            .root_layers
            .iter()
            .map(|p| layout.physical(p))
            .collect();
        if request.network {
            spec.network = true;
            spec.binds.extend(forge_sandbox::spec::network_binds());
        }
        spec.limits.wall_timeout = request.wall_timeout;
        spec.limits.silence_timeout = request.silence_timeout;
        // Each size the recipe leaves out stays the sandbox's own default.
        let build_default = spec.limits.build_size.unwrap_or(spec.limits.tmp_size);
        spec.limits.build_size = Some(request.build_size.unwrap_or(build_default));
        if let Some(n) = request.tmp_size {
            spec.limits.tmp_size = n;
        }
        spec.limits.memory = request.memory;
        if request.build_on_disk {
            spec.build_dir = Some(disk_build_dir(staging));
        }
        spec
    }

    /// Runs `spec`, its output going where `output` says; killed when
    /// `cancel` is set.
    pub fn run(
        &self,
        spec: &SandboxSpec,
        output: Output,
        cancel: Option<Arc<AtomicBool>>,
    ) -> Result<Outcome, BuildError> {
        Ok(self.sandbox.run(spec, RunOptions { output, cancel })?)
    }
}

impl Executor for LocalSandbox {
    fn execute(
        &self,
        request: &BuildRequest,
        ctx: &ExecContext<'_>,
    ) -> Result<BuilderStatus, BuildError> {
        let spec = self.spec(request, ctx.layout, ctx.staging);
        let outcome = self.run(
            &spec,
            Output::Capture(Box::new(ctx.log.clone())),
            Some(ctx.cancel.clone()),
        )?;
        status_of(&outcome)
    }
}

/// The `/build` of a `build-dir = "disk"` build: beside its staging
/// directory, in the build's scratch directory (removed with it).
pub(crate) fn disk_build_dir(staging: &Path) -> PathBuf {
    staging.with_file_name("build")
}

/// How the sandbox's outcome reads as a builder status.
pub(crate) fn status_of(outcome: &Outcome) -> Result<BuilderStatus, BuildError> {
    if outcome.cancelled {
        return Err(BuildError::Interrupted);
    }
    Ok(if outcome.code == Some(0) {
        BuilderStatus::Success
    } else if outcome.out_of_memory {
        BuilderStatus::OutOfMemory
    } else if outcome.timed_out {
        BuilderStatus::TimedOut
    } else if outcome.silent_too_long {
        BuilderStatus::SilentTooLong
    } else if let Some(c) = outcome.code {
        BuilderStatus::Failed(c)
    } else {
        BuilderStatus::Killed(outcome.signal.unwrap_or(0))
    })
}
