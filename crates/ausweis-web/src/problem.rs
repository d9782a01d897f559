//! Error answers: `{"error": "<code>", "message": "<what to fix>"}`.

use ausweis::Error;
use http::{header, HeaderValue, StatusCode};
use serde::Serialize;

use crate::reply;
use crate::Response;

#[derive(Serialize)]
struct Problem<'a> {
    error: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
}

/// An error answer with a stable code and a message for the caller.
pub fn new(status: StatusCode, code: &str, message: &str) -> Response {
    reply::json(
        status,
        &Problem {
            error: code,
            message,
            id: None,
        },
    )
}

/// 405, naming the allowed methods.
pub fn method_not_allowed(allowed: &'static str) -> Response {
    let mut resp = new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        &format!("use {allowed}"),
    );
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allowed));
    resp
}

/// 404 for a path this component does not serve.
pub fn not_found() -> Response {
    new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

/// 413 for a body over [`crate::MAX_BODY`].
pub fn too_large() -> Response {
    new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        &format!("request body must be at most {} bytes", crate::MAX_BODY),
    )
}

/// Unexpected failure: logged under a short random id, and only the id
/// reaches the client.
fn incident(status: StatusCode, code: &str, message: &str, kind: &str) -> Response {
    let id = ausweis::random::token(6);
    eprintln!("ausweis event=failure id={id} kind={kind}");
    reply::json(
        status,
        &Problem {
            error: code,
            message,
            id: Some(&id),
        },
    )
}

fn with_retry_after(mut resp: Response, seconds: u64) -> Response {
    if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

/// Maps every domain error to its answer.
pub fn from_error(err: &Error) -> Response {
    match err {
        Error::Invalid { code, message } => new(StatusCode::BAD_REQUEST, code, message),
        Error::UsernameTaken => new(
            StatusCode::CONFLICT,
            "username_taken",
            "this username is taken; choose another",
        ),
        Error::InvalidCredentials => new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "username or password is wrong",
        ),
        Error::Throttled { retry_after } => {
            let mut resp = new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                &format!("too many failed attempts; try again in {retry_after} s"),
            );
            if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            resp
        }
        Error::NotAuthenticated => new(
            StatusCode::UNAUTHORIZED,
            "not_authenticated",
            "log in first",
        ),
        Error::TicketUnknown => new(
            StatusCode::NOT_FOUND,
            "ticket_unknown",
            "no ticket has this secret; check what you typed",
        ),
        Error::TicketRedeemed => new(
            StatusCode::CONFLICT,
            "ticket_redeemed",
            "this ticket has been redeemed already",
        ),
        Error::TicketUnpaid => new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "ticket_unpaid",
            "this ticket's order is not paid yet; try again once it is",
        ),
        Error::TicketCancelled => new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "ticket_cancelled",
            "this ticket's order was cancelled or has expired",
        ),
        Error::TicketRefused { reason } => new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "ticket_refused",
            &format!("the ticket shop refused this ticket ({reason}); ask the association"),
        ),
        Error::ItemNotRedeemable => new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "item_not_redeemable",
            "this ticket is for an item that grants nothing here; ask the association",
        ),
        Error::PretixUnavailable(what) => with_retry_after(
            incident(
                StatusCode::SERVICE_UNAVAILABLE,
                "pretix_unavailable",
                "the ticket shop cannot be reached right now; try again in a minute (a ticket waiting in this browser is kept)",
                &format!("pretix unavailable ({what})"),
            ),
            30,
        ),
        Error::PretixFailed(what) => incident(
            StatusCode::BAD_GATEWAY,
            "pretix_failed",
            "the ticket shop gave an unusable answer; try again later (a ticket waiting in this browser is kept) or tell the operator this id",
            &format!("pretix failed ({what})"),
        ),
        Error::RedemptionDisabled => new(
            StatusCode::NOT_IMPLEMENTED,
            "redemption_disabled",
            "ticket redemption is not configured on this server",
        ),
        Error::NoRedemption => new(
            StatusCode::NOT_FOUND,
            "no_redemption",
            "no redeemed ticket is waiting in this browser; redeem one first (POST /api/redeem)",
        ),
        Error::RedemptionPending => new(
            StatusCode::CONFLICT,
            "redemption_pending",
            "a ticket redeemed in this browser is being applied to an account; log in to that account and finish it first (POST /api/redeem/apply)",
        ),
        Error::RedemptionBusy => with_retry_after(
            new(
                StatusCode::CONFLICT,
                "redemption_busy",
                "this ticket is being applied right now; try again in a few seconds",
            ),
            5,
        ),
        Error::TicketRequired => new(
            StatusCode::FORBIDDEN,
            "ticket_required",
            "registration needs a ticket: redeem one in this browser first (POST /api/redeem)",
        ),
        Error::CodeRequired => new(
            StatusCode::UNAUTHORIZED,
            "code_required",
            "two-factor authentication is on: send the code from your authenticator app \
(or a recovery code) as `code`",
        ),
        Error::CrossSite => new(
            StatusCode::FORBIDDEN,
            "cross_site_request",
            "this request must come from this site's own pages",
        ),
        Error::InvalidCode => new(
            StatusCode::UNAUTHORIZED,
            "invalid_code",
            "the code is wrong, used already or out of time; use the current code",
        ),
        Error::NotFound(what) => new(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("no such {what}"),
        ),
        Error::Conflict { code, message } => new(StatusCode::CONFLICT, code, message),
        Error::RecoveryFailed => new(
            StatusCode::FORBIDDEN,
            "recovery_failed",
            "the challenge or link is unknown, expired or used, or the signature does not \
verify with the account's key; start again",
        ),
        Error::MailRecoveryDisabled => new(
            StatusCode::FORBIDDEN,
            "mail_recovery_disabled",
            "recovery by e-mail is not set up on this server; recover with your OpenPGP key",
        ),
        Error::Config(what) => incident(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_misconfigured",
            "the server is misconfigured; tell its operator this id",
            &format!("config ({what})"),
        ),
        Error::Store(e) => incident(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "storage is unavailable; nothing was changed, try again later",
            &format!("store ({e})"),
        ),
        // The message is ours and names no user or secret.
        Error::Internal(what) => incident(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "something went wrong on our side; tell the operator this id",
            &format!("internal ({what})"),
        ),
        _ => incident(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "something went wrong on our side; tell the operator this id",
            "unknown",
        ),
    }
}
