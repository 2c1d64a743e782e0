//! Unit tests of `crate::report::profile`: ranking, renderings, the flame graph, and which
//! metrics a profile cannot explain.

use crate::model::profile::{Function, Profile};
use crate::report::profile::*;

fn f(name: &str, self_ir: f64, inclusive_ir: f64) -> Function {
    Function {
        name: name.into(),
        krate: name.split("::").next().unwrap().into(),
        self_ir,
        inclusive_ir,
    }
}

/// thread → serve → decide → burn; the candidate burns 900 more per request.
fn profiles() -> (Profile, Profile) {
    let side = |burn: f64| Profile {
        functions: vec![
            f("std::thread", 10.0, 1210.0 + burn),
            f("router::serve", 600.0, 1200.0 + burn),
            f("router::decide", 500.0, 600.0 + burn),
            f("router::burn", 100.0 + burn, 100.0 + burn),
            f("tokio::park", 0.2, 0.2),
        ],
        stacks: [
            ("std::thread", 10.0),
            ("std::thread;router::serve", 600.0),
            ("std::thread;router::serve;router::decide", 500.0),
            (
                "std::thread;router::serve;router::decide;router::burn",
                100.0 + burn,
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
        total_ir: 1210.2 + burn,
        requests: 1000,
        raw: Vec::new(),
    };
    (side(0.0), side(900.0))
}

#[test]
fn diff_ranks_by_self_change_and_drops_noise() {
    let (r, c) = profiles();
    let rows = diff(&r, &c);
    assert_eq!(rows[0].name, "router::burn");
    assert_eq!(rows[0].self_delta(), 900.0);
    assert_eq!(rows[0].krate, "router");
    // The callers: no self change, the same inclusive one, so by name.
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "router::burn",
            "router::decide",
            "router::serve",
            "std::thread"
        ]
    );
    assert!(diff(&r, &r).is_empty());
}

#[test]
fn renderings_show_the_top_rows_and_say_how_many_more() {
    let (r, c) = profiles();
    let e = Explanation::new(&r, &c);
    let t = table(&e.rows, 2);
    assert!(
        t.contains("+900.0") && t.contains("router::burn (router)"),
        "{t}"
    );
    assert!(t.contains("2 more function(s)"), "{t}");
    let m = markdown(&e, 10);
    assert!(
        m.contains(
            "| +900.0 | 100.0 → 1000.0 | +900.0 | 100.0 → 1000.0 | `router::burn` | router |"
        ),
        "{m}"
    );
    let j = junit_text(&e, 1);
    // The headline, the title, one function, how many more.
    assert_eq!(j.lines().count(), 4, "{j}");
    assert!(
        j.contains("+900.0 self, +900.0 inclusive: router::burn (router)"),
        "{j}"
    );
    assert!(html(&e).contains("<td>router::burn</td>"));
    assert!(table(&[], 10).contains("no function's instructions per request changed"));
}

#[test]
fn svg_is_well_formed_without_script_and_names_the_functions() {
    let (r, c) = profiles();
    let s = svg(&r, &c);
    assert!(
        s.starts_with("<svg class=\"flame\""),
        "{}",
        &s[..200.min(s.len())]
    );
    for banned in [
        "<script",
        "onload",
        "onclick",
        "<!DOCTYPE",
        "<?xml",
        " id=\"title\"",
    ] {
        assert!(!s.contains(banned), "{banned} in {s}");
    }
    assert!(s.contains("router::burn"), "{s}");
    let mut reader = quick_xml::Reader::from_str(&s);
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("not well-formed: {e}\n{s}"),
        }
    }
}

#[test]
fn only_non_cpu_metrics_are_unexplained() {
    for m in [
        "instructions_per_req",
        "cpu_ms_per_1k_req",
        "rps",
        "sequential_rps",
    ] {
        assert_eq!(unexplained(m), None, "{m}");
    }
    let latency = unexplained("latency_p99_ms").unwrap();
    assert!(
        latency.contains("latency distribution") && latency.contains("--metric latency_p99_ms"),
        "{latency}"
    );
    assert!(
        unexplained("mem_mb_rss")
            .unwrap()
            .contains("--workload soak")
    );
    assert!(unexplained("errors_total").unwrap().contains("bench log"));
    // A component's count is explained by profiling its bench, not the router (nor memory:
    // `sticky` in the name once sent it to the soak workload).
    let component = unexplained("component_sticky_get_1k_ir").unwrap();
    assert!(component.contains("--filter sticky_get_1k"), "{component}");
    assert!(!component.contains("soak"), "{component}");
    assert!(unexplained("ramp_knee_pct").unwrap().contains("not a cost"));
}

/// A copy in `router::decide`: the candidate's malloc (libc) and the drop of the copied
/// policy, with its free, cost 65 more per request; the runtime idles 10 more.
fn copying() -> (Profile, Profile) {
    let side = |stacks: &[(&str, f64)]| Profile {
        stacks: stacks.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        total_ir: stacks.iter().map(|(_, v)| v).sum(),
        requests: 1000,
        ..Profile::default()
    };
    let common = [
        ("std::thread;tokio::park", 30.0),
        ("std::thread;router::serve", 100.0),
        ("std::thread;router::serve;router::decide", 200.0),
        ("std::thread;router::serve;router::decide;malloc", 10.0),
    ];
    let mut candidate = common.to_vec();
    candidate.extend([
        ("std::thread;router::serve;router::decide;malloc;_int_malloc", 40.0),
        (
            "std::thread;router::serve;router::decide;core::ptr::drop_in_place<router::policy::Policy>",
            5.0,
        ),
        (
            "std::thread;router::serve;router::decide;core::ptr::drop_in_place<router::policy::Policy>;free",
            20.0,
        ),
        ("std::thread;tokio::park;tokio::idle", 10.0),
    ]);
    (side(&common), side(&candidate))
}

#[test]
fn owners_charge_what_libc_runs_to_the_router_function_that_asked() {
    let (r, c) = copying();
    let o = owners(&r, &c);
    let grew: Vec<(&str, f64)> = o.iter().map(|o| (o.name.as_str(), o.delta())).collect();
    // The allocator's 40 goes to decide, the drop's free to the drop of a router type; the
    // runtime's idle work has no router frame and is nobody's.
    assert_eq!(
        grew,
        [
            ("router::decide", 40.0),
            ("core::ptr::drop_in_place<router::policy::Policy>", 25.0)
        ]
    );
    let e = Explanation::new(&r, &c);
    assert_eq!(e.change_ir, 75.0);
    let line = headline(&e).unwrap();
    assert!(
        line.contains("+75.0 instructions per request")
            && line.contains("router::decide +40.0 (53%)")
            && line.contains("drop_in_place<router::policy::Policy> +25.0 (33%)"),
        "{line}"
    );
    // Nothing grew: no headline.
    assert_eq!(headline(&Explanation::new(&r, &r)), None);
}
