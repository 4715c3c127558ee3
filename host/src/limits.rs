//! Process limits that cap how many VUs one process can hold: open files (raised to the hard
//! limit at start, as the seed's `ulimit -n` step did), the kernel's memory-map count and the
//! ephemeral port range. Warnings name the limit and what to do about it.

/// Memory mappings one pooled VU uses (measured: ~4; with headroom).
const MAPS_PER_VU: u64 = 6;
/// File descriptors one VU uses (one keep-alive connection per origin).
const FDS_PER_VU: u64 = 1;
/// Descriptors and mappings the process needs besides VUs.
const BASE: u64 = 512;

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

/// Warnings for `vus` planned VUs, given this machine's limits (empty when everything fits).
pub fn check(vus: u64, nofile: Option<u64>) -> Vec<String> {
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
        let need = BASE + vus * MAPS_PER_VU;
        if need > maps {
            warnings.push(format!(
                "{vus} VUs need about {need} memory mappings but vm.max_map_count is {maps}: raise it (sysctl -w vm.max_map_count=...) or split the test across processes"
            ));
        }
    }
    if let Some(ports) = port_range() {
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
    fn warns_when_files_run_out() {
        let w = check(10_000, Some(1024));
        assert!(
            w.iter()
                .any(|m| m.contains("open files") && m.contains("1024")),
            "{w:?}"
        );
        assert!(check(10, Some(1 << 20))
            .iter()
            .all(|m| !m.contains("open files")));
    }

    #[test]
    fn raising_nofile_never_lowers_it() {
        let before = raise_nofile().unwrap();
        assert!(raise_nofile().unwrap() >= before);
    }
}
