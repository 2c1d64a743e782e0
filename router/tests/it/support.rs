//! Test support: start the real `router` binary on a free port and stop it on drop, a small
//! HTTP/1.1 keep-alive client that writes request bytes exactly as given (so malformed
//! requests can be sent), request builders, a strict OpenMetrics text parser, the
//! calibration of the test-only slowdown knob, and a bounded wait for a metrics condition.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long a router may take to print its address and then answer `/ready`.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Socket read/write timeout of the test client: a hung router fails the test, not CI.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// The environment variable of the router's test-only slowdown knob.
pub const SLOWDOWN_ENV: &str = "ROUTER_TEST_SLOWDOWN_ITERS";
/// The environment variables of the router's test-only delay knob.
pub const DELAY_US_ENV: &str = "ROUTER_TEST_DELAY_US";
pub const DELAY_EVERY_ENV: &str = "ROUTER_TEST_DELAY_EVERY";

/// How to start a router: its flags and extra environment.
#[derive(Debug, Default, Clone)]
pub struct RouterCmd {
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl RouterCmd {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_router"));
        cmd.args(&self.args)
            .env_remove(SLOWDOWN_ENV)
            .env_remove(DELAY_US_ENV)
            .env_remove(DELAY_EVERY_ENV)
            .env_remove("ROUTER_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Starts the router on `127.0.0.1:0` and waits until `/ready` answers 200.
    pub fn start(self) -> Router {
        let mut router = self.spawn();
        router.wait_ready();
        router
    }

    /// Starts the router on `127.0.0.1:0` and returns as soon as it printed its address.
    pub fn spawn(self) -> Router {
        let cmd = self.arg("--listen").arg("127.0.0.1:0");
        let mut child = cmd.command().spawn().expect("spawning the router binary");
        let stderr = drain(child.stderr.take().expect("piped stderr"));
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        // The reader thread keeps the pipe open for the child's whole life, so a later
        // write to stdout never meets a closed pipe.
        thread::spawn(move || read_address(stdout, tx));
        let mut router = Router {
            child,
            addr: None,
            stderr,
            exited: None,
        };
        let addr = match rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => addr,
            Err(_) => panic!(
                "router did not print its address within {START_TIMEOUT:?}; stderr:\n{}",
                router.stderr()
            ),
        };
        router.addr = Some(addr);
        router
    }

    /// Runs the router to its exit (it is expected to exit by itself, e.g. on bad input).
    pub fn run_to_exit(self, timeout: Duration) -> Finished {
        let mut child = self.command().spawn().expect("spawning the router binary");
        let stdout = drain(child.stdout.take().expect("piped stdout"));
        let stderr = drain(child.stderr.take().expect("piped stderr"));
        let status = wait_timeout(&mut child, timeout);
        let status = status.unwrap_or_else(|| {
            let _ = child.kill();
            let _ = child.wait();
            panic!("router did not exit within {timeout:?}")
        });
        // The drain threads end at EOF, which follows the exit closely.
        let deadline = Instant::now() + Duration::from_secs(2);
        while Arc::strong_count(&stdout) + Arc::strong_count(&stderr) > 2
            && Instant::now() < deadline
        {
            thread::sleep(Duration::from_millis(5));
        }
        let text = |b: &Arc<Mutex<Vec<u8>>>| String::from_utf8_lossy(&lock(b)).into_owned();
        Finished {
            status,
            stdout: text(&stdout),
            stderr: text(&stderr),
        }
    }
}

/// A router that ran to its exit.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

fn read_address(stdout: ChildStdout, tx: mpsc::Sender<SocketAddr>) {
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let Ok(line) = line else { return };
        if let Some(addr) = line.strip_prefix("router listening on ") {
            let addr = addr.trim().parse().expect("the printed address parses");
            let _ = tx.send(addr);
            break;
        }
    }
    for _ in lines {}
}

/// Reads a pipe to its end in a thread, into a shared buffer.
fn drain(mut pipe: impl Read + Send + 'static) -> Arc<Mutex<Vec<u8>>> {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let out = buf.clone();
    thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        loop {
            match pipe.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => lock(&out).extend_from_slice(&chunk[..n]),
            }
        }
    });
    buf
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Polls `try_wait` until the child exits or `timeout` passes.
fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("polling the child") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// A running router. Dropping it kills the process, so a failing test leaves none behind.
#[derive(Debug)]
pub struct Router {
    child: Child,
    addr: Option<SocketAddr>,
    stderr: Arc<Mutex<Vec<u8>>>,
    exited: Option<ExitStatus>,
}

