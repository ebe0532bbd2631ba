wsx_core::define_events! {
    pub events Set;
    push hello: Hello { name: String.min(1).maxx(5) }
}

fn main() {}
