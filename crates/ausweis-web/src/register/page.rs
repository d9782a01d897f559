//! The register page: `GET /register` shows the form; `POST /register`
//! makes the account through [`super::create`], as the API does, and shows
//! the private key this once.

use ausweis::password::{self, MIN_CHARS};
use ausweis::register::{NewAccount, Registered};
use ausweis::secret::Secret;
use ausweis::{openpgp, Error};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::StatusCode;

use crate::csrf::{self, Csrf};
use crate::html::{self, escape};
use crate::i18n::Lang;
use crate::login::safe_return;
use crate::{form, Env, Request, Response};

/// What the form shows again after a refusal; never the password.
#[derive(Default)]
struct Values {
    username: String,
    email: String,
    public_key: String,
    own_key: bool,
    return_to: String,
}

impl Values {
    fn from(pairs: &[(String, String)]) -> Values {
        let get = |k| {
            form::single(pairs, k)
                .ok()
                .flatten()
                .unwrap_or("")
                .to_owned()
        };
        Values {
            username: get("username"),
            email: get("email"),
            public_key: get("public_key"),
            own_key: get("key") == "own",
            return_to: safe_return(form::single(pairs, "return_to").ok().flatten()),
        }
    }
}

/// `GET /register`.
pub fn show(req: &Request, env: &Env) -> Response {
    let values = Values::from(&form::query(req));
    form_page(req, env, &values, None, StatusCode::OK)
}

fn form_page(
    req: &Request,
    env: &Env,
    v: &Values,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let lang = Lang::of(req);
    let csrf = Csrf::issue(req);
    let error = error.unwrap_or_default();
    // say so at once when a ticket is needed and none waits
    let ticket = match super::check_ticket(req, env) {
        Err(Error::TicketRequired) if status == StatusCode::OK => {
            format!("<p class=\"hint\">{}</p>", ticket_text(lang))
        }
        _ => String::new(),
    };
    let checked = |own: bool| if own { " checked" } else { "" };
    let mut login = url::form_urlencoded::Serializer::new(String::new());
    login.append_pair("return_to", &v.return_to);
    let body = format!(
        "{error}{ticket}<form method=\"post\" action=\"/register\">{csrf}{back}\
{username}<p class=\"hint\" id=\"username-hint\">{username_hint}</p>\
{password}<p class=\"hint\" id=\"password-hint\">{password_hint}</p>\
{email}<p class=\"hint\" id=\"email-hint\">{email_hint}</p>\
<fieldset><legend>{key_legend}</legend>\
<label><input type=\"radio\" name=\"key\" value=\"generate\"{gen}> {key_generate}</label>\
<label><input type=\"radio\" name=\"key\" value=\"own\"{own}> {key_own}</label>\
<label for=\"public_key\">{key_label}</label>\
<textarea id=\"public_key\" name=\"public_key\" rows=\"6\" spellcheck=\"false\" \
aria-describedby=\"key-hint\">{key_value}</textarea>\
<p class=\"hint\" id=\"key-hint\">{key_hint}</p></fieldset>\
<button>{submit}</button></form>\
<p><a href=\"/login?{login}\">{have_account}</a></p>",
        csrf = csrf.field(),
        back = html::hidden("return_to", &v.return_to),
        username = html::input(
            "username",
            lang.t("Username", "Benutzername"),
            &format!(
                "autocomplete=\"username\" autocapitalize=\"none\" spellcheck=\"false\" \
required maxlength=\"64\" aria-describedby=\"username-hint\" value=\"{}\"",
                escape(&v.username)
            ),
        ),
        username_hint = lang.t(
            "3 to 32 characters: a-z, 0-9, '.', '_', '-'; starting with a letter.",
            "3 bis 32 Zeichen: a-z, 0-9, '.', '_', '-'; am Anfang ein Buchstabe.",
        ),
        password = html::input(
            "password",
            lang.t("Password", "Passwort"),
            &format!(
                "type=\"password\" autocomplete=\"new-password\" required minlength=\"{MIN_CHARS}\" \
maxlength=\"{}\" aria-describedby=\"password-hint\"",
                password::MAX_BYTES
            ),
        ),
        password_hint = match lang {
            Lang::En => format!(
                "At least {MIN_CHARS} characters, not a common password and not your username. \
It also protects your private key."
            ),
            Lang::De => format!(
                "Mindestens {MIN_CHARS} Zeichen, kein verbreitetes Passwort und nicht dein \
Benutzername. Es schützt auch deinen privaten Schlüssel."
            ),
        },
        email = html::input(
            "email",
            lang.t("E-mail address (optional)", "E-Mail-Adresse (freiwillig)"),
            &format!(
                "type=\"email\" autocomplete=\"email\" maxlength=\"{}\" \
aria-describedby=\"email-hint\" value=\"{}\"",
                ausweis::email::MAX_LEN,
                escape(&v.email)
            ),
        ),
        email_hint = lang.t(
            "Used only to recover your account if you forget your password. Leave it empty to stay anonymous.",
            "Wird nur benutzt, um dein Konto wiederherzustellen, wenn du dein Passwort vergisst. \
Lass es leer, um anonym zu bleiben.",
        ),
        key_legend = lang.t("Your OpenPGP key", "Dein OpenPGP-Schlüssel"),
        gen = checked(!v.own_key),
        own = checked(v.own_key),
        key_generate = lang.t(
            "Make a key pair for me (you download the private key once)",
            "Erzeuge ein Schlüsselpaar für mich (du lädst den privaten Schlüssel einmal herunter)",
        ),
        key_own = lang.t(
            "I paste my own OpenPGP public key",
            "Ich füge meinen eigenen öffentlichen OpenPGP-Schlüssel ein",
        ),
        key_label = lang.t(
            "Your own public key (only with the second choice)",
            "Dein eigener öffentlicher Schlüssel (nur bei der zweiten Wahl)",
        ),
        key_value = escape(&v.public_key),
        key_hint = lang.t(
            "ASCII-armored, as `gpg --armor --export` prints it. With this key you can recover your account.",
            "ASCII-armored, wie `gpg --armor --export` ihn ausgibt. Mit diesem Schlüssel kannst du dein Konto wiederherstellen.",
        ),
        submit = lang.t("Register", "Registrieren"),
        login = escape(&login.finish()),
        have_account = lang.t(
            "Already have an account? Log in",
            "Schon ein Konto? Anmelden"
        ),
    );
    csrf.attach(html::page(
        lang,
        status,
        lang.t("Register", "Registrieren"),
        &body,
    ))
}

