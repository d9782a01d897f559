//! The redeem page: `GET /redeem` shows the form for a ticket code (and,
//! for a member logged in with a ticket waiting in this browser, a button
//! to apply it); `POST /redeem` redeems a code and `POST /redeem/apply`
//! applies the waiting ticket, both through the API's steps
//! ([`super::redeem_secret`], [`super::apply_waiting`]).

use ausweis::entitlements::Entitlement;
use ausweis::redeem::{Applied, Pending, MAX_SECRET_LEN};
use ausweis::secret::Secret;
use ausweis::Error;
use http::StatusCode;

use super::{Outcome, Redeemed};
use crate::csrf::{self, Csrf};
use crate::html::{self, escape};
use crate::i18n::Lang;
use crate::{form, Env, Request, Response};

/// `GET /redeem`.
pub fn show(req: &Request, env: &Env) -> Response {
    let lang = Lang::of(req);
    let user = match super::logged_in(req, env) {
        Ok(u) => u,
        Err(e) => return html::failure(lang, &e),
    };
    let waiting = match super::waiting(req, env) {
        Ok(w) => w,
        Err(e) => return html::failure(lang, &e),
    };
    let csrf = Csrf::issue(req);
    let top = match (waiting, &user) {
        (true, Some(s)) => {
            let text = match lang {
                Lang::En => format!(
                    "A ticket you redeemed is waiting in this browser. Apply it to your account \
<strong>{}</strong>?",
                    escape(&s.username)
                ),
                Lang::De => format!(
                    "Ein eingelöstes Ticket wartet in diesem Browser. Soll es deinem Konto \
<strong>{}</strong> gutgeschrieben werden?",
                    escape(&s.username)
                ),
            };
            format!(
                "<p class=\"ok\" role=\"status\">{text}</p>\
<form method=\"post\" action=\"/redeem/apply\">{}<button>{}</button></form>",
                csrf.field(),
                lang.t("Apply to my account", "Meinem Konto gutschreiben")
            )
        }
        (true, None) => format!("<p class=\"ok\" role=\"status\">{}</p>{}", lang.t(
                "A ticket you redeemed is waiting in this browser. Log in or register to apply it.",
                "Ein eingelöstes Ticket wartet in diesem Browser. Melde dich an oder registriere dich, \
um es gutzuschreiben.",
            ), ways_on(lang)),
        (false, _) => String::new(),
    };
    csrf.attach(form_page(lang, &csrf, &top, StatusCode::OK))
}

fn form_page(lang: Lang, csrf: &Csrf, top: &str, status: StatusCode) -> Response {
    html::page(
        lang,
        status,
        lang.t("Redeem a ticket", "Ticket einlösen"),
        &form_body(lang, csrf, top),
    )
}

/// The form for a ticket code, below `top`.
fn form_body(lang: Lang, csrf: &Csrf, top: &str) -> String {
    format!(
            "{top}<p>{intro}</p><form method=\"post\" action=\"/redeem\">{csrf}{input}\
<p class=\"hint\" id=\"secret-hint\">{hint}</p><button>{submit}</button></form>",
            intro = lang.t(
                "A ticket from the association's shop grants a membership or a service. Enter \
the ticket code from your ticket to add it to your account.",
                "Ein Ticket aus dem Shop des Vereins bringt eine Mitgliedschaft oder einen Dienst. \
Gib den Code deines Tickets ein, um es deinem Konto gutzuschreiben.",
            ),
            csrf = csrf.field(),
            input = html::input(
                "secret",
                lang.t("Ticket code", "Ticket-Code"),
                &format!(
                    "required maxlength=\"{MAX_SECRET_LEN}\" autocomplete=\"off\" \
autocapitalize=\"none\" spellcheck=\"false\" aria-describedby=\"secret-hint\""
                ),
            ),
            hint = lang.t(
                "It is printed on your ticket, near the QR code. We keep neither the code nor your order.",
                "Er steht auf deinem Ticket, beim QR-Code. Wir speichern weder den Code noch deine Bestellung.",
            ),
        submit = lang.t("Redeem", "Einlösen"),
    )
}

/// Links to log in or register and come back here.
fn ways_on(lang: Lang) -> String {
    format!(
        "<p><a class=\"button\" href=\"/login?return_to=%2Fredeem\">{}</a>\
<a class=\"button\" href=\"/register?return_to=%2Fredeem\">{}</a></p>",
        lang.t("Log in", "Anmelden"),
        lang.t("Register", "Registrieren"),
    )
}

