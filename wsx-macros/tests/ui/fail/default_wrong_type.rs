wsx_core::define_events! {
    pub events Set;
    request join: JoinRequest { room: String.default(5) } -> JoinResponse { ok: bool }
}

fn main() {}
