//! The part of Spin's application manifest (`spin.toml`, manifest version 2)
//! that this host understands.
//!
//! Fields the host does not use are ignored, as long as the manifest still
//! parses; anything the host cannot honour (a component source given as a
//! URL, an inline component, a non-string route) is an error, so a test
//! never runs against an app that Spin would run differently.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;

use crate::variables::{Template, VariableDecl};

/// A parsed and checked `spin.toml`.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The directory that holds the manifest; relative paths start here.
    pub root: PathBuf,
    /// The application name from `[application]`.
    pub name: String,
    /// Application variables from `[variables]`, by name.
    pub variables: BTreeMap<String, VariableDecl>,
    /// The `[[trigger.http]]` entries in manifest order.
    pub http_triggers: Vec<HttpTrigger>,
    /// Components from `[component.<id>]`, by id.
    pub components: BTreeMap<String, ComponentDecl>,
}

/// One `[[trigger.http]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTrigger {
    /// The route as written; `None` for `route = { private = true }`.
    pub route: Option<String>,
    /// The id of the component that serves the route.
    pub component: String,
}

/// One `[component.<id>]` table.
#[derive(Debug, Clone)]
pub struct ComponentDecl {
    /// The component id (the table name).
    pub id: String,
    /// Path of the `.wasm` file, relative to the manifest directory.
    pub source: PathBuf,
    /// Store labels the component may open.
    pub key_value_stores: Vec<String>,
    /// Outbound host patterns, possibly with `{{ variable }}` templates.
    pub allowed_outbound_hosts: Vec<String>,
    /// Component variables: name to template over application variables.
    pub variables: BTreeMap<String, Template>,
    /// Environment variables the component's WASI environment holds.
    pub environment: BTreeMap<String, String>,
    /// The `[component.<id>.build]` table, if any.
    pub build: Option<BuildDecl>,
}

/// A `[component.<id>.build]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildDecl {
    /// The shell command `spin build` runs.
    pub command: String,
    /// Directory to run it in, relative to the manifest directory.
    pub workdir: Option<PathBuf>,
}

