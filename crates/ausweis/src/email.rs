//! E-mail addresses, kept only for account recovery.

use crate::{Error, Result};

/// Longest address (RFC 5321 section 4.5.3.1.3 limits a path to 256 octets,
/// of which an address can use 254).
pub const MAX_LEN: usize = 254;

/// A syntactically valid address: `local@domain`, a dot-atom local part of
/// at most 64 octets, and a domain of LDH labels with at least one dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Validates an address; the domain is lowercased, the local part kept.
    pub fn parse(input: &str) -> Result<Self> {
        let bad = || Error::invalid("invalid_email", "email must look like name@example.org");
        let input = input.trim();
        if input.len() > MAX_LEN {
            return Err(bad());
        }
        let (local, domain) = input.rsplit_once('@').ok_or_else(bad)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        let domain = domain.to_ascii_lowercase();
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !local_ok || !domain_ok {
            return Err(bad());
        }
        Ok(Email(format!("{local}@{domain}")))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_addresses_pass_and_domains_are_lowercased() -> Result<()> {
        assert_eq!(
            Email::parse("Jo.Doe+x@Example.ORG")?.as_str(),
            "Jo.Doe+x@example.org"
        );
        Ok(())
    }

    #[test]
    fn bad_addresses_are_refused() {
        for bad in [
            "", "a", "a@b", "@b.c", "a@.c", "a..b@c.d", "a@b..c", "a b@c.d", "a@-b.c",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} was accepted");
        }
    }
}
