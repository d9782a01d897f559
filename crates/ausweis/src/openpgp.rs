//! OpenPGP keys of accounts (RFC 9580), made with rpgp.
//!
//! An account's public key is kept; a private key made here is handed to
//! the member once, protected with their password, and never stored.

use pgp::composed::{
    ArmorOptions, CleartextSignedMessage, Deserializable, DetachedSignature, EncryptionCaps,
    KeyType, SecretKeyParamsBuilder, SignedPublicKey, SubkeyParamsBuilder,
};
use pgp::crypto::ecc_curve::ECCCurve;
use pgp::packet::{KeyFlags, Signature, SignatureType};
use pgp::types::{KeyDetails, VerifyingKey};

use crate::secret::Secret;
use crate::{Error, Result};

/// Largest armored public key we accept, in bytes.
pub const MAX_ARMORED_LEN: usize = 32 * 1024;

/// A checked public key in armored form, with its fingerprint.
#[derive(Debug, Clone)]
pub struct PublicKey {
    /// ASCII-armored transferable public key.
    pub armored: String,
    /// Hex fingerprint of the primary key.
    pub fingerprint: String,
}

/// A freshly made key pair; the private half goes to the member only.
#[derive(Debug)]
pub struct KeyPair {
    /// The public key, to be stored.
    pub public: PublicKey,
    /// The armored private key, protected with the member's password.
    pub private_armored: Secret,
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("openpgp: {e}"))
}

/// Parses an armored public key a member made on their device and checks
/// that it is self-signed: every binding verifies and it names a user.
pub fn check_public_key(armored: &str) -> Result<PublicKey> {
    let bad = |m: &str| Error::invalid("invalid_public_key", m.to_owned());
    if armored.len() > MAX_ARMORED_LEN {
        return Err(bad("public_key is too long"));
    }
    if armored.matches("-----BEGIN PGP").count() > 1 {
        return Err(bad("public_key must hold exactly one key"));
    }
    let (mut keys, _) = SignedPublicKey::from_string_many(armored)
        .map_err(|_| bad("public_key is not an ASCII-armored OpenPGP public key"))?;
    let key = keys
        .next()
        .ok_or_else(|| bad("public_key holds no key"))?
        .map_err(|_| bad("public_key is not an ASCII-armored OpenPGP public key"))?;
    if keys.next().is_some() {
        return Err(bad("public_key must hold exactly one key"));
    }
    if key.details.users.is_empty() {
        return Err(bad("public_key must carry a user id with a self-signature"));
    }
    key.verify_bindings()
        .map_err(|_| bad("public_key is not correctly self-signed"))?;
    if !key.details.revocation_signatures.is_empty() {
        return Err(bad("public_key is revoked"));
    }
    // expired: every self-signature names an expiry that has passed
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let created = u64::from(key.primary_key.created_at().as_secs());
    let expired = key.details.users.iter().all(|u| {
        u.signatures.iter().all(|sig| {
            sig.key_expiration_time()
                .map(|d| std::time::Duration::from(d).as_secs())
                .is_some_and(|d| d > 0 && created + d <= now)
        })
    });
    if expired {
        return Err(bad("public_key has expired"));
    }
    if let pgp::types::PublicParams::RSA(rsa) = key.primary_key.public_params() {
        use rsa::traits::PublicKeyParts;
        // NIST SP 800-131A: RSA below 2048 bits is no longer acceptable
        if rsa.key.size() * 8 < 2048 {
            return Err(bad(
                "public_key uses RSA below 2048 bits; make a stronger key",
            ));
        }
    }
    let fingerprint = format!("{:x}", key.fingerprint());
    let armored = key
        .to_armored_string(ArmorOptions::default())
        .map_err(internal)?;
    Ok(PublicKey {
        armored,
        fingerprint,
    })
}

