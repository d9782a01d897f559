//! The pages for a member who forgot the password.
//!
//! | route | what |
//! | --- | --- |
//! | `GET /account/recover` | the two ways back: the OpenPGP key, or a mailed link |
//! | `POST /account/recover/pgp` | `username`: the challenge to sign |
//! | `POST /account/recover/pgp/confirm` | `challenge`, `signature`, `new_password` |
//! | `POST /account/recover/email` | `who` (username or address): a link by mail |
//! | `GET /account/recover?token=...`, `POST /account/recover` | the page a mailed link opens |
//!
//! They call what the JSON routes call ([`super::recovery`]), and answer
//! alike for names and addresses that no account has.

use ausweis::openpgp::{self, Proof};
use ausweis::recovery;
use ausweis::secret::Secret;
use ausweis::{Error, Result};
use http::{Method, StatusCode};

use super::pages::{checked_form, expired_form, field, new_password_input, refusal};
use super::recovery::{mail_links, relay, with_proof, with_token};
use crate::csrf::Csrf;
use crate::html::{self, escape};
use crate::i18n::Lang;
use crate::{form, problem, Env, Request, Response};

/// The first line of a cleartext-signed message (RFC 9580 section 7).
const CLEARTEXT_HEADER: &str = "-----BEGIN PGP SIGNED MESSAGE-----";

pub(super) fn handle(req: &Request, env: &Env, parts: &[&str]) -> Response {
    let result = match (parts, req.method()) {
        (["account", "recover"], &Method::GET) => Ok(start(req, env)),
        (["account", "recover"], &Method::POST) => link_form(req, env),
        (["account", "recover"], _) => return problem::method_not_allowed("GET, POST"),
        (["account", "recover", "pgp"], &Method::POST) => challenge(req, env),
        (["account", "recover", "pgp", "confirm"], &Method::POST) => signature(req, env),
        (["account", "recover", "email"], &Method::POST) => mail(req, env),
        (["account", "recover", "pgp" | "email"] | ["account", "recover", "pgp", "confirm"], _) => {
            return problem::method_not_allowed("POST")
        }
        _ => return problem::not_found(),
    };
    result.unwrap_or_else(|e| html::failure(Lang::of(req), &e))
}

/// `GET /account/recover`: the link page with a token, else the start.
fn start(req: &Request, env: &Env) -> Response {
    let pairs = form::query(req);
    match form::single(&pairs, "token").ok().flatten() {
        Some(token) => link_page(req, token, "", StatusCode::OK),
        None => start_page(req, env, "", StatusCode::OK),
    }
}

fn start_page(req: &Request, env: &Env, message: &str, status: StatusCode) -> Response {
    let lang = Lang::of(req);
    let csrf = Csrf::issue(req);
    let by_mail = if relay(env).is_ok() {
        format!(
            "<p>{}</p><form method=\"post\" action=\"/account/recover/email\">{}{}<button>{}</button></form>",
            lang.t(
                "If you gave an e-mail address, we send a link to it that lets you choose a new password.",
                "Wenn du eine E-Mail-Adresse angegeben hast, schicken wir dir einen Link, mit dem du ein neues Passwort wählst.",
            ),
            csrf.field(),
            html::input(
                "who",
                lang.t("Username or e-mail address", "Benutzername oder E-Mail-Adresse"),
                "autocomplete=\"username\" autocapitalize=\"none\" required"
            ),
            lang.t("Send the link", "Link schicken"),
        )
    } else {
        format!(
            "<p class=\"hint\">{}</p>",
            lang.t(
                "This server does not send recovery mails.",
                "Dieser Server verschickt keine Wiederherstellungs-Mails.",
            )
        )
    };
    let body = format!(
        "{message}<section><h2>{}</h2><p>{}</p>\
<form method=\"post\" action=\"/account/recover/pgp\">{}{}<button>{}</button></form></section>\
<section><h2>{}</h2>{by_mail}</section><p><a href=\"/login\">{}</a></p>",
        lang.t("With your OpenPGP key", "Mit deinem OpenPGP-Schlüssel"),
        lang.t(
            "Prove that you hold the private key of your account (the one handed to you at registration, or your own): you sign a short text with it.",
            "Zeige, dass du den privaten Schlüssel deines Kontos hast (den du bei der Registrierung bekommen hast, oder deinen eigenen): du signierst damit einen kurzen Text.",
        ),
        csrf.field(),
        html::input(
            "username",
            lang.t("Username", "Benutzername"),
            "autocomplete=\"username\" autocapitalize=\"none\" required"
        ),
        lang.t("Continue", "Weiter"),
        lang.t("By e-mail", "Per E-Mail"),
        lang.t("Back to the login", "Zurück zur Anmeldung"),
    );
    csrf.attach(html::page(
        lang,
        status,
        lang.t("Forgot your password?", "Passwort vergessen?"),
        &body,
    ))
}

