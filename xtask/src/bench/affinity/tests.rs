//! Unit tests of `crate::bench::affinity`.

use crate::bench::affinity::*;

#[test]
fn this_process_may_run_somewhere() {
    assert!(!allowed_cpus().is_empty());
}

/// `Cpus_allowed_list` of a `/proc/.../status` text (`0-3,6`) as CPU numbers.
fn cpus_allowed_list(status: &str) -> Vec<usize> {
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap();
    let mut cpus = Vec::new();
    for part in line.trim().split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        cpus.extend(a.parse::<usize>().unwrap()..=b.parse::<usize>().unwrap());
    }
    cpus
}

#[test]
fn allowed_cpus_are_what_the_kernel_reports() {
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    assert_eq!(allowed_cpus(), cpus_allowed_list(&status));
}

#[test]
fn a_child_pinned_to_every_allowed_cpu_gets_them_all() {
    let cpus = allowed_cpus();
    let mut cmd = std::process::Command::new("cat");
    cmd.arg("/proc/self/status");
    pin_child(&mut cmd, cpus.clone());
    let out = cmd.output().unwrap();
    assert_eq!(
        cpus_allowed_list(&String::from_utf8_lossy(&out.stdout)),
        cpus
    );
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
