//! The member's security page and what its forms do.
//!
//! | route | what |
//! | --- | --- |
//! | `GET /account` | password, second factor, export, deletion |
//! | `POST /account/password` | change the password |
//! | `POST /account/two-factor`, `.../confirm`, `.../off` | second factor, see [`super::second_factor`] |
//! | `GET /account/export` | everything stored about the member, as a JSON download |
//! | `GET`, `POST /account/delete` | delete the account, after a confirmation |
//!
//! Every form post is checked against forgery first ([`csrf::verify`]);
//! a page without a session sends the member to the login page.

use ausweis::password::{self, HashParams};
use ausweis::secret::Secret;
use ausweis::{credentials, twofactor, Error, Result};
use http::{header, HeaderValue, Method, StatusCode};

use super::second_factor;
use crate::auth::{self, Member};
use crate::csrf::{self, Csrf};
use crate::html::{self, escape};
use crate::i18n::Lang;
use crate::{cookie, form, problem, Env, Request, Response};

/// Where a page without a session sends the member.
const LOGIN: &str = "/login?return_to=%2Faccount";

pub(super) fn handle(req: &Request, env: &Env, parts: &[&str]) -> Response {
    let m = req.method();
    let result = match (parts, m) {
        (["account"], &Method::GET) => overview(req, env),
        (["account", "password"], &Method::POST) => change_password(req, env),
        (["account", "two-factor"], &Method::POST) => second_factor::begin(req, env),
        (["account", "two-factor", "confirm"], &Method::POST) => second_factor::confirm(req, env),
        (["account", "two-factor", "off"], &Method::POST) => second_factor::turn_off(req, env),
        (["account", "export"], &Method::GET) => super::export(req, env),
        (["account", "delete"], &Method::GET) => delete_page(req, env, "", StatusCode::OK),
        (["account", "delete"], &Method::POST) => delete(req, env),
        (["account"] | ["account", "export"], _) => return problem::method_not_allowed("GET"),
        (["account", "delete"], _) => return problem::method_not_allowed("GET, POST"),
        (
            ["account", "password" | "two-factor"] | ["account", "two-factor", "confirm" | "off"],
            _,
        ) => return problem::method_not_allowed("POST"),
        _ => return problem::not_found(),
    };
    match result {
        Err(Error::NotAuthenticated) if m == Method::GET => {
            html::redirect(StatusCode::FOUND, LOGIN)
        }
        Err(Error::NotAuthenticated) => html::redirect(StatusCode::SEE_OTHER, LOGIN),
        Err(e) => html::failure(Lang::of(req), &e),
        Ok(resp) => resp,
    }
}

/// The fields of a form post from one of our pages; `None` if it is not a
/// form or fails the anti-forgery check.
pub(super) fn checked_form(req: &Request, env: &Env) -> Option<Vec<(String, String)>> {
    let pairs = form::body(req);
    let issuer = env.vars.get("issuer");
    (form::is_form(req) && csrf::verify(req, &pairs, issuer.as_deref())).then_some(pairs)
}

/// What a page says when its form had expired or came from elsewhere.
pub(super) fn expired_form(lang: Lang) -> String {
    html::alert(lang.t(
        "The form had expired. Please try again.",
        "Das Formular war abgelaufen. Bitte versuche es noch einmal.",
    ))
}

/// A form field's single, non-empty value.
pub(super) fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form::single(pairs, name).ok().flatten()
}

