//! CPU time and resident memory of a process from /proc (Linux only; `None` elsewhere or on
//! any parse problem).

/// The kernel reports utime/stime in USER_HZ ticks, which is 100 per second
/// on every architecture Linux exposes to user space this way.
const USER_HZ: u64 = 100;

/// utime + stime of all threads of `pid` (or this process for `None`), in microseconds.
pub fn cpu_us(pid: Option<u32>) -> Option<u64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let text = std::fs::read_to_string(path).ok()?;
    // The command name is in parentheses and may contain spaces: split after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3 of stat(5), so utime (14) and stime (15) are at 11 and 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * 1_000_000 / USER_HZ)
}

/// utime + stime summed over `pids`, in microseconds; `None` when `pids` is empty or any of
/// them cannot be read (a partial sum would be misleading).
pub fn cpu_us_sum(pids: &[u32]) -> Option<u64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter()
        .try_fold(0u64, |acc, p| Some(acc + cpu_us(Some(*p))?))
}

/// `VmRSS` of `pid` from /proc/PID/status, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `VmRSS` summed over `pids`, in KiB; `None` when `pids` is empty or any cannot be read.
pub fn rss_kib_sum(pids: &[u32]) -> Option<u64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter()
        .try_fold(0u64, |acc, p| Some(acc + rss_kib(*p)?))
}
