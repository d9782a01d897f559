//! Spin variables: application variables with defaults, component variables
//! as templates over them, and the `fermyon:spin/variables` lookup.
//!
//! An application variable's value is, first found wins: an explicit
//! override from the test or `serve` API, the environment variable
//! `SPIN_VARIABLE_<NAME IN UPPER CASE>`, the manifest default. A required
//! variable with none of these is an error when something reads it, as in
//! Spin's resolver.

use std::collections::{BTreeMap, HashMap};

use anyhow::bail;

/// A `[variables]` entry of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableDecl {
    /// The default; `None` means the variable is required.
    pub default: Option<String>,
    /// Marked secret in the manifest (the host never prints values anyway).
    pub secret: bool,
}

/// Why a variable could not be read; mirrors the WIT `error` variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VariableError {
    /// The name is not a valid variable name.
    InvalidName(String),
    /// The component declares no such variable.
    Undefined(String),
    /// A required application variable has no value.
    Provider(String),
}

impl std::fmt::Display for VariableError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VariableError::InvalidName(m) => write!(f, "invalid variable name: {m}"),
            VariableError::Undefined(m) => write!(f, "undefined variable: {m}"),
            VariableError::Provider(m) => write!(f, "provider error: {m}"),
        }
    }
}

impl std::error::Error for VariableError {}

/// Checks a variable name the way Spin does: lower-case ASCII letters,
/// digits and single underscores, starting with a letter and ending with a
/// letter or digit.
pub fn validate_name(name: &str) -> anyhow::Result<()> {
    let bytes = name.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        bail!("must not be empty");
    };
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        bail!("{name:?}: character {bad:?} is not allowed");
    }
    if !first.is_ascii_lowercase() {
        bail!("{name:?}: must start with a lower-case letter");
    }
    if !last.is_ascii_alphanumeric() {
        bail!("{name:?}: must end with a letter or digit");
    }
    if name.contains("__") {
        bail!("{name:?}: must not contain two underscores in a row");
    }
    Ok(())
}

/// A string with `{{ name }}` references to application variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Variable(String),
}

impl Template {
    /// Parses `text`; an unclosed `{{` or an invalid name inside is an error.
    pub fn parse(text: &str) -> anyhow::Result<Template> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Literal(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                bail!("unclosed '{{{{' in template");
            };
            let name = after[..end].trim();
            validate_name(name)?;
            parts.push(Part::Variable(name.to_string()));
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        Ok(Template { parts })
    }

    /// The variable names the template refers to.
    pub fn references(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Variable(name) => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// Fills in the template with application variable values.
    pub fn render(&self, vars: &AppVariables) -> Result<String, VariableError> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Variable(name) => out.push_str(&vars.value(name)?),
            }
        }
        Ok(out)
    }
}

/// Where the values of application variables come from.
#[derive(Debug, Clone, Default)]
pub struct AppVariables {
    decls: BTreeMap<String, VariableDecl>,
    overrides: HashMap<String, String>,
    environment: HashMap<String, String>,
}

impl AppVariables {
    /// Values from `overrides`, then the process environment, then defaults.
    pub fn new(
        decls: BTreeMap<String, VariableDecl>,
        overrides: HashMap<String, String>,
    ) -> AppVariables {
        let environment = decls
            .keys()
            .filter_map(|name| {
                let env_name = format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase());
                std::env::var(env_name).ok().map(|v| (name.clone(), v))
            })
            .collect();
        AppVariables {
            decls,
            overrides,
            environment,
        }
    }

    /// Like [`AppVariables::new`], with the environment given explicitly
    /// (by variable name, not by `SPIN_VARIABLE_` name) for tests.
    pub fn with_environment(
        decls: BTreeMap<String, VariableDecl>,
        overrides: HashMap<String, String>,
        environment: HashMap<String, String>,
    ) -> AppVariables {
        AppVariables {
            decls,
            overrides,
            environment,
        }
    }

    /// Checks that every override names a declared variable.
    pub fn check_overrides(&self) -> anyhow::Result<()> {
        for name in self.overrides.keys() {
            if !self.decls.contains_key(name) {
                bail!("variable override {name:?} is not declared in the manifest");
            }
        }
        Ok(())
    }

    /// The value of application variable `name`.
    pub fn value(&self, name: &str) -> Result<String, VariableError> {
        let Some(decl) = self.decls.get(name) else {
            return Err(VariableError::InvalidName(name.to_string()));
        };
        if let Some(v) = self.overrides.get(name) {
            return Ok(v.clone());
        }
        if let Some(v) = self.environment.get(name) {
            return Ok(v.clone());
        }
        decl.default.clone().ok_or_else(|| {
            VariableError::Provider(format!("no value for required variable {name:?}"))
        })
    }
}

