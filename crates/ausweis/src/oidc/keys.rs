//! Signing keys: made on first need, rotated by age, published before use.
//!
//! Key families:
//! - `signing` / `key:{kid}`: the private key (only the token endpoint);
//! - `signing` / `active:{alg}`: which key signs now, and the next one;
//! - `signing` / `keygen:{alg}:{n}`: counters that pick the one request
//!   that makes a key when several need one at once;
//! - `oidc` / `jwk:{kid}`: the public key as published in the JWKS, with the
//!   time after which it may be dropped;
//! - `oidc` / `jwks`: the JWKS document made from those keys, so that the
//!   JWKS endpoint reads one key instead of listing the whole `oidc` store
//!   (which also holds every code and refresh token).
//!
//! Rotation (OpenID Connect Core section 10.1.1): when the signing key is
//! older than `signing_key_rotate_seconds`, a new key is made and published
//! at once, but signs only `signing_key_publish_lead_seconds` later, so that
//! relying parties that cache the JWKS have seen it. The old key then stays
//! published until everything it signed has expired.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jwt_simple::prelude::*;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kv::{Kv, Store};
use crate::oidc::settings::Settings;
use crate::{random, Error, Result};

/// Signature algorithms offered for ID tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys: OIDC Core's default.
    #[serde(rename = "RS256")]
    Rs256,
    /// ECDSA P-256 with SHA-256.
    #[serde(rename = "ES256")]
    Es256,
    /// Ed25519 (RFC 8037).
    #[serde(rename = "EdDSA")]
    EdDsa,
}

/// RSA modulus size (NIST SP 800-57 part 1: 2048 bits until 2030).
const RSA_BITS: usize = 2048;
/// How long a request waits for another one that is making a key.
const KEYGEN_WAIT_MS: u64 = 15_000;
/// Extra time a retired key stays published, seconds.
const RETIRE_MARGIN: u64 = 300;

impl Alg {
    /// Parses the JOSE name.
    pub fn parse(name: &str) -> Option<Alg> {
        match name {
            "RS256" => Some(Alg::Rs256),
            "ES256" => Some(Alg::Es256),
            "EdDSA" => Some(Alg::EdDsa),
            _ => None,
        }
    }

    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
            Alg::EdDsa => "EdDSA",
        }
    }

    /// All offered algorithms.
    pub const ALL: [Alg; 3] = [Alg::Rs256, Alg::Es256, Alg::EdDsa];
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("signing: {e}"))
}

/// A private key as stored.
#[derive(Serialize, Deserialize)]
struct StoredKey {
    alg: Alg,
    /// Private key bytes (DER for RSA, raw for the others), base64.
    private: String,
    created: u64,
}

/// A published public key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublishedKey {
    /// Key id.
    pub kid: String,
    /// Algorithm.
    pub alg: Alg,
    /// The JWK (RFC 7517) as served.
    pub jwk: Value,
    /// Public key bytes (DER for RSA, raw for the others), base64.
    pub public: String,
    /// Unix time after which the key may be dropped; `None` while in use.
    #[serde(default)]
    pub remove_after: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Next {
    kid: String,
    use_from: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Active {
    current: String,
    since: u64,
    #[serde(default)]
    next: Option<Next>,
    m: String,
}

fn get_json<T: DeserializeOwned>(
    kv: &dyn Kv,
    store: Store,
    key: &str,
) -> Result<Option<(T, Vec<u8>)>> {
    match kv.get(store, key)? {
        Some(raw) => {
            let v = serde_json::from_slice(&raw).map_err(|_| internal("unreadable record"))?;
            Ok(Some((v, raw)))
        }
        None => Ok(None),
    }
}

fn to_vec<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(internal)
}

