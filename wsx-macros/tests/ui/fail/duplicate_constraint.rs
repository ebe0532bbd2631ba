wsx_core::define_events! {
    pub events Set;
    push hello: Hello { name: String.min(1).min(2) }
}

fn main() {}
