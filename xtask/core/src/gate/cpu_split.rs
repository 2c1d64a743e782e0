//! Which CPU grew: when a CPU rule fails, the router's user-space and kernel time per request
//! (`cpu_user_ms_per_1k_req`, `cpu_sys_ms_per_1k_req`) say whether the extra time is its own
//! code (an instruction profile shows where) or the kernel's (system calls, socket work, page
//! faults: the profile does not see it).

use crate::model::run_file::RunFile;

const USER: &str = "cpu_user_ms_per_1k_req";
const SYS: &str = "cpu_sys_ms_per_1k_req";

/// From this share of the growth in CPU time on, the kernel is named as the cause (here and
/// in `cause`), so the two never disagree.
pub const MOSTLY_KERNEL: f64 = 0.6;

fn split(run: &RunFile) -> Option<(f64, f64)> {
    let value = |m: &str| run.metric(m).number().filter(|x| *x >= 0.0);
    Some((value(USER)?, value(SYS)?))
}

/// The kernel's share of the growth in CPU time per request, 0 to 1; `None` when a run lacks
/// the split or the CPU time did not grow.
pub fn kernel_share(baseline: &RunFile, candidate: &RunFile) -> Option<f64> {
    let ((bu, bs), (cu, cs)) = (split(baseline)?, split(candidate)?);
    let grew = (cu + cs) - (bu + bs);
    (grew > 0.0).then(|| ((cs - bs) / grew).clamp(0.0, 1.0))
}

/// One sentence on how the CPU time per request split between user space and the kernel in
/// each run, and which grew more; `None` when a run lacks the split or it did not grow.
pub fn explain(baseline: &RunFile, candidate: &RunFile) -> Option<String> {
    let kernel_share = kernel_share(baseline, candidate)?;
    let ((bu, bs), (cu, cs)) = (split(baseline)?, split(candidate)?);
    let pct = |b: f64, c: f64| {
        if b > 0.0 {
            format!("{:+.1}%", (c / b - 1.0) * 100.0)
        } else {
            "new".to_string()
        }
    };
    let kind = if kernel_share >= MOSTLY_KERNEL {
        "mostly kernel work (system calls, socket reads and writes, page faults): an \
         instruction profile of the router does not see it; the system calls per request \
         (`syscalls_per_req`, counted with strace beside the instructions) say which calls grew"
    } else if kernel_share <= 0.4 {
        "mostly the router's own code: the differential profile shows where"
    } else {
        "both the router's code and the kernel"
    };
    Some(format!(
        "CPU per 1k requests: user {bu:.3} -> {cu:.3} ms ({}), kernel {bs:.3} -> {cs:.3} ms \
         ({}); {:.0}% of the increase is in the kernel, so it is {kind}",
        pct(bu, cu),
        pct(bs, cs),
        kernel_share * 100.0
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(user: f64, sys: f64) -> RunFile {
        let doc = serde_json::json!({"metrics": {USER: user, SYS: sys}});
        crate::model::run_file::parse_str(&doc.to_string(), "run.json").unwrap()
    }

    #[test]
    fn names_the_side_that_grew() {
        let kernel = explain(&run(10.0, 5.0), &run(10.2, 8.0)).unwrap();
        assert!(kernel.contains("mostly kernel work"), "{kernel}");
        assert!(kernel.contains("+60.0%"), "{kernel}");
        let user = explain(&run(10.0, 5.0), &run(13.0, 5.1)).unwrap();
        assert!(user.contains("mostly the router's own code"), "{user}");
        assert!(explain(&run(10.0, 5.0), &run(9.0, 5.0)).is_none());
        let old = crate::model::run_file::parse_str(r#"{"metrics": {"rps": 1}}"#, "old.json");
        assert!(explain(&old.unwrap(), &run(10.0, 5.0)).is_none());
    }
}
