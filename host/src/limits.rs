//! Process limits that cap how many VUs one process can hold: open files (raised to the hard
//! limit at start, as the seed's `ulimit -n` step did), the kernel's memory-map count and the
//! ephemeral port range. Warnings name the limit and what to do about it.

/// Memory mappings one pooled VU takes (measured: 4 — its fiber stack and guard page, its
/// linear memory and the reserve after it — or 6 when its memory image is mapped copy-on-write,
/// see `vu::plugin`).
pub const MAPS_PER_VU: u64 = 4;
/// The same for a component whose memory image is mapped copy-on-write (JS, Python).
pub const MAPS_PER_COW_VU: u64 = 6;
/// File descriptors one VU uses (one keep-alive connection per origin).
const FDS_PER_VU: u64 = 1;
/// Descriptors and mappings the process needs besides VUs.
const BASE: u64 = 512;
/// Connections on loopback from one source address before the next VUs move to the next
/// 127.0.0.x: well below the ~28,000 ephemeral ports of one source/destination pair, leaving
/// room for a VU's batch lanes.
pub const VUS_PER_LOOPBACK_SOURCE: u32 = 10_000;
/// Most requests of one `http.batch` in flight at once, each on a connection of its own, whatever
/// k6's `batch` and `batchPerHost` ask (a script's options may set them): a VU's batch holds at
/// most this many connections and responses being read.
pub const MAX_BATCH_PARALLEL: u32 = 100;
/// What a test's `SharedArray`s may hold in all (their elements' JSON text), by default: 1 GiB,
/// made once in the options pass and shared by every VU (`vu::init`). The user may set another
/// limit, up to 4 GiB, with `VOLLEY_MAX_SHARED_DATA_MIB` ([`shared_data_max_bytes`]).
pub const SHARED_DATA_MAX_BYTES: usize = 1 << 30;
/// The variable that sets the shared-array limit, in MiB.
pub const SHARED_DATA_ENV: &str = "VOLLEY_MAX_SHARED_DATA_MIB";

/// The shared-array limit: `VOLLEY_MAX_SHARED_DATA_MIB` when set to a number (capped below
/// 4 GiB: element offsets are u32), else [`SHARED_DATA_MAX_BYTES`].
pub fn shared_data_max_bytes() -> usize {
    std::env::var(SHARED_DATA_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .map_or(SHARED_DATA_MAX_BYTES, |mib| {
            mib.saturating_mul(1 << 20).min(u32::MAX as usize)
        })
}
/// Linear memory of the options pass (one instance, VU 0, at most `vu::INIT_TIMEOUT`): 1 GiB, or
/// the sandbox's per-VU limit when larger, so a `SharedArray` callback can parse a large file
/// once while every VU stays within the per-VU limit.
pub const OPTIONS_PASS_MAX_MEMORY: u64 = 1 << 30;
/// How long the options pass's init context may run: 10 minutes, against 1 minute for a VU's
/// (`vu::INIT_TIMEOUT`). It runs every `SharedArray` callback, which may parse a large file
/// (a 100 MB CSV takes QuickJS over a minute on a busy machine); k6 bounds its init not at all.
pub const OPTIONS_PASS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// Raises the open-files soft limit to the hard limit; returns the new soft limit.
pub fn raise_nofile() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return None;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return Some(raised.rlim_cur);
            }
        }
    }
    Some(lim.rlim_cur)
}

/// Grows this process's descriptor table to hold `n` descriptors now (at most the soft
/// open-files limit). The kernel grows it by doubling as descriptors are opened, and in a
/// multi-threaded process each growth waits for an RCU grace period (`expand_fdtable`): here
/// 10–15 ms inside the `socket()` of whichever worker opened the 256th, 512th, 1,024th…
/// connection. Mid-schedule, that stall put an arrival-rate run of 20,000/s behind for good.
/// Growing it once before the run pays one grace period instead. Best effort.
pub fn reserve_fds(n: u64) {
    let Some((soft, _)) = nofile() else { return };
    let Ok(target) = libc::c_int::try_from(n.min(soft.saturating_sub(1))) else {
        return;
    };
    if target < 64 {
        return;
    }
    let Ok(null) = std::fs::File::open("/dev/null") else {
        return;
    };
    use std::os::fd::AsRawFd;
    // SAFETY: F_DUPFD_CLOEXEC makes a new descriptor (the lowest free one ≥ `target`) for an
    // open file we own, and it is closed at once; no existing descriptor is touched.
    unsafe {
        let high = libc::fcntl(null.as_raw_fd(), libc::F_DUPFD_CLOEXEC, target);
        if high >= 0 {
            libc::close(high);
        }
    }
}

/// The size of this process's descriptor table (`FDSize` in `/proc/self/status`).
#[cfg(test)]
fn fd_table_size() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("FDSize:"))?
        .trim()
        .parse()
        .ok()
}

fn read_number(path: &str) -> Option<u64> {
    std::fs::read_to_string(path)
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn port_range() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut it = text
        .split_whitespace()
        .filter_map(|n| n.parse::<u64>().ok());
    let (lo, hi) = (it.next()?, it.next()?);
    Some(hi.saturating_sub(lo) + 1)
}

/// The soft and hard open-files limits.
fn nofile() -> Option<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we pass.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0)
        .then_some((lim.rlim_cur, lim.rlim_max))
}

/// Memory mappings this process holds now.
fn maps_in_use() -> Option<u64> {
    let maps = std::fs::read("/proc/self/maps").ok()?;
    Some(maps.iter().filter(|&&b| b == b'\n').count() as u64)
}

