//! The name of a derivation's output (`out`, `dev`, `lib`, …), validated.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::recipe::parse_helpers::is_output_name;
use crate::recipe::DEFAULT_OUTPUT;

/// An output name: a lowercase letter, then lowercase letters, digits or
/// `_` (the rule recipes are checked against). It is part of the output's
/// store name and of the realisation key `(action digest, output)`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OutputName(String);

/// A string that is not a valid output name.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid output name {name:?} (a lowercase letter, then lowercase letters, digits or _)")]
pub struct OutputNameError {
    /// The rejected string.
    pub name: String,
}

impl OutputName {
    /// Checks `name`.
    pub fn new(name: &str) -> Result<Self, OutputNameError> {
        if is_output_name(name) {
            Ok(OutputName(name.to_owned()))
        } else {
            Err(OutputNameError {
                name: name.to_owned(),
            })
        }
    }

    /// The default output, `out`.
    pub fn out() -> Self {
        OutputName(DEFAULT_OUTPUT.to_owned())
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OutputName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for OutputName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OutputName({:?})", self.0)
    }
}

impl FromStr for OutputName {
    type Err = OutputNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OutputName::new(s)
    }
}

impl TryFrom<String> for OutputName {
    type Error = OutputNameError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        OutputName::new(&s)
    }
}

impl From<OutputName> for String {
    fn from(o: OutputName) -> String {
        o.0
    }
}

impl AsRef<str> for OutputName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_recipes_accept_and_nothing_else() {
        for ok in ["out", "dev", "lib32", "man_pages"] {
            assert_eq!(OutputName::new(ok).unwrap().as_str(), ok);
        }
        for bad in ["", "Out", "1out", "dev-doc", "a b", "_x"] {
            assert!(OutputName::new(bad).is_err(), "{bad:?}");
        }
        assert_eq!(OutputName::out().as_str(), "out");
    }
}
