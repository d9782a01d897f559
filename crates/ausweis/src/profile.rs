//! Profile fields a member chooses to keep, each with a type and a
//! visibility: private (only the owner), protected (other logged-in
//! members), public (anyone).
//!
//! Key family: `accounts` / `profile:{account_id}` → [`Profile`]. Made
//! empty at registration, so that every change is a compare-and-swap
//! against a present value (atomic on every Spin backend).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::date;
use crate::email::Email;
use crate::kv::{Kv, Store};
use crate::record;
use crate::{Error, Result};

/// Most fields one profile holds.
pub const MAX_FIELDS: usize = 50;
/// Longest field name, in characters.
pub const MAX_NAME_LEN: usize = 64;
/// Largest value, in bytes of its JSON encoding.
pub const MAX_VALUE_BYTES: usize = 4 * 1024;
/// The field whose value, if public or protected, is the OpenID Connect
/// `name` claim.
pub const NAME_FIELD: &str = "name";

/// What a value is, and how it is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A string without control characters other than tab and newline.
    Text,
    /// An e-mail address (syntax only; never verified, never mailed).
    Email,
    /// An `http` or `https` URL.
    Url,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// `true` or `false`.
    Bool,
    /// A JSON number.
    Number,
}

impl Kind {
    /// Parses a type name.
    pub fn parse(name: &str) -> Result<Kind> {
        match name {
            "text" => Ok(Kind::Text),
            "email" => Ok(Kind::Email),
            "url" => Ok(Kind::Url),
            "date" => Ok(Kind::Date),
            "bool" => Ok(Kind::Bool),
            "number" => Ok(Kind::Number),
            _ => Err(Error::invalid(
                "invalid_type",
                "type must be one of text, email, url, date, bool, number",
            )),
        }
    }
}

/// Who may see a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Only the owner.
    Private,
    /// Other logged-in members.
    Protected,
    /// Anyone.
    Public,
}

impl Visibility {
    /// Parses a visibility name.
    pub fn parse(name: &str) -> Result<Visibility> {
        match name {
            "private" => Ok(Visibility::Private),
            "protected" => Ok(Visibility::Protected),
            "public" => Ok(Visibility::Public),
            _ => Err(Error::invalid(
                "invalid_visibility",
                "visibility must be private, protected or public",
            )),
        }
    }
}

/// Who is looking at someone's profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    /// Nobody logged in.
    Anonymous,
    /// A logged-in member (the owner too, when looking at the shared view).
    Member,
}

impl Viewer {
    /// Whether this viewer may see a field of `visibility` in another's
    /// profile. Private fields are never shown there.
    pub fn sees(self, visibility: Visibility) -> bool {
        match visibility {
            Visibility::Public => true,
            Visibility::Protected => self == Viewer::Member,
            Visibility::Private => false,
        }
    }
}

/// One field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    /// The checked value.
    pub value: Value,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: Kind,
    /// Who may see it.
    pub visibility: Visibility,
}

/// The stored profile of one account.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Name → field, sorted by name.
    #[serde(default)]
    pub fields: BTreeMap<String, Field>,
    /// Random marker of the last write (see [`Kv::compare_and_swap`]).
    #[serde(default)]
    pub m: String,
}

impl Profile {
    /// The fields `viewer` may see, sorted by name.
    pub fn visible_to(&self, viewer: Viewer) -> BTreeMap<String, Field> {
        self.fields
            .iter()
            .filter(|(_, f)| viewer.sees(f.visibility))
            .map(|(n, f)| (n.clone(), f.clone()))
            .collect()
    }

    /// The value of the field `name` if it is a text shared with others
    /// (public or protected): the OpenID Connect `name` claim.
    pub fn display_name(&self) -> Option<&str> {
        let f = self.fields.get(NAME_FIELD)?;
        if f.visibility == Visibility::Private {
            return None;
        }
        f.value.as_str()
    }
}