/// Makes a key pair; returns (private bytes, public bytes, JWK without kid).
fn generate(alg: Alg) -> Result<(Vec<u8>, Vec<u8>, Value)> {
    let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    match alg {
        Alg::Rs256 => {
            let kp = RS256KeyPair::generate(RSA_BITS).map_err(internal)?;
            let public = kp.public_key();
            let c = public.to_components();
            let jwk = json!({"kty": "RSA", "n": b64(&c.n), "e": b64(&c.e)});
            Ok((
                kp.to_der().map_err(internal)?,
                public.to_der().map_err(internal)?,
                jwk,
            ))
        }
        Alg::Es256 => {
            let kp = ES256KeyPair::generate();
            let point = kp.public_key().public_key().to_bytes_uncompressed();
            if point.len() != 65 {
                return Err(internal("unexpected P-256 point"));
            }
            let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..])});
            Ok((kp.to_bytes(), point, jwk))
        }
        Alg::EdDsa => {
            let kp = Ed25519KeyPair::generate();
            let public = kp.public_key().to_bytes();
            let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&public)});
            Ok((kp.to_bytes(), public, jwk))
        }
    }
}

/// Makes, stores and publishes a new key; returns its kid.
fn make_key(kv: &dyn Kv, alg: Alg, now: u64) -> Result<String> {
    let (private, public, mut jwk) = generate(alg)?;
    let kid = random::token(12);
    if let Some(obj) = jwk.as_object_mut() {
        obj.insert("kid".into(), json!(kid));
        obj.insert("alg".into(), json!(alg.name()));
        obj.insert("use".into(), json!("sig"));
    }
    let stored = StoredKey {
        alg,
        private: STANDARD.encode(private),
        created: now,
    };
    kv.set(Store::Signing, &format!("key:{kid}"), &to_vec(&stored)?)?;
    // published before it signs anything
    let published = PublishedKey {
        kid: kid.clone(),
        alg,
        jwk,
        public: STANDARD.encode(public),
        remove_after: None,
    };
    kv.set(Store::Oidc, &format!("jwk:{kid}"), &to_vec(&published)?)?;
    publish_jwks(kv, now)?;
    Ok(kid)
}

/// A parsed private key.
enum KeyPair {
    Rs256(Box<RS256KeyPair>),
    Es256(ES256KeyPair),
    EdDsa(Ed25519KeyPair),
}

