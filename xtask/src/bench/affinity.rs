//! CPU affinity for the processes the harness starts, so the router and the load generator
//! do not compete for one core.

use std::os::unix::process::CommandExt;

/// The CPUs this process may run on.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_getaffinity fills it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Makes `cmd`'s child run only on `cpus` (set between fork and exec, so every thread the
/// child later starts inherits it).
pub fn pin_child(cmd: &mut std::process::Command, cpus: Vec<usize>) {
    // SAFETY: the closure only calls async-signal-safe libc functions on stack data.
    unsafe {
        cmd.pre_exec(move || {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            for &c in &cpus {
                libc::CPU_SET(c, &mut set);
            }
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// The split perf-bench uses unless `--no-pin`: the router on the first allowed CPU, the load generator on the
/// second. `None` when fewer than two CPUs are allowed.
pub fn split() -> Option<(usize, usize)> {
    let cpus = allowed_cpus();
    (cpus.len() >= 2).then(|| (cpus[0], cpus[1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_may_run_somewhere() {
        assert!(!allowed_cpus().is_empty());
    }

    #[test]
    fn pinned_child_sees_one_cpu() {
        let cpu = allowed_cpus()[0];
        let mut cmd = std::process::Command::new("cat");
        cmd.arg("/proc/self/status");
        pin_child(&mut cmd, vec![cpu]);
        let out = cmd.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find(|l| l.starts_with("Cpus_allowed_list:"))
            .unwrap();
        assert_eq!(
            line.split_whitespace().nth(1),
            Some(cpu.to_string().as_str())
        );
    }
}
