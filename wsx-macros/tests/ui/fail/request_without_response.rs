wsx_core::define_events! {
    pub events Set;
    request join: JoinRequest { username: String }
}

fn main() {}
