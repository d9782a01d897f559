//! Account recovery for a member who lost their password: by signing a
//! short-lived challenge with the account's OpenPGP private key, or by a
//! single-use link sent to the account's e-mail address. Either ends in a
//! new password and the end of every session and grant of the account; a
//! second factor stays on (a recovery code is the way past a lost one).
//!
//! Key families (store `sessions`):
//! - `challenge:{sha256(nonce)}` → expiring [`Challenge`], single use;
//! - `recover:{sha256(token)}` → expiring [`Link`], single use;
//!
//! and (store `accounts`) the address index `email:{sha256(address)}:{account_id}`
//! → username, written at registration, by which a link request finds the
//! accounts of an address.

use serde::{Deserialize, Serialize};

use crate::account::{self, Account};
use crate::credentials;
use crate::email::Email;
use crate::expiring;
use crate::kv::{Kv, Store};
use crate::openpgp::{self, Proof};
use crate::password::{self, HashParams};
use crate::random;
use crate::secret::Secret;
use crate::throttle;
use crate::username::Username;
use crate::{date, Error, Result};

/// How long a challenge may be signed, in seconds.
pub const CHALLENGE_SECONDS: u64 = 10 * 60;
/// Bytes of randomness in a challenge nonce and a link token (256 bits).
const TOKEN_BYTES: usize = 32;
/// Length of such a token as unpadded base64url.
const TOKEN_LEN: usize = 43;

/// A challenge waiting for a signature.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Challenge {
    /// The account.
    pub account_id: String,
    /// Its username.
    pub username: String,
    /// The exact text to sign.
    pub text: String,
    /// Used already.
    pub used: bool,
    /// Random marker of this write.
    pub m: String,
}

/// A recovery link waiting to be followed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Link {
    /// The account.
    pub account_id: String,
    /// Its username.
    pub username: String,
    /// Used already.
    pub used: bool,
    /// Random marker of this write.
    pub m: String,
}

/// Key of a challenge, by its nonce.
pub fn challenge_key(nonce: &str) -> String {
    format!("challenge:{}", random::digest_hex("challenge", nonce))
}

/// Key of a recovery link, by its token.
pub fn link_key(token: &str) -> String {
    format!("recover:{}", random::digest_hex("recover", token))
}

/// The index key prefix of an address (the address lowercased, since mail
/// providers treat local parts case-insensitively in practice).
pub fn email_index_prefix(address: &str) -> String {
    format!(
        "email:{}:",
        random::digest_hex("email", &address.to_lowercase())
    )
}

/// The index key of an account's address.
pub fn email_index_key(address: &str, account_id: &str) -> String {
    format!("{}{account_id}", email_index_prefix(address))
}

/// The throttle name of link requests for an address, or for a username.
pub fn mail_throttle_name(address: &str) -> String {
    format!("recovery-mail:{}", address.to_lowercase())
}

fn well_formed(token: &str) -> bool {
    token.len() == TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A challenge as handed out.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The text to sign.
    pub text: String,
    /// When it expires.
    pub expires: u64,
}

/// Issues a challenge for `username`. An unknown name gets a challenge of
/// the same form that nothing is stored for, so the answer does not tell
/// whether the account exists.
pub fn challenge(kv: &dyn Kv, username: &str, now: u64) -> Result<Issued> {
    let name = Username::parse(username)?;
    let nonce = random::token(TOKEN_BYTES);
    let expires = now + CHALLENGE_SECONDS;
    let text = format!(
        "ausweis account recovery for {name}, nonce {nonce}, valid until {}",
        date::rfc3339(expires)
    );
    if let Some(acc) = account::find(kv, &name)? {
        let c = Challenge {
            account_id: acc.id,
            username: acc.username,
            text: text.clone(),
            used: false,
            m: random::token(8),
        };
        expiring::put(kv, Store::Sessions, &challenge_key(&nonce), expires, &c)?;
    }
    Ok(Issued { text, expires })
}

/// The nonce inside a challenge text.
fn nonce_of(text: &str) -> Option<&str> {
    let rest = text.split(", nonce ").nth(1)?;
    let nonce = rest.split(',').next()?;
    well_formed(nonce).then_some(nonce)
}

