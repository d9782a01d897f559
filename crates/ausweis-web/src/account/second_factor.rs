//! The pages that turn two-factor authentication on and off: the secret
//! as a QR code and as text, the first code, and the recovery codes shown
//! once.

use ausweis::secret::Secret;
use ausweis::twofactor::{self, Enrolment};
use ausweis::{Error, Result};
use http::StatusCode;

use super::pages::{self, checked_form, expired_form, field, refusal};
use crate::auth::{self, Member};
use crate::csrf::Csrf;
use crate::html::{self, escape};
use crate::i18n::Lang;
use crate::{qr, Env, Request, Response};

/// The secret in groups of four, easier to type.
fn grouped(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The page that shows a new secret and asks for its first code.
fn setup_page(req: &Request, enrolment: &Enrolment, message: &str, status: StatusCode) -> Response {
    let lang = Lang::of(req);
    let csrf = Csrf::issue(req);
    let label = lang.t(
        "QR code of the key for your authenticator app",
        "QR-Code des Schlüssels für deine Authenticator-App",
    );
    let image = qr::svg(enrolment.uri.expose(), label).unwrap_or_default();
    let body = format!(
        "{message}<p>{}</p><figure>{image}</figure>\
<p>{} <a href=\"{}\">{}</a></p>\
<p>{}</p><p><code id=\"secret\">{}</code></p><p class=\"hint\">{}</p>\
<form method=\"post\" action=\"/account/two-factor/confirm\">{}{}<button>{}</button></form>\
<p><a href=\"/account\">{}</a></p>",
        lang.t(
            "Scan this code with an authenticator app (for example Aegis, FreeOTP or Google Authenticator).",
            "Scanne diesen Code mit einer Authenticator-App (zum Beispiel Aegis, FreeOTP oder Google Authenticator).",
        ),
        lang.t("On this phone:", "Auf diesem Telefon:"),
        escape(enrolment.uri.expose()),
        lang.t("open in the app", "in der App öffnen"),
        lang.t(
            "Or type this key into the app:",
            "Oder gib diesen Schlüssel in der App ein:",
        ),
        escape(&grouped(enrolment.secret.expose())),
        lang.t(
            "Time-based (TOTP), SHA-1, 6 digits, every 30 seconds.",
            "Zeitbasiert (TOTP), SHA-1, 6 Ziffern, alle 30 Sekunden.",
        ),
        csrf.field(),
        html::input(
            "code",
            lang.t(
                "The code the app shows now",
                "Der Code, den die App jetzt zeigt"
            ),
            "autocomplete=\"one-time-code\" inputmode=\"numeric\" pattern=\"[0-9 ]*\" required autofocus"
        ),
        lang.t(
            "Turn on two-factor authentication",
            "Zwei-Faktor-Anmeldung einschalten"
        ),
        lang.t("Cancel", "Abbrechen"),
    );
    csrf.attach(html::page(
        lang,
        status,
        lang.t(
            "Set up two-factor authentication",
            "Zwei-Faktor-Anmeldung einrichten",
        ),
        &body,
    ))
}

/// The setup page again, for the enrolment in the store.
fn setup_again(
    req: &Request,
    env: &Env,
    me: &Member,
    message: &str,
    status: StatusCode,
) -> Result<Response> {
    let site = super::site_name(env);
    match twofactor::pending(env.kv, &me.account.id, &me.account.username, &site)? {
        Some(e) => Ok(setup_page(req, &e, message, status)),
        None => pages::overview_page(req, env, me, message, status),
    }
}

/// `POST /account/two-factor`: starts enrolment as the JSON route does.
pub(super) fn begin(req: &Request, env: &Env) -> Result<Response> {
    let lang = Lang::of(req);
    let me = auth::member(req, env)?;
    if checked_form(req, env).is_none() {
        return pages::overview_page(req, env, &me, &expired_form(lang), StatusCode::FORBIDDEN);
    }
    match super::start_enrolment(env, &me) {
        Ok(e) => Ok(setup_page(req, &e, "", StatusCode::OK)),
        Err(e) => match refusal(lang, &e) {
            Some((status, text)) => {
                pages::overview_page(req, env, &me, &html::alert(&text), status)
            }
            None => Err(e),
        },
    }
}

/// `POST /account/two-factor/confirm`: the first code turns it on, and the
/// recovery codes are shown, this once.
pub(super) fn confirm(req: &Request, env: &Env) -> Result<Response> {
    let lang = Lang::of(req);
    let me = auth::member(req, env)?;
    let Some(pairs) = checked_form(req, env) else {
        return setup_again(req, env, &me, &expired_form(lang), StatusCode::FORBIDDEN);
    };
    let Some(code) = field(&pairs, "code") else {
        let text = lang.t("Enter the code.", "Gib den Code ein.");
        return setup_again(req, env, &me, &html::alert(text), StatusCode::BAD_REQUEST);
    };
    let code = Secret::new(code.replace(' ', ""));
    let codes = match super::confirm_enrolment(env, &me, &code) {
        Ok(codes) => codes,
        Err(Error::Conflict {
            code: "not_enrolled",
            ..
        }) => {
            let text = lang.t(
                "Start the setup again.",
                "Beginne die Einrichtung noch einmal.",
            );
            return pages::overview_page(req, env, &me, &html::alert(text), StatusCode::CONFLICT);
        }
        Err(e) => {
            return match refusal(lang, &e) {
                Some((status, text)) => setup_again(req, env, &me, &html::alert(&text), status),
                None => Err(e),
            }
        }
    };
    let list: String = codes
        .iter()
        .map(|c| format!("<li><code>{}</code></li>", escape(c.expose())))
        .collect();
    let body = format!(
        "{}<p class=\"error\" role=\"alert\">{}</p><ol id=\"recovery-codes\">{list}</ol><p>{}</p>\
<p><a class=\"button\" href=\"/account\">{}</a></p>",
        html::notice(lang.t(
            "Two-factor authentication is on. From now on a login asks for a code.",
            "Die Zwei-Faktor-Anmeldung ist eingeschaltet. Ab jetzt fragt die Anmeldung nach einem Code.",
        )),
        lang.t(
            "Save these recovery codes now: print them or keep them in a password manager. They are shown only this once.",
            "Sichere diese Wiederherstellungscodes jetzt: drucke sie aus oder lege sie in einem Passwortmanager ab. Sie werden nur dieses eine Mal gezeigt.",
        ),
        lang.t(
            "Each code works once, in place of a code from the app, for example when the phone is lost.",
            "Jeder Code gilt einmal anstelle eines Codes aus der App, zum Beispiel wenn das Telefon verloren ist.",
        ),
        lang.t("I have saved them", "Ich habe sie gesichert"),
    );
    Ok(html::page(
        lang,
        StatusCode::OK,
        lang.t("Your recovery codes", "Deine Wiederherstellungscodes"),
        &body,
    ))
}

/// `POST /account/two-factor/off`: needs the password and a code.
pub(super) fn turn_off(req: &Request, env: &Env) -> Result<Response> {
    let lang = Lang::of(req);
    let me = auth::member(req, env)?;
    let Some(pairs) = checked_form(req, env) else {
        return pages::overview_page(req, env, &me, &expired_form(lang), StatusCode::FORBIDDEN);
    };
    let (Some(password), Some(code)) = (field(&pairs, "off_password"), field(&pairs, "code"))
    else {
        let text = lang.t(
            "Enter your password and a code.",
            "Gib dein Passwort und einen Code ein.",
        );
        return pages::overview_page(req, env, &me, &html::alert(text), StatusCode::BAD_REQUEST);
    };
    let password = Secret::new(password.to_owned());
    let code = Secret::new(code.replace(' ', ""));
    let done =
        pages::reauthenticate(env, &me, &password).and_then(|()| super::turn_off(env, &me, &code));
    match done {
        Ok(()) => {
            let text = lang.t(
                "Two-factor authentication is off.",
                "Die Zwei-Faktor-Anmeldung ist ausgeschaltet.",
            );
            pages::overview_page(req, env, &me, &html::notice(text), StatusCode::OK)
        }
        Err(e) => match refusal(lang, &e) {
            Some((status, text)) => {
                pages::overview_page(req, env, &me, &html::alert(&text), status)
            }
            None => Err(e),
        },
    }
}
