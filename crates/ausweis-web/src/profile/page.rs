//! The start page (`GET /`) and the profile editor (`GET /profile`, with
//! its forms posting to `/profile/fields...`).

use ausweis::profile::{self, Field, Kind, Visibility};
use ausweis::{permissions, Error, Result};
use http::StatusCode;
use serde_json::Value;

use crate::auth::{self, Member};
use crate::csrf::{self, Csrf};
use crate::html::{self, escape};
use crate::i18n::Lang;
use crate::{form, Env, Request, Response};

/// The member behind the request; `None` when nobody is logged in.
fn member(req: &Request, env: &Env) -> Result<Option<Member>> {
    match auth::member(req, env) {
        Ok(m) => Ok(Some(m)),
        Err(Error::NotAuthenticated) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `GET /`: a welcome, or the member's overview.
pub fn start(req: &Request, env: &Env) -> Response {
    let lang = Lang::of(req);
    let me = match member(req, env) {
        Ok(Some(m)) => m,
        Ok(None) => return welcome(lang),
        Err(e) => return html::failure(lang, &e),
    };
    let grants = match permissions::get(env.kv, &me.account.id) {
        Ok(g) => g,
        Err(e) => return html::failure(lang, &e),
    };
    let csrf = Csrf::issue(req);
    let rows: String = grants
        .permissions
        .iter()
        .map(|(name, exp)| {
            let state = if *exp > env.now {
                lang.t("active", "gültig")
            } else {
                lang.t("expired", "abgelaufen")
            };
            format!(
                "<tr><td>{}</td><td>{}</td><td>{state}</td></tr>",
                escape(name),
                html::day(*exp)
            )
        })
        .collect();
    let table = if rows.is_empty() {
        format!(
            "<p>{}</p>",
            lang.t(
                "You hold no permissions yet. A ticket from the association's shop brings some.",
                "Du hast noch keine Berechtigungen. Ein Ticket aus dem Shop des Vereins bringt welche.",
            )
        )
    } else {
        format!(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{rows}</tbody></table>",
            lang.t("Permission", "Berechtigung"),
            lang.t("Valid until", "Gültig bis"),
            lang.t("State", "Stand"),
        )
    };
    let hello = match lang {
        Lang::En => format!(
            "You are logged in as <strong>{}</strong>.",
            escape(&me.account.username)
        ),
        Lang::De => format!(
            "Du bist angemeldet als <strong>{}</strong>.",
            escape(&me.account.username)
        ),
    };
    let member_line = if grants.member {
        format!(
            "<p>{}</p>",
            lang.t(
                "You are a member of the association.",
                "Du bist Mitglied im Verein."
            )
        )
    } else {
        String::new()
    };
    let body = format!(
        "<p>{hello}</p>{member_line}<h2>{perm}</h2>{table}\
<nav><a href=\"/profile\">{profile}</a><a href=\"/account\">{account}</a>\
<a href=\"/redeem\">{redeem}</a></nav>\
<form method=\"post\" action=\"/logout\">{csrf}<button class=\"secondary\">{logout}</button></form>",
        perm = lang.t("Your permissions", "Deine Berechtigungen"),
        profile = lang.t("Edit your profile", "Profil bearbeiten"),
        account = lang.t("Account settings", "Kontoeinstellungen"),
        redeem = lang.t("Redeem a ticket", "Ticket einlösen"),
        csrf = csrf.field(),
        logout = lang.t("Log out", "Abmelden"),
    );
    csrf.attach(html::page(
        lang,
        StatusCode::OK,
        lang.t("Your account", "Dein Konto"),
        &body,
    ))
}

fn welcome(lang: Lang) -> Response {
    html::page(
        lang,
        StatusCode::OK,
        lang.t("Welcome", "Willkommen"),
        &format!(
            "<p>{}</p><p><a class=\"button\" href=\"/login\">{}</a>\
<a class=\"button\" href=\"/register\">{}</a></p><p><a href=\"/redeem\">{}</a></p>",
            lang.t(
                "One account for all the association's services. We keep as little about you as we can.",
                "Ein Konto für alle Dienste des Vereins. Wir speichern so wenig über dich wie möglich.",
            ),
            lang.t("Log in", "Anmelden"),
            lang.t("Register", "Registrieren"),
            lang.t(
                "Have a ticket from the shop? Redeem it",
                "Ein Ticket aus dem Shop? Hier einlösen"
            ),
        ),
    )
}

fn to_login() -> Response {
    html::redirect(StatusCode::SEE_OTHER, "/login?return_to=%2Fprofile")
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Text => "text",
        Kind::Email => "email",
        Kind::Url => "url",
        Kind::Date => "date",
        Kind::Bool => "bool",
        Kind::Number => "number",
    }
}

const KINDS: [Kind; 6] = [
    Kind::Text,
    Kind::Email,
    Kind::Url,
    Kind::Date,
    Kind::Bool,
    Kind::Number,
];

fn kind_text(lang: Lang, kind: Kind) -> &'static str {
    match kind {
        Kind::Text => lang.t("Text", "Text"),
        Kind::Email => lang.t("E-mail address", "E-Mail-Adresse"),
        Kind::Url => lang.t("Web address", "Webadresse"),
        Kind::Date => lang.t("Date", "Datum"),
        Kind::Bool => lang.t("Yes or no", "Ja oder nein"),
        Kind::Number => lang.t("Number", "Zahl"),
    }
}

