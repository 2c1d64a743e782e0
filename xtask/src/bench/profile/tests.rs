//! Unit tests of `crate::bench::profile`: `callgrind_annotate` text to per-request costs,
//! names, crates and folded stacks.

use crate::bench::profile::*;

/// start_thread → decide → burn_cpu, with decide's code in two files (its own and
/// serde_json's, inlined), a recursion, and two instances of one generic function.
const TEXT: &str = "\
--------------------------------------------------------------------------------
Ir
--------------------------------------------------------------------------------
3,000 (100.0%)  PROGRAM TOTALS

--------------------------------------------------------------------------------
Ir          file:function
--------------------------------------------------------------------------------

  500 (16.67%)  *  ./nptl/pthread_create.c:start_thread [/usr/lib/x86_64-linux-gnu/libc.so.6]
2,500 (83.33%)  >   /w/router/src/service.rs:_ZN6router7service6decide17h0123456789abcdefE (1,000x) [/w/target/release/router]

  300  *  /w/router/src/service.rs:_ZN6router7service6decide17h0123456789abcdefE [/w/target/release/router]
2,000  >   /w/router/src/service.rs:_ZN6router7service8burn_cpu17h1111111111111111E (1,000x) [/w/target/release/router]
   50  >   /w/router/src/service.rs:_ZN6router7service6decide17h0123456789abcdefE'2 (10x) [/w/target/release/router]
   80  >   /r/core/src/ptr/mod.rs:_ZN4core3ptr4drop17h2222222222222222E (3x)
   20  >   /r/core/src/ptr/mod.rs:_ZN4core3ptr4drop17h3333333333333333E (3x)

  100  *  /cargo/serde_json/src/ser.rs:_ZN6router7service6decide17h0123456789abcdefE
2,000  *  /w/router/src/service.rs:_ZN6router7service8burn_cpu17h1111111111111111E
   80  *  /r/core/src/ptr/mod.rs:_ZN4core3ptr4drop17h2222222222222222E
   20  *  /r/core/src/ptr/mod.rs:_ZN4core3ptr4drop17h3333333333333333E
";

const DECIDE: &str = "_ZN6router7service6decide17h0123456789abcdefE";

#[test]
fn annotate_text_gives_self_costs_calls_and_objects_per_symbol() {
    let c = parse_annotate(TEXT);
    // Both files of `decide` (its own and inlined serde_json code) add up.
    assert_eq!(c.self_ir[DECIDE], 400);
    assert_eq!(c.self_ir["start_thread"], 500);
    assert_eq!(
        c.calls[&("start_thread".into(), DECIDE.into())],
        2500,
        "{c:?}"
    );
    // The recursion depth is dropped: a call to itself.
    assert_eq!(c.calls[&(DECIDE.into(), DECIDE.into())], 50);
    assert_eq!(c.objects["start_thread"], "libc.so.6");
    assert!(!c.self_ir.contains_key("PROGRAM TOTALS"));
}

/// Names are demangled without the hash; a crate is the path's first segment (the trait's
/// when the type has no path), else the object file.
#[test]
fn names_are_demangled_and_crates_come_from_the_path_or_the_object() {
    let text = "\
  10  *  x.rs:_ZN6router7service6decide17h0123456789abcdefE [/w/router]
  10  *  x.rs:<&mut serde_json::Ser<W> as core::Foo>::bar [/w/router]
  10  *  x.rs:<std::sys::thread::unix::Thread>::new::thread_start [/w/router]
  10  *  x.rs:<u64 as core::iter::Step>::forward [/w/router]
  10  *  x.rs:__memcpy_avx_unaligned_erms [/usr/lib/libc.so.6]
  10  *  x.rs:main
";
    let p = from_runs(&parse_annotate(text), &Costs::default(), 1);
    let crates: Vec<(&str, &str)> = p
        .functions
        .iter()
        .map(|f| (f.name.as_str(), f.krate.as_str()))
        .collect();
    assert_eq!(
        crates,
        [
            ("<&mut serde_json::Ser<W> as core::Foo>::bar", "serde_json"),
            ("<std::sys::thread::unix::Thread>::new::thread_start", "std"),
            ("<u64 as core::iter::Step>::forward", "core"),
            ("__memcpy_avx_unaligned_erms", "libc.so.6"),
            ("main", "?"),
            ("router::service::decide", "router"),
        ]
    );
}

#[test]
fn per_request_is_the_difference_of_the_runs_with_stacks_from_the_call_graph() {
    let full = parse_annotate(TEXT);
    let mut half = parse_annotate(TEXT);
    // The half run: the same start-up, half the decisions.
    for v in half.self_ir.values_mut().chain(half.calls.values_mut()) {
        *v /= 2;
    }
    let p = from_runs(&full, &half, 500);
    let f = |n: &str| p.functions.iter().find(|f| f.name == n).unwrap().clone();
    let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-9, "{a} != {b}");
    let decide = f("router::service::decide");
    assert_eq!(decide.krate, "router");
    close(decide.self_ir, 0.4);
    // Self, burn_cpu and both drops; not the recursive call.
    close(decide.inclusive_ir, 0.4 + 2.0 + 0.1);
    // Two instances of `drop`, one row.
    close(f("core::ptr::drop").self_ir, 0.1);
    close(p.total_ir, 3.0);
    let stack = |s: &str| p.stacks[s];
    close(
        stack("start_thread;router::service::decide;router::service::burn_cpu"),
        2.0,
    );
    close(
        stack("start_thread;router::service::decide;core::ptr::drop"),
        0.1,
    );
    close(stack("start_thread"), 0.5);
    close(p.stacks.values().sum::<f64>(), p.total_ir);
}