impl Manifest {
    /// Reads and checks the manifest at `path`.
    pub fn load(path: &Path) -> anyhow::Result<Manifest> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading manifest {}", path.display()))?;
        let root = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let root = if root.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            root
        };
        Manifest::parse(&text, root).with_context(|| format!("in manifest {}", path.display()))
    }

    /// Parses manifest text; `root` is the directory relative paths start from.
    pub fn parse(text: &str, root: PathBuf) -> anyhow::Result<Manifest> {
        let raw: RawManifest = toml::from_str(text)?;
        if raw.spin_manifest_version != 2 {
            bail!(
                "spin_manifest_version {} is not supported, only 2",
                raw.spin_manifest_version
            );
        }

        let mut variables = BTreeMap::new();
        for (name, raw_var) in raw.variables {
            crate::variables::validate_name(&name)
                .with_context(|| format!("application variable {name:?}"))?;
            let decl = match (raw_var.default, raw_var.required) {
                (Some(_), true) => bail!("variable {name:?} is both required and has a default"),
                (None, false) => bail!("variable {name:?} needs a default or required = true"),
                (default, _) => VariableDecl {
                    default,
                    secret: raw_var.secret,
                },
            };
            variables.insert(name, decl);
        }

        let mut components = BTreeMap::new();
        for (id, raw_comp) in raw.component {
            let source = match raw_comp.source {
                RawSource::Path(p) => PathBuf::from(p),
                RawSource::Other(_) => {
                    bail!("component {id:?}: only a local file path is supported as source")
                }
            };
            let mut comp_vars = BTreeMap::new();
            for (name, text) in raw_comp.variables {
                crate::variables::validate_name(&name)
                    .with_context(|| format!("component {id:?} variable {name:?}"))?;
                let template = Template::parse(&text)
                    .with_context(|| format!("component {id:?} variable {name:?}"))?;
                for var in template.references() {
                    if !variables.contains_key(var) {
                        bail!("component {id:?} variable {name:?} uses unknown variable {var:?}");
                    }
                }
                comp_vars.insert(name, template);
            }
            if raw_comp.files.is_some() {
                bail!("component {id:?}: `files` is not supported by this host");
            }
            if raw_comp.dependencies.is_some() {
                bail!("component {id:?}: `dependencies` is not supported by this host");
            }
            for host in &raw_comp.allowed_outbound_hosts {
                let template = Template::parse(host)
                    .with_context(|| format!("component {id:?} allowed_outbound_hosts"))?;
                for var in template.references() {
                    if !variables.contains_key(var) {
                        bail!(
                            "component {id:?} allowed_outbound_hosts uses unknown variable {var:?}"
                        );
                    }
                }
            }
            components.insert(
                id.clone(),
                ComponentDecl {
                    id,
                    source,
                    key_value_stores: raw_comp.key_value_stores,
                    allowed_outbound_hosts: raw_comp.allowed_outbound_hosts,
                    variables: comp_vars,
                    environment: raw_comp.environment,
                    build: raw_comp.build.map(|b| BuildDecl {
                        command: b.command,
                        workdir: b.workdir.map(PathBuf::from),
                    }),
                },
            );
        }

        let mut http_triggers = Vec::new();
        for (index, trigger) in raw.trigger.http.into_iter().enumerate() {
            let component = match trigger.component {
                Some(RawComponentRef::Id(id)) => id,
                Some(RawComponentRef::Inline(_)) => {
                    bail!("trigger.http #{index}: inline components are not supported")
                }
                None => bail!(
                    "trigger.http #{index}: no component (static responses are not supported)"
                ),
            };
            if !components.contains_key(&component) {
                bail!("trigger.http #{index}: unknown component {component:?}");
            }
            let route = match trigger.route {
                RawRoute::Path(path) => Some(path),
                RawRoute::Private { private: true } => None,
                RawRoute::Private { private: false } => {
                    bail!("trigger.http #{index}: route must be a path or {{ private = true }}")
                }
            };
            http_triggers.push(HttpTrigger { route, component });
        }

        Ok(Manifest {
            root,
            name: raw.application.name,
            variables,
            http_triggers,
            components,
        })
    }

    /// Checks what `spin up --runtime-config-file <path>` checks for stores:
    /// every store label a component declares, other than `default`, must
    /// be configured there, or Spin refuses to start.
    pub fn check_runtime_config(&self, path: &Path) -> anyhow::Result<()> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading runtime config {}", path.display()))?;
        let config: RawRuntimeConfig =
            toml::from_str(&text).with_context(|| format!("in {}", path.display()))?;
        for component in self.components.values() {
            for label in &component.key_value_stores {
                if label != "default" && !config.key_value_store.contains_key(label) {
                    bail!(
                        "component {:?} uses store {label:?}, which {} does not configure",
                        component.id,
                        path.display()
                    );
                }
            }
        }
        Ok(())
    }

    /// The absolute or manifest-relative path of a component's `.wasm` file.
    pub fn source_path(&self, component: &ComponentDecl) -> PathBuf {
        self.root.join(&component.source)
    }
}

#[derive(Deserialize)]
struct RawManifest {
    spin_manifest_version: u32,
    application: RawApplication,
    #[serde(default)]
    variables: BTreeMap<String, RawVariable>,
    #[serde(default)]
    trigger: RawTriggers,
    #[serde(default)]
    component: BTreeMap<String, RawComponent>,
}

#[derive(Deserialize)]
struct RawRuntimeConfig {
    #[serde(default)]
    key_value_store: BTreeMap<String, toml::Table>,
}

