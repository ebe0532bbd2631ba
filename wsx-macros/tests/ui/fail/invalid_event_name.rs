wsx_core::define_events! {
    pub events Set;
    #[wsx(name = "$error")]
    push failure: Failure { message: String }
}

fn main() {}
