//! Redemption against an in-memory shop double and a store that fails on
//! demand.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use super::*;
use crate::entitlements::EntitlementMap;
use crate::kv::{MemoryKv, StoreError};

const DAYS_365: u64 = 365 * DAY;
const NOW: u64 = 1_000_000;

/// The state of one ticket in the shop double.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Paid,
    Pending,
    Cancelled,
}

/// A ticket in the shop double: what it is, its state, the nonce it was
/// checked in with.
type Entry = (Ticket, State, Option<String>);

/// A shop double: tickets, check-ins with nonce idempotency, and switches
/// for an unreachable shop and for a reply lost after the check-in.
#[derive(Default)]
struct Shop {
    tickets: RefCell<HashMap<String, Entry>>,
    check_ins: Cell<u32>,
    down: Cell<bool>,
    lose_reply: Cell<bool>,
}

impl Shop {
    fn with(secret: &str, item: u64, state: State) -> Shop {
        let shop = Shop::default();
        shop.add(secret, item, state);
        shop
    }

    fn add(&self, secret: &str, item: u64, state: State) {
        let ticket = Ticket {
            item,
            variation: None,
        };
        self.tickets
            .borrow_mut()
            .insert(secret.into(), (ticket, state, None));
    }

    fn verdict(&self, secret: &Secret, nonce: Option<&str>) -> Result<Ticket> {
        if self.down.get() {
            return Err(Error::PretixUnavailable("connect"));
        }
        let tickets = self.tickets.borrow();
        let (ticket, state, checked) = tickets.get(secret.expose()).ok_or(Error::TicketUnknown)?;
        match (state, checked) {
            (State::Pending, _) => Err(Error::TicketUnpaid),
            (State::Cancelled, _) => Err(Error::TicketCancelled),
            (State::Paid, Some(n)) if Some(n.as_str()) != nonce => Err(Error::TicketRedeemed),
            (State::Paid, _) => Ok(*ticket),
        }
    }
}

impl TicketOffice for Shop {
    fn lookup(&self, secret: &Secret) -> Result<Ticket> {
        self.verdict(secret, None)
    }

    fn check_in(&self, secret: &Secret, nonce: &str) -> Result<()> {
        self.verdict(secret, Some(nonce))?;
        let mut tickets = self.tickets.borrow_mut();
        if let Some(entry) = tickets.get_mut(secret.expose()) {
            if entry.2.is_none() {
                entry.2 = Some(nonce.into());
                self.check_ins.set(self.check_ins.get() + 1);
            }
        }
        if self.lose_reply.get() {
            return Err(Error::PretixUnavailable("timeout"));
        }
        Ok(())
    }
}

/// A [`MemoryKv`] whose n-th write (set, delete, increment, swap) fails.
#[derive(Default)]
struct FaultyKv {
    inner: MemoryKv,
    writes: Cell<usize>,
    fail_at: Cell<Option<usize>>,
}

impl FaultyKv {
    fn write(&self, store: Store) -> Result<(), StoreError> {
        let n = self.writes.get();
        self.writes.set(n + 1);
        if self.fail_at.get() == Some(n) {
            return Err(StoreError {
                store: store.label(),
                kind: "injected",
            });
        }
        Ok(())
    }
}

impl Kv for FaultyKv {
    fn get(&self, store: Store, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(store, key)
    }
    fn set(&self, store: Store, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.write(store)?;
        self.inner.set(store, key, value)
    }
    fn delete(&self, store: Store, key: &str) -> Result<(), StoreError> {
        self.write(store)?;
        self.inner.delete(store, key)
    }
    fn keys(&self, store: Store, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.inner.keys(store, prefix)
    }
    fn increment(&self, store: Store, key: &str, delta: i64) -> Result<i64, StoreError> {
        self.write(store)?;
        self.inner.increment(store, key, delta)
    }
    fn compare_and_swap(
        &self,
        store: Store,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        self.write(store)?;
        self.inner.compare_and_swap(store, key, expected, new)
    }
}

