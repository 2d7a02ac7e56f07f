//! [`KeyError`]: what can go wrong with the key directory, a key file or a signature.

use std::path::PathBuf;

use super::KeyAlgorithm;

/// A key directory problem. The message names the file and never contains key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The directory or a file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is not an acceptable private key.
    #[error("{path}: {problem}")]
    Invalid {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// Key generation failed.
    #[error("{0} key generation failed")]
    Generate(KeyAlgorithm),
    /// There is no key to sign with.
    #[error("no signing key loaded")]
    NoKey,
    /// The signature operation failed.
    #[error("signing failed")]
    Sign,
}