/// A key ready to sign, parsed once for all the tokens of a request.
pub struct Signer {
    /// Key id, put in every token's header.
    pub kid: String,
    /// Algorithm.
    pub alg: Alg,
    key: KeyPair,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl Signer {
    fn parse(kid: &str, alg: Alg, private: &[u8]) -> Result<Signer> {
        let key = match alg {
            Alg::Rs256 => KeyPair::Rs256(Box::new(
                RS256KeyPair::from_der(private)
                    .map_err(internal)?
                    .with_key_id(kid),
            )),
            Alg::Es256 => KeyPair::Es256(
                ES256KeyPair::from_bytes(private)
                    .map_err(internal)?
                    .with_key_id(kid),
            ),
            Alg::EdDsa => KeyPair::EdDsa(
                Ed25519KeyPair::from_bytes(private)
                    .map_err(internal)?
                    .with_key_id(kid),
            ),
        };
        Ok(Signer {
            kid: kid.to_owned(),
            alg,
            key,
        })
    }

    /// Signs claims as a JWT with `typ` set to `typ`.
    pub fn sign<C: Serialize>(&self, claims: JWTClaims<C>, typ: &str) -> Result<String> {
        let opts = HeaderOptions {
            signature_type: Some(typ.to_owned()),
            ..HeaderOptions::default()
        };
        match &self.key {
            KeyPair::Rs256(k) => k.sign_with_options(claims, &opts),
            KeyPair::Es256(k) => k.sign_with_options(claims, &opts),
            KeyPair::EdDsa(k) => k.sign_with_options(claims, &opts),
        }
        .map_err(internal)
    }
}

fn load_signer(kv: &dyn Kv, kid: &str) -> Result<Signer> {
    let (stored, _): (StoredKey, _) = get_json(kv, Store::Signing, &format!("key:{kid}"))?
        .ok_or_else(|| internal("active key is missing"))?;
    let private = STANDARD.decode(stored.private).map_err(internal)?;
    Signer::parse(kid, stored.alg, &private)
}

fn wait() {
    std::thread::sleep(std::time::Duration::from_millis(50));
}

/// The key that signs for `alg` now, making or rotating keys as needed.
pub fn signer(kv: &dyn Kv, alg: Alg, settings: &Settings, now: u64) -> Result<Signer> {
    let active_key = format!("active:{}", alg.name());
    let mut waited = 0;
    loop {
        let Some((active, raw)) = get_json::<Active>(kv, Store::Signing, &active_key)? else {
            // first key: one request makes it (a new try each minute, in
            // case the maker died), the others wait for it
            let gen = format!("keygen:{}:first:{}", alg.name(), now / 60);
            if kv.increment(Store::Signing, &gen, 1)? == 1 {
                let kid = make_key(kv, alg, now)?;
                let first = Active {
                    current: kid.clone(),
                    since: now,
                    next: None,
                    m: random::token(8),
                };
                kv.set(Store::Signing, &active_key, &to_vec(&first)?)?;
                return load_signer(kv, &kid);
            }
            if waited >= KEYGEN_WAIT_MS {
                return Err(internal("timed out waiting for a signing key"));
            }
            wait();
            waited += 50;
            continue;
        };

        // promote the next key once its lead time has passed
        if let Some(next) = active.next.as_ref().filter(|n| now >= n.use_from) {
            let promoted = Active {
                current: next.kid.clone(),
                since: now,
                next: None,
                m: random::token(8),
            };
            if kv.compare_and_swap(Store::Signing, &active_key, Some(&raw), &to_vec(&promoted)?)? {
                retire(
                    kv,
                    &active.current,
                    now + settings.access_seconds + RETIRE_MARGIN,
                )?;
                publish_jwks(kv, now)?;
            }
            continue;
        }

        // make the next key when the current one is old enough
        if active.next.is_none() && now >= active.since + settings.key_rotate_seconds {
            let gen = format!("keygen:{}:{}:{}", alg.name(), active.current, now / 60);
            if kv.increment(Store::Signing, &gen, 1)? == 1 {
                let kid = make_key(kv, alg, now)?;
                let with_next = Active {
                    next: Some(Next {
                        kid,
                        use_from: now + settings.key_publish_lead_seconds,
                    }),
                    m: random::token(8),
                    ..active.clone()
                };
                kv.compare_and_swap(
                    Store::Signing,
                    &active_key,
                    Some(&raw),
                    &to_vec(&with_next)?,
                )?;
                continue;
            }
        }
        return load_signer(kv, &active.current);
    }
}

/// Marks a published key for removal after `remove_after` and drops its
/// private half: it signs nothing more.
fn retire(kv: &dyn Kv, kid: &str, remove_after: u64) -> Result<()> {
    let key = format!("jwk:{kid}");
    if let Some((mut published, _)) = get_json::<PublishedKey>(kv, Store::Oidc, &key)? {
        published.remove_after = Some(remove_after);
        kv.set(Store::Oidc, &key, &to_vec(&published)?)?;
    }
    kv.delete(Store::Signing, &format!("key:{kid}"))?;
    Ok(())
}

/// The published keys, dropping those past their removal time.
pub fn published(kv: &dyn Kv, now: u64) -> Result<Vec<PublishedKey>> {
    let mut out = Vec::new();
    for key in kv.keys(Store::Oidc, "jwk:")? {
        let Some((p, _)) = get_json::<PublishedKey>(kv, Store::Oidc, &key)? else {
            continue;
        };
        if p.remove_after.is_some_and(|t| t <= now) {
            kv.delete(Store::Oidc, &key)?;
            continue;
        }
        out.push(p);
    }
    out.sort_by(|a, b| a.kid.cmp(&b.kid));
    Ok(out)
}

/// The `oidc` key of the ready JWKS document.
const JWKS_KEY: &str = "jwks";

/// Rebuild attempts of the token endpoint after it changed a key.
const JWKS_ATTEMPTS: usize = 16;

/// The JWKS document kept ready in `oidc` / `jwks`.
///
/// Every write of it is a compare-and-swap against the value read before
/// the published keys were listed, so a document made from an older
/// listing never replaces one made from a newer listing. Whoever
/// publishes or retires a key rebuilds it afterwards until its swap
/// succeeds; the last successful swap therefore listed every key written
/// before it. A blind write happens only to make the document present
/// (compare-and-swap against an absent key is not atomic on Spin's
/// SQLite backend), and then always as a stale placeholder that the next
/// reader rebuilds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct JwksDoc {
    /// The JWKs as served.
    keys: Vec<Value>,
    /// From this Unix time on the document is stale: a key in it may be
    /// dropped (its `remove_after`), or it is a placeholder (0).
    #[serde(default)]
    stale_from: Option<u64>,
    /// Random marker, new on every write.
    m: String,
}