/// The status and the text a page shows for a refusal the member can act
/// on; `None` for failures of the server, which go to [`problem`].
pub(super) fn refusal(lang: Lang, err: &Error) -> Option<(StatusCode, String)> {
    let (status, text) = match err {
        Error::InvalidCredentials => (
            StatusCode::UNAUTHORIZED,
            lang.t("The password is wrong.", "Das Passwort ist falsch.")
                .to_owned(),
        ),
        Error::CodeRequired => (
            StatusCode::UNAUTHORIZED,
            lang.t(
                "Enter a code from your authenticator app, or a recovery code.",
                "Gib einen Code aus deiner Authenticator-App oder einen Wiederherstellungscode ein.",
            )
            .to_owned(),
        ),
        Error::InvalidCode => (
            StatusCode::UNAUTHORIZED,
            lang.t(
                "The code is wrong or was used already. Try the current one.",
                "Der Code ist falsch oder wurde schon benutzt. Versuche den aktuellen.",
            )
            .to_owned(),
        ),
        Error::Throttled { retry_after } => (
            StatusCode::TOO_MANY_REQUESTS,
            match lang {
                Lang::En => format!("Too many failed attempts. Try again in {retry_after} seconds."),
                Lang::De => {
                    format!("Zu viele Fehlversuche. Versuche es in {retry_after} Sekunden wieder.")
                }
            },
        ),
        Error::Invalid {
            code: "weak_password" | "invalid_password",
            ..
        } => (StatusCode::BAD_REQUEST, password_rule(lang)),
        Error::Invalid { message, .. } => (StatusCode::BAD_REQUEST, message.clone()),
        Error::Conflict {
            code: "two_factor_enabled",
            ..
        } => (
            StatusCode::CONFLICT,
            lang.t(
                "Two-factor authentication is on already.",
                "Die Zwei-Faktor-Anmeldung ist schon eingeschaltet.",
            )
            .to_owned(),
        ),
        Error::Conflict {
            code: "two_factor_disabled",
            ..
        } => (
            StatusCode::CONFLICT,
            lang.t(
                "Two-factor authentication is not on.",
                "Die Zwei-Faktor-Anmeldung ist nicht eingeschaltet.",
            )
            .to_owned(),
        ),
        Error::Conflict { .. } => (
            StatusCode::CONFLICT,
            lang.t(
                "Something changed meanwhile. Please start again.",
                "Inzwischen hat sich etwas geändert. Bitte fang noch einmal an.",
            )
            .to_owned(),
        ),
        _ => return None,
    };
    Some((status, text))
}

/// The rule for new passwords, as the domain checks it.
pub(super) fn password_rule(lang: Lang) -> String {
    match lang {
        Lang::En => format!(
            "Choose a password of at least {} characters that is not a common one and does not contain your username.",
            password::MIN_CHARS
        ),
        Lang::De => format!(
            "Wähle ein Passwort mit mindestens {} Zeichen, das kein verbreitetes ist und deinen Benutzernamen nicht enthält.",
            password::MIN_CHARS
        ),
    }
}

/// The labelled field for a new password.
pub(super) fn new_password_input(lang: Lang) -> String {
    let label = match lang {
        Lang::En => format!("New password (at least {} characters)", password::MIN_CHARS),
        Lang::De => format!(
            "Neues Passwort (mindestens {} Zeichen)",
            password::MIN_CHARS
        ),
    };
    html::input(
        "new_password",
        &label,
        &format!(
            "type=\"password\" autocomplete=\"new-password\" minlength=\"{}\" required",
            password::MIN_CHARS
        ),
    )
}

fn password_input(lang: Lang, id: &str) -> String {
    html::input(
        id,
        lang.t("Your password", "Dein Passwort"),
        "type=\"password\" autocomplete=\"current-password\" required",
    )
}

/// The labelled field for a second-factor code.
pub(super) fn code_input(lang: Lang, required: bool) -> String {
    html::input(
        "code",
        lang.t(
            "Code from your authenticator app, or a recovery code",
            "Code aus deiner Authenticator-App oder ein Wiederherstellungscode",
        ),
        if required {
            "autocomplete=\"one-time-code\" inputmode=\"numeric\" required"
        } else {
            "autocomplete=\"one-time-code\" inputmode=\"numeric\""
        },
    )
}

fn overview(req: &Request, env: &Env) -> Result<Response> {
    let me = auth::member(req, env)?;
    overview_page(req, env, &me, "", StatusCode::OK)
}