/// Makes a key pair: an Ed25519 primary key for certifying and signing, a
/// Curve25519 encryption subkey, and `user_id` as its user id. Version 4 keys in the
/// widely supported encoding, so that GnuPG 2.2 and later read them too.
pub fn generate(user_id: &str, password: &Secret) -> Result<KeyPair> {
    let rng = rand::rngs::OsRng;
    let encryption = SubkeyParamsBuilder::default()
        .key_type(KeyType::ECDH(ECCCurve::Curve25519Legacy))
        .can_encrypt(EncryptionCaps::All)
        .passphrase(Some(password.expose().to_owned()))
        .build()
        .map_err(internal)?;
    let params = SecretKeyParamsBuilder::default()
        .key_type(KeyType::Ed25519Legacy)
        .can_certify(true)
        .can_sign(true)
        .primary_user_id(user_id.to_owned())
        .passphrase(Some(password.expose().to_owned()))
        .subkeys(vec![encryption])
        .build()
        .map_err(internal)?;
    let secret = params.generate(rng).map_err(internal)?;
    let private_armored = Secret::new(
        secret
            .to_armored_string(ArmorOptions::default())
            .map_err(internal)?,
    );
    let public = secret.to_public_key();
    let fingerprint = format!("{:x}", public.fingerprint());
    let armored = public
        .to_armored_string(ArmorOptions::default())
        .map_err(internal)?;
    Ok(KeyPair {
        public: PublicKey {
            armored,
            fingerprint,
        },
        private_armored,
    })
}

/// Largest signed message or armored signature accepted, in bytes.
pub const MAX_SIGNED_LEN: usize = 16 * 1024;

/// Proof that a member holds the private key of their account.
#[derive(Debug, Clone, Copy)]
pub enum Proof<'a> {
    /// A cleartext-signed message (RFC 9580 section 7), as `gpg
    /// --clearsign` makes it; the text is inside.
    Cleartext(&'a str),
    /// An armored detached signature (`gpg --detach-sign --armor`) over
    /// `text`.
    Detached {
        /// The armored signature.
        signature: &'a str,
        /// The text it signs.
        text: &'a str,
    },
}

/// Whether a signature by `key` over `data` verifies.
fn verifies<K: VerifyingKey>(sig: &Signature, key: &K, data: &[u8]) -> bool {
    sig.verify(key, data).is_ok()
}

/// Checks `sig` over `data` with the primary key, if its self-signatures
/// allow signing (or say nothing about it), and with every subkey bound
/// for signing.
fn verifies_with_any(key: &SignedPublicKey, sig: &Signature, data: &[u8]) -> bool {
    let self_sigs: Vec<&Signature> = key
        .details
        .users
        .iter()
        .flat_map(|u| u.signatures.iter())
        .chain(key.details.direct_signatures.iter())
        .collect();
    let primary_may_sign = self_sigs.iter().any(|s| s.key_flags().sign())
        || self_sigs
            .iter()
            .all(|s| s.key_flags() == KeyFlags::default());
    if primary_may_sign && verifies(sig, &key.primary_key, data) {
        return true;
    }
    key.public_subkeys.iter().any(|sub| {
        sub.signatures.iter().any(|b| b.key_flags().sign()) && verifies(sig, &sub.key, data)
    })
}