#[derive(Deserialize)]
struct RawApplication {
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariable {
    default: Option<String>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    secret: bool,
    #[serde(default, rename = "description")]
    _description: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawTriggers {
    #[serde(default)]
    http: Vec<RawHttpTrigger>,
}

#[derive(Deserialize)]
struct RawHttpTrigger {
    route: RawRoute,
    component: Option<RawComponentRef>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRoute {
    Path(String),
    Private { private: bool },
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawComponentRef {
    Id(String),
    Inline(serde::de::IgnoredAny),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawSource {
    Path(String),
    Other(serde::de::IgnoredAny),
}

#[derive(Deserialize)]
struct RawComponent {
    source: RawSource,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    files: Option<serde::de::IgnoredAny>,
    dependencies: Option<serde::de::IgnoredAny>,
    build: Option<RawBuild>,
}

#[derive(Deserialize)]
struct RawBuild {
    command: String,
    workdir: Option<String>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
spin_manifest_version = 2

[application]
name = "demo"

[variables]
issuer = { default = "http://127.0.0.1:3000" }
token = { required = true, secret = true }

[[trigger.http]]
route = "/api/..."
component = "api"

[[trigger.http]]
route = { private = true }
component = "api"

[component.api]
source = "target/api.wasm"
key_value_stores = ["accounts"]
allowed_outbound_hosts = ["{{ issuer }}"]
[component.api.variables]
issuer = "{{ issuer }}/x"
[component.api.build]
command = "cargo build"
watch = ["src/**/*.rs"]
"#;

    #[test]
    fn parses_variables_routes_and_components() {
        let m = Manifest::parse(SAMPLE, PathBuf::from("/app")).unwrap();
        assert_eq!(m.name, "demo");
        assert_eq!(
            m.variables["issuer"].default.as_deref(),
            Some("http://127.0.0.1:3000")
        );
        assert!(m.variables["token"].secret);
        assert_eq!(m.http_triggers.len(), 2);
        assert_eq!(m.http_triggers[0].route.as_deref(), Some("/api/..."));
        assert_eq!(m.http_triggers[1].route, None);
        let api = &m.components["api"];
        assert_eq!(api.key_value_stores, vec!["accounts".to_string()]);
        assert_eq!(api.build.as_ref().unwrap().command, "cargo build");
        assert_eq!(m.source_path(api), PathBuf::from("/app/target/api.wasm"));
    }

    #[test]
    fn environment_is_read_and_files_are_refused() {
        let text = SAMPLE.replace(
            "key_value_stores = [\"accounts\"]",
            "key_value_stores = [\"accounts\"]\nenvironment = { RUST_LOG = \"info\" }",
        );
        let m = Manifest::parse(&text, PathBuf::from(".")).unwrap();
        assert_eq!(m.components["api"].environment["RUST_LOG"], "info");
        let text = SAMPLE.replace(
            "key_value_stores = [\"accounts\"]",
            "key_value_stores = [\"accounts\"]\nfiles = [\"static/**\"]",
        );
        assert!(Manifest::parse(&text, PathBuf::from(".")).is_err());
    }

    #[test]
    fn unknown_template_variable_is_rejected() {
        let text = SAMPLE.replace("{{ issuer }}/x", "{{ nope }}");
        assert!(Manifest::parse(&text, PathBuf::from(".")).is_err());
    }

    #[test]
    fn variable_needs_default_or_required() {
        let text = SAMPLE.replace("{ required = true, secret = true }", "{ secret = true }");
        assert!(Manifest::parse(&text, PathBuf::from(".")).is_err());
    }

    #[test]
    fn the_project_manifest_parses() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let m = Manifest::load(&root.join("spin.toml")).unwrap();
        assert!(m.components.contains_key("register"));
    }

    #[test]
    fn every_store_of_the_project_is_in_both_runtime_configs() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let m = Manifest::load(&root.join("spin.toml")).unwrap();
        for config in ["runtime-config.toml", "runtime-config.redis.toml"] {
            m.check_runtime_config(&root.join(config)).unwrap();
        }
    }

    #[test]
    fn a_store_missing_from_the_runtime_config_is_reported() {
        let m = Manifest::parse(SAMPLE, PathBuf::from(".")).unwrap();
        let dir = std::env::temp_dir().join(format!("ausweis-rc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("rc.toml");
        std::fs::write(&path, "[key_value_store.other]\ntype = \"spin\"\n").unwrap();
        assert!(m.check_runtime_config(&path).is_err());
        std::fs::write(&path, "[key_value_store.accounts]\ntype = \"spin\"\n").unwrap();
        m.check_runtime_config(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
