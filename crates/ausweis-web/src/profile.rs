//! The `profile` component: `GET /api/profile`, `PUT` and `DELETE
//! /api/profile/fields/{name}`, `GET /api/users/{username}/profile`, and
//! the pages `/` (the start page) and `/profile` (the editor, see [`page`]).

mod page;

use ausweis::export::{fields_listing, permissions_listing};
use ausweis::profile::{self, Field, Kind, Viewer, Visibility};
use ausweis::username::Username;
use ausweis::{account, permissions, Error, Result};
use http::{Method, StatusCode};
use serde_json::json;

use crate::{auth, input, problem, reply, Env, Request, Response};

/// Handles the profile component's routes.
pub fn handle(req: Request, env: &Env) -> Response {
    let path = req.uri().path().trim_end_matches('/').to_owned();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let result = match (parts.as_slice(), req.method()) {
        (["api", "profile"], &Method::GET) => own(&req, env),
        (["api", "profile"], _) => return problem::method_not_allowed("GET"),
        (["api", "profile", "fields", name], &Method::PUT) => put_field(&req, env, name),
        (["api", "profile", "fields", name], &Method::DELETE) => delete_field(&req, env, name),
        (["api", "profile", "fields", _], _) => return problem::method_not_allowed("PUT, DELETE"),
        (["api", "users", user, "profile"], &Method::GET) => shared(&req, env, user),
        (["api", "users", _, "profile"], _) => return problem::method_not_allowed("GET"),
        ([""], &Method::GET) => return page::start(&req, env),
        ([""], _) => return problem::method_not_allowed("GET"),
        (["profile"], &Method::GET) => return page::editor(&req, env),
        (["profile"], _) => return problem::method_not_allowed("GET"),
        (["profile", "fields"], &Method::POST) => return page::add(&req, env),
        (["profile", "fields", name], &Method::POST) => return page::change(&req, env, name),
        (["profile", "fields", name, "delete"], &Method::POST) => {
            return page::delete(&req, env, name)
        }
        (["profile", "fields", ..], _) => return problem::method_not_allowed("POST"),
        _ => return problem::not_found(),
    };
    result.unwrap_or_else(|e| problem::from_error(&e))
}

/// The member's own view: username, member flag, permissions with their
/// expiry, and every field with its visibility.
fn own(req: &Request, env: &Env) -> Result<Response> {
    let me = auth::member(req, env)?;
    let grants = permissions::get(env.kv, &me.account.id)?;
    let prof = profile::get(env.kv, &me.account.id)?;
    Ok(reply::json(
        StatusCode::OK,
        &json!({
            "username": me.account.username,
            "member": grants.member,
            "permissions": permissions_listing(&grants, env.now),
            "fields": fields_listing(&prof.fields),
        }),
    ))
}

/// `PUT /api/profile/fields/{name}` `{value, type?, visibility?}`: sets a
/// field (type `text` and visibility `private` unless given). 201 when new.
fn put_field(req: &Request, env: &Env, name: &str) -> Result<Response> {
    let me = auth::member(req, env)?;
    auth::same_origin(req, env)?;
    profile::check_name(name)?;
    let body = input::json_object(req, &["value", "type", "visibility"])?;
    let value = body
        .value("value")
        .ok_or_else(|| Error::invalid("missing_field", "field `value` is required"))?
        .clone();
    let kind = Kind::parse(&body.optional("type", 16)?.unwrap_or_else(|| "text".into()))?;
    let visibility = Visibility::parse(
        &body
            .optional("visibility", 16)?
            .unwrap_or_else(|| "private".into()),
    )?;
    let field = Field {
        value,
        kind,
        visibility,
    };
    let created = profile::put_field(env.kv, &me.account.id, name, field)?;
    crate::log_event(
        "profile_field",
        if created { "created" } else { "replaced" },
    );
    let stored = profile::get(env.kv, &me.account.id)?;
    let shown = stored.fields.get(name).map(
        |f| json!({"name": name, "value": f.value, "type": f.kind, "visibility": f.visibility}),
    );
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(reply::json(status, &shown))
}

fn delete_field(req: &Request, env: &Env, name: &str) -> Result<Response> {
    let me = auth::member(req, env)?;
    auth::same_origin(req, env)?;
    profile::delete_field(env.kv, &me.account.id, name)?;
    crate::log_event("profile_field", "deleted");
    Ok(reply::json(StatusCode::OK, &json!({"deleted": name})))
}

/// What others see: public fields, and protected ones for logged-in
/// members; never private ones. An unknown user and one with nothing to
/// show this asker get the same 404.
fn shared(req: &Request, env: &Env, user: &str) -> Result<Response> {
    let viewer = match auth::session(req, env)? {
        Some(_) => Viewer::Member,
        None => Viewer::Anonymous,
    };
    let not_found = Error::NotFound("profile");
    let Ok(name) = Username::parse(user) else {
        return Err(not_found);
    };
    let Some(acc) = account::find(env.kv, &name)? else {
        return Err(not_found);
    };
    let visible = profile::get(env.kv, &acc.id)?.visible_to(viewer);
    if visible.is_empty() {
        return Err(not_found);
    }
    Ok(reply::json(
        StatusCode::OK,
        &json!({"username": acc.username, "fields": fields_listing(&visible)}),
    ))
}
