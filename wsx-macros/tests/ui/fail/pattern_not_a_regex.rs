wsx_core::define_events! {
    pub events Set;
    push hello: Hello { code: String.pattern("([a-z") }
}

fn main() {}
