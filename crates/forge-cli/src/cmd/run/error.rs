//! [`RunError`]: why `forge run` found nothing to run, with its hints
//! (apart from the command, so that the CLI's error output can name it).

use std::borrow::Cow;
use std::path::PathBuf;

/// Why `forge run` found nothing to run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A recipe with no recorded output of its last build.
    #[error("{recipe} has not been built in the store at {root}")]
    NotBuilt { recipe: PathBuf, root: PathBuf },
    /// No `-- CMD` and no `bin/` programs to choose from.
    #[error("{path} has no programs in bin/ to run")]
    NoProgram { path: String, what: PathBuf },
    /// No `-- CMD` and several `bin/` programs.
    #[error("{path}/bin has {} programs ({}); forge run does not know which one to run", .programs.len(), .programs.join(", "))]
    SeveralPrograms {
        path: String,
        what: PathBuf,
        programs: Vec<String>,
    },
}

impl forge_core::diag::Hint for RunError {
    fn hint(&self) -> Option<Cow<'_, str>> {
        Some(match self {
            RunError::NotBuilt { recipe, .. } => format!(
                "build it first: `forge build {}` (forge run does not build)",
                recipe.display()
            )
            .into(),
            RunError::NoProgram { what, .. } => format!(
                "name the command to run: `forge run {} -- CMD ARGS…`",
                what.display()
            )
            .into(),
            RunError::SeveralPrograms { what, programs, .. } => format!(
                "name the one to run: `forge run {} -- {} ARGS…`",
                what.display(),
                programs.first().map(String::as_str).unwrap_or("CMD")
            )
            .into(),
        })
    }
}
