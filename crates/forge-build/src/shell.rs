//! `forge shell`: a command (a shell by default) in the exact sandbox of a
//! derivation, on a pty of forge's own when run from a terminal, never the
//! caller's; nothing it does is registered.
//!
//! Two things are added to the build's sandbox, both outside what the
//! build sees: the build command, as a script at [`BUILD_SCRIPT`] (read it,
//! or run it to build by hand; the outputs go to the throwaway
//! `/forge/store` as in a build), and a command without a `/`
//! (`forge shell R -- sh`) is looked up on the build's `PATH` as the
//! sandbox has it (its inputs' `bin/`, then the root layers').

use std::path::{Path, PathBuf};

use forge_core::derivation::Derivation;
use forge_core::store_path::STORE_DIR;
use forge_sandbox::{Bind, Output};

use crate::error::BuildError;
use crate::graph::Node;
use crate::request::BuildRequest;
use crate::session::Session;

/// Where `forge shell` puts the recipe's build command, a script.
pub const BUILD_SCRIPT: &str = "/forge-shell/build";

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
        let (work, staging) = self.staging(&request)?;
        let mut spec = self.local.spec(&request, &self.layout, &staging);
        let shell = self
            .find_program(&request, "sh")
            .unwrap_or_else(|| "/bin/sh".into());
        spec.command = match command.split_first() {
            None => vec![shell.clone()],
            Some((program, args)) if !program.contains('/') => {
                let found =
                    self.find_program(&request, program)
                        .ok_or_else(|| BuildError::NotOnPath {
                            program: program.clone(),
                            path: request.env.get("PATH").cloned().unwrap_or_default(),
                        })?;
                std::iter::once(found).chain(args.iter().cloned()).collect()
            }
            Some(_) => command.to_vec(),
        };
        // The build command, as a script the shell can read and run.
        let dir = work.path().join("forge-shell");
        let script = dir.join("build");
        let io = |what: &str, source| BuildError::Io {
            what: format!("{what} {}", script.display()),
            source,
        };
        std::fs::create_dir(&dir).map_err(|e| io("creating", e))?;
        std::fs::write(&script, build_script(&shell, &request)).map_err(|e| io("writing", e))?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o555))
                .map_err(|e| io("setting the mode of", e))?;
        }
        spec.binds.push(Bind {
            host: dir,
            inside: PathBuf::from(Path::new(BUILD_SCRIPT).parent().unwrap_or(Path::new("/"))),
            writable: false,
        });
        spec.limits.wall_timeout = None;
        spec.limits.silence_timeout = None;
        spec.env
            .insert("PS1".into(), format!("[forge shell {}] $ ", drv.name));
        let outcome = self.local.run(&spec, Output::Terminal, None)?;
        Ok(outcome.exit_code())
    }

    /// `program` as the sandbox of `request` finds it on its `PATH`: the
    /// first directory holding it (an input's, read from the store; any
    /// other, from the root layers, first layer first).
    fn find_program(&self, request: &BuildRequest, program: &str) -> Option<String> {
        let path = request.env.get("PATH")?;
        for dir in path.split(':').filter(|d| d.starts_with('/')) {
            let inside = Path::new(dir).join(program);
            let hosts: Vec<PathBuf> = match inside.strip_prefix(STORE_DIR) {
                Ok(rest) => vec![self.layout.store_dir().join(rest)],
                Err(_) => {
                    let rel = inside.strip_prefix("/").unwrap_or(&inside);
                    request
                        .root_layers
                        .iter()
                        .map(|l| self.layout.physical(l).join(rel))
                        .collect()
                }
            };
            if hosts.iter().any(|h| is_executable(h)) {
                return Some(inside.display().to_string());
            }
        }
        None
    }
}

/// Whether `p` (a symlink followed, as long as it stays on the host side)
/// is an executable file. A symlink to an absolute path inside the
/// sandbox (`sh -> /bin/busybox`) counts when its link exists.
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(p) {
        Ok(m) => m.is_file() && m.permissions().mode() & 0o111 != 0,
        Err(_) => std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink()),
    }
}

/// The script at [`BUILD_SCRIPT`]: the build's command, quoted for `sh`.
fn build_script(shell: &str, request: &BuildRequest) -> String {
    let quoted: Vec<String> = request.command.iter().map(|a| sh_quote(a)).collect();
    format!(
        "#!{shell}\n# The build command of {} (derivation {}), as forge runs it.\n# Its outputs go to this shell's throwaway {STORE_DIR}.\nexec {}\n",
        request.name,
        request.action_digest,
        quoted.join(" ")
    )
}

/// `s` as one `sh` word.
fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+=:,@%".contains(&b))
    {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::sh_quote;

    #[test]
    fn words_are_quoted_for_sh() {
        assert_eq!(sh_quote("/bin/sh"), "/bin/sh");
        assert_eq!(sh_quote(""), "''");
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's $x"), r"'it'\''s $x'");
    }
}
