//! The `openmetrics` export read by its real consumer: a Prometheus Pushgateway
//! (`prometheus-pushgateway`, Debian's package) on a loopback port. perf-gate judges the CP1
//! fixture run and writes the export; the test pushes the file's bytes as perf/README.md tells
//! users to (`curl --data-binary @FILE`), then reads the gateway's `/metrics` and checks every
//! exported sample is there with the same labels and value. A string check of the file cannot
//! catch what only a real parser rejects (ordering, escaping, `# EOF`, types).
//!
//! Without the gateway binary the test prints a loud SKIP and returns, as the NATS tests do
//! without nats-server.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const POLICY: &str = include_str!("../../../perf/policy_cp1.json");
const GATEWAY: &str = "prometheus-pushgateway";
/// The grouping key the export is pushed under; `workload` matches the samples' own label,
/// so the gateway's override of it (grouping labels win) changes nothing.
const GROUP: &str = "/metrics/job/perf_gate/workload/cp1";

/// The gateway process; dropping it kills it, also when an assertion panics, so no gateway
/// outlives the test holding its port.
struct Gateway {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Gateway {
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Starts the gateway on a free loopback port and waits (at most 10 s) until `/-/ready`
    /// answers. The port comes from binding port 0 and letting it go: another process could
    /// take it in between, which would show as the gateway exiting early, with its log.
    fn start(dir: &Path) -> Gateway {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dir.join("pushgateway.log");
        let out = File::create(&log).unwrap();
        // Debian's build persists to /var/lib/prometheus/pushgateway.data by default: the
        // test's gateway would load whatever a system gateway (or an earlier run) stored
        // there and write its own pushes back. An empty value keeps metrics in memory only.
        let child = Command::new(GATEWAY)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--persistence.file=")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let mut gw = Gateway { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if curl(&["--max-time", "1", &gw.url("/-/ready")])
                .status
                .success()
            {
                return gw;
            }
            if let Some(status) = gw.child.try_wait().unwrap() {
                panic!("{GATEWAY} exited early ({status}); its log:\n{}", gw.log());
            }
            if Instant::now() > deadline {
                panic!("{GATEWAY} not ready after 10 s; its log:\n{}", gw.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// True when the gateway binary runs; otherwise says loudly that the test is skipped.
fn have_gateway() -> bool {
    let ok = Command::new(GATEWAY)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!(
            "\n*** SKIP: prometheus-pushgateway not installed \
             (apt-get install prometheus-pushgateway; .ci/run installs it) ***\n"
        );
    }
    ok
}

/// curl with `args`, failing on HTTP errors; every call passes `--max-time`, so it is bounded.
fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args([
            "--fail",
            "--silent",
            "--show-error",
            "--connect-timeout",
            "2",
        ])
        .args(args)
        .output()
        .expect("curl runs")
}

/// One sample of the text exposition format: metric name, labels, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The samples of an exposition text (Prometheus text format or OpenMetrics): comment lines
/// are skipped, an optional timestamp after the value is ignored.
fn parse_samples(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let name_end = line.find(['{', ' ']).unwrap_or_else(|| panic!("{line}"));
        let (name, mut rest) = line.split_at(name_end);
        let mut labels = BTreeMap::new();
        if let Some(inner) = rest.strip_prefix('{') {
            (labels, rest) = parse_labels(inner).unwrap_or_else(|| panic!("{line}"));
        }
        let value = rest
            .split_whitespace()
            .next()
            .unwrap_or_else(|| panic!("{line}"));
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value: value
                .parse()
                .unwrap_or_else(|e| panic!("{line}: value {value:?}: {e}")),
        });
    }
    samples
}

/// `name="value",...}` (what follows a sample's `{`): the labels, with the values unescaped
/// (`\\`, `\"`, `\n`), and the text after the `}`; `None` when it is malformed.
fn parse_labels(mut rest: &str) -> Option<(BTreeMap<String, String>, &str)> {
    let mut labels = BTreeMap::new();
    loop {
        rest = rest.trim_start_matches([',', ' ']);
        if let Some(after) = rest.strip_prefix('}') {
            return Some((labels, after));
        }
        let (key, quoted) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = quoted.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i + 1,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (_, c) => value.push(c),
            }
        };
        labels.insert(key.to_string(), value);
        rest = &quoted[end..];
    }
}

