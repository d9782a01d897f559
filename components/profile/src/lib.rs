//! Spin component `profile`: see `ausweis_web::profile`.

#![allow(
    unsafe_code,
    reason = "the #[http_component] macro generates the export glue"
)]

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    ausweis_spin::serve(req, out, ausweis_web::profile::handle).await;
}
