wsx_core::define_events! {
    pub events Set;
    push hello: Hello { name: String }
    #[wsx(name = "hello")]
    push hello2: Hello2 { name: String }
}

fn main() {}
