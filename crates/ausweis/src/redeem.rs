//! Redeeming Pretix tickets into expiring permissions, with no lasting link
//! between a payment and an account.
//!
//! # The redemption link
//!
//! A browser that redeems a ticket gets a random cookie of its own (apart
//! from the login session, whose id changes at login). The store keeps one
//! short-lived record per such cookie, `redemptions` / `link:{hash}`:
//! what the ticket's item grants, the ticket secret sealed under a key
//! derived from the cookie (see [`crate::seal`]), and progress flags. The
//! store never holds the cookie, the secret in a usable form, the order code
//! or anything else from Pretix; the check-in nonce sent to Pretix and the
//! tags that bind the link to an account are all keyed by the cookie too,
//! so without the browser nothing in the stores connects a ticket, a
//! check-in and an account.
//!
//! # Steps and why in this order
//!
//! 1. [`start`]: look the ticket up at Pretix (nothing is stored unless it
//!    is paid, unredeemed and its item grants something), then store the
//!    link. Pretix is not changed, so an abandoned link just expires and the
//!    ticket stays redeemable.
//! 2. [`apply`], logged in: (a) take the link for this account with a
//!    compare-and-swap that also sets a short lease, so only one request at
//!    a time talks to Pretix for this link; (b) check the ticket in at
//!    Pretix with a nonce derived from the link, so every retry of this link
//!    sends the same nonce and Pretix checks it in at most once; (c) record
//!    "checked in" in the link and drop the sealed secret; (d) extend the
//!    account's permissions in one compare-and-swap that also records a
//!    marker of this link, so a retry after a crash applies nothing twice;
//!    (e) delete the link, then the marker.
//!
//! Pretix's check-in decides the one winner among concurrent redemptions of
//! one ticket: each browser has its own link and so its own nonce, and
//! Pretix checks a ticket in for one nonce only (the others get
//! `already_redeemed`). Deciding it in our store instead would need a key
//! derived from the ticket secret that outlives the redemption, which is
//! exactly what must not be kept. The check-in comes before the grant, so a
//! failure in between can at worst leave a checked-in ticket with a link
//! that still holds what it grants: the link then lives for another full
//! redemption period for the member to retry. A grant before the check-in
//! could instead leave a granted ticket that is still redeemable, which no
//! retry can undo.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::config::Vars;
use crate::entitlements::{Entitlement, EntitlementMap};
use crate::expiring;
use crate::kv::{Kv, Store};
use crate::permissions;
use crate::random;
use crate::seal;
use crate::secret::Secret;
use crate::{Error, Result};

/// Bytes of randomness in a redemption cookie: 256 bits, as a session id.
pub const COOKIE_BYTES: usize = 32;
/// Length of a redemption cookie as unpadded base64url.
pub const COOKIE_LEN: usize = 43;
/// Longest ticket secret accepted. Pretix makes 32 characters by default
/// and allows imported secrets of up to a few dozen.
pub const MAX_SECRET_LEN: usize = 200;
/// Seconds in a day.
const DAY: u64 = 86_400;
/// Compare-and-swap rounds before giving up on a contended link.
const ATTEMPTS: usize = 8;
/// Most links one redemption looks at when it sweeps expired ones.
const SWEEP: usize = 64;

/// What Pretix says about a ticket that may be redeemed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    /// Pretix item id.
    pub item: u64,
    /// Pretix variation id, if the item has variations.
    pub variation: Option<u64>,
}

/// The ticket shop, as redemption needs it (Pretix in production, a double
/// in tests).
pub trait TicketOffice {
    /// Looks a ticket up without changing it. A ticket that cannot be
    /// redeemed is an error: [`Error::TicketUnknown`],
    /// [`Error::TicketRedeemed`], [`Error::TicketUnpaid`],
    /// [`Error::TicketCancelled`]; a shop that cannot answer is
    /// [`Error::PretixUnavailable`] or [`Error::PretixFailed`].
    fn lookup(&self, secret: &Secret) -> Result<Ticket>;