/// The security page, with `message` (rendered markup) on top.
pub(super) fn overview_page(
    req: &Request,
    env: &Env,
    me: &Member,
    message: &str,
    status: StatusCode,
) -> Result<Response> {
    let lang = Lang::of(req);
    let csrf = Csrf::issue(req);
    let second = match twofactor::get(env.kv, &me.account.id)? {
        Some((t, _)) if t.enabled => {
            let left = match lang {
                Lang::En => format!(
                    "On. Recovery codes left: {}.",
                    t.recovery.len()
                ),
                Lang::De => format!(
                    "Eingeschaltet. Übrige Wiederherstellungscodes: {}.",
                    t.recovery.len()
                ),
            };
            format!(
                "<p>{}</p><form method=\"post\" action=\"/account/two-factor/off\">{}{}{}\
<button class=\"danger\">{}</button></form>",
                escape(&left),
                csrf.field(),
                password_input(lang, "off_password"),
                code_input(lang, true),
                lang.t("Turn off", "Ausschalten"),
            )
        }
        _ => format!(
            "<p>{}</p><form method=\"post\" action=\"/account/two-factor\">{}<button>{}</button></form>",
            lang.t(
                "Off. With it on, a login asks for a code from an authenticator app on your phone as well as the password.",
                "Ausgeschaltet. Eingeschaltet fragt die Anmeldung außer dem Passwort nach einem Code aus einer Authenticator-App auf deinem Telefon.",
            ),
            csrf.field(),
            lang.t("Turn on", "Einschalten"),
        ),
    };
    let signed_in = match lang {
        Lang::En => format!("Logged in as {}.", me.account.username),
        Lang::De => format!("Angemeldet als {}.", me.account.username),
    };
    let body = format!(
        "{message}<p>{}</p>\
<section><h2>{}</h2><form method=\"post\" action=\"/account/password\">{}{}{}\
<button>{}</button></form><p class=\"hint\">{}</p></section>\
<section><h2>{}</h2>{second}</section>\
<section><h2>{}</h2><p>{}</p><p><a href=\"/account/export\" download>{}</a></p></section>\
<section><h2>{}</h2><p>{}</p><p><a href=\"/account/delete\">{}</a></p></section>\
<nav><a href=\"/\">{}</a></nav>\
<form method=\"post\" action=\"/logout\">{}<button class=\"secondary\">{}</button></form>",
        escape(&signed_in),
        lang.t("Password", "Passwort"),
        csrf.field(),
        html::input(
            "current_password",
            lang.t("Current password", "Aktuelles Passwort"),
            "type=\"password\" autocomplete=\"current-password\" required"
        ),
        new_password_input(lang),
        lang.t("Change password", "Passwort ändern"),
        lang.t(
            "Your other sessions end when the password changes.",
            "Deine anderen Sitzungen enden, wenn sich das Passwort ändert.",
        ),
        lang.t("Two-factor authentication", "Zwei-Faktor-Anmeldung"),
        lang.t("Your data", "Deine Daten"),
        lang.t(
            "Everything stored about you, as a JSON file.",
            "Alles, was über dich gespeichert ist, als JSON-Datei.",
        ),
        lang.t("Download my data", "Meine Daten herunterladen"),
        lang.t("Delete account", "Konto löschen"),
        lang.t(
            "Deleting your account removes everything stored about you. It cannot be undone.",
            "Das Löschen deines Kontos entfernt alles, was über dich gespeichert ist. Es lässt sich nicht rückgängig machen.",
        ),
        lang.t("Delete my account…", "Mein Konto löschen …"),
        lang.t("Back to the start page", "Zurück zur Startseite"),
        csrf.field(),
        lang.t("Log out", "Abmelden"),
    );
    Ok(csrf.attach(html::page(
        lang,
        status,
        lang.t("Your account", "Dein Konto"),
        &body,
    )))
}

/// `POST /account/password`: the same change as the JSON route.
fn change_password(req: &Request, env: &Env) -> Result<Response> {
    let lang = Lang::of(req);
    let me = auth::member(req, env)?;
    let Some(pairs) = checked_form(req, env) else {
        return overview_page(req, env, &me, &expired_form(lang), StatusCode::FORBIDDEN);
    };
    let (Some(current), Some(new)) = (
        field(&pairs, "current_password"),
        field(&pairs, "new_password"),
    ) else {
        let text = lang.t(
            "Enter your current password and a new one.",
            "Gib dein aktuelles und ein neues Passwort ein.",
        );
        return overview_page(req, env, &me, &html::alert(text), StatusCode::BAD_REQUEST);
    };
    let current = Secret::new(current.to_owned());
    let new = Secret::new(new.to_owned());
    match super::set_password(env, &me, &current, &new) {
        Ok(ended) => {
            let text = match lang {
                Lang::En => format!("Your password is changed. Other sessions ended: {ended}."),
                Lang::De => {
                    format!("Dein Passwort ist geändert. Beendete andere Sitzungen: {ended}.")
                }
            };
            overview_page(req, env, &me, &html::notice(&text), StatusCode::OK)
        }
        Err(e) => match refusal(lang, &e) {
            Some((status, text)) => overview_page(req, env, &me, &html::alert(&text), status),
            None => Err(e),
        },
    }
}