fn ticket_text(lang: Lang) -> String {
    match lang {
        Lang::En => "Registering needs a ticket from the association's shop. \
<a href=\"/redeem\">Redeem your ticket first</a>, then come back here."
            .to_owned(),
        Lang::De => "Zum Registrieren brauchst du ein Ticket aus dem Shop des Vereins. \
<a href=\"/redeem\">Löse zuerst dein Ticket ein</a> und komm dann hierher zurück."
            .to_owned(),
    }
}

/// `POST /register`.
pub fn submit(req: &Request, env: &Env) -> Response {
    let lang = Lang::of(req);
    let pairs = form::body(req);
    let v = Values::from(&pairs);
    let again = |error: String, status| form_page(req, env, &v, Some(error), status);
    let issuer = env.vars.get("issuer");
    if !form::is_form(req) || !csrf::verify(req, &pairs, issuer.as_deref()) {
        return again(
            html::alert(lang.t(
                "The form had expired. Please try again.",
                "Das Formular war abgelaufen. Bitte versuche es noch einmal.",
            )),
            StatusCode::FORBIDDEN,
        );
    }
    let password = form::single(&pairs, "password").ok().flatten();
    let (Some(password), false) = (password, v.username.is_empty()) else {
        return again(
            html::alert(lang.t(
                "Enter a username and a password.",
                "Gib einen Benutzernamen und ein Passwort ein.",
            )),
            StatusCode::BAD_REQUEST,
        );
    };
    let public_key = match (v.own_key, v.public_key.trim().is_empty()) {
        (true, false) => Some(v.public_key.clone()),
        (false, true) => None,
        (true, true) => {
            return again(
                html::alert(lang.t(
                    "Paste your public key, or choose to have a key pair made.",
                    "Füge deinen öffentlichen Schlüssel ein oder wähle, dass ein Schlüsselpaar erzeugt wird.",
                )),
                StatusCode::BAD_REQUEST,
            )
        }
        (false, false) => {
            return again(
                html::alert(lang.t(
                    "You pasted a public key but chose to have a key pair made. Choose one of the two.",
                    "Du hast einen öffentlichen Schlüssel eingefügt, aber gewählt, dass ein Schlüsselpaar \
erzeugt wird. Wähle eins von beiden.",
                )),
                StatusCode::BAD_REQUEST,
            )
        }
    };
    if public_key
        .as_ref()
        .is_some_and(|k| k.len() > openpgp::MAX_ARMORED_LEN)
    {
        return again(
            html::alert(lang.t(
                "This public key is too long.",
                "Dieser öffentliche Schlüssel ist zu lang.",
            )),
            StatusCode::BAD_REQUEST,
        );
    }
    let new = NewAccount {
        username: v.username.clone(),
        password: Secret::new(password.to_owned()),
        email: Some(v.email.clone()).filter(|e| !e.trim().is_empty()),
        public_key,
    };
    match super::create(req, env, new) {
        Ok(done) => created(req, env, &v, &done),
        Err(e) => {
            crate::log_event("register", "refused");
            match refusal(lang, &e) {
                Some((text, status)) => again(text, status),
                None => html::failure(lang, &e),
            }
        }
    }
}

