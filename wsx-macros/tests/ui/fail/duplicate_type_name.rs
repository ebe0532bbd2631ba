wsx_core::define_events! {
    pub events Set;
    push hello: Hello { name: String }
    struct Hello { x: f64 }
}

fn main() {}
