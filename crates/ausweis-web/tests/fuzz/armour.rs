//! ASCII-armoured OpenPGP (RFC 9580 section 6): a real armoured key with
//! bytes mutated in the armour and in the packets (re-armoured with a
//! correct checksum, so the packet parser is reached), broken checksums,
//! wrong headers, truncated packets; and signed recovery proofs mutated
//! the same way.

use std::sync::OnceLock;

use ausweis::openpgp::{self, Proof};
use ausweis::secret::Secret;
use ausweis::Error;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use pgp::composed::{
    ArmorOptions, CleartextSignedMessage, Deserializable, DetachedSignature, SignedSecretKey,
};
use proptest::prelude::*;

use crate::config;

/// A GnuPG-made Ed25519 key with a user id and its self-signature.
const KEY: &str = include_str!("../../../ausweis/tests/fixtures/public-key.asc");

/// CRC-24 of the armour checksum line (RFC 9580 section 6.1).
fn crc24(data: &[u8]) -> u32 {
    let mut crc: u32 = 0x00B7_04CE;
    for &b in data {
        crc ^= u32::from(b) << 16;
        for _ in 0..8 {
            crc <<= 1;
            if crc & 0x0100_0000 != 0 {
                crc ^= 0x0186_4CFB;
            }
        }
    }
    crc & 0x00FF_FFFF
}

/// The packets inside an armoured block.
fn packets(armoured: &str) -> Vec<u8> {
    let body: String = armoured
        .lines()
        .skip_while(|l| !l.is_empty())
        .filter(|l| !l.starts_with('=') && !l.starts_with("-----"))
        .collect();
    STANDARD.decode(body.trim()).unwrap()
}

/// Armours `data` as a public key block, lines of `width` characters, with
/// a correct checksum (or none).
fn armour(data: &[u8], width: usize, eol: &str, checksum: bool) -> String {
    let b64 = STANDARD.encode(data);
    let mut out = format!("-----BEGIN PGP PUBLIC KEY BLOCK-----{eol}{eol}");
    for chunk in b64.as_bytes().chunks(width.max(4)) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push_str(eol);
    }
    if checksum {
        let crc = crc24(data).to_be_bytes();
        out.push_str(&format!("={}{eol}", STANDARD.encode(&crc[1..])));
    }
    out.push_str(&format!("-----END PGP PUBLIC KEY BLOCK-----{eol}"));
    out
}

fn fingerprint() -> &'static str {
    static FP: OnceLock<String> = OnceLock::new();
    FP.get_or_init(|| openpgp::check_public_key(KEY).unwrap().fingerprint)
}

#[derive(Debug, Clone)]
enum KeyMutation {
    /// a byte of the armoured text replaced
    Text(prop::sample::Index, u8),
    /// the text cut short
    CutText(prop::sample::Index),
    /// a byte of the packets replaced, then armoured correctly
    Packet(prop::sample::Index, u8),
    /// a bit of the packets flipped, then armoured correctly
    Bit(prop::sample::Index, u8),
    /// the packets cut short, then armoured correctly
    CutPackets(prop::sample::Index),
    /// bytes inserted into the packets
    Insert(prop::sample::Index, Vec<u8>),
    /// the checksum line replaced
    Checksum(String),
    /// the header or footer line replaced, or armour headers added
    Header(String),
    /// re-wrapped: line width, line ending, checksum or not
    Rewrap(usize, bool, bool),
}

fn key_mutation() -> impl Strategy<Value = KeyMutation> {
    let idx = any::<prop::sample::Index>;
    prop_oneof![
        (idx(), any::<u8>()).prop_map(|(i, b)| KeyMutation::Text(i, b)),
        idx().prop_map(KeyMutation::CutText),
        (idx(), any::<u8>()).prop_map(|(i, b)| KeyMutation::Packet(i, b)),
        (idx(), 0u8..8).prop_map(|(i, b)| KeyMutation::Bit(i, b)),
        idx().prop_map(KeyMutation::CutPackets),
        (idx(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, b)| KeyMutation::Insert(i, b)),
        prop_oneof![
            Just(String::new()),
            Just("=AAAA".to_string()),
            Just("====".to_string()),
            Just("=".to_string()),
            "=[A-Za-z0-9+/]{0,6}",
        ]
        .prop_map(KeyMutation::Checksum),
        prop::sample::select(vec![
            "-----BEGIN PGP PRIVATE KEY BLOCK-----",
            "-----BEGIN PGP MESSAGE-----",
            "-----BEGIN PGP SIGNATURE-----",
            "-----BEGIN PGP PUBLIC KEY BLOCK----",
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\nVersion: x",
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\nComment: ü\nHash: SHA256",
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\nno colon here",
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\n-----BEGIN PGP PUBLIC KEY BLOCK-----",
            "",
        ])
        .prop_map(|h| KeyMutation::Header(h.to_string())),
        (1usize..200, any::<bool>(), any::<bool>())
            .prop_map(|(w, crlf, c)| KeyMutation::Rewrap(w, crlf, c)),
    ]
}

