//! How much linear memory and how many table elements the instances of each
//! component reached, measured with a wasmtime `ResourceLimiter` on every
//! instance's store.
//!
//! The limiter allows every growth, as Spin does unless
//! `max_instance_memory` is configured; it only keeps count. wasmtime asks
//! it before each memory or table is made (from size 0) and before each
//! growth, and memories never shrink, so the sum of the growths it allowed
//! is an instance's total size at that moment.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The peaks over every instance of one component in one app.
#[derive(Debug, Default)]
pub(crate) struct ComponentPeaks {
    memory_bytes: AtomicU64,
    table_elements: AtomicU64,
    instances: AtomicU64,
}

/// A snapshot of [`ComponentPeaks`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeakUsage {
    /// The largest total linear memory (all memories of the instance) that
    /// any one instance reached, in bytes.
    pub memory_bytes: u64,
    /// The largest total number of table elements of any one instance.
    pub table_elements: u64,
    /// How many instances were made (one per request).
    pub instances: u64,
}

impl ComponentPeaks {
    pub(crate) fn snapshot(&self) -> PeakUsage {
        PeakUsage {
            memory_bytes: self.memory_bytes.load(Ordering::Relaxed),
            table_elements: self.table_elements.load(Ordering::Relaxed),
            instances: self.instances.load(Ordering::Relaxed),
        }
    }
}

/// The limiter of one instance: its running totals, folded into the
/// component's peaks at every growth.
pub(crate) struct InstanceLimiter {
    peaks: Arc<ComponentPeaks>,
    memory_bytes: u64,
    table_elements: u64,
}

impl InstanceLimiter {
    pub(crate) fn new(peaks: Arc<ComponentPeaks>) -> InstanceLimiter {
        peaks.instances.fetch_add(1, Ordering::Relaxed);
        InstanceLimiter {
            peaks,
            memory_bytes: 0,
            table_elements: 0,
        }
    }
}

/// The growth from `current` to `desired` if it will succeed (wasmtime
/// still refuses a growth past `maximum` after the limiter said yes).
fn growth(current: usize, desired: usize, maximum: Option<usize>) -> u64 {
    if maximum.is_some_and(|max| desired > max) {
        return 0;
    }
    desired.saturating_sub(current) as u64
}

impl wasmtime::ResourceLimiter for InstanceLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.memory_bytes += growth(current, desired, maximum);
        self.peaks
            .memory_bytes
            .fetch_max(self.memory_bytes, Ordering::Relaxed);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.table_elements += growth(current, desired, maximum);
        self.peaks
            .table_elements
            .fetch_max(self.table_elements, Ordering::Relaxed);
        Ok(true)
    }
}