fn visibility_name(v: Visibility) -> &'static str {
    match v {
        Visibility::Private => "private",
        Visibility::Protected => "protected",
        Visibility::Public => "public",
    }
}

fn visibility_text(lang: Lang, v: Visibility) -> &'static str {
    match v {
        Visibility::Private => lang.t("Only me", "Nur ich"),
        Visibility::Protected => lang.t("Members", "Mitglieder"),
        Visibility::Public => lang.t("Everyone", "Alle"),
    }
}

/// A labelled `<select>` of visibilities.
fn visibility_select(lang: Lang, id: &str, chosen: Visibility) -> String {
    let options: String = [
        Visibility::Private,
        Visibility::Protected,
        Visibility::Public,
    ]
    .iter()
    .map(|v| {
        format!(
            "<option value=\"{}\"{}>{}</option>",
            visibility_name(*v),
            if *v == chosen { " selected" } else { "" },
            visibility_text(lang, *v)
        )
    })
    .collect();
    format!(
        "<label for=\"{id}\">{}</label><select id=\"{id}\" name=\"visibility\">{options}</select>",
        lang.t("Who sees it", "Wer es sieht")
    )
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A labelled input for a value of `kind`.
fn value_input(lang: Lang, id: &str, kind: Kind, value: &str) -> String {
    let label = escape(lang.t("Value", "Wert"));
    if kind == Kind::Bool {
        let opt = |v: &str, text: &str| {
            format!(
                "<option value=\"{v}\"{}>{}</option>",
                if value == v { " selected" } else { "" },
                text
            )
        };
        return format!(
            "<label for=\"{id}\">{label}</label><select id=\"{id}\" name=\"value\">{}{}</select>",
            opt("true", lang.t("yes", "ja")),
            opt("false", lang.t("no", "nein"))
        );
    }
    if kind == Kind::Text {
        return format!(
            "<label for=\"{id}\">{label}</label><textarea id=\"{id}\" name=\"value\" rows=\"2\">{}</textarea>",
            escape(value)
        );
    }
    let input_type = match kind {
        Kind::Email => "email",
        Kind::Url => "url",
        Kind::Date => "date",
        _ => "text\" inputmode=\"decimal",
    };
    format!(
        "<label for=\"{id}\">{label}</label><input id=\"{id}\" name=\"value\" type=\"{input_type}\" value=\"{}\">",
        escape(value)
    )
}

/// What the add form shows again after a refusal.
#[derive(Default)]
struct NewField {
    name: String,
    kind: Option<Kind>,
    value: String,
    visibility: Option<Visibility>,
}

/// `GET /profile`.
pub fn editor(req: &Request, env: &Env) -> Response {
    let lang = Lang::of(req);
    let done = form::query(req)
        .into_iter()
        .find(|(k, _)| k == "done")
        .map(|(_, v)| v);
    let notice = match done.as_deref() {
        Some("added") => html::notice(lang.t("The field is added.", "Das Feld ist angelegt.")),
        Some("saved") => html::notice(lang.t("The field is saved.", "Das Feld ist gespeichert.")),
        Some("deleted") => html::notice(lang.t("The field is deleted.", "Das Feld ist gelöscht.")),
        _ => String::new(),
    };
    editor_page(req, env, &notice, &NewField::default(), StatusCode::OK)
}

fn editor_page(
    req: &Request,
    env: &Env,
    top: &str,
    new: &NewField,
    status: StatusCode,
) -> Response {
    let lang = Lang::of(req);
    let me = match member(req, env) {
        Ok(Some(m)) => m,
        Ok(None) => return to_login(),
        Err(e) => return html::failure(lang, &e),
    };
    let prof = match profile::get(env.kv, &me.account.id) {
        Ok(p) => p,
        Err(e) => return html::failure(lang, &e),
    };
    let csrf = Csrf::issue(req);
    let fields: String = prof
        .fields
        .iter()
        .map(|(name, f)| field_forms(lang, &csrf, name, f))
        .collect();
    let fields = if fields.is_empty() {
        format!(
            "<p>{}</p>",
            lang.t(
                "Your profile has no fields yet.",
                "Dein Profil hat noch keine Felder."
            )
        )
    } else {
        fields
    };
    let kinds: String = KINDS
        .iter()
        .map(|k| {
            format!(
                "<option value=\"{}\"{}>{}</option>",
                kind_name(*k),
                if new.kind == Some(*k) {
                    " selected"
                } else {
                    ""
                },
                kind_text(lang, *k)
            )
        })
        .collect();
    let shared = format!(
        "/api/users/{}/profile",
        url::form_urlencoded::byte_serialize(me.account.username.as_bytes()).collect::<String>()
    );
    let body = format!(
        "{top}<p>{explain} <a href=\"{shared}\">{shared_text}</a></p>\
<h2>{fields_heading}</h2>{fields}\
<h2>{add_heading}</h2><form method=\"post\" action=\"/profile/fields\">{csrf}{name}\
<p class=\"hint\" id=\"name-hint\">{name_hint}</p>\
<label for=\"new-type\">{type_label}</label><select id=\"new-type\" name=\"type\">{kinds}</select>\
{value}{visibility}<button>{add}</button></form>\
<p><a href=\"/\">{back}</a></p>",
        explain = lang.t(
            "Each field shows to whom you choose: only you, other members, or everyone. Your username is always shown.",
            "Jedes Feld sieht, wen du wählst: nur du, andere Mitglieder oder alle. Dein Benutzername wird immer gezeigt.",
        ),
        shared = escape(&shared),
        shared_text = lang.t(
            "What others see of your profile",
            "Was andere von deinem Profil sehen"
        ),
        fields_heading = lang.t("Your fields", "Deine Felder"),
        add_heading = lang.t("Add a field", "Feld hinzufügen"),
        csrf = csrf.field(),
        name = html::input(
            "name",
            lang.t("Name of the field", "Name des Feldes"),
            &format!(
                "required maxlength=\"{}\" autocapitalize=\"none\" spellcheck=\"false\" \
aria-describedby=\"name-hint\" value=\"{}\"",
                profile::MAX_NAME_LEN,
                escape(&new.name)
            )
        ),
        name_hint = lang.t(
            "For example name, city or website: a-z, 0-9, '.', '_', '-', starting with a letter. \
A text field called name is your display name for the services.",
            "Zum Beispiel name, stadt oder website: a-z, 0-9, '.', '_', '-', am Anfang ein \
Buchstabe. Ein Textfeld namens name ist dein Anzeigename für die Dienste.",
        ),
        type_label = lang.t("Type", "Typ"),
        value = new_value_input(lang, &new.value),
        visibility = visibility_select(
            lang,
            "new-visibility",
            new.visibility.unwrap_or(Visibility::Private)
        ),
        add = lang.t("Add", "Hinzufügen"),
        back = lang.t("Back to the overview", "Zurück zur Übersicht"),
    );
    csrf.attach(html::page(
        lang,
        status,
        lang.t("Your profile", "Dein Profil"),
        &body,
    ))
}

/// The value of a new field: plain text, its type is chosen beside it.
fn new_value_input(lang: Lang, value: &str) -> String {
    format!(
        "<label for=\"new-value\">{}</label><input id=\"new-value\" name=\"value\" \
aria-describedby=\"new-value-hint\" value=\"{}\">\
<p class=\"hint\" id=\"new-value-hint\">{}</p>",
        lang.t("Value", "Wert"),
        escape(value),
        lang.t(
            "A date as 2027-01-31; yes or no as true or false.",
            "Ein Datum als 2027-01-31; ja oder nein als true oder false.",
        )
    )
}

/// The forms of one field: change it, delete it.
fn field_forms(lang: Lang, csrf: &Csrf, name: &str, f: &Field) -> String {
    // field names are a-z 0-9 . _ -, safe in ids and paths
    let name = escape(name);
    format!(
        "<section><h3>{name}</h3><p class=\"hint\">{type_label}: {kind} · {vis_label}: {vis}</p>\
<form method=\"post\" action=\"/profile/fields/{name}\">{csrf}{value}{visibility}\
<button>{save}</button></form>\
<form method=\"post\" action=\"/profile/fields/{name}/delete\">{csrf}\
<button class=\"danger\" aria-label=\"{delete_label}\">{delete}</button></form></section>",
        type_label = lang.t("Type", "Typ"),
        kind = kind_text(lang, f.kind),
        vis_label = lang.t("Who sees it", "Wer es sieht"),
        vis = visibility_text(lang, f.visibility),
        csrf = csrf.field(),
        value = value_input(
            lang,
            &format!("value-{name}"),
            f.kind,
            &value_text(&f.value)
        ),
        visibility = visibility_select(lang, &format!("visibility-{name}"), f.visibility),
        save = lang.t("Save", "Speichern"),
        delete_label = match lang {
            Lang::En => format!("Delete the field {name}"),
            Lang::De => format!("Das Feld {name} löschen"),
        },
        delete = lang.t("Delete", "Löschen"),
    )
}

/// The message for a refused change, in the page's language.
fn refusal(lang: Lang, e: &Error, kind: Option<Kind>) -> Option<(String, StatusCode)> {
    let text = match (e, lang) {
        (Error::NotFound(_), _) => {
            return Some((
                html::alert(lang.t(
                    "There is no such field (any more).",
                    "Dieses Feld gibt es nicht (mehr).",
                )),
                StatusCode::NOT_FOUND,
            ))
        }
        (Error::Invalid { message, .. }, Lang::En) => message.clone(),
        (Error::Invalid { code, .. }, Lang::De) => match (*code, kind) {
            ("invalid_field_name", _) => "Feldnamen haben 1 bis 64 Zeichen a-z, 0-9, '.', '_', \
'-' und beginnen mit einem Buchstaben."
                .to_owned(),
            ("too_many_fields", _) => format!(
                "Ein Profil hat höchstens {} Felder; lösche zuerst eines.",
                profile::MAX_FIELDS
            ),
            ("invalid_value", Some(Kind::Email)) => {
                "Der Wert muss eine E-Mail-Adresse wie name@example.org sein.".to_owned()
            }
            ("invalid_value", Some(Kind::Url)) => {
                "Der Wert muss eine Adresse sein, die mit http:// oder https:// beginnt.".to_owned()
            }
            ("invalid_value", Some(Kind::Date)) => {
                "Der Wert muss ein Datum wie 2027-01-31 sein.".to_owned()
            }
            ("invalid_value", Some(Kind::Bool)) => "Der Wert muss true oder false sein.".to_owned(),
            ("invalid_value", Some(Kind::Number)) => "Der Wert muss eine Zahl sein.".to_owned(),
            ("invalid_value", _) => "Der Wert ist zu lang oder enthält Steuerzeichen.".to_owned(),
            _ => "Eine Angabe ist ungültig. Prüfe das Formular.".to_owned(),
        },
        _ => return None,
    };
    Some((html::alert(&text), StatusCode::BAD_REQUEST))
}

/// A genuine post of a logged-in member: who, and the form's fields.
type Posted = (Member, Vec<(String, String)>);

/// The checks every post of the editor starts with: the form's token, then
/// the login. `Err` is the answer to give instead.
fn posted(req: &Request, env: &Env) -> std::result::Result<Posted, Box<Response>> {
    let lang = Lang::of(req);
    let pairs = form::body(req);
    let issuer = env.vars.get("issuer");
    let genuine = form::is_form(req) && csrf::verify(req, &pairs, issuer.as_deref());
    let me = match member(req, env) {
        Ok(m) => m,
        Err(e) => return Err(Box::new(html::failure(lang, &e))),
    };
    let expired = html::alert(lang.t(
        "The form had expired. Please try again.",
        "Das Formular war abgelaufen. Bitte versuche es noch einmal.",
    ));
    match (genuine, me) {
        (true, Some(m)) => Ok((m, pairs)),
        (true, None) => Err(Box::new(to_login())),
        (false, Some(_)) => Err(Box::new(editor_page(
            req,
            env,
            &expired,
            &NewField::default(),
            StatusCode::FORBIDDEN,
        ))),
        (false, None) => Err(Box::new(html::page(
            lang,
            StatusCode::FORBIDDEN,
            lang.t("Your profile", "Dein Profil"),
            &format!(
                "{expired}<p><a href=\"/login?return_to=%2Fprofile\">{}</a></p>",
                lang.t("Log in", "Anmelden")
            ),
        ))),
    }
}

fn after(
    req: &Request,
    env: &Env,
    r: Result<()>,
    done: &str,
    new: &NewField,
    kind: Option<Kind>,
) -> Response {
    let lang = Lang::of(req);
    match r {
        Ok(()) => {
            crate::log_event("profile_field", done);
            html::redirect(StatusCode::SEE_OTHER, &format!("/profile?done={done}"))
        }
        Err(e) => {
            crate::log_event("profile_field", "refused");
            match refusal(lang, &e, kind) {
                Some((top, status)) => editor_page(req, env, &top, new, status),
                None => html::failure(lang, &e),
            }
        }
    }
}

fn text<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    form::single(pairs, name).ok().flatten().unwrap_or("")
}

