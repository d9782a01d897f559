//! Reading JSON request bodies strictly: the right content type, an object,
//! only known fields, each of the right type and size. Messages name the
//! field but never echo its value.

use ausweis::{Error, Result};
use http::header;
use serde_json::{Map, Value};

use crate::Request;

/// A parsed JSON object body.
#[derive(Debug)]
pub struct Fields(Map<String, Value>);

/// Parses the body as a JSON object with only the `allowed` fields.
pub fn json_object(req: &Request, allowed: &[&str]) -> Result<Fields> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(Error::invalid(
            "unsupported_content_type",
            "send the body as Content-Type: application/json",
        ));
    }
    if req.body().len() > crate::MAX_BODY {
        return Err(Error::invalid(
            "body_too_large",
            "request body is too large",
        ));
    }
    let value: Value = serde_json::from_slice(req.body())
        .map_err(|_| Error::invalid("malformed_json", "request body is not valid JSON"))?;
    let Value::Object(map) = value else {
        return Err(Error::invalid(
            "malformed_json",
            "request body must be a JSON object",
        ));
    };
    if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        let shown: String = unknown.chars().take(40).collect();
        return Err(Error::invalid(
            "unknown_field",
            format!("unknown field `{shown}`; allowed: {}", allowed.join(", ")),
        ));
    }
    Ok(Fields(map))
}

impl Fields {
    /// The raw value of a field; `None` if it is absent or `null`.
    pub fn value(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    /// A required string of at most `max` bytes.
    pub fn required(&self, name: &str, max: usize) -> Result<String> {
        self.optional(name, max)?
            .ok_or_else(|| Error::invalid("missing_field", format!("field `{name}` is required")))
    }

    /// An optional string of at most `max` bytes; `null` and `""` count as absent.
    pub fn optional(&self, name: &str, max: usize) -> Result<Option<String>> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) if s.len() > max => Err(Error::invalid(
                "invalid_field",
                format!("field `{name}` must be at most {max} bytes"),
            )),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(Error::invalid(
                "invalid_field",
                format!("field `{name}` must be a string"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(ct: &str, body: &str) -> Request {
        let mut r = Request::new(body.as_bytes().to_vec());
        if let Ok(v) = ct.parse() {
            r.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        r
    }

    fn code(r: Result<Fields>) -> &'static str {
        match r {
            Err(Error::Invalid { code, .. }) => code,
            _ => "ok",
        }
    }

    #[test]
    fn bodies_are_checked_strictly() {
        assert_eq!(
            code(json_object(&req("text/plain", "{}"), &[])),
            "unsupported_content_type"
        );
        assert_eq!(
            code(json_object(&req("application/json", "{"), &[])),
            "malformed_json"
        );
        assert_eq!(
            code(json_object(&req("application/json", "[]"), &[])),
            "malformed_json"
        );
        assert_eq!(
            code(json_object(&req("application/json", r#"{"x":1}"#), &["a"])),
            "unknown_field"
        );
        assert_eq!(
            code(json_object(
                &req("application/json; charset=utf-8", r#"{"a":"b"}"#),
                &["a"]
            )),
            "ok"
        );
    }

    #[test]
    fn field_types_and_sizes_are_checked_without_echoing_values() -> Result<()> {
        let f = json_object(
            &req(
                "application/json",
                r#"{"a": 5, "b": "secret-value", "c": ""}"#,
            ),
            &["a", "b", "c"],
        )?;
        let err = f
            .required("a", 10)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("must be a string") && !err.contains('5'));
        let err = f
            .required("b", 3)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(!err.contains("secret-value"));
        assert!(f.optional("c", 10)?.is_none());
        assert!(f.required("d", 10).is_err());
        Ok(())
    }
}
