//! The errors of `forge key` that carry a hint (apart from the command so
//! that `output`, which renders hints, need not import the command).

use std::path::PathBuf;

use thiserror::Error;

/// A secret key file that cannot be written or read as asked.
#[derive(Debug, Error)]
pub enum KeyFileError {
    /// `generate` without `--force` over an existing file.
    #[error("{} already exists; not overwriting a key file", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
}

impl forge_core::diag::Hint for KeyFileError {
    fn hint(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            KeyFileError::Exists { .. } => Some(
                "choose another file, or pass --force to replace it (whatever it signed will need the new key)"
                    .into(),
            ),
        }
    }
}