/// `POST /profile/fields`: adds a field.
pub fn add(req: &Request, env: &Env) -> Response {
    let (me, pairs) = match posted(req, env) {
        Ok(p) => p,
        Err(resp) => return *resp,
    };
    let lang = Lang::of(req);
    let new = NewField {
        name: text(&pairs, "name").trim().to_owned(),
        kind: Kind::parse(text(&pairs, "type")).ok(),
        value: text(&pairs, "value").to_owned(),
        visibility: Visibility::parse(text(&pairs, "visibility")).ok(),
    };
    let (Some(kind), Some(visibility)) = (new.kind, new.visibility) else {
        let top = html::alert(lang.t(
            "Choose a type and who sees the field.",
            "Wähle einen Typ und wer das Feld sieht.",
        ));
        return editor_page(req, env, &top, &new, StatusCode::BAD_REQUEST);
    };
    match profile::get(env.kv, &me.account.id).map(|p| p.fields.contains_key(&new.name)) {
        Ok(false) => {}
        Ok(true) => {
            let top = html::alert(lang.t(
                "You have a field of this name already; change it above.",
                "Du hast schon ein Feld mit diesem Namen; ändere es oben.",
            ));
            return editor_page(req, env, &top, &new, StatusCode::CONFLICT);
        }
        Err(e) => return html::failure(lang, &e),
    }
    let field = Field {
        value: profile::value_from_text(kind, &new.value),
        kind,
        visibility,
    };
    let r = profile::put_field(env.kv, &me.account.id, &new.name, field).map(|_| ());
    after(req, env, r, "added", &new, Some(kind))
}

