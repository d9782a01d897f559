//! Random identifiers from the operating system's generator.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// `n` random bytes as unpadded base64url.
pub fn token(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 of `domain` and `value`, hex-encoded: how secrets and other
/// values that must not be stored verbatim become keys.
pub fn digest_hex(domain: &str, value: &str) -> String {
    let mut h = Sha256::new();
    h.update(domain.as_bytes());
    h.update([0u8]);
    h.update(value.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_requested_entropy_and_differ() {
        let a = token(32);
        assert_eq!(a.len(), 43);
        assert_ne!(a, token(32));
    }

    #[test]
    fn digests_are_separated_by_domain() {
        assert_ne!(digest_hex("a", "bc"), digest_hex("ab", "c"));
        assert_eq!(digest_hex("a", "b").len(), 64);
    }
}