/// Key of an account's profile.
pub fn key(account_id: &str) -> String {
    format!("profile:{account_id}")
}

/// Checks a field name: 1 to 64 characters of `a-z 0-9 . _ -`, starting
/// with a letter (names travel in URL paths).
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "invalid_field_name",
            format!(
                "field names are 1 to {MAX_NAME_LEN} characters of a-z, 0-9, '.', '_', '-', \
starting with a letter"
            ),
        ))
    }
}

/// Checks `value` against `kind` and returns it in its stored form
/// (addresses with a lowercased domain, URLs normalised).
pub fn check_value(kind: Kind, value: &Value) -> Result<Value> {
    let bad = |m: &str| Error::invalid("invalid_value", m.to_owned());
    let size = serde_json::to_vec(value)
        .map_err(|e| Error::Internal(e.to_string()))?
        .len();
    if size > MAX_VALUE_BYTES {
        return Err(bad(&format!(
            "value must be at most {MAX_VALUE_BYTES} bytes"
        )));
    }
    let text = || value.as_str().ok_or_else(|| bad("value must be a string"));
    match kind {
        Kind::Text => {
            let t = text()?;
            if t.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
                return Err(bad("text must not contain control characters"));
            }
            Ok(Value::from(t))
        }
        Kind::Email => {
            let e = Email::parse(text()?)
                .map_err(|_| bad("value must be an e-mail address like name@example.org"))?;
            Ok(Value::from(e.as_str()))
        }
        Kind::Url => {
            let u = url::Url::parse(text()?.trim())
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                .ok_or_else(|| bad("value must be an http or https URL"))?;
            let normalised = u.to_string();
            if normalised.len() > MAX_VALUE_BYTES {
                return Err(bad(&format!(
                    "value must be at most {MAX_VALUE_BYTES} bytes"
                )));
            }
            Ok(Value::from(normalised))
        }
        Kind::Date => {
            let t = text()?;
            date::parse(t).ok_or_else(|| bad("value must be a date like 2027-01-31"))?;
            Ok(Value::from(t))
        }
        Kind::Bool => value
            .as_bool()
            .map(Value::from)
            .ok_or_else(|| bad("value must be true or false")),
        Kind::Number => match value {
            Value::Number(_) => Ok(value.clone()),
            _ => Err(bad("value must be a number")),
        },
    }
}

impl record::Marked for Profile {
    fn mark(&mut self, marker: String) {
        self.m = marker;
    }
}

/// Reads an account's profile (empty if none is stored).
pub fn get(kv: &dyn Kv, account_id: &str) -> Result<Profile> {
    record::get(kv, Store::Accounts, &key(account_id), "profile")
}

/// Writes the empty profile of a new account.
pub fn create(kv: &dyn Kv, account_id: &str) -> Result<()> {
    record::create::<Profile>(kv, Store::Accounts, &key(account_id))
}

/// Changes a profile with `change`, retried on concurrent changes; returns
/// the profile as written. `change` runs before any write, so an error
/// from it leaves the profile as it was.
pub fn update(
    kv: &dyn Kv,
    account_id: &str,
    change: impl Fn(&mut Profile) -> Result<()>,
) -> Result<Profile> {
    record::update(kv, Store::Accounts, &key(account_id), "profile", change)
}

/// Sets a field; returns whether it is new.
pub fn put_field(kv: &dyn Kv, account_id: &str, name: &str, field: Field) -> Result<bool> {
    check_name(name)?;
    let checked = Field {
        value: check_value(field.kind, &field.value)?,
        ..field
    };
    let created = std::cell::Cell::new(false);
    update(kv, account_id, |p| {
        let is_new = !p.fields.contains_key(name);
        if is_new && p.fields.len() >= MAX_FIELDS {
            return Err(Error::invalid(
                "too_many_fields",
                format!("a profile holds at most {MAX_FIELDS} fields; delete one first"),
            ));
        }
        created.set(is_new);
        p.fields.insert(name.to_owned(), checked.clone());
        Ok(())
    })?;
    Ok(created.get())
}