/// Checks the form's token; the form again with 403 when it fails.
fn forged(req: &Request, env: &Env, pairs: &[(String, String)]) -> Option<Response> {
    let issuer = env.vars.get("issuer");
    if form::is_form(req) && csrf::verify(req, pairs, issuer.as_deref()) {
        return None;
    }
    let lang = Lang::of(req);
    let csrf = Csrf::issue(req);
    let top = html::alert(lang.t(
        "The form had expired. Please try again.",
        "Das Formular war abgelaufen. Bitte versuche es noch einmal.",
    ));
    Some(csrf.attach(form_page(lang, &csrf, &top, StatusCode::FORBIDDEN)))
}

/// `POST /redeem` with `secret`.
pub fn redeem(req: &Request, env: &Env) -> Response {
    let pairs = form::body(req);
    if let Some(resp) = forged(req, env, &pairs) {
        return resp;
    }
    let secret = form::single(&pairs, "secret")
        .ok()
        .flatten()
        .map(|s| Secret::new(s.trim().to_owned()));
    let outcome = match secret {
        Some(s) => super::redeem_secret(req, env, &s),
        None => Outcome::refused(Error::invalid("missing_field", "enter the ticket code")),
    };
    result_page(req, &outcome)
}

/// `POST /redeem/apply`.
pub fn apply(req: &Request, env: &Env) -> Response {
    let pairs = form::body(req);
    if let Some(resp) = forged(req, env, &pairs) {
        return resp;
    }
    result_page(req, &super::apply_waiting(req, env))
}

fn result_page(req: &Request, o: &Outcome) -> Response {
    let lang = Lang::of(req);
    let resp = match &o.result {
        Ok(Redeemed::Pending(p)) => pending_page(lang, p),
        Ok(Redeemed::Applied(a)) => applied_page(lang, a),
        Err(e) => refused_page(req, lang, e),
    };
    o.attach(resp)
}

/// What a ticket grants, as a list.
fn grants_list(lang: Lang, g: &Entitlement) -> String {
    let mut items = String::new();
    if g.member {
        items.push_str(&format!(
            "<li>{}</li>",
            lang.t("Membership of the association", "Mitgliedschaft im Verein")
        ));
    }
    for p in &g.permissions {
        let text = match lang {
            Lang::En => format!("<strong>{}</strong> for {} days", escape(&p.name), p.days),
            Lang::De => format!("<strong>{}</strong> für {} Tage", escape(&p.name), p.days),
        };
        items.push_str(&format!("<li>{text}</li>"));
    }
    format!("<ul>{items}</ul>")
}

fn pending_page(lang: Lang, p: &Pending) -> Response {
    let until = match lang {
        Lang::En => format!(
            "It waits in this browser until {}. Log in to apply it to your account, or register \
a new account first.",
            html::minute(p.expires_at)
        ),
        Lang::De => format!(
            "Es wartet in diesem Browser bis {}. Melde dich an, um es deinem Konto gutzuschreiben, \
oder registriere dich zuerst.",
            html::minute(p.expires_at)
        ),
    };
    html::page(
        lang,
        StatusCode::OK,
        lang.t("Your ticket is valid", "Dein Ticket ist gültig"),
        &format!(
            "{}<p>{}</p>{}<p>{}</p>{}",
            html::notice(lang.t(
                "The ticket is paid and not yet redeemed.",
                "Das Ticket ist bezahlt und noch nicht eingelöst.",
            )),
            lang.t("It grants:", "Es bringt:"),
            grants_list(lang, &p.grants),
            escape(&until),
            ways_on(lang),
        ),
    )
}