/// The confirmation page of a deletion.
fn delete_page(req: &Request, env: &Env, message: &str, status: StatusCode) -> Result<Response> {
    let lang = Lang::of(req);
    let me = auth::member(req, env)?;
    let csrf = Csrf::issue(req);
    let code = if twofactor::enabled(env.kv, &me.account.id)? {
        code_input(lang, true)
    } else {
        String::new()
    };
    let confirm_label = match lang {
        Lang::En => format!("Type your username, {}, to confirm", me.account.username),
        Lang::De => format!(
            "Gib zur Bestätigung deinen Benutzernamen ein: {}",
            me.account.username
        ),
    };
    let body = format!(
        "{message}<p>{}</p><p>{}</p>\
<form method=\"post\" action=\"/account/delete\">{}{}{}{code}<button class=\"danger\">{}</button></form>\
<p><a href=\"/account\">{}</a></p>",
        lang.t(
            "This deletes your account and everything stored about it: profile, permissions, sessions and the sign-ins to the association's services. It cannot be undone, and your username will not be given out again.",
            "Das löscht dein Konto und alles, was dazu gespeichert ist: Profil, Berechtigungen, Sitzungen und die Anmeldungen bei den Diensten des Vereins. Es lässt sich nicht rückgängig machen, und dein Benutzername wird nicht neu vergeben.",
        ),
        lang.t(
            "Download your data first if you want to keep it.",
            "Lade vorher deine Daten herunter, wenn du sie behalten willst.",
        ),
        csrf.field(),
        html::input(
            "confirm_username",
            &confirm_label,
            "autocomplete=\"off\" autocapitalize=\"none\" required"
        ),
        password_input(lang, "password"),
        lang.t("Delete my account for good", "Mein Konto endgültig löschen"),
        lang.t("Cancel", "Abbrechen"),
    );
    Ok(csrf.attach(html::page(
        lang,
        status,
        lang.t("Delete your account", "Konto löschen"),
        &body,
    )))
}

/// `POST /account/delete`: the same deletion as the JSON route, once the
/// username is typed and the password (and code) proven.
fn delete(req: &Request, env: &Env) -> Result<Response> {
    let lang = Lang::of(req);
    let me = auth::member(req, env)?;
    let Some(pairs) = checked_form(req, env) else {
        return delete_page(req, env, &expired_form(lang), StatusCode::FORBIDDEN);
    };
    let typed = field(&pairs, "confirm_username").map(str::trim);
    if !typed.is_some_and(|t| t.eq_ignore_ascii_case(&me.account.username)) {
        let text = lang.t(
            "Type your username exactly to confirm.",
            "Gib zur Bestätigung genau deinen Benutzernamen ein.",
        );
        return delete_page(req, env, &html::alert(text), StatusCode::BAD_REQUEST);
    }
    let Some(password) = field(&pairs, "password") else {
        let text = lang.t("Enter your password.", "Gib dein Passwort ein.");
        return delete_page(req, env, &html::alert(text), StatusCode::BAD_REQUEST);
    };
    let password = Secret::new(password.to_owned());
    let code = field(&pairs, "code").map(|c| Secret::new(c.to_owned()));
    if let Err(e) = super::erase_account(env, &me, &password, code.as_ref()) {
        return match refusal(lang, &e) {
            Some((status, text)) => delete_page(req, env, &html::alert(&text), status),
            None => Err(e),
        };
    }
    let mut resp = html::message(
        lang,
        StatusCode::OK,
        lang.t("Goodbye", "Auf Wiedersehen"),
        lang.t(
            "Your account and everything stored about it are deleted, and you are logged out.",
            "Dein Konto und alles, was dazu gespeichert war, ist gelöscht, und du bist abgemeldet.",
        ),
        "/",
        lang.t("To the start page", "Zur Startseite"),
    );
    if let Ok(v) = HeaderValue::from_str(&cookie::clear(req)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// Checks the password of a logged-in member before a grave step, as the
/// JSON routes do (failures count against the login throttle).
pub(super) fn reauthenticate(env: &Env, me: &Member, password: &Secret) -> Result<()> {
    let hash = HashParams::from_vars(env.vars)?;
    credentials::reauthenticate(env.kv, &hash, &me.account, password, None, false, env.now)
}
