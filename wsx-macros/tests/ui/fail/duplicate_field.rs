wsx_core::define_events! {
    pub events Set;
    push hello: Hello {
        user_name: String,
        #[rename = "userName"]
        name: String,
    }
}

fn main() {}