impl Router {
    /// A router with the given flags and no extra environment.
    pub fn start(args: &[&str]) -> Router {
        RouterCmd::new().args(args.iter().copied()).start()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("the router printed its address")
    }

    /// What the router wrote to stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&lock(&self.stderr)).into_owned()
    }

    pub fn client(&self) -> Client {
        Client::connect(self.addr())
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "router exited ({status}) before ready; stderr:\n{}",
                    self.stderr()
                );
            }
            if let Ok(mut c) = Client::try_connect(self.addr())
                && c.get("/ready").is_ok_and(|r| r.status == 200)
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "router not ready within {START_TIMEOUT:?}; stderr:\n{}",
                self.stderr()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Scrapes `/metrics` and parses it strictly; panics if the exposition is malformed.
    pub fn metrics(&self) -> Metrics {
        let resp = self.client().get("/metrics").expect("GET /metrics");
        assert_eq!(resp.status, 200, "GET /metrics: {}", resp.text());
        let text = resp.text();
        match parse_openmetrics(&text) {
            Ok(samples) => Metrics { samples, text },
            Err(err) => panic!("/metrics is not valid OpenMetrics text: {err}\n{text}"),
        }
    }

    /// Sends a signal to the router process.
    pub fn signal(&self, sig: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: plain kill(2) on our own child's pid; the child is not reaped before
        // `wait_exit`, so the pid cannot have been reused by another process.
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(rc, 0, "kill({pid}, {sig}): {}", io::Error::last_os_error());
    }

    /// Waits for the router to exit by itself; panics (and kills it) after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        match wait_timeout(&mut self.child, timeout) {
            Some(status) => {
                self.exited = Some(status);
                status
            }
            None => panic!(
                "router did not exit within {timeout:?}; stderr:\n{}",
                self.stderr()
            ),
        }
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A parsed `/metrics` scrape.
#[derive(Debug)]
pub struct Metrics {
    pub samples: Vec<Sample>,
    pub text: String,
}

impl Metrics {
    /// The value of the one sample named `name` whose labels include `labels`.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut found = self.samples.iter().filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).is_some_and(|x| x == v))
        });
        let first = found.next()?;
        assert!(
            found.next().is_none(),
            "more than one sample matches {name} {labels:?}"
        );
        Some(first.value)
    }

    /// Like `get`, but the sample must exist.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels)
            .unwrap_or_else(|| panic!("no sample {name} {labels:?} in\n{}", self.text))
    }
}