/// `POST /profile/fields/{name}`: changes a field's value and visibility.
pub fn change(req: &Request, env: &Env, name: &str) -> Response {
    let (me, pairs) = match posted(req, env) {
        Ok(p) => p,
        Err(resp) => return *resp,
    };
    let lang = Lang::of(req);
    let Ok(visibility) = Visibility::parse(text(&pairs, "visibility")) else {
        let top = html::alert(lang.t("Choose who sees the field.", "Wähle, wer das Feld sieht."));
        return editor_page(
            req,
            env,
            &top,
            &NewField::default(),
            StatusCode::BAD_REQUEST,
        );
    };
    let kind = profile::get(env.kv, &me.account.id)
        .ok()
        .and_then(|p| p.fields.get(name).map(|f| f.kind));
    let value = profile::value_from_text(kind.unwrap_or(Kind::Text), text(&pairs, "value"));
    let r = profile::change_field(env.kv, &me.account.id, name, &value, visibility);
    after(req, env, r, "saved", &NewField::default(), kind)
}

/// `POST /profile/fields/{name}/delete`.
pub fn delete(req: &Request, env: &Env, name: &str) -> Response {
    let (me, _) = match posted(req, env) {
        Ok(p) => p,
        Err(resp) => return *resp,
    };
    let r = profile::delete_field(env.kv, &me.account.id, name);
    after(req, env, r, "deleted", &NewField::default(), None)
}
