use wsx_core::server::{HandlerError, ServerBuilder};

wsx_core::define_events! {
    pub events Demo;
    request echo: EchoRequest { text: String } -> EchoResponse { text: String }
}

// `String` is not an extractor: only the last argument is the payload.
async fn echo(name: String, req: EchoRequest) -> Result<EchoResponse, HandlerError> {
    Ok(EchoResponse { text: format!("{name}{}", req.text) })
}

fn main() {
    let _ = ServerBuilder::<(), ()>::new(()).on_request::<Echo, _, _>(echo);
}
