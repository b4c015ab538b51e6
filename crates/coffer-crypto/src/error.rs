//! The one error type of this crate.

/// Everything that can go wrong while sealing or opening.
///
/// None of these carries key bytes or plaintext. The S3 layer decides which AWS error each
/// becomes; as a rule [`CryptoError::Tampered`] on an SSE-C key means the customer supplied the
/// wrong key (403 `AccessDenied`), and on object data means stored data was corrupted or altered
/// (500 `InternalError`, never a partial body).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// AES-GCM authentication failed: the key is wrong, or the ciphertext, tag, header, additional
    /// data, segment position or final flag differs from what was sealed. No plaintext is
    /// returned (aws-lc also wipes the buffer it decrypted into).
    #[error("authentication failed: wrong key, or the sealed data was altered")]
    Tampered,
    /// A part header or sealed key is malformed: bad magic, wrong length or an unsupported
    /// segment size.
    #[error("malformed header")]
    BadHeader,
    /// A part header or sealed key names a format version this build does not know.
    #[error("unsupported format version {0}")]
    UnsupportedVersion(u8),
    /// A part header names an algorithm this build does not know.
    #[error("unsupported algorithm {0}")]
    UnsupportedAlgorithm(u8),
    /// An input has the wrong length: a key that is not 32 bytes, a sealed key of the wrong size,
    /// a blob whose size does not match its plaintext size, or a sealed segment of impossible size.
    #[error("input has the wrong length")]
    WrongLength,
    /// A plaintext byte range is empty, reversed, or reaches past the end of the part.
    #[error("byte range is empty or outside the part")]
    BadRange,
    /// A part would exceed [`crate::MAX_PART_LEN`] (2^32 segments, where the segment index of the
    /// nonce would wrap).
    #[error("part exceeds the maximum sealed part size")]
    PartTooLarge,
    /// The operating system's random number generator failed; nothing was sealed.
    #[error("the system random number generator failed")]
    RandomUnavailable,
}
