wsx_core::define_events! {
    pub events Set;
    push hello: Hello { name: String.min(10).max(5) }
}

fn main() {}