/// Verifies a proof with the account's stored public key and returns the
/// text that was signed, lines ending in `\n` and without trailing white
/// space; `None` when the proof cannot be read or no signature by the key
/// verifies.
pub fn verify(public_armored: &str, proof: &Proof<'_>) -> Result<Option<String>> {
    let (key, _) = SignedPublicKey::from_string(public_armored).map_err(internal)?;
    let tidy = |t: &str| t.replace("\r\n", "\n").trim_end().to_owned();
    match *proof {
        Proof::Cleartext(message) => {
            if message.len() > MAX_SIGNED_LEN {
                return Ok(None);
            }
            let Ok((msg, _)) = CleartextSignedMessage::from_string(message) else {
                return Ok(None);
            };
            let text = msg.signed_text();
            let ok = msg
                .signatures()
                .iter()
                .any(|sig| verifies_with_any(&key, sig, text.as_bytes()));
            Ok(ok.then(|| tidy(&text)))
        }
        Proof::Detached { signature, text } => {
            if signature.len() > MAX_SIGNED_LEN || text.len() > MAX_SIGNED_LEN {
                return Ok(None);
            }
            let Ok((detached, _)) = DetachedSignature::from_string(signature) else {
                return Ok(None);
            };
            let sig = &detached.signature;
            if !matches!(sig.typ(), Some(SignatureType::Binary | SignatureType::Text)) {
                return Ok(None);
            }
            // a text saved to a file usually gains a final line break
            let with_break = format!("{text}\n");
            let ok = [text, with_break.as_str()]
                .iter()
                .any(|t| verifies_with_any(&key, sig, t.as_bytes()));
            Ok(ok.then(|| tidy(text)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgp::composed::SignedSecretKey;

    fn unlocked(pair: &KeyPair) -> Result<SignedSecretKey> {
        Ok(SignedSecretKey::from_string(pair.private_armored.expose())
            .map_err(internal)?
            .0)
    }

    #[test]
    fn cleartext_and_detached_signatures_by_the_key_verify() -> Result<()> {
        let pw = Secret::new("correct horse battery".into());
        let pair = generate("alice@example.org", &pw)?;
        let secret = unlocked(&pair)?;
        let text = "ausweis recovery for alice, nonce abc";
        let password: pgp::types::Password = pw.expose().into();

        let clear =
            CleartextSignedMessage::sign(rand::rngs::OsRng, text, &secret.primary_key, &password)
                .map_err(internal)?
                .to_armored_string(ArmorOptions::default())
                .map_err(internal)?;
        let proof = Proof::Cleartext(&clear);
        assert_eq!(verify(&pair.public.armored, &proof)?.as_deref(), Some(text));

        let detached = DetachedSignature::sign_binary_data(
            rand::rngs::OsRng,
            &secret.primary_key,
            &password,
            pgp::crypto::hash::HashAlgorithm::Sha256,
            text.as_bytes(),
        )
        .map_err(internal)?
        .to_armored_string(ArmorOptions::default())
        .map_err(internal)?;
        let proof = Proof::Detached {
            signature: &detached,
            text,
        };
        assert_eq!(verify(&pair.public.armored, &proof)?.as_deref(), Some(text));

        // another text, another key, or garbage: no
        let other = Proof::Detached {
            signature: &detached,
            text: "something else",
        };
        assert_eq!(verify(&pair.public.armored, &other)?, None);
        let mallory = generate("mallory@example.org", &pw)?;
        assert_eq!(verify(&mallory.public.armored, &proof)?, None);
        assert_eq!(
            verify(&pair.public.armored, &Proof::Cleartext("hello"))?,
            None
        );
        Ok(())
    }

    #[test]
    fn generated_key_round_trips_and_is_password_protected() -> Result<()> {
        let pw = Secret::new("correct horse battery".into());
        let pair = generate("alice@example.org", &pw)?;
        let checked = check_public_key(&pair.public.armored)?;
        assert_eq!(checked.fingerprint, pair.public.fingerprint);
        assert!(pair.public.armored.contains("BEGIN PGP PUBLIC KEY BLOCK"));

        let (secret, _) =
            SignedSecretKey::from_string(pair.private_armored.expose()).map_err(internal)?;
        assert!(secret.primary_key.secret_params().is_encrypted());
        assert!(secret
            .primary_key
            .unlock(&"correct horse battery".into(), |_, _| Ok(()))
            .map_err(internal)?
            .is_ok());
        assert!(secret
            .primary_key
            .unlock(&"wrong".into(), |_, _| Ok(()))
            .map_err(internal)
            .and_then(|r| r.map_err(internal))
            .is_err());
        Ok(())
    }

    #[test]
    fn garbage_and_tampered_keys_are_refused() -> Result<()> {
        assert!(check_public_key("hello").is_err());
        let pair = generate(
            "bob@example.org",
            &Secret::new("correct horse battery".into()),
        )?;
        // Flip a character inside the base64 body.
        let mut bytes = pair.public.armored.into_bytes();
        let pos = bytes.len() / 2;
        bytes[pos] = if bytes[pos] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).map_err(internal)?;
        assert!(check_public_key(&tampered).is_err());
        Ok(())
    }
}

#[cfg(test)]
mod refused_keys {
    use super::*;

    fn code_of(armored: &str) -> String {
        match check_public_key(armored) {
            Err(Error::Invalid { message, .. }) => message,
            Err(e) => format!("other: {e}"),
            Ok(_) => "accepted".into(),
        }
    }

    // Fixtures made with GnuPG 2.2: a revoked key, a key that expired in
    // 2021 (made with --faked-system-time 2020-01-01, valid one year), an
    // RSA-1024 key, and two keys in one armour.
    #[test]
    fn revoked_expired_weak_and_doubled_keys_are_refused() {
        assert!(code_of(include_str!("../tests/fixtures/revoked-key.asc")).contains("revoked"));
        assert!(code_of(include_str!("../tests/fixtures/expired-key.asc")).contains("expired"));
        assert!(code_of(include_str!("../tests/fixtures/rsa1024-key.asc")).contains("2048"));
        assert!(code_of(include_str!("../tests/fixtures/two-keys.asc")).contains("exactly one"));
        assert_eq!(
            code_of(include_str!("../tests/fixtures/public-key.asc")),
            "accepted"
        );
    }
}
