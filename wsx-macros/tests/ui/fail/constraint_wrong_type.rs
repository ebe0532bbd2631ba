wsx_core::define_events! {
    pub events Set;
    push hello: Hello { count: u32.pattern("^[0-9]+$") }
}

fn main() {}
