//! Spin component `admin`: see `ausweis_web::admin`.

#![allow(
    unsafe_code,
    reason = "the #[http_component] macro generates the export glue"
)]

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    ausweis_spin::serve(req, out, ausweis_web::admin::handle).await;
}
