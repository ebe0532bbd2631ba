wsx_core::define_events! {
    pub events Set;
    event hello: Hello { name: String }
}

fn main() {}
