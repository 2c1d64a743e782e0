//! CPU pinning with `sched_setaffinity`, so the harness can keep the load generator off the
//! server's cores and record where it ran.

use std::io;

/// Pins the calling thread to one CPU. Threads spawned afterwards inherit the mask, but
/// every worker pins itself too so the rule does not depend on spawn order.
#[cfg(target_os = "linux")]
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("CPU numbers go up to {}", libc::CPU_SETSIZE - 1),
        ));
    }
    // SAFETY: cpu_set_t is plain data; CPU_SET is in bounds (checked above); pid 0 means
    // the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The CPUs the calling thread may run on, as the kernel reports them.
#[cfg(target_os = "linux")]
pub fn current_thread_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: as above; sched_getaffinity fills the set it is given.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((0..libc::CPU_SETSIZE as usize)
            .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
            .collect())
    }
}

#[cfg(not(target_os = "linux"))]
pub fn pin_current_thread(_cpu: usize) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "CPU pinning needs Linux",
    ))
}

#[cfg(not(target_os = "linux"))]
pub fn current_thread_cpus() -> io::Result<Vec<usize>> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "CPU affinity needs Linux",
    ))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn pin_and_read_back() {
        // In a fresh thread so the test runner's threads keep their mask.
        std::thread::spawn(|| {
            let cpu = current_thread_cpus().unwrap()[0];
            pin_current_thread(cpu).unwrap();
            assert_eq!(current_thread_cpus().unwrap(), vec![cpu]);
            assert!(pin_current_thread(usize::MAX).is_err());
        })
        .join()
        .unwrap();
    }
}
