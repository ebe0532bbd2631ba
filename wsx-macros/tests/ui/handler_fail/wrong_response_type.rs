use wsx_core::server::{HandlerError, ServerBuilder};

wsx_core::define_events! {
    pub events Demo;
    request echo: EchoRequest { text: String } -> EchoResponse { text: String }
}

// Returns the request type instead of the response type.
async fn echo(req: EchoRequest) -> Result<EchoRequest, HandlerError> {
    Ok(req)
}

fn main() {
    let _ = ServerBuilder::<(), ()>::new(()).on_request::<Echo, _, _>(echo);
}