    /// Checks the ticket in. Repeating a call with the same `nonce` must
    /// succeed again without a second check-in. Errors as for `lookup`,
    /// plus [`Error::TicketRefused`].
    fn check_in(&self, secret: &Secret, nonce: &str) -> Result<()>;
}

/// Settings of redemption.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Seconds a link lives (`redemption_minutes`).
    pub lifetime: u64,
    /// Seconds one request may hold a link while it talks to Pretix: longer
    /// than the whole Pretix call may take.
    pub lease: u64,
    /// What each item grants.
    pub map: EntitlementMap,
}

/// The stored link.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Link {
    /// Random id of this link.
    rid: String,
    /// What the ticket grants.
    grants: Entitlement,
    /// The ticket secret, sealed by the cookie; gone once checked in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealed: Option<String>,
    /// Tag of the account that took the link (keyed by the cookie).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    owner: Option<String>,
    /// Unix time until which a request is checking the ticket in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lease: Option<u64>,
    /// Whether Pretix has checked the ticket in for this link.
    #[serde(default)]
    checked_in: bool,
    /// Random marker of this write (see [`Kv::compare_and_swap`]).
    m: String,
}

/// A ticket checked and waiting for an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// What the ticket grants.
    pub grants: Entitlement,
    /// Unix time the link expires at.
    pub expires_at: u64,
}

/// A redemption applied to an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// What the ticket granted.
    pub grants: Entitlement,
    /// Whether the account is a member now.
    pub member: bool,
    /// The granted permissions with their new expiry (Unix seconds).
    pub permissions: BTreeMap<String, u64>,
}

/// Whether a string has the shape of a redemption cookie.
pub fn well_formed_cookie(cookie: &str) -> bool {
    cookie.len() == COOKIE_LEN
        && cookie
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A fresh redemption cookie value.
pub fn new_cookie() -> Secret {
    Secret::new(random::token(COOKIE_BYTES))
}

/// The store key of a cookie's link.
pub fn key(cookie: &Secret) -> String {
    format!("link:{}", random::digest_hex("redemption", cookie.expose()))
}

fn keyed(domain: &str, cookie: &Secret, value: &str) -> String {
    let input = zeroize::Zeroizing::new(format!("{}\0{value}", cookie.expose()));
    random::digest_hex(domain, &input)
}

/// The Pretix check-in nonce of a link: the same for every retry of the
/// link, unrelated to anything stored without the cookie.
fn nonce(cookie: &Secret, rid: &str) -> String {
    keyed("pretix nonce", cookie, rid)[..32].to_owned()
}

/// Checks the shape of a ticket secret before it goes anywhere.
pub fn check_secret(secret: &str) -> Result<()> {
    let ok = !secret.is_empty()
        && secret.len() <= MAX_SECRET_LEN
        && secret.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "invalid_secret",
            "the ticket secret is 1 to 200 printable characters without spaces",
        ))
    }
}

/// Whether registration requires a redeemed ticket: the variable
/// `registration_requires_ticket` (`true`, `false`, or `auto`: on iff
/// `pretix_url` is set).
pub fn requires_ticket(vars: &dyn Vars) -> Result<bool> {
    let setting = vars
        .get("registration_requires_ticket")
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match setting.as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        "auto" | "" => Ok(vars.get("pretix_url").is_some_and(|u| !u.trim().is_empty())),
        _ => Err(Error::Config(
            "registration_requires_ticket must be auto, true or false".into(),
        )),
    }
}

/// Whether a live link exists for this cookie. Reads only.
pub fn has_live_link(kv: &dyn Kv, cookie: &Secret, now: u64) -> Result<bool> {
    if !well_formed_cookie(cookie.expose()) {
        return Ok(false);
    }
    let Some(raw) = kv.get(Store::Redemptions, &key(cookie))? else {
        return Ok(false);
    };
    let link: expiring::Expiring<Link> = serde_json::from_slice(&raw)
        .map_err(|_| Error::Internal("unreadable redemption link".into()))?;
    Ok(link.exp > now)
}

