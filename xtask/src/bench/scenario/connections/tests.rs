//! Unit tests of `crate::bench::scenario::connections`. Its private helpers are tested at the end.

use crate::bench::scenario::connections::*;

#[test]
fn nofile_line_of_proc_limits() {
    use procfs::FromBufRead;
    use procfs::process::Limits;
    let text = "Limit                     Soft Limit           Hard Limit           Units     
Max cpu time              unlimited            unlimited            seconds   
Max file size             unlimited            unlimited            bytes     
Max data size             unlimited            unlimited            bytes     
Max stack size            8388608              unlimited            bytes     
Max core file size        0                    unlimited            bytes     
Max resident set          unlimited            unlimited            bytes     
Max processes             96367                96367                processes 
Max open files            1024                 524288               files     
Max locked memory         8388608              8388608              bytes     
Max address space         unlimited            unlimited            bytes     
Max file locks            unlimited            unlimited            locks     
Max pending signals       96367                96367                signals   
Max msgqueue size         819200               819200               bytes     
Max nice priority         0                    0                    
Max realtime priority     0                    0                    
Max realtime timeout      unlimited            unlimited            us        
";
    let nofile = |text: &str| {
        Limits::from_buf_read(text.as_bytes()).map(|l| soft_and_hard(l.max_open_files))
    };
    assert_eq!(nofile(text).unwrap(), (1024, 524_288));
    let unlimited = text.replace(
        "1024                 524288",
        "unlimited            unlimited",
    );
    assert_eq!(nofile(&unlimited).unwrap(), (u64::MAX, u64::MAX));
    assert!(nofile("Max processes 10 10 processes\n").is_err());
}

#[test]
fn levels_must_increase() {
    let at = |f: &str| format!("field `scenario.connections.{f}`");
    let p = Params {
        idle: vec![50, 200],
        active_connections: 2,
        active_rate: 200,
        active_ms: 500,
        settle_ms: 100,
    };
    p.validate(&at).unwrap();
    let err = Params {
        idle: vec![200, 200],
        ..p.clone()
    }
    .validate(&at)
    .unwrap_err();
    assert!(format!("{err}").contains("idle[1]"), "{err}");
    let err = Params {
        idle: vec![],
        ..p.clone()
    }
    .validate(&at)
    .unwrap_err();
    assert!(
        format!("{err}").contains("scenario.connections.idle"),
        "{err}"
    );
    let err = Params {
        idle: vec![MAX_IDLE + 1],
        ..p
    }
    .validate(&at)
    .unwrap_err();
    assert!(format!("{err}").contains("idle[0]"), "{err}");
}

// The module's private helpers.

#[test]
fn own_limit_reads_back() {
    let own = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let (soft, hard) = nofile(std::process::id(), None).unwrap();
    assert!(soft > 0 && soft <= hard);
    // The same numbers as getrlimit's (`None`: unlimited).
    let value = |v: Option<u64>| v.unwrap_or(u64::MAX);
    assert_eq!((value(own.current), value(own.maximum)), (soft, hard));
    // Raising to what it already is changes nothing.
    assert_eq!(
        nofile(std::process::id(), Some(soft)).unwrap(),
        (soft, hard)
    );
}

#[test]
fn a_childs_limit_is_raised_in_place() {
    // A child whose soft limit is below its hard one, as a router's may be.
    let mut child = std::process::Command::new("sh")
        .args(["-c", "ulimit -Sn 256 && exec sleep 30"])
        .spawn()
        .unwrap();
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(10);
    let (soft, hard) = loop {
        let limit = nofile(pid, None).unwrap();
        if limit.0 == 256 || Instant::now() > deadline {
            break limit;
        }
        std::thread::yield_now();
    };
    let raised = nofile(pid, Some(300));
    let seen = read_nofile(pid);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(soft, 256);
    assert_eq!(raised.unwrap(), (300.min(hard), hard));
    assert_eq!(seen.unwrap(), (300.min(hard), hard));
}

#[test]
fn response_reader_takes_head_and_body() {
    use std::net::TcpListener;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).unwrap();
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel")
            .unwrap();
        std::thread::sleep(Duration::from_millis(20));
        s.write_all(b"lo").unwrap();
        let _ = s.read(&mut buf).unwrap();
        s.write_all(b"HTTP/1.1 503 Busy\r\nconnection: close\r\ncontent-length: 0\r\n\r\n")
            .unwrap();
        // Closes at the end: the client then sees the end of the stream.
    });
    let mut s = open_idle(addr, &decide_request(addr, "{}")).unwrap();
    assert!(still_open(&s));
    s.write_all(&decide_request(addr, "{}")).unwrap();
    let err = read_response(&mut s).unwrap_err();
    assert!(format!("{err}").contains("Connection: close"), "{err}");
    server.join().unwrap();
    // The server's close reaches this end through loopback's softirq, which on a busy machine
    // can come after the join: a blocking peek returns once the end of the stream is here.
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.peek(&mut [0u8; 1]);
    assert!(!still_open(&s));
}
