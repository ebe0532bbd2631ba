//! A wrong handler signature is a compile error that says what a handler must be.

#[test]
fn wrong_handler_signatures_do_not_compile() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/handler_fail/*.rs");
}