fn read(kv: &dyn Kv, k: &str, now: u64) -> Result<Option<(Link, u64, Vec<u8>)>> {
    Ok(expiring::get_live::<Link>(kv, Store::Redemptions, k, now)?
        .map(|(e, raw)| (e.v, e.exp, raw)))
}

/// Replaces `old` with `link`; the new bytes if this call won.
fn swap(kv: &dyn Kv, k: &str, old: &[u8], exp: u64, link: &mut Link) -> Result<Option<Vec<u8>>> {
    link.m = random::token(8);
    let new = expiring::encode(exp, link)?;
    Ok(kv
        .compare_and_swap(Store::Redemptions, k, Some(old), &new)?
        .then_some(new))
}

fn holds_secret(cookie: &Secret, link: &Link, secret: &Secret) -> Result<bool> {
    let Some(sealed) = &link.sealed else {
        return Ok(false);
    };
    Ok(seal::open(cookie, &link.rid, sealed)?
        .is_some_and(|held| bool::from(held.expose().as_bytes().ct_eq(secret.expose().as_bytes()))))
}

/// Step 1: checks a ticket at the shop and stores the link for `cookie`.
///
/// Redeeming the secret this browser's link already holds answers from the
/// link without asking Pretix (a retry may follow a check-in that went
/// through unnoticed). Another ticket replaces a link that nobody has begun
/// to apply; a link in progress must be finished first.
pub fn start(
    kv: &dyn Kv,
    office: &dyn TicketOffice,
    settings: &Settings,
    cookie: &Secret,
    secret: &Secret,
    now: u64,
) -> Result<Pending> {
    check_secret(secret.expose())?;
    if !well_formed_cookie(cookie.expose()) {
        return Err(Error::Internal("malformed redemption cookie".into()));
    }
    // best effort: a store that cannot list fails below anyway
    let _ = sweep(kv, now);
    let k = key(cookie);
    let existing = read(kv, &k, now)?;
    if let Some((link, exp, _)) = &existing {
        if holds_secret(cookie, link, secret)? {
            return Ok(Pending {
                grants: link.grants.clone(),
                expires_at: *exp,
            });
        }
        if link.owner.is_some() || link.checked_in {
            return Err(Error::RedemptionPending);
        }
    }

    let ticket = office.lookup(secret)?;
    let grants = settings
        .map
        .lookup(ticket.item, ticket.variation)
        .ok_or(Error::ItemNotRedeemable)?
        .clone();
    let rid = random::token(16);
    let mut link = Link {
        sealed: Some(seal::seal(cookie, &rid, secret)?),
        rid,
        grants,
        owner: None,
        lease: None,
        checked_in: false,
        m: random::token(8),
    };
    let exp = now + settings.lifetime;
    match existing {
        Some((_, _, raw)) => {
            if swap(kv, &k, &raw, exp, &mut link)?.is_none() {
                // another request of this browser changed it meanwhile
                return Err(Error::RedemptionPending);
            }
        }
        // A plain write: if two requests of one browser race here, one link
        // overwrites the other before either was applied, so nothing is
        // lost or granted twice.
        None => expiring::put(kv, Store::Redemptions, &k, exp, &link)?,
    }
    Ok(Pending {
        grants: link.grants,
        expires_at: exp,
    })
}

/// Deletes expired links that nobody came back for (at most [`SWEEP`] per
/// call), so that abandoned links do not stay in the store. An expired link
/// holds nothing usable without its cookie, but it should not linger.
fn sweep(kv: &dyn Kv, now: u64) -> Result<()> {
    for k in kv.keys(Store::Redemptions, "link:")?.iter().take(SWEEP) {
        // reading an expired value deletes it
        let _ = expiring::get_live::<Link>(kv, Store::Redemptions, k, now)?;
    }
    Ok(())
}

fn definitive(e: &Error) -> bool {
    matches!(
        e,
        Error::TicketUnknown
            | Error::TicketRedeemed
            | Error::TicketUnpaid
            | Error::TicketCancelled
            | Error::TicketRefused { .. }
    )
}

