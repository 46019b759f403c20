//! `[[routes]]`, compiled: accounts checked, globs compiled, formats typed.
//! Step names are not checked here: the step registry is their authority
//! (`pipeline::steps`, when `pipeline::Generation::build` builds the steps).

use std::collections::BTreeMap;
use std::path::Path;

use globset::{Glob, GlobMatcher};

use super::{Account, Config, raw, section};
use crate::problems::Problems;
use crate::result::Format;

/// A route: which steps run for which files. The first matching route wins.
#[derive(Debug, Clone)]
pub struct Route {
    pub name: String,
    /// Empty = every account.
    pub accounts: Vec<String>,
    /// Globs over the folder relative to `incoming/` ("" for the top level).
    pub folders: Vec<GlobMatcher>,
    /// Globs over the file name.
    pub patterns: Vec<GlobMatcher>,
    /// Empty = every format.
    pub formats: Vec<Format>,
    pub steps: Vec<String>,
}

impl Route {
    /// Does this route apply to a file? `account` is `None` for `pasarela process`.
    pub fn matches(&self, account: Option<&str>, folder: &str, name: &str, format: Format) -> bool {
        let account_ok = match account {
            Some(a) => self.accounts.is_empty() || self.accounts.iter().any(|x| x == a),
            None => true,
        };
        account_ok
            && (self.folders.is_empty() || self.folders.iter().any(|g| g.is_match(folder)))
            && (self.patterns.is_empty() || self.patterns.iter().any(|g| g.is_match(name)))
            && (self.formats.is_empty() || self.formats.contains(&format))
    }
}

impl Config {
    /// Index of the first route that applies to a file.
    pub fn route_index(
        &self,
        account: Option<&str>,
        rel_path: &str,
        format: Format,
    ) -> Option<usize> {
        let (folder, name) = match rel_path.rsplit_once('/') {
            Some((d, n)) => (d, n),
            None => ("", rel_path),
        };
        self.routes
            .iter()
            .position(|r| r.matches(account, folder, name, format))
    }
}

/// Compile the `routes` array (`None` when the file has none).
pub(super) fn compile(
    value: Option<toml::Value>,
    path: &Path,
    accounts: &BTreeMap<String, Account>,
    p: &mut Problems,
) -> Vec<Route> {
    let mut routes = Vec::new();
    match value {
        None => p.error(path, "routes", "at least one route is required"),
        Some(toml::Value::Array(items)) => {
            for (i, v) in items.into_iter().enumerate() {
                let key = format!("routes[{i}]");
                let Some(r) = section::<raw::Route>(v, path, &key, p) else {
                    continue;
                };
                if let Some(route) = compile_route(path, &key, r, accounts, p) {
                    if routes.iter().any(|x: &Route| x.name == route.name) {
                        p.error(
                            path,
                            format!("{key}.name"),
                            format!("route name '{}' is used twice", route.name),
                        );
                    }
                    routes.push(route);
                }
            }
        }
        Some(_) => p.error(path, "routes", "must be an array of tables ([[routes]])"),
    }
    if !routes.is_empty()
        && !routes.iter().any(|r| {
            r.accounts.is_empty()
                && r.folders.is_empty()
                && r.patterns.is_empty()
                && r.formats.is_empty()
        })
    {
        p.warn(
            path,
            "routes",
            "no catch-all route: files no route matches are rejected with PAS81",
        );
    }
    routes
}

/// The step names of each `[[routes]]` entry as written, read leniently
/// (whatever else is wrong with the file): `validate` reports unknown step
/// names beside the configuration's other problems, though only the step
/// registry can tell them (`pipeline::steps::unknown_steps`).
pub fn route_step_names(path: &Path) -> Vec<Vec<String>> {
    let Some(table) = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
    else {
        return Vec::new();
    };
    let Some(toml::Value::Array(routes)) = table.get("routes") else {
        return Vec::new();
    };
    routes
        .iter()
        .map(|r| match r.get("steps") {
            Some(toml::Value::Array(steps)) => steps
                .iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        })
        .collect()
}

fn compile_route(
    path: &Path,
    key: &str,
    r: raw::Route,
    accounts: &BTreeMap<String, Account>,
    p: &mut Problems,
) -> Option<Route> {
    let mut ok = true;
    if r.name.trim().is_empty() {
        p.error(path, format!("{key}.name"), "must not be empty");
        ok = false;
    }
    for (i, a) in r.accounts.iter().enumerate() {
        if !accounts.contains_key(a) {
            p.error(
                path,
                format!("{key}.accounts[{i}]"),
                format!("no account named '{a}'"),
            );
            ok = false;
        }
    }
    let mut globs = |list: &[String], field: &str| -> Vec<GlobMatcher> {
        let mut out = Vec::new();
        for (i, g) in list.iter().enumerate() {
            match Glob::new(g) {
                Ok(g) => out.push(g.compile_matcher()),
                Err(e) => {
                    p.error(
                        path,
                        format!("{key}.{field}[{i}]"),
                        format!("bad glob: {e}"),
                    );
                    ok = false;
                }
            }
        }
        out
    };
    let folders = globs(&r.folders, "folders");
    let patterns = globs(&r.patterns, "patterns");
    let mut formats = Vec::new();
    for (i, f) in r.formats.iter().enumerate() {
        match Format::parse(f) {
            Some(f) => formats.push(f),
            None => {
                p.error(
                    path,
                    format!("{key}.formats[{i}]"),
                    format!("'{f}' is not one of: xml, pdf, image, excel, unknown"),
                );
                ok = false;
            }
        }
    }
    if r.steps.is_empty() {
        p.error(
            path,
            format!("{key}.steps"),
            "a route needs at least one step",
        );
        ok = false;
    }
    // Step names are checked where steps are built (`pipeline::Generation::build`):
    // the step factories are the authority.
    ok.then_some(Route {
        name: r.name,
        accounts: r.accounts,
        folders,
        patterns,
        formats,
        steps: r.steps,
    })
}