/// One sample line of the exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses OpenMetrics text strictly: every line is `# HELP name text`, `# TYPE name type`,
/// `# UNIT name unit`, or a sample `name{label="value",...} value [timestamp]` of the family
/// declared last, whose name fits the family's type (`_total` for counters, `_bucket`,
/// `_sum`, `_count` for histograms, ...); families are not interleaved and appear once; the
/// text ends with `# EOF` and a newline, and nothing follows it.
pub fn parse_openmetrics(text: &str) -> Result<Vec<Sample>, String> {
    let body = text
        .strip_suffix("# EOF\n")
        .ok_or("the exposition does not end with `# EOF` and a newline")?;
    if !(body.is_empty() || body.ends_with('\n')) {
        return Err("`# EOF` is not on a line of its own".into());
    }
    let mut samples = Vec::new();
    // (family name, type) of the family being read.
    let mut family: Option<(String, String)> = None;
    let mut seen_families: Vec<String> = Vec::new();
    let mut seen_meta: Vec<(String, &str)> = Vec::new();
    // Samples read of the current family: its metadata must come before them.
    let mut family_samples = 0usize;
    for (n, line) in body.lines().enumerate() {
        let n = n + 1;
        let err = |m: String| format!("line {n} `{line}`: {m}");
        if let Some(rest) = line.strip_prefix('#') {
            let rest = rest
                .strip_prefix(' ')
                .ok_or_else(|| err("a comment must start with `# `".into()))?;
            let mut parts = rest.splitn(3, ' ');
            let kind = parts.next().unwrap_or_default();
            let name = parts
                .next()
                .ok_or_else(|| err("missing metric name".into()))?;
            let arg = parts.next();
            if !is_metric_name(name) {
                return Err(err(format!("bad metric name `{name}`")));
            }
            match kind {
                "HELP" | "TYPE" | "UNIT" => {}
                "EOF" => return Err(err("`# EOF` before the end".into())),
                _ => return Err(err(format!("unknown comment kind `{kind}`"))),
            }
            if family.as_ref().is_none_or(|(f, _)| f != name) {
                if seen_families.iter().any(|f| f == name) {
                    return Err(err(format!("family `{name}` appears twice")));
                }
                seen_families.push(name.to_string());
                family = Some((name.to_string(), "unknown".to_string()));
                family_samples = 0;
            }
            if family_samples > 0 {
                return Err(err(format!("{kind} after the samples of `{name}`")));
            }
            if seen_meta.iter().any(|(f, k)| f == name && *k == kind) {
                return Err(err(format!("second {kind} for `{name}`")));
            }
            seen_meta.push((name.to_string(), kind));
            match kind {
                "TYPE" => {
                    let ty = arg.ok_or_else(|| err("missing type".into()))?;
                    const TYPES: [&str; 8] = [
                        "counter",
                        "gauge",
                        "histogram",
                        "gaugehistogram",
                        "stateset",
                        "info",
                        "summary",
                        "unknown",
                    ];
                    if !TYPES.contains(&ty) {
                        return Err(err(format!("unknown type `{ty}`")));
                    }
                    family = Some((name.to_string(), ty.to_string()));
                }
                "HELP" if arg.is_none_or(|h| h.trim().is_empty()) => {
                    return Err(err("empty HELP text".into()));
                }
                _ => {}
            }
            continue;
        }
        if line.is_empty() {
            return Err(err("blank line".into()));
        }
        let sample = parse_sample(line).map_err(err)?;
        let (fam, ty) = family
            .as_ref()
            .ok_or_else(|| err("sample before any TYPE".into()))?;
        let suffixes: &[&str] = match ty.as_str() {
            "counter" => &["_total", "_created"],
            "histogram" | "gaugehistogram" => {
                &["_bucket", "_sum", "_count", "_created", "_gcount", "_gsum"]
            }
            "summary" => &["", "_sum", "_count", "_created"],
            "info" => &["_info"],
            _ => &[""],
        };
        let suffix = sample.name.strip_prefix(fam.as_str());
        if !suffix.is_some_and(|s| suffixes.contains(&s)) {
            return Err(err(format!(
                "sample `{}` does not belong to the {ty} family `{fam}`",
                sample.name
            )));
        }
        if ty == "counter" && (sample.value.is_nan() || sample.value < 0.0) {
            return Err(err("a counter must be a non-negative number".into()));
        }
        if sample.name.ends_with("_bucket") && !sample.labels.contains_key("le") {
            return Err(err("a histogram bucket without `le`".into()));
        }
        samples.push(sample);
        family_samples += 1;
    }
    Ok(samples)
}

fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(['{', ' '])
        .ok_or("a sample needs a name and a value")?;
    let name = &line[..name_end];
    if !is_metric_name(name) {
        return Err(format!("bad metric name `{name}`"));
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(after) = rest.strip_prefix('{') {
        let mut chars = after.char_indices().peekable();
        let end = loop {
            if let Some(&(i, '}')) = chars.peek() {
                break i;
            }
            // label name
            let start = chars.peek().map(|&(i, _)| i).ok_or("unterminated labels")?;
            let mut eq = None;
            for (i, c) in chars.by_ref() {
                if c == '=' {
                    eq = Some(i);
                    break;
                }
            }
            let eq = eq.ok_or("a label without `=`")?;
            let lname = &after[start..eq];
            if !is_label_name(lname) {
                return Err(format!("bad label name `{lname}`"));
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err(format!("label `{lname}`: value must be quoted"));
            }
            let mut value = String::new();
            loop {
                match chars.next().ok_or("unterminated label value")?.1 {
                    '"' => break,
                    '\\' => match chars.next().ok_or("unterminated escape")?.1 {
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'n' => value.push('\n'),
                        c => return Err(format!("bad escape `\\{c}`")),
                    },
                    '\n' => return Err("newline in a label value".into()),
                    c => value.push(c),
                }
            }
            if labels.insert(lname.to_string(), value).is_some() {
                return Err(format!("label `{lname}` twice"));
            }
            match chars.peek() {
                Some(&(_, ',')) => {
                    chars.next();
                    if chars.peek().is_some_and(|&(_, c)| c == '}') {
                        return Err("trailing comma in labels".into());
                    }
                }
                Some(&(_, '}')) => {}
                _ => return Err("labels must be separated by `,`".into()),
            }
        };
        rest = &after[end + 1..];
    }
    let rest = rest
        .strip_prefix(' ')
        .ok_or("expected one space before the value")?;
    let mut fields = rest.split(' ');
    let value = fields.next().ok_or("missing value")?;
    let value = parse_value(value)?;
    if let Some(ts) = fields.next() {
        parse_value(ts).map_err(|_| format!("bad timestamp `{ts}`"))?;
    }
    if fields.next().is_some() {
        return Err("trailing fields after the value".into());
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ if s.is_empty()
            || !s
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')) =>
        {
            Err(format!("bad number `{s}`"))
        }
        _ => s.parse().map_err(|_| format!("bad number `{s}`")),
    }
}

