//! The `admin` component: clients and hand-made grants, behind the
//! `admin_secret` bearer token.

use ausweis::oidc::client::{self, ClientInput};
use ausweis::username::Username;
use ausweis::{account, permissions, Error, Result};
use http::{header, Method, StatusCode};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::{problem, reply, Env, Request, Response};

/// Handles `/admin/...`.
pub fn handle(req: Request, env: &Env) -> Response {
    if let Some(refused) = authorise(&req, env) {
        return refused;
    }
    let path = req.uri().path().trim_end_matches('/').to_owned();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let result = match (parts.as_slice(), req.method()) {
        (["admin", "clients"], &Method::GET) => list_clients(env),
        (["admin", "clients"], _) => return problem::method_not_allowed("GET"),
        (["admin", "clients", id], &Method::GET) => get_client(env, id),
        (["admin", "clients", id], &Method::PUT) => put_client(&req, env, id),
        (["admin", "clients", id], &Method::DELETE) => delete_client(env, id),
        (["admin", "clients", _], _) => return problem::method_not_allowed("GET, PUT, DELETE"),
        (["admin", "users", user, "permissions", name], &Method::PUT) => {
            grant(&req, env, user, name)
        }
        (["admin", "users", user, "permissions", name], &Method::DELETE) => {
            ungrant(env, user, name)
        }
        (["admin", "users", _, "permissions", _], _) => {
            return problem::method_not_allowed("PUT, DELETE")
        }
        (["admin", "users", user, "claim"], &Method::DELETE) => release_claim(env, user),
        (["admin", "users", _, "claim"], _) => return problem::method_not_allowed("DELETE"),
        _ => return problem::not_found(),
    };
    result.unwrap_or_else(|e| problem::from_error(&e))
}

/// Checks `Authorization: Bearer <admin_secret>` in constant time. The API
/// is off while the secret is empty.
fn authorise(req: &Request, env: &Env) -> Option<Response> {
    let secret = env.vars.get("admin_secret").unwrap_or_default();
    if secret.trim().len() < 16 {
        return Some(problem::new(
            StatusCode::FORBIDDEN,
            "admin_disabled",
            "the admin API is off: set the variable admin_secret (at least 16 characters)",
        ));
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then_some(token.trim())
        })
        .unwrap_or("");
    let a = ausweis::random::digest_hex("admin", given);
    let b = ausweis::random::digest_hex("admin", secret.trim());
    if bool::from(a.as_bytes().ct_eq(b.as_bytes())) {
        None
    } else {
        crate::log_event("admin", "refused");
        let mut resp = problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send Authorization: Bearer <admin_secret>",
        );
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Bearer realm=\"ausweis-admin\""),
        );
        Some(resp)
    }
}

fn json_body<T: serde::de::DeserializeOwned>(req: &Request) -> Result<T> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("application/json")
    {
        return Err(Error::invalid(
            "unsupported_content_type",
            "send the body as Content-Type: application/json",
        ));
    }
    serde_json::from_slice(req.body()).map_err(|e| {
        // serde's message names fields and types, never the admin's values
        // beyond what the admin sent
        Error::invalid(
            "invalid_body",
            format!("body does not match the schema: {e}"),
        )
    })
}

fn list_clients(env: &Env) -> Result<Response> {
    Ok(reply::json(
        StatusCode::OK,
        &json!({ "clients": client::list(env.kv)? }),
    ))
}

fn get_client(env: &Env, id: &str) -> Result<Response> {
    match client::find(env.kv, id)? {
        Some(c) => Ok(reply::json(StatusCode::OK, &c)),
        None => Ok(problem::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such client",
        )),
    }
}

fn put_client(req: &Request, env: &Env, id: &str) -> Result<Response> {
    let input: ClientInput = json_body(req)?;
    let existed = client::find(env.kv, id)?.is_some();
    let (c, secret) = client::put(env.kv, input, id)?;
    crate::log_event("admin_client", if existed { "updated" } else { "created" });
    let mut body = serde_json::to_value(&c).map_err(|e| Error::Internal(e.to_string()))?;
    if let (Some(s), Some(obj)) = (secret, body.as_object_mut()) {
        // shown once; only its hash is kept
        obj.insert("client_secret".into(), json!(s));
    }
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(reply::json(status, &body))
}

