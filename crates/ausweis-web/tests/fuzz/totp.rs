//! TOTP codes as members type them: spaces, non-digits, Unicode digits,
//! any length; and the round trips of base32 and of a code generated and
//! verified within the window (RFC 6238 section 5.2).

use ausweis::kv::MemoryKv;
use ausweis::totp;
use ausweis::twofactor;
use proptest::prelude::*;

use crate::config;

/// A code as typed: ASCII digits, with spaces, letters, fullwidth or
/// Arabic-Indic digits, signs, any length.
fn typed_code() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{0,10}",
        "[0-9 ]{0,10}",
        " ?[0-9]{3} ?[0-9]{3} ?",
        "[0-9a-zA-Z+-]{6}",
        "[０-９]{6}",
        "[٠-٩]{6}",
        "[०-९]{6}",
        "\\PC{0,10}",
        "[0-9]{6}\u{0}",
        "[-+]?[0-9]{5,6}",
    ]
}

fn code_of(key: &[u8], step: u64) -> String {
    format!("{:06}", totp::hotp(key, step, totp::DIGITS).unwrap())
}

proptest! {
    #![proptest_config(config(2048))]

    /// Only six ASCII digits can match; nothing else panics or matches.
    #[test]
    fn only_six_ascii_digits_can_match(
        key in prop::collection::vec(any::<u8>(), 0..64),
        code in typed_code(),
        now in 0u64..u64::MAX / 2,
        last in any::<u64>(),
    ) {
        let found = totp::matching_step(&key, &code, now, last).unwrap();
        if found.is_some() {
            prop_assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    /// A generated code verifies within one step either side of now, and
    /// not once its step is used.
    #[test]
    fn generated_codes_verify_within_the_window(
        key in prop::collection::vec(any::<u8>(), 1..40),
        now in 100u64..4_000_000_000,
        offset in -3i64..=3,
    ) {
        let current = totp::step(now);
        let step = current.checked_add_signed(offset).unwrap();
        let code = code_of(&key, step);
        let found = totp::matching_step(&key, &code, now, 0).unwrap();
        let window: Vec<u64> = (current - 1..=current + 1).collect();
        if offset.abs() <= 1 {
            // the earliest step in the window with this code
            let first = window.iter().copied().find(|s| code_of(&key, *s) == code);
            prop_assert_eq!(found, first);
            prop_assert_eq!(totp::matching_step(&key, &code, now, current + 1).unwrap(), None);
        } else if window.iter().all(|s| code_of(&key, *s) != code) {
            prop_assert_eq!(found, None);
        }
    }

    #[test]
    fn base32_round_trips(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let text = totp::base32_encode(&bytes);
        prop_assert_eq!(totp::base32_decode(&text), Some(bytes));
    }

    #[test]
    fn base32_decoding_takes_any_text(text in "\\PC{0,80}") {
        if let Some(bytes) = totp::base32_decode(&text) {
            prop_assert!(bytes.len() <= text.len() * 5 / 8);
        }
    }

    /// The second factor's checks take any typed code: a wrong one is
    /// refused and changes nothing; the right one, padded with spaces, is
    /// accepted once.
    #[test]
    fn second_factor_takes_any_typed_code(code in typed_code(), pad in "[ \t]{0,2}") {
        let kv = MemoryKv::new();
        let now = 1_900_000_000;
        twofactor::begin(&kv, "id1", "alice", "ausweis", now).unwrap();
        let (t, _) = twofactor::get(&kv, "id1").unwrap().unwrap();
        let key = totp::base32_decode(&t.secret).unwrap();
        let right = code_of(&key, totp::step(now));
        let in_window = (totp::step(now) - 1..=totp::step(now) + 1).any(|s| code_of(&key, s) == code.trim());
        let before = kv.values();
        match twofactor::confirm(&kv, "id1", &code, now) {
            Ok(_) => {
                prop_assert!(in_window);
                return Ok(());
            }
            Err(ausweis::Error::InvalidCode) => prop_assert_eq!(before, kv.values()),
            Err(e) => prop_assert!(false, "{e:?}"),
        }
        if !twofactor::enabled(&kv, "id1").unwrap() {
            twofactor::confirm(&kv, "id1", &format!("{pad}{right}{pad}"), now).unwrap();
        }
        let next = format!("{pad}{}{pad}", code_of(&key, totp::step(now) + 1));
        let used = Some(twofactor::Used::Totp);
        prop_assert_eq!(twofactor::check(&kv, "id1", &next, now + 30).unwrap(), used);
        prop_assert_eq!(twofactor::check(&kv, "id1", &next, now + 30).unwrap(), None);
        if twofactor::check(&kv, "id1", &code, now + 30).unwrap().is_some() {
            let c = code.trim();
            prop_assert!(c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()));
        }
    }
}
