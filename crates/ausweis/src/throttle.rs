//! Slowing down password guessing per username, without any address.
//!
//! The record is keyed by a hash of the name (`throttle:{sha256}` in the
//! `sessions` store), kept for a day after the last failure, and applies to
//! unknown names exactly as to known ones.

use serde::{Deserialize, Serialize};

use crate::expiring::{self, Expiring};
use crate::kv::{Kv, Store};
use crate::random;
use crate::{Error, Result};

/// Failures allowed before attempts are slowed down.
pub const FREE_FAILURES: u32 = 5;
/// Longest wait between attempts, in seconds.
pub const MAX_DELAY: u64 = 15 * 60;
/// How long failures are remembered after the last one, in seconds.
pub const MEMORY: u64 = 24 * 3600;
const CAS_ATTEMPTS: usize = 16;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Failures {
    count: u32,
    locked_until: u64,
    /// Random marker, so each write is unique (see [`Kv::compare_and_swap`]).
    m: String,
}

/// Key of the failure record of a name.
pub fn key(name: &str) -> String {
    format!("throttle:{}", random::digest_hex("throttle", name))
}

/// Seconds to wait after `count` failures: none for the first five, then
/// doubling from one second up to [`MAX_DELAY`].
pub fn delay(count: u32) -> u64 {
    if count < FREE_FAILURES {
        return 0;
    }
    let doublings = (count - FREE_FAILURES).min(20);
    (1u64 << doublings).min(MAX_DELAY)
}

/// Refuses an attempt while the name is locked.
pub fn check(kv: &dyn Kv, name: &str, now: u64) -> Result<()> {
    let found = expiring::get_live::<Failures>(kv, Store::Sessions, &key(name), now)?;
    match found {
        Some((f, _)) if f.v.locked_until > now => Err(Error::Throttled {
            retry_after: f.v.locked_until - now,
        }),
        _ => Ok(()),
    }
}

/// Counts a failure; concurrent failures are all counted.
pub fn record_failure(kv: &dyn Kv, name: &str, now: u64) -> Result<()> {
    let k = key(name);
    for _ in 0..CAS_ATTEMPTS {
        let found = expiring::get_live::<Failures>(kv, Store::Sessions, &k, now)?;
        let (count, raw) = match &found {
            Some((f, raw)) => (f.v.count, Some(raw.as_slice())),
            None => (0, None),
        };
        let count = count.saturating_add(1);
        let next = Failures {
            count,
            locked_until: now + delay(count),
            m: random::token(8),
        };
        let encoded = expiring::encode(now + MEMORY, &next)?;
        if kv.compare_and_swap(Store::Sessions, &k, raw, &encoded)? {
            return Ok(());
        }
    }
    Err(Error::Internal("throttle record contended".into()))
}

/// Forgets the failures of a name after a successful login.
pub fn clear(kv: &dyn Kv, name: &str) -> Result<()> {
    kv.delete(Store::Sessions, &key(name))?;
    Ok(())
}

#[allow(dead_code, reason = "documents the stored shape for kv-schema")]
type Stored = Expiring<Failures>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryKv;

    #[test]
    fn five_failures_are_free_then_the_wait_doubles() {
        assert_eq!((0..5).map(delay).sum::<u64>(), 0);
        assert_eq!(delay(5), 1);
        assert_eq!(delay(6), 2);
        assert_eq!(delay(10), 32);
        assert_eq!(delay(40), MAX_DELAY);
    }

    #[test]
    fn sixth_attempt_within_the_wait_is_refused() -> Result<()> {
        let kv = MemoryKv::new();
        for _ in 0..4 {
            record_failure(&kv, "alice", 100)?;
        }
        check(&kv, "alice", 100)?;
        record_failure(&kv, "alice", 100)?;
        assert!(matches!(
            check(&kv, "alice", 100),
            Err(Error::Throttled { retry_after: 1 })
        ));
        check(&kv, "alice", 101)?;
        check(&kv, "bob", 100)?;
        clear(&kv, "alice")?;
        assert!(kv.all_keys(Store::Sessions).is_empty());
        Ok(())
    }
}
