//! Compile tests of what a user writes: `define_events!` (the pass suite exercises the
//! whole syntax, the fail suite checks one error message per file) and the handlers
//! registered with `ServerBuilder` (a wrong signature is an error that says what a
//! handler must be). `TRYBUILD=overwrite` regenerates the `.stderr` files.
//!
//! Both suites are one trybuild project, so its dependencies (wsx-core and its own) are
//! built once: a second project, e.g. in wsx-core's tests, would build them again with
//! other dev-dependencies, and only checked rather than built when it has no pass test.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
    t.compile_fail("tests/ui/handler_fail/*.rs");
}