/// How many VUs one process holds on this machine: the kernel's mapping limit and the hard
/// open-files limit (the soft one is raised to it), each less what the process needs besides.
pub fn vus_per_process(maps_per_vu: u64) -> u64 {
    let maps = read_number("/proc/sys/vm/max_map_count").unwrap_or(65_530);
    let fds = nofile().map_or(1024, |(_, hard)| hard);
    let by_maps = maps.saturating_sub(BASE) / maps_per_vu.max(1);
    let by_fds = fds.saturating_sub(BASE) / FDS_PER_VU;
    by_maps.min(by_fds).max(1)
}

/// The process limit behind an error whose text ends in `(os error N)`: which limit, its value
/// now and the fix. `None` for errors no limit explains.
pub fn explain(error: &str) -> Option<String> {
    let code: i32 = error
        .rsplit_once("(os error ")?
        .1
        .split(')')
        .next()?
        .parse()
        .ok()?;
    match code {
        libc::ENOMEM => {
            let max = read_number("/proc/sys/vm/max_map_count")?;
            let used = maps_in_use()?;
            // Near the limit, the kernel refuses new mappings with ENOMEM.
            (used + 64 >= max).then(|| {
                format!(
                    "the kernel's limit on memory mappings per process is reached \
                     (vm.max_map_count = {max}, {used} in use, about {MAPS_PER_VU} per VU): \
                     split the run across processes (--processes N), or raise the limit \
                     (sysctl -w vm.max_map_count={})",
                    max.saturating_mul(4)
                )
            })
        }
        libc::EMFILE | libc::ENFILE => {
            let (soft, hard) = nofile()?;
            Some(format!(
                "the open-files limit is reached (RLIMIT_NOFILE: soft {soft}, hard {hard}; a \
                 VU holds one per connection): split the run across processes (--processes N), \
                 or raise the hard limit (ulimit -Hn, systemd LimitNOFILE)"
            ))
        }
        libc::EADDRNOTAVAIL => {
            let ports = port_range()?;
            Some(format!(
                "no local port is free for this destination (net.ipv4.ip_local_port_range has \
                 {ports} ports per source address): spread connections over more source \
                 addresses (the localIPs option), or widen the range (sysctl -w \
                 net.ipv4.ip_local_port_range=\"1024 65535\")"
            ))
        }
        _ => None,
    }
}

/// Warnings for `vus` planned VUs, given this machine's limits (empty when everything fits).
pub fn check(vus: u64, maps_per_vu: u64, nofile: Option<u64>) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(fds) = nofile {
        let need = BASE + vus * FDS_PER_VU;
        if need > fds {
            warnings.push(format!(
                "{vus} VUs need about {need} open files but the limit is {fds}: raise the hard limit (ulimit -Hn) or split the test with execution segments"
            ));
        }
    }
    if let Some(maps) = read_number("/proc/sys/vm/max_map_count") {
        let need = BASE + vus * maps_per_vu;
        if need > maps {
            warnings.push(format!(
                "{vus} VUs need about {need} memory mappings but vm.max_map_count is {maps}: raise it (sysctl -w vm.max_map_count=...) or split the test across processes"
            ));
        }
    }
    if let Some(ports) = port_range() {
        // Past VUS_PER_LOOPBACK_SOURCE, loopback connections spread over 127.0.0.x on their
        // own; other destinations share one source address's ports.
        if vus > ports {
            warnings.push(format!(
                "{vus} VUs each hold a connection but the ephemeral port range has {ports} ports per target address: widen net.ipv4.ip_local_port_range or use fewer VUs per process"
            ));
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_descriptor_table_is_grown_before_the_run() {
        let soft = raise_nofile().unwrap();
        let n = soft.min(16_384) - 1;
        let before = fd_table_size().unwrap();
        assert!(before < n, "the table already holds {before} descriptors");
        reserve_fds(n);
        let after = fd_table_size().unwrap();
        assert!(after >= n, "FDSize {after} after reserving {n}");
    }

    #[test]
    fn warns_when_files_run_out() {
        let w = check(10_000, MAPS_PER_VU, Some(1024));
        assert!(
            w.iter()
                .any(|m| m.contains("open files") && m.contains("1024")),
            "{w:?}"
        );
        assert!(check(10, MAPS_PER_VU, Some(1 << 20))
            .iter()
            .all(|m| !m.contains("open files")));
    }

    #[test]
    fn os_errors_name_their_limit() {
        let e = explain("tcp 127.0.0.1:80: Too many open files (os error 24)").unwrap();
        assert!(
            e.contains("RLIMIT_NOFILE") && e.contains("--processes"),
            "{e}"
        );
        let e = explain("connect: Cannot assign requested address (os error 99)").unwrap();
        assert!(
            e.contains("ip_local_port_range") && e.contains("localIPs"),
            "{e}"
        );
        // ENOMEM far from the mapping limit is not the mapping limit.
        assert_eq!(
            explain("mmap failed: Cannot allocate memory (os error 12)"),
            None
        );
        assert_eq!(explain("connection refused (os error 111)"), None);
        assert_eq!(explain("no os error here"), None);
    }

    #[test]
    fn a_process_holds_fewer_vus_when_each_takes_more_mappings() {
        let lean = vus_per_process(MAPS_PER_VU);
        assert!(lean >= vus_per_process(MAPS_PER_COW_VU));
        assert!(lean > 1);
    }

    #[test]
    fn raising_nofile_never_lowers_it() {
        let before = raise_nofile().unwrap();
        assert!(raise_nofile().unwrap() >= before);
    }
}
