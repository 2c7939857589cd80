//! What a stage process used: CPU time and peak resident memory, read from `/proc/self` when
//! the stage finishes, so that every report says what its run cost (the capacity figures of
//! docs/capacity.md and the per-stage totals of the run summary come from these).

use serde::{Deserialize, Serialize};

use crate::report::round3;

/// CPU time and peak memory of this process so far.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// User plus system CPU seconds of all threads.
    pub cpu_s: f64,
    /// Peak resident set size (the kernel's high-water mark), MB.
    pub peak_rss_mb: f64,
}

/// Clock ticks per second of `/proc/<pid>/stat`: the kernel's USER_HZ, 100 on every Linux
/// architecture this runs on.
const USER_HZ: f64 = 100.0;

impl Resources {
    /// This process's figures; `None` where `/proc` is missing (not Linux).
    pub fn of_this_process() -> Option<Resources> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        Some(Resources {
            cpu_s: round3(cpu_ticks(&stat)? / USER_HZ),
            peak_rss_mb: round3(vm_hwm_kb(&status)? / 1024.0),
        })
    }
}

/// utime + stime of a `/proc/<pid>/stat` line (fields 14 and 15; the command name in
/// parentheses may hold spaces, so count from the last `)`).
fn cpu_ticks(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// `VmHWM` of `/proc/<pid>/status`, kB.
fn vm_hwm_kb(status: &str) -> Option<f64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_proc_fields() {
        let stat =
            "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 75 0 0 20 0 1 0 100 1000 10";
        assert_eq!(cpu_ticks(stat), Some(325.0));
        let status = "Name:\tx\nVmPeak:\t  9000 kB\nVmHWM:\t    2048 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(vm_hwm_kb(status), Some(2048.0));
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn this_process_has_used_something() {
        let r = Resources::of_this_process().expect("/proc/self is readable on Linux");
        assert!(r.peak_rss_mb > 1.0, "{r:?}");
        assert!(r.cpu_s >= 0.0);
    }
}
