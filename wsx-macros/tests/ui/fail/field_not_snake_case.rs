wsx_core::define_events! {
    pub events Set;
    push message: ChatMessage { messageId: String }
}

fn main() {}