/// The page with the challenge to sign, and the form for the signature.
fn challenge_page(req: &Request, text: &str, message: &str, status: StatusCode) -> Response {
    let lang = Lang::of(req);
    let csrf = Csrf::issue(req);
    let minutes = recovery::CHALLENGE_SECONDS / 60;
    let intro = match lang {
        Lang::En => format!("Sign this text with your OpenPGP key within {minutes} minutes:"),
        Lang::De => format!(
            "Signiere diesen Text innerhalb von {minutes} Minuten mit deinem OpenPGP-Schlüssel:"
        ),
    };
    let body = format!(
        "{message}<p>{}</p><pre id=\"challenge\">{}</pre>\
<p>{}</p><pre><code>echo '{}' | gpg --clearsign</code></pre>\
<p class=\"hint\">{}</p>\
<form method=\"post\" action=\"/account/recover/pgp/confirm\">{}{}\
<label for=\"signature\">{}</label><textarea id=\"signature\" name=\"signature\" rows=\"12\" required \
spellcheck=\"false\"></textarea>{}<button>{}</button></form>\
<p><a href=\"/account/recover\">{}</a></p>",
        escape(&intro),
        escape(text),
        lang.t(
            "For example with GnuPG, in a terminal:",
            "Zum Beispiel mit GnuPG, in einem Terminal:",
        ),
        escape(text),
        lang.t(
            "A detached signature works too: gpg --detach-sign --armor over the same text.",
            "Eine abgetrennte Signatur geht auch: gpg --detach-sign --armor über denselben Text.",
        ),
        csrf.field(),
        html::hidden("challenge", text),
        lang.t(
            "The signed text or the signature, as GnuPG prints it",
            "Der signierte Text oder die Signatur, so wie GnuPG sie ausgibt",
        ),
        new_password_input(lang),
        lang.t("Set the new password", "Neues Passwort setzen"),
        lang.t("Start again", "Von vorn beginnen"),
    );
    csrf.attach(html::page(
        lang,
        status,
        lang.t("Sign the challenge", "Text signieren"),
        &body,
    ))
}

/// The answer to a recovery that set a new password.
fn recovered_page(lang: Lang) -> Response {
    html::message(
        lang,
        StatusCode::OK,
        lang.t("Password changed", "Passwort geändert"),
        lang.t(
            "Your new password is set, and every session of your account has ended.",
            "Dein neues Passwort ist gesetzt, und jede Sitzung deines Kontos ist beendet.",
        ),
        "/login",
        lang.t("Log in", "Anmelden"),
    )
}

/// `POST /account/recover/pgp`: a challenge for the name, the same for
/// names no account has.
fn challenge(req: &Request, env: &Env) -> Result<Response> {
    let lang = Lang::of(req);
    let Some(pairs) = checked_form(req, env) else {
        return Ok(start_page(
            req,
            env,
            &expired_form(lang),
            StatusCode::FORBIDDEN,
        ));
    };
    let issued = field(&pairs, "username")
        .ok_or_else(|| Error::invalid("missing_field", "username"))
        .and_then(|name| recovery::challenge(env.kv, name, env.now));
    match issued {
        Ok(issued) => Ok(challenge_page(req, &issued.text, "", StatusCode::OK)),
        Err(Error::Invalid { .. }) => {
            let text = lang.t("Enter your username.", "Gib deinen Benutzernamen ein.");
            Ok(start_page(
                req,
                env,
                &html::alert(text),
                StatusCode::BAD_REQUEST,
            ))
        }
        Err(e) => Err(e),
    }
}

/// `POST /account/recover/pgp/confirm`: a cleartext-signed challenge or a
/// detached signature over it, and the new password.
fn signature(req: &Request, env: &Env) -> Result<Response> {
    let lang = Lang::of(req);
    let Some(pairs) = checked_form(req, env) else {
        return Ok(start_page(
            req,
            env,
            &expired_form(lang),
            StatusCode::FORBIDDEN,
        ));
    };
    let Some(text) = field(&pairs, "challenge").filter(|t| t.len() <= 1024) else {
        return Ok(start_page(req, env, "", StatusCode::BAD_REQUEST));
    };
    let (Some(signed), Some(new)) = (
        field(&pairs, "signature").filter(|s| s.len() <= openpgp::MAX_SIGNED_LEN),
        field(&pairs, "new_password"),
    ) else {
        let alert = html::alert(lang.t(
            "Paste the signature and choose a new password.",
            "Füge die Signatur ein und wähle ein neues Passwort.",
        ));
        return Ok(challenge_page(req, text, &alert, StatusCode::BAD_REQUEST));
    };
    let proof = if signed.trim_start().starts_with(CLEARTEXT_HEADER) {
        Proof::Cleartext(signed)
    } else {
        Proof::Detached {
            signature: signed,
            text,
        }
    };
    match with_proof(env, &proof, &Secret::new(new.to_owned())) {
        Ok(_) => Ok(recovered_page(lang)),
        Err(Error::RecoveryFailed) => {
            let alert = html::alert(lang.t(
                "The signature does not fit this text and your account's key, or the text has expired. Sign it again, or start again.",
                "Die Signatur passt nicht zu diesem Text und dem Schlüssel deines Kontos, oder der Text ist abgelaufen. Signiere ihn neu oder beginne von vorn.",
            ));
            Ok(challenge_page(req, text, &alert, StatusCode::FORBIDDEN))
        }
        Err(e) => match refusal(lang, &e) {
            Some((status, message)) => {
                Ok(challenge_page(req, text, &html::alert(&message), status))
            }
            None => Err(e),
        },
    }
}