/// Marks a single-use record used, by compare-and-swap against what was
/// read (atomic on every backend); false if another request won.
fn consume<T: Serialize>(kv: &dyn Kv, key: &str, raw: &[u8], exp: u64, used: &T) -> Result<bool> {
    Ok(kv.compare_and_swap(
        Store::Sessions,
        key,
        Some(raw),
        &expiring::encode(exp, used)?,
    )?)
}

fn account_of(kv: &dyn Kv, username: &str, account_id: &str) -> Result<Account> {
    let name = Username::parse(username).map_err(|_| Error::RecoveryFailed)?;
    account::find(kv, &name)?
        .filter(|a| a.id == account_id)
        .ok_or(Error::RecoveryFailed)
}

/// Recovery with the OpenPGP key: `proof` must be a signature, by the
/// account's stored public key, over a live challenge. Sets `new_password`,
/// ends every session and grant; returns the account. Nothing is written
/// unless every check passed.
pub fn recover_with_signature(
    kv: &dyn Kv,
    hash: &HashParams,
    proof: &Proof<'_>,
    new_password: &Secret,
    now: u64,
) -> Result<Account> {
    if new_password.expose().len() > password::MAX_BYTES {
        return Err(Error::invalid(
            "invalid_password",
            format!("password must be at most {} bytes", password::MAX_BYTES),
        ));
    }
    // find the challenge by the nonce in the signed text (a cleartext
    // message carries it; a detached signature comes with it)
    let claimed = match proof {
        Proof::Cleartext(message) => {
            let inside = message
                .lines()
                .find(|l| l.starts_with("ausweis account recovery for "))
                .ok_or(Error::RecoveryFailed)?;
            nonce_of(inside).ok_or(Error::RecoveryFailed)?.to_owned()
        }
        Proof::Detached { text, .. } => nonce_of(text).ok_or(Error::RecoveryFailed)?.to_owned(),
    };
    let key = challenge_key(&claimed);
    let Some((found, raw)) = expiring::get_live::<Challenge>(kv, Store::Sessions, &key, now)?
    else {
        return Err(Error::RecoveryFailed);
    };
    let c = found.v;
    if c.used {
        return Err(Error::RecoveryFailed);
    }
    let account = account_of(kv, &c.username, &c.account_id)?;
    password::check_policy(new_password, &account.username)?;
    match openpgp::verify(&account.public_key, proof)? {
        Some(signed) if signed == c.text => {}
        _ => return Err(Error::RecoveryFailed),
    }

    let used = Challenge {
        used: true,
        m: random::token(8),
        ..c
    };
    if !consume(kv, &key, &raw, found.exp, &used)? {
        return Err(Error::RecoveryFailed);
    }
    credentials::reset_password(kv, hash, &account.id, new_password, now)?;
    kv.delete(Store::Sessions, &key)?;
    Ok(account)
}

/// A recovery mail to send.
#[derive(Debug)]
pub struct Mail {
    /// The recipient: the address stored with the account.
    pub to: String,
    /// The account's username.
    pub username: String,
    /// The link's token (goes only into the mail).
    pub token: Secret,
}

/// Starts recovery by e-mail for `address`: one link per account that gave
/// this address. Every request counts against a throttle of the address,
/// known or not, so the answer (and a refusal) is the same for both.
pub fn request_links(kv: &dyn Kv, address: &str, lifetime: u64, now: u64) -> Result<Vec<Mail>> {
    let email = Email::parse(address)?;
    let throttle_name = mail_throttle_name(email.as_str());
    throttle::check(kv, &throttle_name, now)?;
    throttle::record_failure(kv, &throttle_name, now)?;

    let prefix = email_index_prefix(email.as_str());
    let mut mails = Vec::new();
    for k in kv.keys(Store::Accounts, &prefix)? {
        let Some(raw) = kv.get(Store::Accounts, &k)? else {
            continue;
        };
        let username = String::from_utf8_lossy(&raw).into_owned();
        let account_id = k.trim_start_matches(&prefix);
        let Ok(name) = Username::parse(&username) else {
            continue;
        };
        // the index may outlive a change; the record decides
        let Some(acc) = account::find(kv, &name)?.filter(|a| {
            a.id == account_id
                && a.email
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(email.as_str()))
        }) else {
            continue;
        };
        let token = random::token(TOKEN_BYTES);
        let link = Link {
            account_id: acc.id,
            username: acc.username.clone(),
            used: false,
            m: random::token(8),
        };
        expiring::put(
            kv,
            Store::Sessions,
            &link_key(&token),
            now + lifetime,
            &link,
        )?;
        mails.push(Mail {
            to: acc.email.unwrap_or_default(),
            username: acc.username,
            token: Secret::new(token),
        });
    }
    Ok(mails)
}

