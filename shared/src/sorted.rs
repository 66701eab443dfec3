//! Small ordered maps and sets kept as sorted vectors.
//!
//! A client session holds a handful of maps keyed by id (its chats, the
//! messages waiting for an ack, the refused ones, who it told it is typing),
//! each a few to a few thousand entries. `BTreeMap` would do, but in the
//! browser bundle every key/value pair of types instantiates its own copy of
//! the B-tree's node code (insert, remove, search, iteration, drop: several
//! KB each after wasm-opt). A sorted `Vec` searched by bisection costs a few
//! hundred bytes per instantiation, iterates in the same key order, and at
//! these sizes moving the tail on an insert costs less than the B-tree's
//! allocations.
//!
//! The widget uses the map too, for its few small maps (sockets, rendered
//! messages, the in-memory storage fallback), which saves it the hash table
//! code as well.
//!
//! Only what those need is here. Semantics follow `BTreeMap` and
//! `BTreeSet`: one entry per key, iteration in ascending key order,
//! `insert` on a present key replaces the value and keeps the key, lookups
//! take any borrowed form of the key.

use std::borrow::Borrow;

/// An ordered map as a `Vec` of entries sorted by key, unique keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SortedMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Default for SortedMap<K, V> {
    fn default() -> Self {
        SortedMap {
            entries: Vec::new(),
        }
    }
}

impl<K: Ord, V> SortedMap<K, V> {
    /// An empty map.
    pub fn new() -> Self {
        SortedMap::default()
    }

    /// Where `key` is (`Ok`), or where it would go (`Err`).
    fn find<Q: Ord + ?Sized>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
    {
        self.entries
            .binary_search_by(|(held, _)| held.borrow().cmp(key))
    }

    /// The value under `key`.
    pub fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|at| &self.entries[at].1)
    }

    /// The value under `key`, to change.
    pub fn get_mut<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|at| &mut self.entries[at].1)
    }

    /// True if `key` has a value.
    pub fn contains_key<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.find(key).is_ok()
    }

    /// Puts `value` under `key`; returns the value it replaces.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(at) => Some(std::mem::replace(&mut self.entries[at].1, value)),
            Err(at) => {
                self.entries.insert(at, (key, value));
                None
            }
        }
    }

    /// Takes the value under `key` out.
    pub fn remove<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        let at = self.find(key).ok()?;
        Some(self.entries.remove(at).1)
    }

    /// The value under `key`, first put there by `make` if there is none
    /// (`BTreeMap`'s `entry(key).or_insert_with(make)`).
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        let at = match self.find(&key) {
            Ok(at) => at,
            Err(at) => {
                self.entries.insert(at, (key, make()));
                at
            }
        };
        &mut self.entries[at].1
    }

    /// Entries in ascending key order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> + ExactSizeIterator {
        self.entries.iter().map(|(key, value)| (key, value))
    }

    /// Keys in ascending order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> + ExactSizeIterator {
        self.entries.iter().map(|(key, _)| key)
    }

    /// Values in ascending key order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator {
        self.entries.iter().map(|(_, value)| value)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Keeps only the entries `keep` says yes to.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.entries.retain_mut(|(key, value)| keep(key, value));
    }
}

impl<K, V> IntoIterator for SortedMap<K, V> {
    type Item = (K, V);
    type IntoIter = std::vec::IntoIter<(K, V)>;

    /// Entries in ascending key order.
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

/// An ordered set as a sorted `Vec` without duplicates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SortedSet<K> {
    keys: Vec<K>,
}

impl<K> Default for SortedSet<K> {
    fn default() -> Self {
        SortedSet { keys: Vec::new() }
    }
}

impl<K: Ord> SortedSet<K> {
    /// An empty set.
    pub fn new() -> Self {
        SortedSet::default()
    }

    /// Adds `key`; true if it was not there.
    pub fn insert(&mut self, key: K) -> bool {
        match self.keys.binary_search(&key) {
            Ok(_) => false,
            Err(at) => {
                self.keys.insert(at, key);
                true
            }
        }
    }

    /// True if `key` is in the set.
    pub fn contains(&self, key: &K) -> bool {
        self.keys.binary_search(key).is_ok()
    }

    /// Takes `key` out; true if it was there.
    pub fn remove(&mut self, key: &K) -> bool {
        match self.keys.binary_search(key) {
            Ok(at) => {
                self.keys.remove(at);
                true
            }
            Err(_) => false,
        }
    }

