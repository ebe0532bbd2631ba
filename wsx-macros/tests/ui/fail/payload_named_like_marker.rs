wsx_core::define_events! {
    pub events Set;
    request join: Join { username: String } -> JoinResponse { ok: bool }
}

fn main() {}