/// `POST /account/recover/email`: a link to the address of the account,
/// with one answer whether or not there is one.
fn mail(req: &Request, env: &Env) -> Result<Response> {
    let lang = Lang::of(req);
    let Some(pairs) = checked_form(req, env) else {
        return Ok(start_page(
            req,
            env,
            &expired_form(lang),
            StatusCode::FORBIDDEN,
        ));
    };
    let Some(who) = field(&pairs, "who").map(str::trim) else {
        let text = lang.t(
            "Enter your username or e-mail address.",
            "Gib deinen Benutzernamen oder deine E-Mail-Adresse ein.",
        );
        return Ok(start_page(
            req,
            env,
            &html::alert(text),
            StatusCode::BAD_REQUEST,
        ));
    };
    let sent = mail_links(env, |minutes| {
        if who.contains('@') {
            recovery::request_links(env.kv, who, minutes * 60, env.now)
        } else {
            recovery::request_links_for_name(env.kv, who, minutes * 60, env.now)
        }
    });
    let refused = |status, text: &str| Ok(start_page(req, env, &html::alert(text), status));
    match sent {
        Ok(()) => Ok(html::message(
            lang,
            StatusCode::ACCEPTED,
            lang.t("Look in your mailbox", "Schau in dein Postfach"),
            lang.t(
                    "If an account has this name or address and gave an address for recovery, a link to choose a new password is on its way. It works once and for a short time.",
                    "Wenn ein Konto diesen Namen oder diese Adresse hat und eine Adresse für die Wiederherstellung angegeben hat, ist ein Link für ein neues Passwort unterwegs. Er gilt einmal und nur kurz.",
            ),
            "/login",
            lang.t("Back to the login", "Zurück zur Anmeldung"),
        )),
        Err(Error::Invalid { .. }) => refused(
            StatusCode::BAD_REQUEST,
            lang.t(
                "This is neither a username nor an e-mail address.",
                "Das ist weder ein Benutzername noch eine E-Mail-Adresse.",
            ),
        ),
        Err(Error::MailRecoveryDisabled) => refused(
            StatusCode::FORBIDDEN,
            lang.t(
                "This server does not send recovery mails.",
                "Dieser Server verschickt keine Wiederherstellungs-Mails.",
            ),
        ),
        Err(e) => match refusal(lang, &e) {
            Some((status, text)) => refused(status, &text),
            None => Err(e),
        },
    }
}

/// The page a mailed link opens: a form for the new password. Opening it
/// uses nothing up (mail scanners open links too); sending the form does.
fn link_page(req: &Request, token: &str, message: &str, status: StatusCode) -> Response {
    let lang = Lang::of(req);
    let csrf = Csrf::issue(req);
    csrf.attach(html::page(
        lang,
        status,
        lang.t("Choose a new password", "Neues Passwort wählen"),
        &format!(
            "{message}<form method=\"post\" action=\"/account/recover\">{}{}{}<button>{}</button></form>",
            csrf.field(),
            html::hidden("token", token),
            new_password_input(lang),
            lang.t("Set the new password", "Neues Passwort setzen"),
        ),
    ))
}

/// `POST /account/recover`: the form of the mailed link's page.
fn link_form(req: &Request, env: &Env) -> Result<Response> {
    let lang = Lang::of(req);
    let pairs = form::body(req);
    let token = field(&pairs, "token").unwrap_or("");
    if checked_form(req, env).is_none() {
        return Ok(link_page(
            req,
            token,
            &expired_form(lang),
            StatusCode::FORBIDDEN,
        ));
    }
    let Some(new) = field(&pairs, "new_password") else {
        let text = lang.t("Enter a new password.", "Gib ein neues Passwort ein.");
        return Ok(link_page(
            req,
            token,
            &html::alert(text),
            StatusCode::BAD_REQUEST,
        ));
    };
    let token_secret = Secret::new(token.to_owned());
    match with_token(env, &token_secret, &Secret::new(new.to_owned())) {
        Ok(_) => Ok(recovered_page(lang)),
        Err(Error::RecoveryFailed) => Ok(html::page(
            lang,
            StatusCode::FORBIDDEN,
            lang.t("Link expired", "Link abgelaufen"),
            &format!(
                "{}<p><a href=\"/account/recover\">{}</a></p>",
                html::alert(lang.t(
                    "This link is unknown, expired or used already.",
                    "Dieser Link ist unbekannt, abgelaufen oder schon benutzt.",
                )),
                lang.t("Ask for a new one", "Einen neuen anfordern"),
            ),
        )),
        Err(e) => match refusal(lang, &e) {
            Some((status, text)) => Ok(link_page(req, token, &html::alert(&text), status)),
            None => Err(e),
        },
    }
}
