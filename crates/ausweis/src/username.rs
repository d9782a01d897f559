//! Usernames: normalised, validated, never reserved.

use unicode_normalization::UnicodeNormalization;

use crate::{Error, Result};

/// Shortest username, in characters.
pub const MIN_LEN: usize = 3;
/// Longest username, in characters.
pub const MAX_LEN: usize = 32;

/// Names that could be mistaken for the operators or for role mailboxes
/// (RFC 2142 lists the mailbox names), and names of our own routes.
const RESERVED: &[&str] = &[
    "abuse",
    "admin",
    "administrator",
    "api",
    "ausweis",
    "billing",
    "help",
    "hostmaster",
    "info",
    "mail",
    "mailer-daemon",
    "member",
    "members",
    "moderator",
    "news",
    "noc",
    "no-reply",
    "noreply",
    "nobody",
    "oidc",
    "operator",
    "postmaster",
    "privacy",
    "root",
    "security",
    "staff",
    "support",
    "sysadmin",
    "system",
    "team",
    "usenet",
    "uucp",
    "webmaster",
    "www",
];

/// A valid username: NFKC-normalised, lowercase, 3 to 32 characters of
/// `a-z 0-9 . _ -`, starting with a letter, not reserved.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Username(String);

impl Username {
    /// Normalises and validates what a person typed.
    pub fn parse(input: &str) -> Result<Self> {
        let name: String = input.trim().nfkc().collect::<String>().to_lowercase();
        let count = name.chars().count();
        if !(MIN_LEN..=MAX_LEN).contains(&count) {
            return Err(Error::invalid(
                "invalid_username",
                format!("username must be {MIN_LEN} to {MAX_LEN} characters long"),
            ));
        }
        if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(Error::invalid(
                "invalid_username",
                "username must start with a letter a-z",
            ));
        }
        let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_".contains(c);
        if !name.chars().all(allowed) {
            return Err(Error::invalid(
                "invalid_username",
                "username may contain only a-z, 0-9, '.', '_' and '-'",
            ));
        }
        if name.ends_with(['.', '_', '-']) {
            return Err(Error::invalid(
                "invalid_username",
                "username must end with a letter or digit",
            ));
        }
        // `ad.min` or `admin.` must not pass for `admin`
        let bare: String = name.chars().filter(|c| !".-_".contains(*c)).collect();
        if RESERVED.contains(&name.as_str()) || RESERVED.contains(&bare.as_str()) {
            return Err(Error::invalid(
                "reserved_username",
                "this username is reserved; choose another",
            ));
        }
        Ok(Username(name))
    }

    /// The normalised name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Username {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_are_normalised_and_lowercased() -> Result<()> {
        assert_eq!(Username::parse("  Alice ")?.as_str(), "alice");
        // Fullwidth letters fold to ASCII under NFKC.
        assert_eq!(Username::parse("\u{FF22}ob")?.as_str(), "bob");
        Ok(())
    }

    #[test]
    fn bad_names_are_refused() {
        for bad in [
            "ab",
            "1abc",
            "_abc",
            "a b c",
            "ädam",
            &"a".repeat(33),
            "Admin",
            "root",
        ] {
            assert!(Username::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn edge_lengths_are_accepted() {
        assert!(Username::parse("abc").is_ok());
        assert!(Username::parse(&"a".repeat(32)).is_ok());
        assert!(Username::parse("a.b_c-d9").is_ok());
    }

    proptest! {
        #[test]
        fn parsing_is_idempotent(s in "\\PC{0,40}") {
            if let Ok(u) = Username::parse(&s) {
                prop_assert_eq!(Username::parse(u.as_str()).ok(), Some(u));
            }
        }
    }
}