/// What `fermyon:spin/variables.get` answers for one component.
pub fn component_get(
    component: &str,
    templates: &BTreeMap<String, Template>,
    vars: &AppVariables,
    name: &str,
) -> Result<String, VariableError> {
    validate_name(name).map_err(|e| VariableError::InvalidName(format!("{e:#}")))?;
    let template = templates.get(name).ok_or_else(|| {
        VariableError::Undefined(format!("no variable {name:?} for component {component:?}"))
    })?;
    template.render(vars)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    fn decls() -> BTreeMap<String, VariableDecl> {
        let mut d = BTreeMap::new();
        d.insert(
            "issuer".to_string(),
            VariableDecl {
                default: Some("http://default".to_string()),
                secret: false,
            },
        );
        d.insert(
            "token".to_string(),
            VariableDecl {
                default: None,
                secret: true,
            },
        );
        d
    }

    fn templates() -> BTreeMap<String, Template> {
        let mut t = BTreeMap::new();
        t.insert(
            "url".to_string(),
            Template::parse("{{ issuer }}/x?{{token}}").unwrap(),
        );
        t.insert("plain".to_string(), Template::parse("fixed").unwrap());
        t
    }

    #[test]
    fn override_beats_environment_beats_default() {
        let env: HashMap<_, _> = [("issuer".to_string(), "http://env".to_string())].into();
        let over: HashMap<_, _> = [("issuer".to_string(), "http://over".to_string())].into();
        let v = AppVariables::with_environment(decls(), over, env.clone());
        assert_eq!(v.value("issuer").unwrap(), "http://over");
        let v = AppVariables::with_environment(decls(), HashMap::new(), env);
        assert_eq!(v.value("issuer").unwrap(), "http://env");
        let v = AppVariables::with_environment(decls(), HashMap::new(), HashMap::new());
        assert_eq!(v.value("issuer").unwrap(), "http://default");
    }

    #[test]
    fn required_variable_without_value_is_a_provider_error() {
        let v = AppVariables::with_environment(decls(), HashMap::new(), HashMap::new());
        let err = component_get("c", &templates(), &v, "url").unwrap_err();
        assert!(matches!(err, VariableError::Provider(_)), "{err:?}");
    }

    #[test]
    fn component_templates_render_against_app_variables() {
        let over: HashMap<_, _> = [("token".to_string(), "t0k".to_string())].into();
        let v = AppVariables::with_environment(decls(), over, HashMap::new());
        assert_eq!(
            component_get("c", &templates(), &v, "url").unwrap(),
            "http://default/x?t0k"
        );
        assert_eq!(
            component_get("c", &templates(), &v, "plain").unwrap(),
            "fixed"
        );
    }

    #[test]
    fn undeclared_and_invalid_names_are_told_apart() {
        let v = AppVariables::with_environment(decls(), HashMap::new(), HashMap::new());
        assert!(matches!(
            component_get("c", &templates(), &v, "issuer"),
            Err(VariableError::Undefined(_))
        ));
        for bad in ["", "Upper", "1x", "a__b", "x_", "a-b"] {
            assert!(matches!(
                component_get("c", &templates(), &v, bad),
                Err(VariableError::InvalidName(_))
            ));
        }
    }

    #[test]
    fn unclosed_template_is_rejected() {
        assert!(Template::parse("{{ issuer").is_err());
        assert!(Template::parse("{{ Bad }}").is_err());
    }
}
