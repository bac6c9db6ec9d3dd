//! glibc malloc settings for the query processes.
//!
//! Hash tables, sort buffers and Arrow arrays of a few MB are allocated and freed all the
//! time. With glibc's defaults every allocation above the (dynamic) mmap threshold is a
//! fresh `mmap` whose pages fault in one by one, and freed heap memory is trimmed back to
//! the OS early, so the next query faults the same pages in again: in a profile of the heat
//! job a third of the worker threads' time was page faults under hash-table growth.
//! Serving allocations up to 32 MiB from the heap, and keeping up to 64 MiB of freed memory
//! at its top, took heat's median from 33 to 28 ms on medium (docs/benchmarks.md).
//! DataFusion's CLI swaps in mimalloc for the same reason; measured here, mimalloc made the
//! training set slower and doubled its peak RSS.

/// Applies the settings, unless the user chose their own with `GLIBC_TUNABLES`. Call first
/// thing in `main`, before any thread starts.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("GLIBC_TUNABLES").is_none() {
        const MIB: libc::c_int = 1 << 20;
        // SAFETY: mallopt only changes allocator parameters; called before other threads.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 * MIB);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 64 * MIB);
            libc::mallopt(libc::M_TOP_PAD, 16 * MIB);
        }
    }
}
