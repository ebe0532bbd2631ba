wsx_core::define_events! {
    pub events Set;
    request join: JoinRequest { room: String.default("Lobby").pattern("^[a-z]+$") } -> JoinResponse { ok: bool }
}

fn main() {}