fn apply(m: &KeyMutation) -> String {
    let data = packets(KEY);
    let rearmour = |d: &[u8]| armour(d, 64, "\n", true);
    match m {
        KeyMutation::Text(i, b) => {
            let mut t = KEY.as_bytes().to_vec();
            let at = i.index(t.len());
            t[at] = *b;
            String::from_utf8_lossy(&t).into_owned()
        }
        KeyMutation::CutText(i) => {
            let t = KEY.as_bytes();
            String::from_utf8_lossy(&t[..i.index(t.len())]).into_owned()
        }
        KeyMutation::Packet(i, b) => {
            let mut d = data;
            let at = i.index(d.len());
            d[at] = *b;
            rearmour(&d)
        }
        KeyMutation::Bit(i, b) => {
            let mut d = data;
            let at = i.index(d.len());
            d[at] ^= 1 << b;
            rearmour(&d)
        }
        KeyMutation::CutPackets(i) => rearmour(&data[..i.index(data.len())]),
        KeyMutation::Insert(i, bytes) => {
            let mut d = data;
            let at = i.index(d.len() + 1);
            d.splice(at..at, bytes.iter().copied());
            rearmour(&d)
        }
        KeyMutation::Checksum(line) => KEY
            .lines()
            .map(|l| if l.starts_with('=') { line.as_str() } else { l })
            .collect::<Vec<_>>()
            .join("\n"),
        KeyMutation::Header(h) => KEY.replacen("-----BEGIN PGP PUBLIC KEY BLOCK-----", h, 1),
        KeyMutation::Rewrap(w, crlf, c) => armour(&data, *w, if *crlf { "\r\n" } else { "\n" }, *c),
    }
}

/// A key pair made here, a text, and its cleartext and detached signatures.
struct Signed {
    public: String,
    text: String,
    cleartext: String,
    detached: String,
}

fn signed() -> &'static Signed {
    static SIGNED: OnceLock<Signed> = OnceLock::new();
    SIGNED.get_or_init(|| {
        let pw = Secret::new("correct horse battery".into());
        let pair = openpgp::generate("alice@example.org", &pw).unwrap();
        let (secret, _) = SignedSecretKey::from_string(pair.private_armored.expose()).unwrap();
        let password: pgp::types::Password = pw.expose().into();
        let text = "ausweis recovery for alice\nnonce 0123456789".to_string();
        let cleartext =
            CleartextSignedMessage::sign(rand::rngs::OsRng, &text, &secret.primary_key, &password)
                .unwrap()
                .to_armored_string(ArmorOptions::default())
                .unwrap();
        let detached = DetachedSignature::sign_binary_data(
            rand::rngs::OsRng,
            &secret.primary_key,
            &password,
            pgp::crypto::hash::HashAlgorithm::Sha256,
            text.as_bytes(),
        )
        .unwrap()
        .to_armored_string(ArmorOptions::default())
        .unwrap();
        Signed {
            public: pair.public.armored,
            text,
            cleartext,
            detached,
        }
    })
}

/// A byte-level change of a text: replace, insert or delete one byte.
fn mutate_text(text: &str, at: prop::sample::Index, how: u8, byte: u8) -> String {
    let mut t = text.as_bytes().to_vec();
    let i = at.index(t.len());
    match how % 3 {
        0 => t[i] = byte,
        1 => t.insert(i, byte),
        _ => {
            t.remove(i);
        }
    }
    String::from_utf8_lossy(&t).into_owned()
}

/// The text without trailing white space on its lines.
fn tidy(t: &str) -> String {
    t.replace("\r\n", "\n")
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
        .trim_end()
        .to_string()
}

proptest! {
    #![proptest_config(config(1024))]

    /// A mutated key is refused as `invalid_public_key`, or accepted as
    /// the very same key (same fingerprint): never another key, never a
    /// panic or an internal error.
    #[test]
    fn mutated_keys_are_refused_or_the_same_key(m in key_mutation()) {
        let text = apply(&m);
        match openpgp::check_public_key(&text) {
            Ok(k) => prop_assert_eq!(k.fingerprint.as_str(), fingerprint(), "{:?}", m),
            Err(Error::Invalid { code, .. }) => prop_assert_eq!(code, "invalid_public_key"),
            Err(e) => prop_assert!(false, "{m:?}: {e:?}"),
        }
    }

    /// Armour round trip: any line width and line ending reads back as the
    /// same key, and the stored form reads back to itself.
    #[test]
    fn armour_round_trips(width in 4usize..120, crlf in any::<bool>(), checksum in any::<bool>()) {
        let text = armour(&packets(KEY), width, if crlf { "\r\n" } else { "\n" }, checksum);
        let k = openpgp::check_public_key(&text).unwrap();
        prop_assert_eq!(k.fingerprint.as_str(), fingerprint());
        let again = openpgp::check_public_key(&k.armored).unwrap();
        prop_assert_eq!(again.armored, k.armored);
        prop_assert_eq!(again.fingerprint.as_str(), fingerprint());
    }

    #[test]
    fn armour_parsing_never_panics(text in "(-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n)?[A-Za-z0-9+/=\n]{0,400}(\n-----END PGP PUBLIC KEY BLOCK-----)?") {
        prop_assert!(openpgp::check_public_key(&text).is_err());
    }

    /// A mutated recovery proof verifies only for the text that was signed.
    #[test]
    fn mutated_proofs_verify_only_the_signed_text(
        at in any::<prop::sample::Index>(),
        how in any::<u8>(),
        byte in any::<u8>(),
        target in 0u8..3,
    ) {
        let s = signed();
        let (result, text_changed) = match target {
            0 => {
                let msg = mutate_text(&s.cleartext, at, how, byte);
                (openpgp::verify(&s.public, &Proof::Cleartext(&msg)), false)
            }
            1 => {
                let sig = mutate_text(&s.detached, at, how, byte);
                (openpgp::verify(&s.public, &Proof::Detached { signature: &sig, text: &s.text }), false)
            }
            _ => {
                let text = mutate_text(&s.text, at, how, byte);
                let changed = text != s.text;
                (openpgp::verify(&s.public, &Proof::Detached { signature: &s.detached, text: &text }), changed)
            }
        };
        match result {
            Ok(Some(t)) => {
                prop_assert!(!text_changed);
                prop_assert_eq!(tidy(&t), tidy(&s.text));
            }
            Ok(None) => {}
            Err(e) => prop_assert!(false, "{e:?}"),
        }
    }
}
