//! What the benchmark ran on: cores, memory, kernel, and the process's peak memory.

use std::fmt;

use serde_json::{Value, json};

/// The machine a benchmark ran on (Linux facts from `/proc`; `None` where unavailable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// Cores available to this process.
    pub cores: usize,
    /// Total memory in bytes (`MemTotal` of `/proc/meminfo`).
    pub memory_bytes: Option<u64>,
    /// Kernel release (`/proc/sys/kernel/osrelease`).
    pub kernel: Option<String>,
    /// Operating system and architecture, e.g. `linux/x86_64`.
    pub os: String,
}

impl Machine {
    /// The machine this process runs on.
    pub fn current() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let memory_bytes = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| kib_field(&text, "MemTotal:"));
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        Self {
            cores,
            memory_bytes,
            kernel,
            os: format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
        }
    }

    /// This machine as a JSON object.
    pub fn to_json(&self) -> Value {
        json!({
            "cores": self.cores,
            "memory_bytes": self.memory_bytes,
            "kernel": self.kernel,
            "os": self.os,
        })
    }
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "machine: cores={}", self.cores)?;
        match self.memory_bytes {
            // Display only; a GiB figure with one decimal needs no more precision.
            #[allow(clippy::cast_precision_loss)]
            Some(bytes) => write!(f, " memory={:.1}GiB", bytes as f64 / f64::from(1u32 << 30))?,
            None => write!(f, " memory=unknown")?,
        }
        write!(
            f,
            " kernel={} os={}",
            self.kernel.as_deref().unwrap_or("unknown"),
            self.os
        )
    }
}

/// One line describing this machine: `machine: cores=2 memory=7.7GiB kernel=6.8.0 os=linux/x86_64`.
pub fn machine_summary() -> String {
    Machine::current().to_string()
}

/// The peak resident memory of this process in bytes (`VmHWM` of `/proc/self/status`), or
/// `None` where that is unavailable.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    kib_field(&status, "VmHWM:")
}

/// Parses `Name:   1234 kB` from a `/proc` text into bytes.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kib: u64 = line[name.len()..].split_whitespace().next()?.parse().ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_fields() {
        let text = "MemTotal:       16318412 kB\nMemFree:  1 kB\n";
        assert_eq!(kib_field(text, "MemTotal:"), Some(16_318_412 * 1024));
        assert_eq!(kib_field(text, "VmHWM:"), None);
        assert_eq!(kib_field("VmHWM: lots kB", "VmHWM:"), None);
    }

    #[test]
    fn describes_this_machine() {
        let m = Machine::current();
        assert!(m.cores >= 1);
        let summary = m.to_string();
        assert!(summary.starts_with("machine: cores="), "{summary}");
        assert!(summary.contains(&format!("cores={}", m.cores)));
        if cfg!(target_os = "linux") {
            assert!(m.memory_bytes.is_some_and(|b| b > 0));
            assert!(peak_rss_bytes().is_some_and(|b| b > 0));
        }
        assert_eq!(m.to_json()["cores"], m.cores);
    }
}
