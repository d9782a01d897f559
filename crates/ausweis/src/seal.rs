//! Sealing a value under a key that only the browser holds.
//!
//! A redemption link must keep the ticket secret until the ticket is checked
//! in, but the store should never hold it in a usable form. The link's key
//! in the store is a hash of a random browser cookie, and the secret is
//! sealed with AES-256-GCM under a key derived from that same cookie: the
//! store alone cannot open it, and neither can anyone who reads the store
//! after the cookie is gone.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::secret::Secret;
use crate::{Error, Result};

/// Bytes of a GCM nonce (NIST SP 800-38D recommends 96 bits).
const NONCE_BYTES: usize = 12;

fn cipher(cookie: &Secret) -> Result<Aes256Gcm> {
    // The cookie holds 256 random bits, so one domain-separated hash is a
    // sound key derivation (no stretching is needed for full-entropy input).
    let key = Zeroizing::new(
        Sha256::new()
            .chain_update(b"ausweis redemption seal\0")
            .chain_update(cookie.expose().as_bytes())
            .finalize(),
    );
    Aes256Gcm::new_from_slice(key.as_slice()).map_err(|_| Error::Internal("seal key".into()))
}

/// Seals `value`, bound to `context` (the link's random id), with a fresh
/// random nonce; returns base64url text.
pub fn seal(cookie: &Secret, context: &str, value: &Secret) -> Result<String> {
    let mut nonce = [0u8; NONCE_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let sealed = cipher(cookie)?
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: value.expose().as_bytes(),
                aad: context.as_bytes(),
            },
        )
        .map_err(|_| Error::Internal("seal".into()))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Ok(URL_SAFE_NO_PAD.encode(out))
}

/// Opens what [`seal`] made with the same cookie and context; `None` if
/// it does not open (another cookie, another context, or tampered).
pub fn open(cookie: &Secret, context: &str, sealed: &str) -> Result<Option<Secret>> {
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(sealed) else {
        return Ok(None);
    };
    if bytes.len() < NONCE_BYTES {
        return Ok(None);
    }
    let (nonce, body) = bytes.split_at(NONCE_BYTES);
    let plain = cipher(cookie)?.decrypt(
        Nonce::from_slice(nonce),
        Payload {
            msg: body,
            aad: context.as_bytes(),
        },
    );
    Ok(plain
        .ok()
        .map(Zeroizing::new)
        .and_then(|p| String::from_utf8(p.to_vec()).ok())
        .map(Secret::new))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_value_opens_only_with_its_cookie_and_context() -> Result<()> {
        let cookie = Secret::new("c".repeat(43));
        let value = Secret::new("ticketsecret123".into());
        let sealed = seal(&cookie, "rid1", &value)?;
        assert!(!sealed.contains("ticketsecret123"));
        assert_eq!(open(&cookie, "rid1", &sealed)?, Some(value.clone()));
        assert_eq!(open(&Secret::new("d".repeat(43)), "rid1", &sealed)?, None);
        assert_eq!(open(&cookie, "rid2", &sealed)?, None);
        assert_eq!(open(&cookie, "rid1", "bm9wZQ")?, None);
        assert_ne!(seal(&cookie, "rid1", &value)?, sealed);
        Ok(())
    }
}