/// Starts recovery by e-mail for a username, as [`request_links`] does for
/// the address the account gave. Every request counts against a throttle
/// of the name too, known or not, with or without an address, so the
/// answer is the same for all.
pub fn request_links_for_name(
    kv: &dyn Kv,
    username: &str,
    lifetime: u64,
    now: u64,
) -> Result<Vec<Mail>> {
    let name = Username::parse(username)?;
    let throttle_name = mail_throttle_name(name.as_str());
    throttle::check(kv, &throttle_name, now)?;
    throttle::record_failure(kv, &throttle_name, now)?;
    match account::find(kv, &name)?.and_then(|a| a.email) {
        Some(address) => request_links(kv, &address, lifetime, now),
        None => Ok(Vec::new()),
    }
}

/// Forgets a link whose mail could not be sent.
pub fn forget_link(kv: &dyn Kv, token: &Secret) -> Result<()> {
    kv.delete(Store::Sessions, &link_key(token.expose()))?;
    Ok(())
}

/// Recovery with a link from a mail: sets `new_password`, ends every
/// session and grant; returns the account. The link works once.
pub fn recover_with_link(
    kv: &dyn Kv,
    hash: &HashParams,
    token: &Secret,
    new_password: &Secret,
    now: u64,
) -> Result<Account> {
    if new_password.expose().len() > password::MAX_BYTES {
        return Err(Error::invalid(
            "invalid_password",
            format!("password must be at most {} bytes", password::MAX_BYTES),
        ));
    }
    if !well_formed(token.expose()) {
        return Err(Error::RecoveryFailed);
    }
    let key = link_key(token.expose());
    let Some((found, raw)) = expiring::get_live::<Link>(kv, Store::Sessions, &key, now)? else {
        return Err(Error::RecoveryFailed);
    };
    let l = found.v;
    if l.used {
        return Err(Error::RecoveryFailed);
    }
    let account = account_of(kv, &l.username, &l.account_id)?;
    password::check_policy(new_password, &account.username)?;
    let used = Link {
        used: true,
        m: random::token(8),
        ..l
    };
    if !consume(kv, &key, &raw, found.exp, &used)? {
        return Err(Error::RecoveryFailed);
    }
    credentials::reset_password(kv, hash, &account.id, new_password, now)?;
    kv.delete(Store::Sessions, &key)?;
    Ok(account)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryKv;
    use crate::password::Verdict;
    use crate::register::{self, NewAccount};

    const HASH: HashParams = HashParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    fn setup(email: Option<&str>) -> Result<(MemoryKv, Secret)> {
        let kv = MemoryKv::new();
        let settings = register::Settings {
            hash: HASH,
            mail_domain: "example.org".into(),
        };
        let done = register::register(
            &kv,
            &settings,
            NewAccount {
                username: "alice".into(),
                password: Secret::new("correct horse battery".into()),
                email: email.map(String::from),
                public_key: None,
            },
            1000,
        )?;
        Ok((kv, done.private_key.ok_or(Error::NotFound("key"))?))
    }

    fn password_is(kv: &MemoryKv, pw: &str) -> Result<bool> {
        let acc = account::find(kv, &Username::parse("alice")?)?.ok_or(Error::NotFound("a"))?;
        let phc = account::credential(kv, &acc.id)?
            .ok_or(Error::NotFound("c"))?
            .phc;
        Ok(password::verify(&Secret::new(pw.into()), &phc, &HASH)? != Verdict::Mismatch)
    }

    fn sign(private: &Secret, text: &str) -> Result<String> {
        use pgp::composed::{
            ArmorOptions, CleartextSignedMessage, Deserializable, SignedSecretKey,
        };
        let fail = |e: pgp::errors::Error| Error::Internal(e.to_string());
        let (key, _) = SignedSecretKey::from_string(private.expose()).map_err(fail)?;
        let pw: pgp::types::Password = "correct horse battery".into();
        CleartextSignedMessage::sign(rand::rngs::OsRng, text, &key.primary_key, &pw)
            .map_err(fail)?
            .to_armored_string(ArmorOptions::default())
            .map_err(fail)
    }

    #[test]
    fn a_signed_challenge_sets_a_new_password_once() -> Result<()> {
        let (kv, private) = setup(None)?;
        let c = challenge(&kv, "alice", 2000)?;
        let signed = sign(&private, &c.text)?;
        let new = Secret::new("a brand new passphrase".into());
        recover_with_signature(&kv, &HASH, &Proof::Cleartext(&signed), &new, 2010)?;
        assert!(password_is(&kv, "a brand new passphrase")?);
        // used up
        let again = recover_with_signature(&kv, &HASH, &Proof::Cleartext(&signed), &new, 2011);
        assert!(matches!(again, Err(Error::RecoveryFailed)));
        Ok(())
    }

    #[test]
    fn an_expired_or_foreign_challenge_and_a_weak_password_change_nothing() -> Result<()> {
        let (kv, private) = setup(None)?;
        let c = challenge(&kv, "alice", 2000)?;
        let signed = sign(&private, &c.text)?;
        let new = Secret::new("a brand new passphrase".into());
        let late = recover_with_signature(
            &kv,
            &HASH,
            &Proof::Cleartext(&signed),
            &new,
            2000 + CHALLENGE_SECONDS,
        );
        assert!(matches!(late, Err(Error::RecoveryFailed)));

        let c = challenge(&kv, "alice", 3000)?;
        let weak = Secret::new("short".into());
        let signed = sign(&private, &c.text)?;
        let r = recover_with_signature(&kv, &HASH, &Proof::Cleartext(&signed), &weak, 3001);
        assert!(matches!(r, Err(Error::Invalid { .. })));
        // a text that is not the challenge, signed by the right key
        let forged = c.text.replace("alice", "alice2");
        let signed = sign(&private, &forged)?;
        let r = recover_with_signature(&kv, &HASH, &Proof::Cleartext(&signed), &new, 3001);
        assert!(matches!(r, Err(Error::RecoveryFailed)));
        assert!(password_is(&kv, "correct horse battery")?);
        // an unknown name gets a challenge too, and nothing is stored
        let before = kv.all_keys(Store::Sessions).len();
        assert!(challenge(&kv, "nobody-here", 3000)?
            .text
            .contains("nobody-here"));
        assert_eq!(kv.all_keys(Store::Sessions).len(), before);
        Ok(())
    }

    #[test]
    fn a_mail_link_works_once_and_unknown_addresses_get_nothing() -> Result<()> {
        let (kv, _) = setup(Some("Alice@Example.org"))?;
        assert!(request_links(&kv, "nobody@example.org", 600, 2000)?.is_empty());
        let mails = request_links(&kv, "alice@EXAMPLE.org", 600, 2000)?;
        assert_eq!(mails.len(), 1);
        assert_eq!(mails[0].to, "Alice@example.org");
        let new = Secret::new("a brand new passphrase".into());
        let bad = Secret::new("x".repeat(43));
        assert!(matches!(
            recover_with_link(&kv, &HASH, &bad, &new, 2001),
            Err(Error::RecoveryFailed)
        ));
        recover_with_link(&kv, &HASH, &mails[0].token, &new, 2001)?;
        assert!(password_is(&kv, "a brand new passphrase")?);
        assert!(matches!(
            recover_with_link(&kv, &HASH, &mails[0].token, &new, 2002),
            Err(Error::RecoveryFailed)
        ));
        let mails = request_links(&kv, "alice@example.org", 600, 2003)?;
        assert!(matches!(
            recover_with_link(&kv, &HASH, &mails[0].token, &new, 2003 + 600),
            Err(Error::RecoveryFailed)
        ));
        Ok(())
    }

    #[test]
    fn a_username_finds_the_address_it_gave_and_is_throttled_like_one() -> Result<()> {
        let (kv, _) = setup(Some("alice@example.org"))?;
        let mails = request_links_for_name(&kv, "Alice", 600, 2000)?;
        assert_eq!(mails.len(), 1);
        assert_eq!(mails[0].to, "alice@example.org");
        assert!(request_links_for_name(&kv, "nobody-here", 600, 2000)?.is_empty());
        // the name's own throttle: unknown names wait as known ones do
        let mut refused = 0;
        for i in 0..6 {
            if matches!(
                request_links_for_name(&kv, "nobody-here", 600, 2001 + i),
                Err(Error::Throttled { .. })
            ) {
                refused += 1;
            }
        }
        assert!(refused > 0);
        Ok(())
    }
}
