//! Small shared helpers: seed mixing, a keyed bijection on `[0, n)`, the shared work
//! queue, numbers with thousands separators, and whether a process is alive.
//!
//! The bijection lets the simulator shuffle huge index spaces (every frame of 64 GiB of
//! physical memory, every node of a pointer-chase footprint) with no table.

/// SplitMix64 finaliser: a cheap, well-mixed bijection on `u64`, used to derive
/// independent seeds (per core, per purpose) from one user-supplied seed.
#[inline]
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A keyed pseudo-random permutation of `[0, n)` that needs no table.
///
/// The core is a bijection on `bits`-bit integers (`2^bits >= n`) built from
/// steps that are each invertible modulo `2^bits`: xor with a key, multiply by an
/// odd key, and a right xorshift. Values that land in `[n, 2^bits)` are pushed
/// through the bijection again ("cycle-walking"): because the bijection's cycle
/// through any `x < n` must come back to `x`, the walk always ends inside
/// `[n)`, and the restriction is itself a bijection on `[0, n)`. Since
/// `2^bits < 2n`, fewer than two steps are needed on average.
#[derive(Clone, Debug)]
pub struct Bijection {
    n: u64,
    mask: u64,
    shift: u32,
    keys: [(u64, u64); 4],
}

impl Bijection {
    pub fn new(n: u64, seed: u64) -> Bijection {
        let n = n.max(1);
        let bits = if n <= 1 {
            0
        } else {
            64 - (n - 1).leading_zeros()
        };
        let mask = if bits >= 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        let mut s = seed;
        let mut keys = [(0, 0); 4];
        for k in &mut keys {
            s = splitmix64(s);
            let x = s;
            s = splitmix64(s);
            *k = (x, s | 1);
        }
        // shift >= 1 keeps the xorshift invertible (a shift of 0 would zero x).
        Bijection {
            n,
            mask,
            shift: bits / 2 + 1,
            keys,
        }
    }

    #[inline(always)]
    fn step(&self, mut x: u64) -> u64 {
        for &(xor, mul) in &self.keys {
            x = ((x ^ xor).wrapping_mul(mul)) & self.mask;
            x ^= x >> self.shift;
        }
        x
    }

    /// The image of `x` (which must be `< n`) under the permutation.
    #[inline(always)]
    pub fn permute(&self, x: u64) -> u64 {
        let mut y = self.step(x);
        while y >= self.n {
            y = self.step(y);
        }
        y
    }
}

/// Makes the C heap keep the memory it frees instead of handing it back to the system,
/// for commands that run many simulations in one process (sweeps, studies, `compare`).
/// Each run builds a machine of a few MiB (simulated caches, page tables) and drops it;
/// glibc's malloc otherwise returns the top of a thread's heap (`madvise`) at every
/// drop, and the next run faults every page back in: about 635 page faults a run, a
/// fifth of a 200-run sweep's CPU time in the kernel (`/usr/bin/time -v`, issue 21),
/// which two threads of one process pay concurrently. Setting the trim threshold turns
/// off malloc's adaptive mmap threshold, so that is set too, to its largest value: a
/// block up to 32 MiB comes from the heap and is reused, as the adaptive threshold
/// would have come to after the first run. A no-op where malloc is not glibc's.
pub fn keep_freed_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets malloc's tunables; it is called before the worker
    // threads start, and any value is valid (a refused one leaves the default).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX);
    }
}

/// Runs `work(i)` for every `i` in `0..n` on up to `threads` threads, each taking the
/// next index when it is free (runs of very different lengths keep every thread busy).
/// A `work` returning false stops the threads from taking more.
pub fn parallel_for(n: usize, threads: usize, work: impl Fn(usize) -> bool + Sync) {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1).min(n.max(1)) {
            scope.spawn(|| {
                use std::sync::atomic::Ordering::Relaxed;
                while !stop.load(Relaxed) {
                    let i = next.fetch_add(1, Relaxed);
                    if i >= n {
                        break;
                    }
                    if !work(i) {
                        stop.store(true, Relaxed);
                    }
                }
            });
        }
    });
}

/// `n` with thousands separators: 12,345,678.
pub fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Whether process `pid` is alive and is not this one: the temporaries named with its
/// pid are in use (a leftover named with our own pid was left by a dead process that
/// had it before, since this one has not written it yet).
pub(crate) fn pid_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return false;
    }
    #[cfg(unix)]
    {
        let Ok(p) = libc::pid_t::try_from(pid) else {
            return false;
        };
        // SAFETY: signal 0 only checks that the process exists.
        let r = unsafe { libc::kill(p, 0) };
        r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    true
}

/// How an advisory lock request on a folder ended.
pub(crate) enum FolderLock {
    /// Held until the file is closed (dropped).
    Held(std::fs::File),
    /// Another process holds it (only without `wait`).
    Busy,
    /// The file system cannot lock (some network file systems): go on unlocked.
    Unsupported,
}

/// An exclusive advisory lock (`flock`) on the folder `dir`, for the writers of a sweep
/// store or of `run --out` folders, which take turns by it; with `wait`, until it is
/// free.
pub(crate) fn lock_folder(dir: &std::path::Path, wait: bool) -> std::io::Result<FolderLock> {
    let f = std::fs::File::open(dir)?;
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        let op = libc::LOCK_EX | if wait { 0 } else { libc::LOCK_NB };
        loop {
            // SAFETY: flock on a descriptor we own; the lock goes with it.
            if unsafe { libc::flock(f.as_raw_fd(), op) } == 0 {
                return Ok(FolderLock::Held(f));
            }
            match std::io::Error::last_os_error().raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EWOULDBLOCK) if !wait => return Ok(FolderLock::Busy),
                _ => return Ok(FolderLock::Unsupported),
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (f, wait);
        Ok(FolderLock::Unsupported)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_is_a_bijection() {
        for n in [1u64, 2, 3, 7, 64, 1000, 4097] {
            for seed in 0..3 {
                let p = Bijection::new(n, seed);
                let mut seen = vec![false; n as usize];
                for i in 0..n {
                    let j = p.permute(i) as usize;
                    assert!(!seen[j], "n {n} seed {seed}: {j} twice");
                    seen[j] = true;
                }
            }
        }
        // It actually shuffles.
        let p = Bijection::new(1000, 1);
        assert!((0..1000).filter(|&i| p.permute(i) == i).count() < 20);
    }

    #[test]
    fn pid_alive_is_false_for_this_process_and_a_gone_one() {
        assert!(!pid_alive(std::process::id()), "our own pid: a leftover");
        // Process 1 (init) is alive, even when we may not signal it (EPERM).
        assert!(pid_alive(1));
        // A child that has exited and been reaped is gone.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!pid_alive(pid));
        // Beyond pid_t: no such process.
        assert!(!pid_alive(u32::MAX));
    }
}
