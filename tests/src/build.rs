//! `spin build`: run each component's build command from the manifest.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context};

use crate::app::manifest_path;
use crate::manifest::Manifest;

/// Runs the `[component.<id>.build] command` of every component, in the
/// manifest's directory (or the component's `workdir`), one after another,
/// as `spin build` does. A failing command fails the whole build with its
/// output. Cargo makes this cheap when nothing changed.
///
/// `root` is the directory holding `spin.toml` or the manifest file itself.
pub fn build_components(root: &Path) -> anyhow::Result<()> {
    let manifest = Manifest::load(&manifest_path(root))?;
    for component in manifest.components.values() {
        let Some(build) = &component.build else {
            continue;
        };
        let dir = match &build.workdir {
            Some(workdir) => manifest.root.join(workdir),
            None => manifest.root.clone(),
        };
        let output = Command::new("sh")
            .arg("-c")
            .arg(&build.command)
            .current_dir(&dir)
            .output()
            .with_context(|| format!("running the build command of {:?}", component.id))?;
        if !output.status.success() {
            bail!(
                "building component {:?} with `{}` failed ({}):\n{}{}",
                component.id,
                build.command,
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
            );
        }
    }
    Ok(())
}