impl JwksDoc {
    fn fresh_at(&self, now: u64) -> bool {
        self.stale_from.is_none_or(|t| now < t)
    }
}

/// Makes the document present as a stale placeholder if it is absent.
fn ensure_jwks(kv: &dyn Kv) -> Result<()> {
    if kv.get(Store::Oidc, JWKS_KEY)?.is_none() {
        let placeholder = JwksDoc {
            keys: Vec::new(),
            stale_from: Some(0),
            m: random::token(8),
        };
        kv.set(Store::Oidc, JWKS_KEY, &to_vec(&placeholder)?)?;
    }
    Ok(())
}

/// One rebuild: reads the document, lists the published keys and swaps in
/// the document made from them. Returns it and whether the swap won.
fn rebuild_jwks(kv: &dyn Kv, now: u64) -> Result<(JwksDoc, bool)> {
    let raw = kv.get(Store::Oidc, JWKS_KEY)?;
    let keys = published(kv, now)?;
    let doc = JwksDoc {
        stale_from: keys.iter().filter_map(|k| k.remove_after).min(),
        keys: keys.into_iter().map(|p| p.jwk).collect(),
        m: random::token(8),
    };
    let won = kv.compare_and_swap(Store::Oidc, JWKS_KEY, raw.as_deref(), &to_vec(&doc)?)?;
    Ok((doc, won))
}

/// Rebuilds the document after a key was published or retired, until a
/// swap wins. If it never does, leaves a placeholder that the next reader
/// rebuilds, so that no key is left out for long.
fn publish_jwks(kv: &dyn Kv, now: u64) -> Result<()> {
    ensure_jwks(kv)?;
    for _ in 0..JWKS_ATTEMPTS {
        if rebuild_jwks(kv, now)?.1 {
            return Ok(());
        }
    }
    let placeholder = JwksDoc {
        keys: Vec::new(),
        stale_from: Some(0),
        m: random::token(8),
    };
    kv.set(Store::Oidc, JWKS_KEY, &to_vec(&placeholder)?)?;
    Ok(())
}

/// The JWKS document (RFC 7517 section 5): one read of the ready document
/// while it is fresh; otherwise rebuilt once from the published keys and
/// served as built even if another request's rebuild won the swap.
pub fn jwks(kv: &dyn Kv, now: u64) -> Result<Value> {
    if let Some(raw) = kv.get(Store::Oidc, JWKS_KEY)? {
        if let Ok(doc) = serde_json::from_slice::<JwksDoc>(&raw) {
            if doc.fresh_at(now) {
                return Ok(json!({ "keys": doc.keys }));
            }
        }
    }
    ensure_jwks(kv)?;
    let (doc, _) = rebuild_jwks(kv, now)?;
    Ok(json!({ "keys": doc.keys }))
}

/// Verifies a JWT signed by one of our published keys and returns its
/// claims. Checks signature, `typ`, issuer and expiry (no clock tolerance).
pub fn verify<C: Serialize + DeserializeOwned>(
    kv: &dyn Kv,
    token: &str,
    typ: &str,
    issuer: &str,
    now: u64,
) -> Result<JWTClaims<C>> {
    check(kv, token, typ, issuer, Some(now))
}