/// Step 2: applies this browser's link to `account_id`, checking the ticket
/// in at the shop first. Safe to retry after any failure.
pub fn apply(
    kv: &dyn Kv,
    office: &dyn TicketOffice,
    settings: &Settings,
    cookie: &Secret,
    account_id: &str,
    now: u64,
) -> Result<Applied> {
    if !well_formed_cookie(cookie.expose()) {
        return Err(Error::NoRedemption);
    }
    let k = key(cookie);
    let me = keyed("redemption owner", cookie, account_id);
    for _ in 0..ATTEMPTS {
        let Some((mut link, mut exp, raw)) = read(kv, &k, now)? else {
            return Err(Error::NoRedemption);
        };
        if link.owner.as_deref().is_some_and(|o| o != me) {
            // taken by another account logged in in this browser, which
            // may still need it to finish: leave it for that account
            return Err(Error::RedemptionPending);
        }
        if !link.checked_in {
            if link.lease.is_some_and(|until| until > now) {
                return Err(Error::RedemptionBusy);
            }
            link.owner = Some(me.clone());
            link.lease = Some(now + settings.lease);
            let Some(leased) = swap(kv, &k, &raw, exp, &mut link)? else {
                continue;
            };
            let secret = link
                .sealed
                .as_deref()
                .map(|s| seal::open(cookie, &link.rid, s))
                .transpose()?
                .flatten()
                .ok_or_else(|| Error::Internal("redemption link does not open".into()))?;
            match office.check_in(&secret, &nonce(cookie, &link.rid)) {
                Ok(()) => {
                    link.checked_in = true;
                    link.sealed = None;
                    link.lease = None;
                    // a full period from now to finish, should the next step fail.
                    // TODO(#4): if every retry fails for that long, the ticket is
                    // used up without a grant; keep a record an operator can see.
                    exp = exp.max(now + settings.lifetime);
                    if swap(kv, &k, &leased, exp, &mut link)?.is_none() {
                        continue;
                    }
                }
                Err(e) if definitive(&e) => {
                    // the ticket can never be redeemed through this link;
                    // we hold the lease, so nobody else changed it meanwhile
                    if kv.get(Store::Redemptions, &k)?.as_deref() == Some(leased.as_slice()) {
                        kv.delete(Store::Redemptions, &k)?;
                    }
                    return Err(e);
                }
                Err(e) => {
                    // let a retry start at once; if this fails the lease ends by itself
                    link.lease = None;
                    let _ = swap(kv, &k, &leased, exp, &mut link);
                    return Err(e);
                }
            }
        }
        return finish(kv, cookie, account_id, &k, &link, exp, now);
    }
    Err(Error::RedemptionBusy)
}

/// Steps (d) and (e): grant once, delete the link, forget the marker.
fn finish(
    kv: &dyn Kv,
    cookie: &Secret,
    account_id: &str,
    k: &str,
    link: &Link,
    exp: u64,
    now: u64,
) -> Result<Applied> {
    let marker = keyed("redemption applied", cookie, &link.rid);
    let g = permissions::update(kv, account_id, |g| {
        g.applied.retain(|_, until| *until > now);
        if !g.applied.contains_key(&marker) {
            g.member |= link.grants.member;
            for p in &link.grants.permissions {
                permissions::extend(g, &p.name, p.days * DAY, now);
            }
            // kept while the link may live, so a retry finds it
            g.applied.insert(marker.clone(), exp);
        }
        Ok(())
    })?;
    kv.delete(Store::Redemptions, k)?;
    // best effort: an unremoved marker is pruned once it has expired
    let _ = permissions::update(kv, account_id, |g| {
        g.applied.remove(&marker);
        Ok(())
    });
    let permissions = link
        .grants
        .permissions
        .iter()
        .filter_map(|p| g.permissions.get(&p.name).map(|e| (p.name.clone(), *e)))
        .collect();
    Ok(Applied {
        grants: link.grants.clone(),
        member: g.member,
        permissions,
    })
}

#[cfg(test)]
mod tests;
