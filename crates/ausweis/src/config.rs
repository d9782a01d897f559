//! Configuration values read from Spin variables, validated once.

use crate::{Error, Result};

/// Where configuration comes from (Spin variables in the components).
pub trait Vars {
    /// The value of a variable; `None` if it is not defined for the caller.
    fn get(&self, name: &str) -> Option<String>;
}

impl Vars for std::collections::HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        std::collections::HashMap::get(self, name).cloned()
    }
}

/// Reads a required variable as a number within `range`.
pub fn number(vars: &dyn Vars, name: &str, range: std::ops::RangeInclusive<u64>) -> Result<u64> {
    let raw = vars
        .get(name)
        .ok_or_else(|| Error::Config(format!("variable {name} is not set")))?;
    let value: u64 = raw
        .trim()
        .parse()
        .map_err(|_| Error::Config(format!("variable {name} is not a number")))?;
    if !range.contains(&value) {
        return Err(Error::Config(format!(
            "variable {name} must be in {}..={}",
            range.start(),
            range.end()
        )));
    }
    Ok(value)
}

/// Reads a required, non-empty text variable.
pub fn text(vars: &dyn Vars, name: &str) -> Result<String> {
    match vars.get(name) {
        Some(v) if !v.trim().is_empty() => Ok(v.trim().to_owned()),
        _ => Err(Error::Config(format!("variable {name} is not set"))),
    }
}