    /// Keys in ascending order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &K> + ExactSizeIterator {
        self.keys.iter()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True if the set is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl<K: Ord> Extend<K> for SortedSet<K> {
    /// Appends, then sorts and drops duplicates once: linear-logarithmic
    /// for a large batch, where inserting one by one would be quadratic.
    fn extend<I: IntoIterator<Item = K>>(&mut self, keys: I) {
        self.keys.extend(keys);
        self.keys.sort_unstable();
        self.keys.dedup();
    }
}

impl<K: Ord> FromIterator<K> for SortedSet<K> {
    fn from_iter<I: IntoIterator<Item = K>>(keys: I) -> Self {
        let mut set = SortedSet::new();
        set.extend(keys);
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, BTreeSet};

    /// One step applied to both a `SortedMap` and a `BTreeMap`.
    #[derive(Clone, Debug)]
    enum Op {
        Insert(u8, u16),
        Remove(u8),
        GetOrInsert(u8, u16),
        Bump(u8),
        RetainEven,
        Clear,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            8 => (any::<u8>(), any::<u16>()).prop_map(|(k, v)| Op::Insert(k % 32, v)),
            4 => any::<u8>().prop_map(|k| Op::Remove(k % 32)),
            4 => (any::<u8>(), any::<u16>()).prop_map(|(k, v)| Op::GetOrInsert(k % 32, v)),
            4 => any::<u8>().prop_map(|k| Op::Bump(k % 32)),
            1 => Just(Op::RetainEven),
            1 => Just(Op::Clear),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn map_behaves_like_a_btree_map(ops in prop::collection::vec(op(), 0..200)) {
            let mut ours = SortedMap::new();
            let mut model = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => prop_assert_eq!(ours.insert(k, v), model.insert(k, v)),
                    Op::Remove(k) => prop_assert_eq!(ours.remove(&k), model.remove(&k)),
                    Op::GetOrInsert(k, v) => {
                        let got = *ours.get_or_insert_with(k, || v);
                        prop_assert_eq!(got, *model.entry(k).or_insert(v));
                    }
                    Op::Bump(k) => {
                        if let Some(v) = ours.get_mut(&k) {
                            *v = v.wrapping_add(1);
                        }
                        if let Some(v) = model.get_mut(&k) {
                            *v = v.wrapping_add(1);
                        }
                    }
                    Op::RetainEven => {
                        ours.retain(|k, v| (*k ^ *v as u8) % 2 == 0);
                        model.retain(|k, v| (*k ^ *v as u8) % 2 == 0);
                    }
                    Op::Clear => {
                        ours.clear();
                        model.clear();
                    }
                }
                prop_assert_eq!(ours.len(), model.len());
                prop_assert_eq!(ours.is_empty(), model.is_empty());
                prop_assert!(ours.iter().eq(model.iter()));
                prop_assert!(ours.keys().eq(model.keys()));
                prop_assert!(ours.values().eq(model.values()));
                prop_assert!(ours.clone().into_iter().eq(model.clone()));
                for k in 0..32 {
                    prop_assert_eq!(ours.get(&k), model.get(&k));
                    prop_assert_eq!(ours.contains_key(&k), model.contains_key(&k));
                }
            }
        }

        #[test]
        fn set_behaves_like_a_btree_set(
            start in prop::collection::vec(any::<u8>(), 0..50),
            ops in prop::collection::vec((any::<bool>(), any::<u8>()), 0..200),
            batch in prop::collection::vec(any::<u8>(), 0..50),
        ) {
            let mut ours: SortedSet<u8> = start.iter().copied().collect();
            let mut model: BTreeSet<u8> = start.iter().copied().collect();
            prop_assert!(ours.iter().eq(model.iter()));
            for (add, k) in ops {
                if add {
                    prop_assert_eq!(ours.insert(k), model.insert(k));
                } else {
                    prop_assert_eq!(ours.remove(&k), model.remove(&k));
                }
                prop_assert_eq!(ours.contains(&k), model.contains(&k));
            }
            ours.extend(batch.iter().copied());
            model.extend(batch.iter().copied());
            prop_assert!(ours.iter().eq(model.iter()));
            prop_assert_eq!(ours.len(), model.len());
            prop_assert_eq!(ours.is_empty(), model.is_empty());
        }
    }

    #[test]
    fn insert_on_a_present_key_replaces_the_value_only() {
        let mut map = SortedMap::new();
        assert_eq!(map.insert(2, "b"), None);
        assert_eq!(map.insert(1, "a"), None);
        assert_eq!(map.insert(2, "B"), Some("b"));
        assert_eq!(map.iter().collect::<Vec<_>>(), [(&1, &"a"), (&2, &"B")]);
    }

    #[test]
    fn string_keys_are_looked_up_by_str() {
        let mut map: SortedMap<String, u8> = SortedMap::new();
        map.insert("b".into(), 2);
        map.insert("a".into(), 1);
        assert_eq!(map.get("a"), Some(&1));
        *map.get_mut("b").unwrap() += 1;
        assert_eq!(map.remove("b"), Some(3));
        assert!(!map.contains_key("b"));
    }
}
