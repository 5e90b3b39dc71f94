//! A vector with a free list: stable typed handles (`K`, an `ids::Index`)
//! for in-flight objects (operations, messages, packets) without
//! per-object allocation. A handle is reused once its object is removed.

use crate::ids::Index;

pub struct Slab<K, T> {
    items: Vec<Option<T>>,
    free: Vec<K>,
    live: usize,
}

impl<K, T> Default for Slab<K, T> {
    fn default() -> Self {
        Slab { items: Vec::new(), free: Vec::new(), live: 0 }
    }
}

impl<K: Index, T> Slab<K, T> {
    pub fn insert(&mut self, v: T) -> K {
        self.live += 1;
        match self.free.pop() {
            Some(i) => {
                self.items[i.index()] = Some(v);
                i
            }
            None => {
                self.items.push(Some(v));
                K::from_index(self.items.len() - 1)
            }
        }
    }
    pub fn remove(&mut self, i: K) -> T {
        let v = self.items[i.index()].take().expect("slab slot is live");
        self.free.push(i);
        self.live -= 1;
        v
    }
    pub fn get(&self, i: K) -> &T {
        self.items[i.index()].as_ref().expect("slab slot is live")
    }
    /// Asks the CPU to bring slot `i` into the cache (a hint: no effect
    /// on results, and none for a slot out of range).
    #[inline(always)]
    pub fn prefetch(&self, i: K) {
        if let Some(x) = self.items.get(i.index()) {
            crate::hint::prefetch_all(x);
        }
    }
    /// Slot `i`'s item if it is live (for hints: `get` is for handles the
    /// caller knows are live).
    #[inline(always)]
    pub fn peek(&self, i: K) -> Option<&T> {
        self.items.get(i.index()).and_then(Option::as_ref)
    }
    pub fn get_mut(&mut self, i: K) -> &mut T {
        self.items[i.index()].as_mut().expect("slab slot is live")
    }
    pub fn len(&self) -> usize {
        self.live
    }
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }
    pub fn iter(&self) -> impl Iterator<Item = (K, &T)> {
        self.items.iter().enumerate().filter_map(|(i, v)| v.as_ref().map(|v| (K::from_index(i), v)))
    }
}
