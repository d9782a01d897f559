//! Passwords: the policy for new ones, and Argon2id hashing.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::config::{self, Vars};
use crate::secret::Secret;
use crate::{Error, Result};

/// Shortest password, in characters (NIST SP 800-63B section 3.1.1.2 asks
/// for at least 8; we ask for 10).
pub const MIN_CHARS: usize = 10;
/// Longest password, in bytes: bounds the hashing work an attacker can cause.
pub const MAX_BYTES: usize = 1024;

const COMMON: &str = include_str!("common-passwords.txt");

/// Checks a new password against the policy.
pub fn check_policy(password: &Secret, username: &str) -> Result<()> {
    let pw = password.expose();
    if pw.len() > MAX_BYTES {
        return Err(Error::invalid(
            "invalid_password",
            format!("password must be at most {MAX_BYTES} bytes"),
        ));
    }
    if pw.chars().count() < MIN_CHARS {
        return Err(Error::invalid(
            "weak_password",
            format!("password must be at least {MIN_CHARS} characters"),
        ));
    }
    let lower = pw.to_lowercase();
    let mut chars = lower.chars();
    let first = chars.next();
    let one_repeated = chars.all(|c| Some(c) == first);
    let common = COMMON
        .lines()
        .filter(|l| !l.starts_with('#'))
        .any(|l| l == lower);
    if common || one_repeated {
        return Err(Error::invalid(
            "weak_password",
            "password is one of the most common ones; choose another",
        ));
    }
    if username.len() >= 4 && lower.contains(username) {
        return Err(Error::invalid(
            "weak_password",
            "password must not contain the username",
        ));
    }
    Ok(())
}

/// Argon2id cost parameters (RFC 9106). Defaults follow the OWASP Password
/// Storage Cheat Sheet minimum: m = 19 MiB, t = 2, p = 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl HashParams {
    /// OWASP's current minimum for Argon2id.
    pub const OWASP_MINIMUM: HashParams = HashParams {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    };

    /// Reads `argon2_memory_kib`, `argon2_iterations`, `argon2_parallelism`.
    pub fn from_vars(vars: &dyn Vars) -> Result<Self> {
        let as_u32 = |v: u64| u32::try_from(v).map_err(|_| Error::Config("out of range".into()));
        Ok(HashParams {
            memory_kib: as_u32(config::number(vars, "argon2_memory_kib", 8..=1_048_576)?)?,
            iterations: as_u32(config::number(vars, "argon2_iterations", 1..=64)?)?,
            parallelism: as_u32(config::number(vars, "argon2_parallelism", 1..=16)?)?,
        })
    }

    fn hasher(&self) -> Result<Argon2<'static>> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| Error::Config(format!("argon2 parameters: {e}")))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// The bytes that are hashed: the password in Unicode NFKC, so that the
/// same password typed on another keyboard or system matches (NIST SP
/// 800-63B section 5.1.1.2).
fn normalized(password: &Secret) -> zeroize::Zeroizing<String> {
    use unicode_normalization::UnicodeNormalization;
    zeroize::Zeroizing::new(password.expose().nfkc().collect())
}

/// Hashes a password into a PHC string with a fresh random salt.
pub fn hash(password: &Secret, params: &HashParams) -> Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let phc = params
        .hasher()?
        .hash_password(normalized(password).as_bytes(), &salt)
        .map_err(|e| Error::Internal(format!("argon2: {e}")))?;
    Ok(phc.to_string())
}

/// The outcome of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Wrong password.
    Mismatch,
    /// Right password, hashed with the configured parameters.
    Match,
    /// Right password, but stored with other parameters: rehash it.
    MatchNeedsRehash,
}

/// Checks a password against a stored PHC string (constant time inside
/// argon2). The parameters in the PHC string are used, so old hashes still
/// verify; a differing parameter set asks for a rehash.
pub fn verify(password: &Secret, phc: &str, params: &HashParams) -> Result<Verdict> {
    let parsed =
        PasswordHash::new(phc).map_err(|_| Error::Internal("unreadable password hash".into()))?;
    let ok = Argon2::default()
        .verify_password(normalized(password).as_bytes(), &parsed)
        .is_ok();
    if !ok {
        return Ok(Verdict::Mismatch);
    }
    let current = Params::try_from(&parsed).ok().map(|p| HashParams {
        memory_kib: p.m_cost(),
        iterations: p.t_cost(),
        parallelism: p.p_cost(),
    });
    let same_algorithm = parsed.algorithm.as_str() == "argon2id";
    if same_algorithm && current.as_ref() == Some(params) {
        Ok(Verdict::Match)
    } else {
        Ok(Verdict::MatchNeedsRehash)
    }
}

/// Spends the same work as [`verify`] on a password for an unknown
/// username, so that its answer takes as long as a wrong password's.
pub fn verify_dummy(password: &Secret, params: &HashParams) -> Result<()> {
    let salt = SaltString::encode_b64(b"ausweis-no-such-user")
        .map_err(|e| Error::Internal(format!("salt: {e}")))?;
    params
        .hasher()?
        .hash_password(normalized(password).as_bytes(), &salt)
        .map_err(|e| Error::Internal(format!("argon2: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: HashParams = HashParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    fn s(v: &str) -> Secret {
        Secret::new(v.into())
    }

    #[test]
    fn policy_refuses_short_long_common_and_username_passwords() {
        assert!(check_policy(&s("short"), "alice").is_err());
        assert!(check_policy(&s(&"x".repeat(1025)), "alice").is_err());
        assert!(check_policy(&s("Password123"), "alice").is_err());
        assert!(check_policy(&s("zzzzzzzzzzzz"), "alice").is_err());
        assert!(check_policy(&s("alice-rules-ok"), "alice").is_err());
        assert!(check_policy(&s("correct horse battery"), "alice").is_ok());
    }

    #[test]
    fn hash_verifies_and_wrong_password_does_not() -> Result<()> {
        let phc = hash(&s("correct horse battery"), &CHEAP)?;
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert_eq!(
            verify(&s("correct horse battery"), &phc, &CHEAP)?,
            Verdict::Match
        );
        assert_eq!(
            verify(&s("wrong horse battery"), &phc, &CHEAP)?,
            Verdict::Mismatch
        );
        Ok(())
    }

    #[test]
    fn composed_and_decomposed_forms_of_a_password_match() -> Result<()> {
        let phc = hash(&s("Grüße aus Köln 2026"), &CHEAP)?;
        let decomposed = "Gru\u{308}\u{df}e aus Ko\u{308}ln 2026";
        assert_eq!(verify(&s(decomposed), &phc, &CHEAP)?, Verdict::Match);
        Ok(())
    }

    #[test]
    fn older_parameters_ask_for_a_rehash() -> Result<()> {
        let phc = hash(&s("correct horse battery"), &CHEAP)?;
        let newer = HashParams {
            iterations: 2,
            ..CHEAP
        };
        assert_eq!(
            verify(&s("correct horse battery"), &phc, &newer)?,
            Verdict::MatchNeedsRehash
        );
        Ok(())
    }
}
