wsx_core::define_events! {
    pub events Set;
    push hello: Hello { room: Option<String>.default("general") }
}

fn main() {}
