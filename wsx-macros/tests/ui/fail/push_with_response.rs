wsx_core::define_events! {
    pub events Set;
    push hello: Hello { name: String } -> Answer { ok: bool }
}

fn main() {}
