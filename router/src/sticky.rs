//! Sticky sessions: remembers which provider a session got, for a TTL, in a store whose
//! size is bounded so memory cannot grow without limit.
//!
//! Entries are keyed by a 64-bit hash of (policy uid, session key), so a lookup allocates
//! nothing. The store is split into shards, each a map plus a FIFO of insertions. An entry's
//! TTL runs from its insertion and is not extended by hits, so FIFO order is expiry order:
//! evicting from the front removes the expired entries first and, when the shard is full,
//! the oldest live one. Every operation is amortised O(1).

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const SHARDS: usize = 16;

#[derive(Debug, Clone, Copy)]
struct Entry {
    provider: u16,
    expires: Instant,
}

#[derive(Debug, Default)]
struct Shard {
    map: HashMap<u64, Entry, BuildHasherDefault<IdentityHasher>>,
    /// Insertion order; may hold stale keys whose map entry was replaced since.
    order: VecDeque<(u64, Instant)>,
}

/// The keys are already xxh3 hashes; hashing them again would only cost time.
#[derive(Debug, Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A bounded, TTL-expiring map from session to provider index.
#[derive(Debug)]
pub struct StickyStore {
    shards: Vec<Mutex<Shard>>,
    shard_capacity: usize,
    ttl: Duration,
}

impl StickyStore {
    /// `capacity` is the most entries held at once (rounded up to a multiple of the shard count).
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        let shard_capacity = capacity.div_ceil(SHARDS).max(1);
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            shard_capacity,
            ttl,
        }
    }

    /// The key for a session under a policy.
    pub fn key(policy_uid: u32, session_key: &str) -> u64 {
        xxhash_rust::xxh3::xxh3_64_with_seed(session_key.as_bytes(), u64::from(policy_uid))
    }

    /// Most entries the store holds at once.
    pub fn capacity(&self) -> usize {
        self.shard_capacity * SHARDS
    }

    pub fn default_ttl(&self) -> Duration {
        self.ttl
    }

    fn shard(&self, key: u64) -> std::sync::MutexGuard<'_, Shard> {
        // The high bits pick the shard; the map uses the whole key.
        let idx = (key >> 60) as usize % SHARDS;
        // A panic while holding the lock cannot leave a shard inconsistent in a way that
        // matters (worst case a stale FIFO key), so a poisoned lock is still used.
        self.shards[idx].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The remembered provider, if the entry exists and has not expired at `now`.
    pub fn get(&self, key: u64, now: Instant) -> Option<usize> {
        let shard = self.shard(key);
        shard
            .map
            .get(&key)
            .filter(|e| e.expires > now)
            .map(|e| usize::from(e.provider))
    }

    /// Remembers `provider` for `key` until `now + ttl`.
    pub fn put(&self, key: u64, provider: usize, now: Instant, ttl: Duration) {
        let Ok(provider) = u16::try_from(provider) else {
            return;
        };
        let expires = now + ttl;
        let mut shard = self.shard(key);
        let shard = &mut *shard;
        // Drop expired entries from the front, then make room if the shard is full.
        while let Some(&(k, exp)) = shard.order.front() {
            let full = shard.map.len() >= self.shard_capacity && !shard.map.contains_key(&key);
            if exp > now && !full {
                break;
            }
            shard.order.pop_front();
            if shard.map.get(&k).is_some_and(|e| e.expires == exp) {
                shard.map.remove(&k);
            }
        }
        shard.map.insert(key, Entry { provider, expires });
        shard.order.push_back((key, expires));
        // Replaced keys leave stale FIFO items behind; compact when they pile up so the
        // queue stays bounded too.
        if shard.order.len() > 2 * self.shard_capacity + 16 {
            let map = &shard.map;
            shard
                .order
                .retain(|(k, exp)| map.get(k).is_some_and(|e| e.expires == *exp));
        }
    }

    /// Live and not-yet-evicted entries (expired ones are counted until evicted).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).map.len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_within_ttl_and_forgets_after() {
        let s = StickyStore::new(100, Duration::from_secs(10));
        let t0 = Instant::now();
        let k = StickyStore::key(1, "session");
        assert_eq!(s.get(k, t0), None);
        s.put(k, 3, t0, s.default_ttl());
        assert_eq!(s.get(k, t0 + Duration::from_secs(9)), Some(3));
        assert_eq!(s.get(k, t0 + Duration::from_secs(10)), None);
    }

    #[test]
    fn keys_differ_by_policy() {
        assert_ne!(StickyStore::key(1, "s"), StickyStore::key(2, "s"));
    }

    #[test]
    fn capacity_bound_holds() {
        let s = StickyStore::new(160, Duration::from_secs(60));
        let now = Instant::now();
        for i in 0..10_000 {
            s.put(
                StickyStore::key(0, &format!("s{i}")),
                1,
                now,
                s.default_ttl(),
            );
            assert!(s.len() <= s.capacity());
        }
        assert_eq!(s.capacity(), 160);
        assert!(
            s.len() > 100,
            "the store fills up to about its capacity: {}",
            s.len()
        );
        // The newest entry is always kept.
        assert_eq!(s.get(StickyStore::key(0, "s9999"), now), Some(1));
    }

    #[test]
    fn repeated_puts_of_one_key_stay_bounded() {
        let s = StickyStore::new(16, Duration::from_secs(60));
        let now = Instant::now();
        let k = StickyStore::key(0, "same");
        for i in 0..10_000u64 {
            s.put(k, 1, now + Duration::from_nanos(i), s.default_ttl());
        }
        assert_eq!(s.len(), 1);
        let order_len: usize = s.shards.iter().map(|x| x.lock().unwrap().order.len()).sum();
        assert!(order_len <= 2 * 16 + 16 + 1, "{order_len}");
    }

    #[test]
    fn expired_entries_are_evicted_on_insert() {
        let s = StickyStore::new(16, Duration::from_millis(5));
        let t0 = Instant::now();
        for i in 0..16 {
            s.put(
                StickyStore::key(0, &format!("a{i}")),
                0,
                t0,
                s.default_ttl(),
            );
        }
        let later = t0 + Duration::from_secs(1);
        for i in 0..16 {
            s.put(
                StickyStore::key(0, &format!("b{i}")),
                0,
                later,
                s.default_ttl(),
            );
        }
        assert!(s.len() <= 16);
        for i in 0..16 {
            assert_eq!(s.get(StickyStore::key(0, &format!("a{i}")), later), None);
        }
    }
}
