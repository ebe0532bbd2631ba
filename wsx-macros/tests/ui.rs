//! Compile tests of `define_events!`: the pass suite exercises the whole syntax, the fail
//! suite checks one error message per file (`TRYBUILD=overwrite` regenerates `.stderr`).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