fn delete_client(env: &Env, id: &str) -> Result<Response> {
    if client::delete(env.kv, id)? {
        crate::log_event("admin_client", "deleted");
        Ok(reply::json(StatusCode::OK, &json!({"deleted": id})))
    } else {
        Ok(problem::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such client",
        ))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantInput {
    /// Unix seconds, or an RFC 3339 date or date-time.
    expires: serde_json::Value,
    /// Also set (true) or clear (false) the member flag.
    member: Option<bool>,
}

/// Parses `2027-01-31`, `2027-01-31T12:00:00Z` or a Unix time.
fn parse_expiry(v: &serde_json::Value) -> Result<u64> {
    let bad = || {
        Error::invalid(
            "invalid_expires",
            "expires must be Unix seconds or an RFC 3339 date like 2027-01-31",
        )
    };
    if let Some(n) = v.as_u64() {
        return (n <= LATEST_EXPIRY).then_some(n).ok_or_else(bad);
    }
    let s = v.as_str().ok_or_else(bad)?;
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let nums: Vec<u64> = date
        .split('-')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_>>()?;
    let [y, m, d] = nums.as_slice() else {
        return Err(bad());
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let valid_day = (1..=12).contains(m) && (1..=month_days[(*m - 1) as usize]).contains(d);
    if !(1970..=9999).contains(y) || !valid_day {
        return Err(bad());
    }
    // RFC 3339 section 5.6: `Z` or a numeric offset
    let mut offset: i64 = 0;
    let secs_of_day = match time {
        None => 0,
        Some(t) => {
            let t = match t.strip_suffix('Z').or_else(|| t.strip_suffix('z')) {
                Some(rest) => rest,
                None => {
                    let cut = t.rfind(['+', '-']).ok_or_else(bad)?;
                    let (rest, zone) = t.split_at(cut);
                    let sign = if zone.starts_with('-') { -1 } else { 1 };
                    let (hh, mm) = zone[1..].split_once(':').ok_or_else(bad)?;
                    let hh: i64 = hh.parse().map_err(|_| bad())?;
                    let mm: i64 = mm.parse().map_err(|_| bad())?;
                    if hh > 23 || mm > 59 {
                        return Err(bad());
                    }
                    offset = sign * (hh * 3600 + mm * 60);
                    rest
                }
            };
            let hms: Vec<u64> = t
                .split(':')
                .map(|p| p.split('.').next().unwrap_or("").parse().map_err(|_| bad()))
                .collect::<Result<_>>()?;
            let [h, mi, se] = hms.as_slice() else {
                return Err(bad());
            };
            if *h > 23 || *mi > 59 || *se > 60 {
                return Err(bad());
            }
            h * 3600 + mi * 60 + se
        }
    };
    let local = (days_from_civil(*y, *m, *d) * 86_400 + secs_of_day) as i64;
    u64::try_from(local - offset)
        .ok()
        .filter(|n| *n <= LATEST_EXPIRY)
        .ok_or_else(bad)
}

/// The latest expiry accepted, 9999-12-31T23:59:59Z: the last instant an
/// RFC 3339 date can name, far from where adding days could overflow.
const LATEST_EXPIRY: u64 = 253_402_300_799;

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn account_id(env: &Env, user: &str) -> Result<Option<String>> {
    let Ok(name) = Username::parse(user) else {
        return Ok(None);
    };
    Ok(account::find(env.kv, &name)?.map(|a| a.id))
}

fn grant(req: &Request, env: &Env, user: &str, name: &str) -> Result<Response> {
    permissions::check_name(name)?;
    let input: GrantInput = json_body(req)?;
    let expires = parse_expiry(&input.expires)?;
    let Some(id) = account_id(env, user)? else {
        return Ok(problem::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such user",
        ));
    };
    let g = permissions::update(env.kv, &id, |g| {
        g.permissions.insert(name.to_owned(), expires);
        if let Some(m) = input.member {
            g.member = m;
        }
        Ok(())
    })?;
    crate::log_event("admin_grant", "set");
    Ok(reply::json(
        StatusCode::OK,
        &json!({"member": g.member, "permissions": g.permissions}),
    ))
}

/// `DELETE /admin/users/{username}/claim`: frees a name whose
/// registration failed half-way (claimed, but no account record).
fn release_claim(env: &Env, user: &str) -> Result<Response> {
    ausweis::register::release_orphaned_claim(env.kv, user)?;
    crate::log_event("admin_claim", "released");
    Ok(reply::json(StatusCode::OK, &json!({"released": true})))
}

fn ungrant(env: &Env, user: &str, name: &str) -> Result<Response> {
    let Some(id) = account_id(env, user)? else {
        return Ok(problem::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such user",
        ));
    };
    let g = permissions::update(env.kv, &id, |g| {
        g.permissions.remove(name);
        Ok(())
    })?;
    crate::log_event("admin_grant", "removed");
    Ok(reply::json(
        StatusCode::OK,
        &json!({"member": g.member, "permissions": g.permissions}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_dates_parse_to_unix_time() -> Result<()> {
        assert_eq!(parse_expiry(&json!("1970-01-02"))?, 86_400);
        assert_eq!(parse_expiry(&json!("2000-03-01T00:00:01Z"))?, 951_868_801);
        assert_eq!(parse_expiry(&json!(5))?, 5);
        assert!(parse_expiry(&json!("2027-13-01")).is_err());
        assert!(parse_expiry(&json!("2027-02-31")).is_err());
        assert_eq!(parse_expiry(&json!("2024-02-29"))?, 1_709_164_800);
        assert_eq!(parse_expiry(&json!("1970-01-02T01:00:00+01:00"))?, 86_400);
        assert!(parse_expiry(&json!("soon")).is_err());
        Ok(())
    }
}