fn settings() -> Settings {
    Settings {
        lifetime: 900,
        lease: 20,
        map: EntitlementMap::parse(
            r#"{"1": {"member": true, "permissions": [{"name": "member", "days": 365}]},
                "2": {"permissions": [{"name": "cloud", "days": 90}]}}"#,
        )
        .unwrap_or_default(),
    }
}

fn secret(s: &str) -> Secret {
    Secret::new(s.into())
}

fn store_text(kv: &MemoryKv) -> String {
    kv.values()
        .iter()
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

fn account(kv: &dyn Kv, id: &str) -> Result<()> {
    permissions::create(kv, id)
}

#[test]
fn a_paid_ticket_is_granted_once_and_leaves_nothing_behind() -> Result<()> {
    let kv = MemoryKv::new();
    let shop = Shop::with("SECRETPAID1", 1, State::Paid);
    let cookie = new_cookie();
    account(&kv, "acct1")?;

    let pending = start(
        &kv,
        &shop,
        &settings(),
        &cookie,
        &secret("SECRETPAID1"),
        NOW,
    )?;
    assert!(pending.grants.member);
    assert_eq!(pending.expires_at, NOW + 900);
    assert_eq!(kv.all_keys(Store::Redemptions), vec![key(&cookie)]);
    assert!(!store_text(&kv).contains("SECRETPAID1"));
    assert!(!store_text(&kv).contains(cookie.expose()));

    let done = apply(&kv, &shop, &settings(), &cookie, "acct1", NOW + 5)?;
    assert!(done.member);
    assert_eq!(done.permissions["member"], NOW + 5 + DAYS_365);
    assert_eq!(shop.check_ins.get(), 1);
    assert!(kv.all_keys(Store::Redemptions).is_empty());
    let g = permissions::get(&kv, "acct1")?;
    assert!(g.applied.is_empty() && g.member);
    assert!(matches!(
        apply(&kv, &shop, &settings(), &cookie, "acct1", NOW + 6),
        Err(Error::NoRedemption)
    ));
    Ok(())
}

#[test]
fn second_ticket_extends_from_the_current_expiry() -> Result<()> {
    let kv = MemoryKv::new();
    let shop = Shop::with("A1", 1, State::Paid);
    shop.add("A2", 1, State::Paid);
    account(&kv, "acct1")?;
    for s in ["A1", "A2"] {
        let cookie = new_cookie();
        start(&kv, &shop, &settings(), &cookie, &secret(s), NOW)?;
        apply(&kv, &shop, &settings(), &cookie, "acct1", NOW)?;
    }
    assert_eq!(
        permissions::get(&kv, "acct1")?.permissions["member"],
        NOW + 2 * DAYS_365
    );
    Ok(())
}

#[test]
fn refusals_store_nothing() -> Result<()> {
    let kv = MemoryKv::new();
    let shop = Shop::with("PAID", 1, State::Paid);
    shop.add("UNPAID", 1, State::Pending);
    shop.add("GONE", 1, State::Cancelled);
    shop.add("ODD", 9, State::Paid);
    let cookie = new_cookie();
    let run = |s: &str| start(&kv, &shop, &settings(), &cookie, &secret(s), NOW);
    assert!(matches!(run("NOPE"), Err(Error::TicketUnknown)));
    assert!(matches!(run("UNPAID"), Err(Error::TicketUnpaid)));
    assert!(matches!(run("GONE"), Err(Error::TicketCancelled)));
    assert!(matches!(run("ODD"), Err(Error::ItemNotRedeemable)));
    assert!(matches!(run("has space"), Err(Error::Invalid { .. })));
    shop.down.set(true);
    assert!(matches!(run("PAID"), Err(Error::PretixUnavailable(_))));
    assert!(kv.values().is_empty());
    Ok(())
}

#[test]
fn two_browsers_redeeming_one_ticket_grant_once() -> Result<()> {
    let kv = MemoryKv::new();
    let shop = Shop::with("SHARED", 2, State::Paid);
    account(&kv, "a")?;
    account(&kv, "b")?;
    let (ca, cb) = (new_cookie(), new_cookie());
    start(&kv, &shop, &settings(), &ca, &secret("SHARED"), NOW)?;
    start(&kv, &shop, &settings(), &cb, &secret("SHARED"), NOW)?;
    apply(&kv, &shop, &settings(), &ca, "a", NOW)?;
    assert!(matches!(
        apply(&kv, &shop, &settings(), &cb, "b", NOW),
        Err(Error::TicketRedeemed)
    ));
    assert!(permissions::get(&kv, "b")?.permissions.is_empty());
    assert!(kv.all_keys(Store::Redemptions).is_empty());
    assert_eq!(shop.check_ins.get(), 1);
    Ok(())
}

#[test]
fn a_link_taken_by_one_account_is_refused_to_another() -> Result<()> {
    let kv = MemoryKv::new();
    let shop = Shop::with("S1", 2, State::Paid);
    account(&kv, "a")?;
    account(&kv, "b")?;
    let cookie = new_cookie();
    start(&kv, &shop, &settings(), &cookie, &secret("S1"), NOW)?;
    shop.down.set(true);
    assert!(apply(&kv, &shop, &settings(), &cookie, "a", NOW).is_err());
    shop.down.set(false);
    assert!(matches!(
        apply(&kv, &shop, &settings(), &cookie, "b", NOW),
        Err(Error::RedemptionPending)
    ));
    apply(&kv, &shop, &settings(), &cookie, "a", NOW)?;
    assert!(permissions::get(&kv, "b")?.permissions.is_empty());
    Ok(())
}

#[test]
fn a_link_in_progress_is_busy_and_cannot_be_replaced() -> Result<()> {
    let kv = FaultyKv::default();
    let shop = Shop::with("S1", 2, State::Paid);
    shop.add("S2", 1, State::Paid);
    account(&kv, "a")?;
    let cookie = new_cookie();
    start(&kv, &shop, &settings(), &cookie, &secret("S1"), NOW)?;
    // the write after the lease (recording the check-in) fails: lease stays
    kv.fail_at.set(Some(kv.writes.get() + 1));
    assert!(matches!(
        apply(&kv, &shop, &settings(), &cookie, "a", NOW),
        Err(Error::Store(_))
    ));
    kv.fail_at.set(None);
    assert!(matches!(
        apply(&kv, &shop, &settings(), &cookie, "a", NOW + 1),
        Err(Error::RedemptionBusy)
    ));
    assert!(matches!(
        start(&kv, &shop, &settings(), &cookie, &secret("S2"), NOW + 1),
        Err(Error::RedemptionPending)
    ));
    // the same secret answers from the link, without asking the shop
    shop.down.set(true);
    assert!(start(&kv, &shop, &settings(), &cookie, &secret("S1"), NOW + 1).is_ok());
    shop.down.set(false);
    apply(&kv, &shop, &settings(), &cookie, "a", NOW + 21)?;
    assert_eq!(shop.check_ins.get(), 1);
    Ok(())
}

#[test]
fn an_untouched_link_is_replaced_by_another_ticket() -> Result<()> {
    let kv = MemoryKv::new();
    let shop = Shop::with("S1", 2, State::Paid);
    shop.add("S2", 1, State::Paid);
    let cookie = new_cookie();
    start(&kv, &shop, &settings(), &cookie, &secret("S1"), NOW)?;
    let p = start(&kv, &shop, &settings(), &cookie, &secret("S2"), NOW)?;
    assert!(p.grants.member);
    assert_eq!(kv.all_keys(Store::Redemptions).len(), 1);
    Ok(())
}

#[test]
fn a_lost_check_in_reply_is_retried_with_the_same_nonce() -> Result<()> {
    let kv = MemoryKv::new();
    let shop = Shop::with("S1", 1, State::Paid);
    account(&kv, "a")?;
    let cookie = new_cookie();
    start(&kv, &shop, &settings(), &cookie, &secret("S1"), NOW)?;
    shop.lose_reply.set(true);
    assert!(matches!(
        apply(&kv, &shop, &settings(), &cookie, "a", NOW),
        Err(Error::PretixUnavailable(_))
    ));
    shop.lose_reply.set(false);
    // released at once: no wait for the lease
    let done = apply(&kv, &shop, &settings(), &cookie, "a", NOW + 1)?;
    assert_eq!(done.permissions["member"], NOW + 1 + DAYS_365);
    assert_eq!(shop.check_ins.get(), 1);
    Ok(())
}

/// A store failure at every write of `apply`, then a retry once the lease
/// has run out: the ticket is checked in once and granted exactly once.
#[test]
fn a_store_failure_at_any_step_neither_loses_nor_doubles_the_grant() -> Result<()> {
    let mut seen_failures = 0;
    for step in 0..12 {
        let kv = FaultyKv::default();
        let shop = Shop::with("S1", 1, State::Paid);
        account(&kv, "a")?;
        let cookie = new_cookie();
        start(&kv, &shop, &settings(), &cookie, &secret("S1"), NOW)?;
        kv.fail_at.set(Some(kv.writes.get() + step));
        let first = apply(&kv, &shop, &settings(), &cookie, "a", NOW);
        kv.fail_at.set(None);
        if first.is_err() {
            seen_failures += 1;
            let retry = apply(&kv, &shop, &settings(), &cookie, "a", NOW + 21);
            assert!(
                retry.is_ok() || matches!(retry, Err(Error::NoRedemption)),
                "step {step}: {retry:?}"
            );
        }
        let g = permissions::get(&kv, "a")?;
        let exp = g.permissions.get("member").copied().unwrap_or(0);
        assert!(
            exp == NOW + DAYS_365 || exp == NOW + 21 + DAYS_365,
            "step {step}: granted {exp}"
        );
        assert_eq!(shop.check_ins.get(), 1, "step {step}");
        assert!(
            kv.inner.all_keys(Store::Redemptions).is_empty(),
            "step {step}"
        );
    }
    // the loop covered the lease, the check-in record, the grant and the delete
    assert!(seen_failures >= 4, "{seen_failures}");
    Ok(())
}

#[test]
fn registration_setting_follows_pretix_unless_overridden() -> Result<()> {
    let vars = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    assert!(!requires_ticket(&vars(&[("pretix_url", "")]))?);
    assert!(requires_ticket(&vars(&[(
        "pretix_url",
        "https://shop.example"
    )]))?);
    assert!(!requires_ticket(&vars(&[
        ("pretix_url", "https://shop.example"),
        ("registration_requires_ticket", "false")
    ]))?);
    assert!(requires_ticket(&vars(&[(
        "registration_requires_ticket",
        "true"
    )]))?);
    assert!(requires_ticket(&vars(&[("registration_requires_ticket", "maybe")])).is_err());
    Ok(())
}

#[test]
fn only_a_live_link_counts_for_registration() -> Result<()> {
    let kv = MemoryKv::new();
    let shop = Shop::with("S1", 1, State::Paid);
    let cookie = new_cookie();
    assert!(!has_live_link(&kv, &cookie, NOW)?);
    start(&kv, &shop, &settings(), &cookie, &secret("S1"), NOW)?;
    assert!(has_live_link(&kv, &cookie, NOW + 899)?);
    assert!(!has_live_link(&kv, &cookie, NOW + 900)?);
    assert!(!has_live_link(&kv, &new_cookie(), NOW)?);
    Ok(())
}

#[test]
fn expired_links_are_swept_by_later_redemptions() -> Result<()> {
    let kv = MemoryKv::new();
    let shop = Shop::with("S1", 1, State::Paid);
    shop.add("S2", 1, State::Paid);
    let abandoned = new_cookie();
    start(&kv, &shop, &settings(), &abandoned, &secret("S1"), NOW)?;
    let fresh = new_cookie();
    start(&kv, &shop, &settings(), &fresh, &secret("S2"), NOW + 900)?;
    assert_eq!(kv.all_keys(Store::Redemptions), vec![key(&fresh)]);
    Ok(())
}