/// The message and status for a refusal the member can fix.
fn refusal(lang: Lang, e: &Error) -> Option<(String, StatusCode)> {
    let text = match e {
        Error::UsernameTaken => {
            return Some((
                html::alert(lang.t(
                    "This username is taken. Choose another.",
                    "Dieser Benutzername ist vergeben. Wähle einen anderen.",
                )),
                StatusCode::CONFLICT,
            ))
        }
        Error::TicketRequired => {
            return Some((
                format!(
                    "<p class=\"error\" role=\"alert\">{}</p>",
                    ticket_text(lang)
                ),
                StatusCode::FORBIDDEN,
            ))
        }
        Error::Invalid { code, message } => match (lang, *code) {
            (Lang::En, _) => message.clone(),
            (Lang::De, "invalid_username") => "Der Benutzername hat 3 bis 32 Zeichen a-z, 0-9, \
'.', '_', '-', beginnt mit einem Buchstaben und endet mit einem Buchstaben oder einer Ziffer."
                .to_owned(),
            (Lang::De, "reserved_username") => {
                "Dieser Benutzername ist reserviert. Wähle einen anderen.".to_owned()
            }
            (Lang::De, "weak_password") => format!(
                "Das Passwort ist zu schwach: mindestens {MIN_CHARS} Zeichen, kein verbreitetes \
Passwort, und es darf den Benutzernamen nicht enthalten."
            ),
            (Lang::De, "invalid_password") => "Das Passwort ist zu lang.".to_owned(),
            (Lang::De, "invalid_email") => {
                "Die E-Mail-Adresse sieht nicht aus wie name@example.org.".to_owned()
            }
            (Lang::De, "invalid_public_key") => "Der öffentliche Schlüssel ist nicht lesbar oder \
nicht selbst signiert. Füge den ganzen ASCII-armored Block ein."
                .to_owned(),
            (Lang::De, _) => "Eine Angabe ist ungültig. Prüfe das Formular.".to_owned(),
        },
        _ => return None,
    };
    Some((html::alert(&text), StatusCode::BAD_REQUEST))
}

/// 201: the account is made; the private key, if one was made, shown once.
fn created(req: &Request, env: &Env, v: &Values, done: &Registered) -> Response {
    let lang = Lang::of(req);
    let account = &done.account;
    // a ticket waiting in this browser is applied after the login
    let target = if super::ticket_waiting(req, env).unwrap_or(false) {
        "/redeem".to_owned()
    } else {
        v.return_to.clone()
    };
    let mut login = url::form_urlencoded::Serializer::new(String::new());
    login.append_pair("return_to", &target);
    login.append_pair("login_hint", &account.username);
    let fingerprint = format!(
        "<p>{}: <code>{}</code></p>",
        lang.t("Fingerprint of your key", "Fingerabdruck deines Schlüssels"),
        escape(&account.fingerprint)
    );
    let key = match &done.private_key {
        Some(private) => format!(
            "<h2>{heading}</h2><p class=\"error\"><strong>{once}</strong></p><p>{why}</p>\
<label for=\"private_key\">{label}</label>\
<textarea id=\"private_key\" readonly rows=\"12\" spellcheck=\"false\">{key}</textarea>\
<p><a class=\"button\" download=\"ausweis-{name}-private-key.asc\" \
href=\"data:application/pgp-keys;base64,{data}\">{download}</a></p>{fingerprint}",
            heading = lang.t("Your private key", "Dein privater Schlüssel"),
            once = lang.t(
                "It is shown only this once. We do not keep it.",
                "Er wird nur dieses eine Mal gezeigt. Wir bewahren ihn nicht auf.",
            ),
            why = lang.t(
                "Download it or copy it into a safe place now. It is protected with your \
password. With it you can recover your account if you forget the password.",
                "Lade ihn jetzt herunter oder kopiere ihn an einen sicheren Ort. Er ist mit \
deinem Passwort geschützt. Mit ihm kannst du dein Konto wiederherstellen, wenn du das Passwort \
vergisst.",
            ),
            label = lang.t("Private key", "Privater Schlüssel"),
            key = escape(private.expose()),
            name = escape(&account.username),
            data = STANDARD.encode(private.expose()),
            download = lang.t(
                "Download the private key",
                "Privaten Schlüssel herunterladen"
            ),
        ),
        None => format!(
            "<p>{}</p>{fingerprint}",
            lang.t(
                "Your own public key is stored; no key pair was made.",
                "Dein eigener öffentlicher Schlüssel ist gespeichert; es wurde kein Schlüsselpaar erzeugt.",
            )
        ),
    };
    let ready = match lang {
        Lang::En => format!("Your account {} is ready.", account.username),
        Lang::De => format!("Dein Konto {} ist eingerichtet.", account.username),
    };
    html::page(
        lang,
        StatusCode::CREATED,
        lang.t("Welcome", "Willkommen"),
        &format!(
            "{}{key}<p><a class=\"button\" href=\"/login?{}\">{}</a></p>",
            html::notice(&ready),
            escape(&login.finish()),
            lang.t("Log in now", "Jetzt anmelden"),
        ),
    )
}
