//! A private set with no docs at all compiles without warnings.
#![deny(warnings)]

wsx_core::define_events! {
    events Private;
    request ping: PingRequest { n: u8 } -> Pong { n: u8 }
    send note: Note { text: String }
    push tick: Tick { at: u64 }
    struct Unused { a: bool }
    enum Mode { A, B }
}

fn main() {
    use wsx_core::event::EventSet;
    assert_eq!(Private::events().len(), 3);
    let _ = (
        Ping,
        PingRequest { n: 1 },
        Pong { n: 2 },
        Unused { a: true },
        Mode::A,
        Mode::B,
    );
    let _ = (
        Note {
            text: String::new(),
        },
        Tick { at: 1 },
    );
}