fn applied_page(lang: Lang, a: &Applied) -> Response {
    let rows: String = a
        .permissions
        .iter()
        .map(|(name, exp)| {
            format!(
                "<tr><td>{}</td><td>{}</td></tr>",
                escape(name),
                html::day(*exp)
            )
        })
        .collect();
    let member = if a.member {
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
    html::page(
        lang,
        StatusCode::OK,
        lang.t("Ticket redeemed", "Ticket eingelöst"),
        &format!(
            "{}{member}<table><thead><tr><th>{}</th><th>{}</th></tr></thead><tbody>{rows}</tbody>\
</table><p><a class=\"button\" href=\"/\">{}</a></p>",
            html::notice(lang.t(
                "The ticket is redeemed for your account.",
                "Das Ticket ist deinem Konto gutgeschrieben.",
            )),
            lang.t("Permission", "Berechtigung"),
            lang.t("Valid until", "Gültig bis"),
            lang.t("To my overview", "Zu meiner Übersicht"),
        ),
    )
}

/// The page for a refused redemption: the API's status, our words.
fn refused_page(req: &Request, lang: Lang, e: &Error) -> Response {
    let text = match e {
        Error::TicketUnknown => lang.t(
            "No ticket has this code. Check what you typed.",
            "Kein Ticket hat diesen Code. Prüfe, was du eingegeben hast.",
        ),
        Error::TicketRedeemed => lang.t(
            "This ticket has been redeemed already.",
            "Dieses Ticket wurde schon eingelöst.",
        ),
        Error::TicketUnpaid => lang.t(
            "This ticket's order is not paid yet. Try again once it is.",
            "Die Bestellung dieses Tickets ist noch nicht bezahlt. Versuche es wieder, wenn sie bezahlt ist.",
        ),
        Error::TicketCancelled => lang.t(
            "This ticket's order was cancelled or has expired.",
            "Die Bestellung dieses Tickets wurde storniert oder ist abgelaufen.",
        ),
        Error::TicketRefused { .. } => lang.t(
            "The ticket shop refused this ticket. Please ask the association.",
            "Der Ticket-Shop hat dieses Ticket abgelehnt. Bitte frag beim Verein nach.",
        ),
        Error::ItemNotRedeemable => lang.t(
            "This ticket is for something that grants nothing here. Please ask the association.",
            "Dieses Ticket ist für etwas, das hier nichts freischaltet. Bitte frag beim Verein nach.",
        ),
        Error::PretixUnavailable(_) => lang.t(
            "The ticket shop cannot be reached right now. Please try again in a minute; a ticket \
waiting in this browser is kept.",
            "Der Ticket-Shop ist gerade nicht erreichbar. Bitte versuche es in einer Minute noch \
einmal; ein Ticket, das in diesem Browser wartet, bleibt erhalten.",
        ),
        Error::PretixFailed(_) => lang.t(
            "The ticket shop gave an answer we cannot use. Please try again later.",
            "Der Ticket-Shop hat unbrauchbar geantwortet. Bitte versuche es später noch einmal.",
        ),
        Error::RedemptionDisabled => lang.t(
            "Tickets cannot be redeemed on this server.",
            "Auf diesem Server lassen sich keine Tickets einlösen.",
        ),
        Error::NoRedemption => lang.t(
            "No redeemed ticket is waiting in this browser (it may have expired). Enter the \
ticket code again.",
            "In diesem Browser wartet kein eingelöstes Ticket (vielleicht ist es abgelaufen). Gib \
den Ticket-Code noch einmal ein.",
        ),
        Error::RedemptionPending => lang.t(
            "A ticket redeemed in this browser is being applied to another account. Log in to \
that account and finish it there first.",
            "Ein in diesem Browser eingelöstes Ticket wird gerade einem anderen Konto \
gutgeschrieben. Melde dich bei diesem Konto an und schließe es dort zuerst ab.",
        ),
        Error::RedemptionBusy => lang.t(
            "This ticket is being applied right now. Try again in a few seconds.",
            "Dieses Ticket wird gerade gutgeschrieben. Versuche es in ein paar Sekunden noch einmal.",
        ),
        Error::NotAuthenticated => lang.t(
            "Log in first; then the waiting ticket can be applied.",
            "Melde dich zuerst an; dann kann das wartende Ticket gutgeschrieben werden.",
        ),
        Error::Invalid { .. } => lang.t(
            "Enter the ticket code: 1 to 200 characters without spaces.",
            "Gib den Ticket-Code ein: 1 bis 200 Zeichen ohne Leerzeichen.",
        ),
        _ => return html::failure(lang, e),
    };
    let csrf = Csrf::issue(req);
    let again = match e {
        Error::NotAuthenticated => ways_on(lang),
        _ => String::new(),
    };
    let answer = html::Answer::to(e);
    let body = form_body(lang, &csrf, &format!("{}{again}", html::alert(text)));
    csrf.attach(answer.page(lang, lang.t("Redeem a ticket", "Ticket einlösen"), &body))
}