/// Deletes a field; [`Error::NotFound`] if there is none of that name.
pub fn delete_field(kv: &dyn Kv, account_id: &str, name: &str) -> Result<()> {
    check_name(name)?;
    update(kv, account_id, |p| {
        p.fields
            .remove(name)
            .map(|_| ())
            .ok_or(Error::NotFound("profile field"))
    })?;
    Ok(())
}

/// The value a form's text stands for: `true` or `false` for
/// [`Kind::Bool`], a JSON number for [`Kind::Number`], the text itself
/// otherwise. Text that fits neither stays text, so that [`check_value`]
/// refuses it with its message.
pub fn value_from_text(kind: Kind, text: &str) -> Value {
    match kind {
        Kind::Bool => match text.trim() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::from(text),
        },
        Kind::Number => serde_json::from_str::<serde_json::Number>(text.trim())
            .map(Value::Number)
            .unwrap_or_else(|_| Value::from(text)),
        _ => Value::from(text),
    }
}

/// Changes the value and visibility of an existing field, keeping its
/// type; [`Error::NotFound`] if there is no field of that name.
pub fn change_field(
    kv: &dyn Kv,
    account_id: &str,
    name: &str,
    value: &Value,
    visibility: Visibility,
) -> Result<()> {
    check_name(name)?;
    update(kv, account_id, |p| {
        let field = p
            .fields
            .get_mut(name)
            .ok_or(Error::NotFound("profile field"))?;
        field.value = check_value(field.kind, value)?;
        field.visibility = visibility;
        Ok(())
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryKv;
    use serde_json::json;

    fn field(kind: Kind, value: Value, visibility: Visibility) -> Field {
        Field {
            value,
            kind,
            visibility,
        }
    }

    #[test]
    fn values_are_checked_against_their_type() {
        let ok = [
            (Kind::Text, json!("Hello\nworld")),
            (Kind::Email, json!("Jo@Example.ORG")),
            (Kind::Url, json!("https://example.org/a b")),
            (Kind::Date, json!("2024-02-29")),
            (Kind::Bool, json!(false)),
            (Kind::Number, json!(-3.5)),
        ];
        for (kind, value) in ok {
            assert!(check_value(kind, &value).is_ok(), "{kind:?} {value}");
        }
        let bad = [
            (Kind::Text, json!(5)),
            (Kind::Text, json!("bell\u{7}")),
            (Kind::Email, json!("not an address")),
            (Kind::Url, json!("javascript:alert(1)")),
            (Kind::Url, json!("ftp://example.org/")),
            (Kind::Date, json!("2023-02-29")),
            (Kind::Bool, json!("true")),
            (Kind::Number, json!("5")),
            (Kind::Text, json!("x".repeat(MAX_VALUE_BYTES))),
        ];
        for (kind, value) in bad {
            assert!(check_value(kind, &value).is_err(), "{kind:?} accepted");
        }
        assert_eq!(
            check_value(Kind::Email, &json!("Jo@Example.ORG")).ok(),
            Some(json!("Jo@example.org"))
        );
    }

    #[test]
    fn form_text_becomes_the_value_of_its_type() {
        assert_eq!(value_from_text(Kind::Bool, "true"), json!(true));
        assert_eq!(value_from_text(Kind::Number, " -3.5 "), json!(-3.5));
        assert_eq!(value_from_text(Kind::Number, "five"), json!("five"));
        assert_eq!(value_from_text(Kind::Text, "42"), json!("42"));
        assert!(check_value(Kind::Number, &value_from_text(Kind::Number, "five")).is_err());
        assert!(check_value(Kind::Bool, &value_from_text(Kind::Bool, "yes")).is_err());
    }

    #[test]
    fn a_change_keeps_the_type_and_needs_the_field() -> Result<()> {
        let kv = MemoryKv::new();
        create(&kv, "id1")?;
        put_field(
            &kv,
            "id1",
            "born",
            field(Kind::Date, json!("2000-01-01"), Visibility::Private),
        )?;
        change_field(&kv, "id1", "born", &json!("2001-02-03"), Visibility::Public)?;
        let f = get(&kv, "id1")?.fields.get("born").cloned();
        assert_eq!(
            f,
            Some(field(Kind::Date, json!("2001-02-03"), Visibility::Public))
        );
        let before = kv.values();
        let bad = change_field(&kv, "id1", "born", &json!("soon"), Visibility::Private);
        assert!(matches!(bad, Err(Error::Invalid { .. })));
        let missing = change_field(&kv, "id1", "nope", &json!("x"), Visibility::Private);
        assert!(matches!(missing, Err(Error::NotFound(_))));
        assert_eq!(kv.values(), before);
        Ok(())
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("name").is_ok() && check_name("a.b_c-1").is_ok());
        assert!(check_name(&"a".repeat(64)).is_ok());
        for bad in ["", "Name", "1st", "a b", "a/b", &"a".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn visibility_decides_who_sees_a_field() -> Result<()> {
        let kv = MemoryKv::new();
        create(&kv, "id1")?;
        put_field(
            &kv,
            "id1",
            "a",
            field(Kind::Text, json!("x"), Visibility::Public),
        )?;
        put_field(
            &kv,
            "id1",
            "b",
            field(Kind::Text, json!("y"), Visibility::Protected),
        )?;
        put_field(
            &kv,
            "id1",
            "c",
            field(Kind::Text, json!("z"), Visibility::Private),
        )?;
        let p = get(&kv, "id1")?;
        let anon: Vec<String> = p.visible_to(Viewer::Anonymous).into_keys().collect();
        let member: Vec<String> = p.visible_to(Viewer::Member).into_keys().collect();
        assert_eq!(anon, ["a"]);
        assert_eq!(member, ["a", "b"]);
        Ok(())
    }

    #[test]
    fn at_most_fifty_fields_and_a_refused_change_writes_nothing() -> Result<()> {
        let kv = MemoryKv::new();
        create(&kv, "id1")?;
        for i in 0..MAX_FIELDS {
            let new = put_field(
                &kv,
                "id1",
                &format!("f{i}"),
                field(Kind::Number, json!(i), Visibility::Private),
            )?;
            assert!(new);
        }
        let before = kv.values();
        let more = put_field(
            &kv,
            "id1",
            "one-more",
            field(Kind::Bool, json!(true), Visibility::Public),
        );
        assert!(matches!(
            more,
            Err(Error::Invalid {
                code: "too_many_fields",
                ..
            })
        ));
        assert_eq!(kv.values(), before);
        // replacing an existing field is still allowed
        assert!(!put_field(
            &kv,
            "id1",
            "f0",
            field(Kind::Bool, json!(true), Visibility::Public)
        )?);
        assert!(matches!(
            delete_field(&kv, "id1", "nope"),
            Err(Error::NotFound(_))
        ));
        delete_field(&kv, "id1", "f0")?;
        assert_eq!(get(&kv, "id1")?.fields.len(), MAX_FIELDS - 1);
        Ok(())
    }

    #[test]
    fn only_a_shared_text_name_is_a_display_name() {
        let mut p = Profile::default();
        p.fields.insert(
            NAME_FIELD.into(),
            field(Kind::Text, json!("Alice A."), Visibility::Private),
        );
        assert_eq!(p.display_name(), None);
        if let Some(f) = p.fields.get_mut(NAME_FIELD) {
            f.visibility = Visibility::Protected;
        }
        assert_eq!(p.display_name(), Some("Alice A."));
        if let Some(f) = p.fields.get_mut(NAME_FIELD) {
            f.value = json!(5);
        }
        assert_eq!(p.display_name(), None);
    }
}
