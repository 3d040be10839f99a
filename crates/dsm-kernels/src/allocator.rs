//! Process-wide allocator tuning for programs that run the models repeatedly, opt in:
//! [`keep_freed_memory`].
//!
//! A training step allocates and frees the same few hundred activation and gradient
//! buffers (megabytes each) every iteration, and batched inference the same few large
//! activations every batch. With glibc's default settings, freed memory at the top of the
//! heap beyond a threshold (a few times the largest recently freed block) is handed back
//! to the kernel, and blocks above the mmap threshold are unmapped on free, so the next
//! step takes a page fault and a zeroed page for every 4 KiB it writes again: about
//! 22,000 faults per NAS-Bench-201 training step at batch 64 (`perf record -e
//! page-faults`), 5-10 % of the step; at batch 16, dsm_nas's first blocks hold activations
//! above glibc's largest mmap threshold (32 MiB), which no threshold keeps.
//! [`keep_freed_memory`] keeps that memory in the process for reuse instead. It changes nothing but the allocator's settings, so
//! it is an explicit call for programs (the examples call it), never something the library
//! does behind its users' backs.

/// Blocks smaller than this come from the heap (and are reused once freed); larger ones
/// are mapped and unmapped on their own. glibc's ceiling for the setting (32 MiB).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: usize = 32 << 20;

/// Free memory at the top of the heap kept before any is returned to the kernel.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: usize = 1 << 30;

/// Makes the C allocator keep memory the process frees for reuse rather than return it to
/// the kernel after each training step or batch (glibc, with `mallopt`: a fixed 32 MiB mmap
/// threshold, a 1 GiB trim threshold, and no separate mappings for larger blocks, which
/// come from the heap like the others; glibc still maps a block that its heaps cannot
/// hold). The resident size then stays at its peak instead
/// of falling between steps. Returns whether the settings were applied: `false` where the
/// C library is not glibc (other allocators keep their own policies) or it refused them.
///
/// Call it once at the start of a program, before its threads allocate; it affects the
/// whole process (Rust's default global allocator is the C library's `malloc`).
///
/// ```
/// // A training program's first line; harmless (returns false) off glibc.
/// let kept = dsm_kernels::keep_freed_memory();
/// # let _ = kept;
/// ```
pub fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let as_int = |v: usize| libc::c_int::try_from(v).unwrap_or(libc::c_int::MAX);
        // SAFETY: `mallopt` only changes the allocator's parameters; it is thread-safe in
        // glibc (it takes the arena locks) and the values are within its documented ranges.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, as_int(MMAP_THRESHOLD)) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, as_int(TRIM_THRESHOLD)) == 1
                && libc::mallopt(libc::M_MMAP_MAX, 0) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    /// Minor page faults taken by this thread so far.
    fn faults() -> i64 {
        // SAFETY: `getrusage` fills the zeroed struct it is given.
        unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            assert_eq!(libc::getrusage(libc::RUSAGE_THREAD, &mut usage), 0);
            usage.ru_minflt
        }
    }

    /// Faults taken writing a fresh buffer of `len` floats, after one was freed.
    fn faults_of_a_reused_buffer(len: usize) -> i64 {
        let first = vec![1f32; len];
        std::hint::black_box(&first);
        drop(first);
        let before = faults();
        let again = vec![2f32; len];
        std::hint::black_box(&again);
        faults() - before
    }

    #[test]
    fn freed_buffers_are_reused_without_page_faults() {
        assert!(super::keep_freed_memory());
        // Allocations in this thread (its own arena) reuse the freed pages: 8 MiB (2,048
        // pages) and 40 MiB (10,240 pages, above the largest mmap threshold).
        for mib in [8, 40] {
            let faults = faults_of_a_reused_buffer(mib << 18);
            let pages = mib * 256;
            assert!(
                faults < 200,
                "{faults} page faults for {pages} reused pages"
            );
        }
    }
}