/// Verifies an ID token used as `id_token_hint`: our signature and issuer,
/// but an expired token is still a valid hint (RP-Initiated Logout 1.0
/// section 2). A key already dropped from the JWKS no longer verifies.
pub fn verify_hint<C: Serialize + DeserializeOwned>(
    kv: &dyn Kv,
    token: &str,
    issuer: &str,
) -> Result<JWTClaims<C>> {
    check(kv, token, "JWT", issuer, None)
}

fn check<C: Serialize + DeserializeOwned>(
    kv: &dyn Kv,
    token: &str,
    typ: &str,
    issuer: &str,
    now: Option<u64>,
) -> Result<JWTClaims<C>> {
    let bad = || Error::NotAuthenticated;
    if token.len() > 8192 {
        return Err(bad());
    }
    let meta = Token::decode_metadata(token).map_err(|_| bad())?;
    let kid = meta.key_id().ok_or_else(bad)?;
    if kid.len() > 64 || meta.signature_type() != Some(typ) {
        return Err(bad());
    }
    let Some((p, _)) = get_json::<PublishedKey>(kv, Store::Oidc, &format!("jwk:{kid}"))? else {
        return Err(bad());
    };
    let dropped = match now {
        Some(n) => p.remove_after.is_some_and(|t| t <= n),
        None => false,
    };
    if dropped || meta.algorithm() != p.alg.name() {
        return Err(bad());
    }
    let public = STANDARD.decode(&p.public).map_err(internal)?;
    // ten years of tolerance stands for "ignore expiry"
    let (tolerance, time) = match now {
        Some(n) => (0, Some(UnixTimeStamp::from_secs(n))),
        None => (10 * 365 * 86_400, None),
    };
    let opts = VerificationOptions {
        allowed_issuers: Some(std::iter::once(issuer.to_owned()).collect()),
        time_tolerance: Some(Duration::from_secs(tolerance)),
        artificial_time: time,
        required_signature_type: Some(typ.to_owned()),
        accept_future: now.is_none(),
        ..VerificationOptions::default()
    };
    let claims = match p.alg {
        Alg::Rs256 => RS256PublicKey::from_der(&public)
            .map_err(internal)?
            .verify_token::<C>(token, Some(opts)),
        Alg::Es256 => ES256PublicKey::from_bytes(&public)
            .map_err(internal)?
            .verify_token::<C>(token, Some(opts)),
        Alg::EdDsa => Ed25519PublicKey::from_bytes(&public)
            .map_err(internal)?
            .verify_token::<C>(token, Some(opts)),
    };
    claims.map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryKv;

    fn settings() -> Settings {
        Settings {
            issuer: "https://id.example.org".into(),
            code_seconds: 60,
            access_seconds: 600,
            refresh_seconds: 86_400,
            key_rotate_seconds: 1000,
            key_publish_lead_seconds: 100,
        }
    }

    fn token(s: &Signer, now: u64) -> Result<String> {
        let mut claims = Claims::create(Duration::from_secs(600));
        claims.issued_at = Some(UnixTimeStamp::from_secs(now));
        claims.expires_at = Some(UnixTimeStamp::from_secs(now + 600));
        claims.issuer = Some("https://id.example.org".into());
        claims.invalid_before = None;
        s.sign(claims, "JWT")
    }

    #[test]
    fn first_key_is_published_before_it_signs_and_verifies() -> Result<()> {
        let kv = MemoryKv::new();
        for alg in [Alg::Es256, Alg::EdDsa] {
            let s = signer(&kv, alg, &settings(), 10)?;
            let jwks = jwks(&kv, 10)?;
            assert!(jwks["keys"]
                .as_array()
                .is_some_and(|k| k.iter().any(|j| j["kid"] == s.kid.as_str())));
            let t = token(&s, 10)?;
            let c: JWTClaims<NoCustomClaims> =
                verify(&kv, &t, "JWT", "https://id.example.org", 20)?;
            assert_eq!(c.issuer.as_deref(), Some("https://id.example.org"));
            assert!(verify::<NoCustomClaims>(&kv, &t, "JWT", "https://other", 20).is_err());
            assert!(
                verify::<NoCustomClaims>(&kv, &t, "at+jwt", "https://id.example.org", 20).is_err()
            );
            assert!(
                verify::<NoCustomClaims>(&kv, &t, "JWT", "https://id.example.org", 611).is_err()
            );
        }
        Ok(())
    }

    #[test]
    fn jwks_is_served_from_the_ready_document_while_it_is_fresh() -> Result<()> {
        let kv = MemoryKv::new();
        let s = signer(&kv, Alg::EdDsa, &settings(), 10)?;
        // a key record the document does not know of is not listed: the
        // endpoint reads the document, not the store's keys
        kv.set(Store::Oidc, "jwk:AAAAAAAAAAAAAAAA", b"not json")?;
        let doc = jwks(&kv, 20)?;
        let kids: Vec<&str> = doc["keys"]
            .as_array()
            .map(|k| k.iter().filter_map(|j| j["kid"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(kids, vec![s.kid.as_str()]);
        Ok(())
    }

    #[test]
    fn a_missing_or_placeholder_document_is_rebuilt_from_the_published_keys() -> Result<()> {
        let kv = MemoryKv::new();
        let a = signer(&kv, Alg::EdDsa, &settings(), 10)?;
        let b = signer(&kv, Alg::Es256, &settings(), 10)?;
        kv.delete(Store::Oidc, JWKS_KEY)?;
        assert_eq!(jwks(&kv, 20)?["keys"].as_array().map(Vec::len), Some(2));
        let (stored, _) = get_json::<JwksDoc>(&kv, Store::Oidc, JWKS_KEY)?
            .ok_or_else(|| internal("no document"))?;
        assert!(stored.fresh_at(20));
        // a placeholder (left by a publisher whose swaps all lost) is stale
        ensure_jwks(&kv)?;
        kv.set(
            Store::Oidc,
            JWKS_KEY,
            &to_vec(&JwksDoc {
                keys: Vec::new(),
                stale_from: Some(0),
                m: "x".into(),
            })?,
        )?;
        let doc = jwks(&kv, 20)?;
        for s in [a, b] {
            assert!(doc["keys"]
                .as_array()
                .is_some_and(|k| k.iter().any(|j| j["kid"] == s.kid.as_str())));
        }
        Ok(())
    }

    #[test]
    fn rotation_publishes_first_signs_later_and_keeps_the_old_key_until_its_tokens_expire(
    ) -> Result<()> {
        let kv = MemoryKv::new();
        let st = settings();
        let old = signer(&kv, Alg::Es256, &st, 0)?;
        let old_token = token(&old, 0)?;
        // due for rotation: a new key is published but the old one still signs
        let s = signer(&kv, Alg::Es256, &st, 1000)?;
        assert_eq!(s.kid, old.kid);
        assert_eq!(published(&kv, 1000)?.len(), 2);
        // after the lead time the new key signs; the old one stays published
        let new = signer(&kv, Alg::Es256, &st, 1100)?;
        assert_ne!(new.kid, old.kid);
        let keys = published(&kv, 1100)?;
        assert_eq!(keys.len(), 2);
        let t: JWTClaims<NoCustomClaims> =
            verify(&kv, &old_token, "JWT", "https://id.example.org", 500)?;
        assert!(t.issued_at.is_some());
        assert_eq!(jwks(&kv, 1100)?["keys"].as_array().map(Vec::len), Some(2));
        // and is dropped once everything it signed has expired
        let late = 1100 + 600 + RETIRE_MARGIN + 1;
        assert_eq!(jwks(&kv, late)?["keys"].as_array().map(Vec::len), Some(1));
        assert_eq!(published(&kv, late)?.len(), 1);
        assert!(kv
            .get(Store::Signing, &format!("key:{}", old.kid))?
            .is_none());
        Ok(())
    }
}
