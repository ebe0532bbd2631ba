//! `event!`: one event declared by hand (a marker type and its `Event` impls), for tests
//! that need events without the `define_events!` macro. Shared by the test crates of
//! `wsx-core` and `wsx-client` (included with `#[path]`):
//!
//! ```ignore
//! event!(request Echo = "echo": EchoReq => EchoResp);
//! event!(send Jot = "jot": Note);
//! event!(push Noted = "noted": Note);
//! ```

macro_rules! event {
    (request $marker:ident = $name:literal : $req:ty => $resp:ty) => {
        pub struct $marker;
        impl ::wsx_core::event::Event for $marker {
            const NAME: &'static str = $name;
            const KIND: ::wsx_core::event::EventKind = ::wsx_core::event::EventKind::Request;
            type Payload = $req;
        }
        impl ::wsx_core::event::RequestEvent for $marker {
            type Response = $resp;
        }
    };
    (send $marker:ident = $name:literal : $payload:ty) => {
        pub struct $marker;
        impl ::wsx_core::event::Event for $marker {
            const NAME: &'static str = $name;
            const KIND: ::wsx_core::event::EventKind = ::wsx_core::event::EventKind::Send;
            type Payload = $payload;
        }
        impl ::wsx_core::event::SendEvent for $marker {}
    };
    (push $marker:ident = $name:literal : $payload:ty) => {
        pub struct $marker;
        impl ::wsx_core::event::Event for $marker {
            const NAME: &'static str = $name;
            const KIND: ::wsx_core::event::EventKind = ::wsx_core::event::EventKind::Push;
            type Payload = $payload;
        }
        impl ::wsx_core::event::PushEvent for $marker {}
    };
}
