wsx_core::define_events! {
    pub events Set;
    push status: StatusChanged { status: Status.default(Sleeping) }
    enum Status { Online, Away }
}

fn main() {}
