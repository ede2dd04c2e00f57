//! `forge shell`: a command (a shell by default) in the exact sandbox of a
//! derivation, on a pty of forge's own when run from a terminal, never the
//! caller's; nothing it does is registered.

use forge_core::derivation::Derivation;
use forge_sandbox::Output;

use crate::error::BuildError;
use crate::graph::Node;
use crate::session::Session;

impl Session<'_> {
    /// Runs `command` (default: a shell) in the sandbox of `drv`; returns
    /// its exit code.
    pub fn run_shell(
        &self,
        node: &Node,
        drv: &Derivation,
        command: &[String],
    ) -> Result<i32, BuildError> {
        let request = self.request(node, drv)?;
        let (_work, staging) = self.staging(&request)?;
        let mut spec = self.local.spec(&request, &self.layout, &staging);
        spec.command = if command.is_empty() {
            // The root layers' /bin/sh, or the first input that has one.
            let from_input = drv
                .inputs
                .values()
                .find(|p| self.layout.physical(p).join("bin/sh").exists())
                .map(|p| format!("{p}/bin/sh"));
            vec![from_input.unwrap_or_else(|| "/bin/sh".into())]
        } else {
            command.to_vec()
        };
        spec.limits.wall_timeout = None;
        spec.limits.silence_timeout = None;
        spec.env
            .insert("PS1".into(), format!("[forge shell {}] $ ", drv.name));
        let outcome = self.local.run(&spec, Output::Terminal, None)?;
        Ok(outcome.exit_code())
    }
}
