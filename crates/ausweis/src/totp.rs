//! Time-based one-time passwords: TOTP (RFC 6238) over HOTP (RFC 4226)
//! with HMAC-SHA-1, six digits and 30-second steps, the parameters every
//! common authenticator app understands; and the `otpauth://` URI that
//! carries a secret to such an app.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

use crate::{Error, Result};

/// Length of a time step in seconds (RFC 6238 section 5.2 recommends 30).
pub const STEP_SECONDS: u64 = 30;
/// Digits of a code (RFC 4226 section 5.3 asks for at least six).
pub const DIGITS: u32 = 6;
/// Steps accepted on either side of the current one, for clock drift and
/// typing time (RFC 6238 section 5.2 recommends at most one).
pub const WINDOW: u64 = 1;
/// Bytes of a shared secret: 160 bits, as RFC 4226 section 4 (R6)
/// recommends.
pub const SECRET_BYTES: usize = 20;

/// HOTP value of `counter` under `key`, with `digits` digits (RFC 4226
/// section 5.3: HMAC-SHA-1, dynamic truncation, modulo 10^digits).
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> Result<u32> {
    let mut mac = Hmac::<Sha1>::new_from_slice(key)
        .map_err(|_| Error::Internal("hmac key rejected".into()))?;
    mac.update(&counter.to_be_bytes());
    let hs = mac.finalize().into_bytes();
    let offset = usize::from(hs[19] & 0x0f);
    let bin = u32::from_be_bytes([
        hs[offset] & 0x7f,
        hs[offset + 1],
        hs[offset + 2],
        hs[offset + 3],
    ]);
    Ok(bin % 10u32.pow(digits))
}

/// The time step of a Unix time (RFC 6238 section 4.2, T0 = 0).
pub fn step(now: u64) -> u64 {
    now / STEP_SECONDS
}

/// The step whose code `code` is, within [`WINDOW`] of `now`, if it is
/// later than `last_used` (a used step is never accepted again, RFC 6238
/// section 5.2). Every candidate is computed and compared in constant time.
pub fn matching_step(key: &[u8], code: &str, now: u64, last_used: u64) -> Result<Option<u64>> {
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let current = step(now);
    let mut found = None;
    for s in current.saturating_sub(WINDOW)..=current + WINDOW {
        let expected = format!("{:0width$}", hotp(key, s, DIGITS)?, width = DIGITS as usize);
        let same = bool::from(expected.as_bytes().ct_eq(code.as_bytes()));
        if same && s > last_used && found.is_none() {
            found = Some(s);
        }
    }
    Ok(found)
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Base32 without padding (RFC 4648 section 6), as authenticator apps
/// take secrets.
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u64 = 0;
    let mut bits = 0u32;
    for &b in bytes {
        buffer = (buffer << 8) | u64::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Decodes unpadded base32 (upper case, as [`base32_encode`] writes it).
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut buffer: u64 = 0;
    let mut bits = 0u32;
    for c in text.bytes() {
        let v = BASE32.iter().position(|&x| x == c)? as u64;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn pct(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `otpauth://totp/` URI of a secret, in the key URI format that
/// authenticator apps read from a QR code: label `issuer:account`, and the
/// algorithm, digits and period spelled out.
pub fn otpauth_uri(issuer: &str, account: &str, secret_base32: &str) -> String {
    format!(
        "otpauth://totp/{}:{}?secret={secret_base32}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        pct(issuer),
        pct(account),
        pct(issuer)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4226 appendix D: the HOTP values of counters 0 to 9 for the
    /// secret "12345678901234567890".
    #[test]
    fn hotp_matches_rfc4226_appendix_d() -> Result<()> {
        let key = b"12345678901234567890";
        let expected = [
            755_224, 287_082, 359_152, 969_429, 338_314, 254_676, 287_922, 162_583, 399_871,
            520_489,
        ];
        for (counter, want) in expected.iter().enumerate() {
            assert_eq!(hotp(key, counter as u64, 6)?, *want, "counter {counter}");
        }
        Ok(())
    }

    /// RFC 6238 appendix B: the SHA-1 rows (eight digits) of the test table.
    #[test]
    fn totp_matches_rfc6238_appendix_b() -> Result<()> {
        let key = b"12345678901234567890";
        for (time, want) in [
            (59u64, 94_287_082u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            assert_eq!(hotp(key, step(time), 8)?, want, "time {time}");
        }
        Ok(())
    }

    #[test]
    fn codes_are_accepted_one_step_either_side_and_never_twice() -> Result<()> {
        let key = b"12345678901234567890";
        let now = 1_111_111_111;
        let code = |s: u64| -> Result<String> { Ok(format!("{:06}", hotp(key, s, 6)?)) };
        let t = step(now);
        assert_eq!(matching_step(key, &code(t)?, now, 0)?, Some(t));
        assert_eq!(matching_step(key, &code(t - 1)?, now, 0)?, Some(t - 1));
        assert_eq!(matching_step(key, &code(t + 1)?, now, 0)?, Some(t + 1));
        assert_eq!(matching_step(key, &code(t + 2)?, now, 0)?, None);
        assert_eq!(matching_step(key, &code(t - 2)?, now, 0)?, None);
        // replay: the step was used already
        assert_eq!(matching_step(key, &code(t)?, now, t)?, None);
        assert_eq!(matching_step(key, "12345", now, 0)?, None);
        assert_eq!(matching_step(key, "12345a", now, 0)?, None);
        Ok(())
    }

    /// RFC 4648 section 10, without the padding.
    #[test]
    fn base32_matches_rfc4648_section_10() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32_encode(plain.as_bytes()), encoded);
            assert_eq!(base32_decode(encoded), Some(plain.as_bytes().to_vec()));
        }
        assert_eq!(base32_decode("mzxw6"), None);
    }

    #[test]
    fn otpauth_uri_names_issuer_account_and_parameters() {
        let uri = otpauth_uri("Verein e.V.", "alice", "JBSWY3DPEHPK3PXP");
        assert_eq!(
            uri,
            "otpauth://totp/Verein%20e.V.:alice?secret=JBSWY3DPEHPK3PXP&issuer=Verein%20e.V.\
&algorithm=SHA1&digits=6&period=30"
        );
    }
}
