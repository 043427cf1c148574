//! The process allocator: jemalloc, with background threads that give freed
//! memory back to the OS (dirty pages decay over ~10 s, also while idle).
//!
//! glibc's malloc keeps an arena per busy thread and holds on to what tokio
//! workers and blocking threads free: after one client's flood of unread
//! replies (490 MiB) had gone, 457 MiB stayed resident, and RSS rose with
//! every round of session churn while the live heap stayed flat (see
//! `compat/bench/session-churn.sh`). With jemalloc the flood's memory is
//! back within 20 s. `_RJEM_MALLOC_CONF` tunes it (jemalloc's options).
//!
//! `RUSTFLAGS="--cfg corral_sysalloc"` builds with the system allocator
//! instead, so heap profilers that hook malloc (heaptrack, valgrind's
//! massif) see every allocation: that is how the per-session and per-watch
//! costs were found.
#[cfg(all(unix, not(corral_sysalloc)))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
