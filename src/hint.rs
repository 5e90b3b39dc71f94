//! Cache prefetch hints. A hint never changes a result: it only asks the
//! CPU to start loading lines the simulator is about to read, so a miss
//! overlaps the work before it instead of stalling it (big systems touch
//! tiles, packets and operations at random: arch/performance.md).

/// Bytes in a cache line (x86-64).
const LINE: usize = 64;

/// Asks the CPU to bring the cache line holding `p` in.
#[inline(always)]
fn line(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Asks the CPU to bring `x`'s first cache line in.
#[inline(always)]
pub fn prefetch<T>(x: &T) {
    line((x as *const T).cast());
}

/// Asks the CPU to bring every cache line `x` spans in.
#[inline(always)]
pub fn prefetch_all<T>(x: &T) {
    let p: *const u8 = (x as *const T).cast();
    let mut off = 0;
    while off < size_of::<T>() {
        line(p.wrapping_add(off));
        off += LINE;
    }
    // The last line, when `x` does not start on a line boundary.
    if size_of::<T>() > 0 {
        line(p.wrapping_add(size_of::<T>() - 1));
    }
}