/// An HTTP/1.1 response as read off the wire.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header names lowercased, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {}",
                self.status,
                self.text()
            )
        })
    }

    /// The `error.code` of an error body.
    pub fn error_code(&self) -> Option<String> {
        let v: Value = serde_json::from_slice(&self.body).ok()?;
        v["error"]["code"].as_str().map(str::to_string)
    }

    fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// A keep-alive HTTP/1.1 client over one TCP connection. It reconnects only after the
/// server said `connection: close`; any other broken connection is an error.
#[derive(Debug)]
pub struct Client {
    addr: SocketAddr,
    conn: Option<(TcpStream, BufReader<TcpStream>)>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        Self::try_connect(addr).unwrap_or_else(|e| panic!("connecting to {addr}: {e}"))
    }

    pub fn try_connect(addr: SocketAddr) -> io::Result<Client> {
        let mut c = Client { addr, conn: None };
        c.ensure_conn()?;
        Ok(c)
    }

    fn ensure_conn(&mut self) -> io::Result<&mut (TcpStream, BufReader<TcpStream>)> {
        if self.conn.is_none() {
            let s = TcpStream::connect_timeout(&self.addr, IO_TIMEOUT)?;
            s.set_read_timeout(Some(IO_TIMEOUT))?;
            s.set_write_timeout(Some(IO_TIMEOUT))?;
            s.set_nodelay(true)?;
            let r = BufReader::new(s.try_clone()?);
            self.conn = Some((s, r));
        }
        Ok(self.conn.as_mut().expect("just connected"))
    }

    /// The raw stream, for tests that shape the request bytes and timing themselves.
    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.ensure_conn().expect("connecting").0
    }

    /// Writes `bytes` exactly as given and reads one response.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<Response> {
        let (w, _) = self.ensure_conn()?;
        w.write_all(bytes)?;
        w.flush()?;
        self.read_response()
    }

    /// Reads one response from the connection.
    pub fn read_response(&mut self) -> io::Result<Response> {
        let (_, r) = self.ensure_conn()?;
        let resp = read_response(r);
        if resp.as_ref().map_or(true, Response::closes) {
            self.conn = None;
        }
        resp
    }

    pub fn get(&mut self, path: &str) -> io::Result<Response> {
        self.send_raw(format!("GET {path} HTTP/1.1\r\nHost: router\r\n\r\n").as_bytes())
    }

    pub fn post_json(&mut self, path: &str, body: &[u8]) -> io::Result<Response> {
        self.send_raw(&raw_request("POST", path, Some("application/json"), body))
    }

    /// `POST /v1/decide` with a JSON value; panics on an IO error.
    pub fn decide(&mut self, body: &Value) -> Response {
        let bytes = serde_json::to_vec(body).expect("a JSON value serializes");
        self.post_json("/v1/decide", &bytes)
            .unwrap_or_else(|e| panic!("POST /v1/decide {body}: {e}"))
    }

    /// `POST /v1/decide` that must succeed; returns the decision.
    pub fn decide_ok(&mut self, body: &Value) -> Value {
        let resp = self.decide(body);
        assert_eq!(resp.status, 200, "{body} -> {}", resp.text());
        resp.json()
    }
}