/// perf-gate on the CP1 fixture against itself (it passes), writing `--export openmetrics`
/// to `dir/om.txt`; bounded to 60 s (it takes well under a second).
fn export(dir: &Path) -> PathBuf {
    let run = dir.join("run.json");
    std::fs::write(&run, crate::support::cp1_run().to_string()).unwrap();
    let policy = dir.join("policy.json");
    std::fs::write(&policy, POLICY).unwrap();
    let om = dir.join("om.txt");
    let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .current_dir(dir)
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("CANDIDATE_FILE")
        .env_remove("PERF_HISTORY")
        .arg("perf-gate")
        .arg("--candidate")
        .arg(&run)
        .arg("--baseline")
        .arg(&run)
        .arg("--policy")
        .arg(&policy)
        .arg("--artifacts-dir")
        .arg(dir.join("art"))
        .args(["--export", "openmetrics"])
        .arg(&om)
        .stdout(Stdio::null())
        .stderr(File::create(dir.join("gate.stderr")).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("perf-gate still ran after 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = std::fs::read_to_string(dir.join("gate.stderr")).unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    om
}

#[test]
fn a_pushgateway_accepts_the_openmetrics_export_and_serves_its_values() {
    if !have_gateway() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let om = export(dir.path());
    let exported = parse_samples(&std::fs::read_to_string(&om).unwrap());
    // 10 CP1 metrics x (median, min, max), and the gate's verdict.
    assert_eq!(exported.len(), 10 * 3 + 1, "{exported:?}");
    let types: Vec<String> = std::fs::read_to_string(&om)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("# TYPE "))
        .map(str::to_string)
        .collect();

    let gw = Gateway::start(dir.path());
    let body = format!("@{}", om.display());
    // Once as perf/README.md pushes it (curl's default Content-Type, which the gateway reads
    // as the Prometheus text format), once declared as OpenMetrics. The group is deleted
    // first, so each check sees only its own push.
    for content_type in [None, Some("application/openmetrics-text; version=1.0.0")] {
        let deleted = curl(&["--max-time", "5", "-X", "DELETE", &gw.url(GROUP)]);
        assert!(deleted.status.success(), "{deleted:?}");
        let url = gw.url(GROUP);
        let header = content_type.map(|ct| format!("Content-Type: {ct}"));
        let mut push = vec!["--max-time", "5", "-X", "PUT", "--data-binary", &body, &url];
        if let Some(h) = &header {
            push.extend(["-H", h]);
        }
        let pushed = curl(&push);
        if !pushed.status.success() {
            // `--fail` hides the response body, and the gateway logs only some rejections:
            // push again without it to show why (a parse error names the line).
            let why = Command::new("curl")
                .args(["--silent", "--show-error", "--connect-timeout", "2"])
                .args(&push)
                .output()
                .expect("curl runs");
            panic!(
                "the gateway refused the push ({content_type:?}): {}\nits answer: {}\n\
                 gateway log:\n{}",
                String::from_utf8_lossy(&pushed.stderr),
                String::from_utf8_lossy(&why.stdout),
                gw.log()
            );
        }

        let got = curl(&["--max-time", "5", &gw.url("/metrics")]);
        assert!(got.status.success(), "{got:?}");
        let text = String::from_utf8(got.stdout).unwrap();
        let served = parse_samples(&text);
        // The gateway adds its grouping key's labels (and an empty `instance`).
        let extra = [("job", "perf_gate"), ("instance", ""), ("workload", "cp1")];
        for want in &exported {
            let mut labels = want.labels.clone();
            labels.extend(extra.map(|(k, v)| (k.to_string(), v.to_string())));
            let found = served
                .iter()
                .find(|s| s.name == want.name && s.labels == labels)
                .unwrap_or_else(|| panic!("{want:?} not served ({content_type:?}):\n{text}"));
            // The same f64: both sides print the shortest decimal that reads back exactly.
            assert_eq!(found.value, want.value, "{want:?} ({content_type:?})");
        }
        let ours = served
            .iter()
            .filter(|s| s.name.starts_with("router_perf_"))
            .count();
        assert_eq!(ours, exported.len(), "{text}");
        for t in &types {
            assert!(text.lines().any(|l| l == t), "{t} not served:\n{text}");
        }
        // The gateway's own record of the push: a success time, no failure.
        let push_time = |name: &str| {
            served
                .iter()
                .find(|s| s.name == name && s.labels.get("job").is_some_and(|j| j == "perf_gate"))
                .unwrap_or_else(|| panic!("no {name}:\n{text}"))
                .value
        };
        assert!(push_time("push_time_seconds") > 0.0, "{text}");
        assert_eq!(push_time("push_failure_time_seconds"), 0.0, "{text}");
    }
}