/// The bytes of a request with a `content-length` body.
pub fn raw_request(method: &str, path: &str, content_type: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: router\r\n");
    if let Some(ct) = content_type {
        out.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

fn read_line(r: &mut impl BufRead) -> io::Result<String> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed before a response",
        ));
    }
    let line = String::from_utf8(line).map_err(|_| bad("response head is not UTF-8"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

fn read_response(r: &mut impl BufRead) -> io::Result<Response> {
    let status_line = read_line(r)?;
    let mut parts = status_line.splitn(3, ' ');
    if parts.next() != Some("HTTP/1.1") {
        return Err(bad(&format!("bad status line `{status_line}`")));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(&format!("bad status line `{status_line}`")))?;
    let mut headers = Vec::new();
    loop {
        let line = read_line(r)?;
        if line.is_empty() {
            break;
        }
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| bad(&format!("bad header `{line}`")))?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let mut resp = Response {
        status,
        headers,
        body: Vec::new(),
    };
    if resp
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let size_line = read_line(r)?;
            let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| bad("bad chunk size"))?;
            if size == 0 {
                while !read_line(r)?.is_empty() {}
                break;
            }
            let start = resp.body.len();
            resp.body.resize(start + size, 0);
            r.read_exact(&mut resp.body[start..])?;
            read_line(r)?;
        }
    } else if let Some(len) = resp.header("content-length") {
        let len: usize = len.parse().map_err(|_| bad("bad content-length"))?;
        resp.body.resize(len, 0);
        r.read_exact(&mut resp.body)?;
    } else if !(status == 204 || status == 304 || (100..200).contains(&status)) {
        r.read_to_end(&mut resp.body)?;
    }
    Ok(resp)
}

/// Unique per test process: request ids and scratch directories do not collide.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A minimal valid decision request for `tenant`; `extra` fields are merged in on top.
pub fn decide_req(tenant: &str, request_id: &str, extra: Value) -> Value {
    let mut req = json!({
        "version": "1",
        "tenant_id": tenant,
        "request_id": request_id,
        "task": {"type": "chat"},
    });
    if let (Some(req), Value::Object(extra)) = (req.as_object_mut(), extra) {
        req.extend(extra);
    }
    req
}

/// The shipped policy file of `tenant`, as JSON.
pub fn policy_file(tenant: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("policies")
        .join(format!("{tenant}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// The policy `policy_id` (or the default) of the shipped policy file of `tenant`.
pub fn shipped_policy(tenant: &str, policy_id: Option<&str>) -> Value {
    let file = policy_file(tenant);
    let id = policy_id.map(str::to_string).unwrap_or_else(|| {
        file["default_policy"]
            .as_str()
            .expect("default_policy")
            .into()
    });
    file["policies"]
        .as_array()
        .expect("policies")
        .iter()
        .find(|p| p["policy_id"] == id.as_str())
        .unwrap_or_else(|| panic!("{tenant} has no policy {id}"))
        .clone()
}

/// A scratch directory under cargo's per-target temporary directory, removed on drop.
#[derive(Debug)]
pub struct ScratchDir(pub PathBuf);

impl ScratchDir {
    pub fn new(name: &str) -> ScratchDir {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique(name));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        ScratchDir(dir)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Slowdown-knob iterations that make one decision take about `target` of CPU time in
/// this build of the router. Measured once per test process: a router with a known
/// iteration count answers a few requests, and the fastest sets the cost per iteration
/// (the fastest is the one least disturbed by other tests running at the same time).
pub fn slowdown_iters_for(target: Duration) -> u64 {
    const PROBE_ITERS: u64 = 2_000_000;
    static NANOS_PER_ITER: OnceLock<f64> = OnceLock::new();
    let per_iter = *NANOS_PER_ITER.get_or_init(|| {
        let router = RouterCmd::new()
            .env(SLOWDOWN_ENV, PROBE_ITERS.to_string())
            .start();
        let mut c = router.client();
        let fastest = (0..3)
            .map(|i| {
                let req = decide_req("acme", &format!("calibrate-{i}"), json!({}));
                let t = Instant::now();
                c.decide_ok(&req);
                t.elapsed()
            })
            .min()
            .expect("three probes");
        fastest.as_nanos() as f64 / PROBE_ITERS as f64
    });
    ((target.as_nanos() as f64 / per_iter) as u64).max(1)
}

/// Scrapes `/metrics` until `done` holds or `timeout` passes; returns the last scrape and
/// whether `done` held, so the caller's assertion can say what it saw.
pub fn wait_for_metrics(
    router: &Router,
    timeout: Duration,
    mut done: impl FnMut(&Metrics) -> bool,
) -> (Metrics, bool) {
    let deadline = Instant::now() + timeout;
    loop {
        let m = router.metrics();
        if done(&m) {
            return (m, true);
        }
        if Instant::now() >= deadline {
            return (m, false);
        }
        thread::sleep(Duration::from_millis(10));
    }
}
