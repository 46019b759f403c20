//! The step registry: the one place where step names map to implementations.
//!
//! Each entry is a factory from configuration to a ready step that holds its
//! compiled settings (Vector's config → component pattern): `Generation::build`
//! calls the factory of every step a route names, once per generation, so
//! boot, SIGHUP and `pasarela validate` compile every rules file a step needs
//! and report every problem at once. No step reads configuration files while
//! it runs.
//!
//! To add a capability, write `steps/<name>.rs` with the step and its factory
//! and add one line to [`REGISTRY`]; routes in config can then name it. The
//! runner never changes.

pub mod certify;
mod classify;
mod dian_validate;
mod events;
mod excel_rows;
mod hold_for_review;
mod image_ocr;
pub mod notes;
mod pdf_extract;
pub mod price;
mod reading;
mod reconcile;
mod reject_unsupported;

use std::cell::OnceCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Step;
use crate::config::{Config, ConfigError};
use crate::dian::DianSettings;
use crate::formats::excel::{self, Layout};
use crate::formats::read::FormatsSettings;

/// What a step factory gets: the configuration and the rule sets compiled
/// for this generation so far. Rule sets several steps share (DIAN settings,
/// formats settings, Excel layouts, registration rules) are compiled on the
/// first request and handed out again after, so a broken file is reported
/// once however many routes name a step that needs it.
pub struct BuildContext<'a> {
    pub config: &'a Arc<Config>,
    dian: OnceCell<Compiled<DianSettings>>,
    formats: OnceCell<Compiled<FormatsSettings>>,
    layouts: OnceCell<Compiled<Vec<Layout>>>,
    registration: OnceCell<Compiled<price::Registration>>,
}

/// A compiled rule set, or every problem found in its files.
type Compiled<T> = Result<Arc<T>, Vec<ConfigError>>;

impl<'a> BuildContext<'a> {
    pub fn new(config: &'a Arc<Config>) -> BuildContext<'a> {
        BuildContext {
            config,
            dian: OnceCell::new(),
            formats: OnceCell::new(),
            layouts: OnceCell::new(),
            registration: OnceCell::new(),
        }
    }

    /// `[dian] rules`, or the built-in defaults when it is not set.
    pub fn dian(&self) -> Compiled<DianSettings> {
        self.dian
            .get_or_init(|| match &self.config.dian.rules {
                Some(path) => crate::dian::load_settings(path).and_then(|mut s| {
                    crate::pipeline::trust::load(&mut s, path)?;
                    Ok(Arc::new(s))
                }),
                None => Ok(Arc::new(DianSettings::default())),
            })
            .clone()
    }

    /// `rules/formats.toml` under the configuration's base directory (the
    /// defaults when the file does not exist).
    pub fn formats(&self) -> Compiled<FormatsSettings> {
        self.formats
            .get_or_init(|| {
                FormatsSettings::load(&formats_settings_path(self.config)).map(Arc::new)
            })
            .clone()
    }

    /// The Excel layouts in `rules/excel/*.toml` under the configuration's
    /// base directory (the built-in layouts when the folder does not exist).
    pub fn layouts(&self) -> Compiled<Vec<Layout>> {
        self.layouts
            .get_or_init(|| excel::load_layouts(&layouts_dir(self.config)).map(Arc::new))
            .clone()
    }

    /// The catalog configuration and commission rules of `[registration] rules_dir`.
    pub fn registration(&self) -> Compiled<price::Registration> {
        self.registration
            .get_or_init(|| price::Registration::load(self.config).map(Arc::new))
            .clone()
    }
}

/// `rules/formats.toml` under the configuration's base directory.
pub fn formats_settings_path(config: &Config) -> PathBuf {
    config.base_dir.join("rules").join("formats.toml")
}

/// `rules/excel/` under the configuration's base directory.
pub fn layouts_dir(config: &Config) -> PathBuf {
    config.base_dir.join("rules").join("excel")
}

/// Builds one ready step from configuration, or says why it cannot.
pub type Factory = fn(&BuildContext<'_>) -> Result<Arc<dyn Step>, Vec<ConfigError>>;

/// Every step the configuration can name.
pub const REGISTRY: &[(&str, Factory)] = &[
    ("classify", classify::build),
    ("dian-validate", dian_validate::build),
    ("price", price::build),
    ("certify", certify::build),
    ("reject-unsupported", reject_unsupported::build),
    ("hold-for-review", hold_for_review::build),
    ("pdf-extract", pdf_extract::build),
    ("image-ocr", image_ocr::build),
    ("excel-rows", excel_rows::build),
    ("require-acceptance", events::build),
];

pub fn names() -> Vec<&'static str> {
    REGISTRY.iter().map(|(n, _)| *n).collect()
}

fn factory(name: &str) -> Option<Factory> {
    REGISTRY.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// Problems with the step names of each route (`routes[i].steps[j]` in
/// `file`): names no factory answers to.
pub fn unknown_steps(file: &Path, routes: &[Vec<String>]) -> Vec<ConfigError> {
    let mut out = Vec::new();
    for (i, steps) in routes.iter().enumerate() {
        for (j, s) in steps.iter().enumerate() {
            if factory(s).is_none() {
                out.push(ConfigError::new(
                    file,
                    format!("routes[{i}].steps[{j}]"),
                    format!("no step named '{s}' (known: {})", names().join(", ")),
                ));
            }
        }
    }
    out
}

/// Unknown step names in a compiled configuration's routes.
pub fn unknown_in(config: &Config) -> Vec<ConfigError> {
    let names: Vec<Vec<String>> = config.routes.iter().map(|r| r.steps.clone()).collect();
    unknown_steps(&config.source, &names)
}

/// Build every route's steps, in order. Every problem is returned: unknown
/// step names and the problems of every rules file a named step compiles,
/// each file's problems once.
pub fn build_routes(config: &Arc<Config>) -> Result<Vec<Vec<Arc<dyn Step>>>, Vec<ConfigError>> {
    build_routes_with_dian(config).map(|(routes, _)| routes)
}

/// [`build_routes`], also giving the generation's DIAN settings (for what
/// the pipeline itself words as a DIAN rule: rule 90 on identical bytes).
pub fn build_routes_with_dian(config: &Arc<Config>) -> Result<BuiltRoutes, Vec<ConfigError>> {
    let mut problems = unknown_in(config);
    let ctx = BuildContext::new(config);
    let mut routes = Vec::with_capacity(config.routes.len());
    for route in &config.routes {
        let mut steps = Vec::with_capacity(route.steps.len());
        for name in &route.steps {
            match factory(name).map(|f| f(&ctx)) {
                Some(Ok(step)) => steps.push(step),
                Some(Err(e)) => problems.extend(e),
                None => {} // reported by unknown_steps
            }
        }
        routes.push(steps);
    }
    // A configured DIAN settings file is checked even when no route validates
    // DIAN documents (it is part of the configuration an operator wrote).
    if config.dian.rules.is_some()
        && let Err(e) = ctx.dian()
    {
        problems.extend(e);
    }
    let mut seen = Vec::new();
    problems.retain(|p| {
        let new = !seen.contains(p);
        if new {
            seen.push(p.clone());
        }
        new
    });
    if problems.iter().any(|p| !p.warning) {
        Err(problems)
    } else {
        let dian = ctx
            .dian()
            .unwrap_or_else(|_| Arc::new(DianSettings::default()));
        Ok((routes, dian))
    }
}

/// Every route's steps and the generation's DIAN settings.
pub type BuiltRoutes = (Vec<Vec<Arc<dyn Step>>>, Arc<DianSettings>);

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path, steps: &str) -> Arc<Config> {
        let path = dir.join("p.toml");
        std::fs::write(
            &path,
            format!("[accounts.a]\nhome = \"h/a\"\n[[routes]]\nname = \"r\"\nsteps = {steps}\n[[routes]]\nname = \"s\"\nsteps = [\"excel-rows\"]\n"),
        )
        .unwrap();
        Arc::new(crate::config::load_with_base(&path, dir).unwrap().0)
    }

    #[test]
    fn every_problem_once_unknown_names_and_rules_files_alike() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("rules/excel")).unwrap();
        std::fs::write(dir.path().join("rules/formats.toml"), "dpi = 1\n").unwrap();
        std::fs::write(dir.path().join("rules/excel/x.toml"), "= broken").unwrap();
        let c = config(dir.path(), "[\"clasify\", \"pdf-extract\", \"image-ocr\"]");
        let Err(errs) = build_routes(&c) else {
            panic!("built with broken rules files")
        };
        let keys: Vec<(String, String)> = errs
            .iter()
            .map(|e| {
                let file = e.file.file_name().unwrap().to_string_lossy().into_owned();
                (file, e.key.clone())
            })
            .collect();
        assert_eq!(
            keys,
            [
                ("p.toml".to_string(), "routes[0].steps[0]".to_string()),
                ("formats.toml".to_string(), "dpi".to_string()),
                ("x.toml".to_string(), String::new()),
            ],
            "{errs:?}"
        );
        assert!(errs[0].reason.contains("known: classify, dian-validate"));
    }

    #[test]
    fn good_rules_build_each_route_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(dir.path(), "[\"classify\", \"hold-for-review\"]");
        let routes = build_routes(&c).unwrap();
        let names: Vec<Vec<&str>> = routes
            .iter()
            .map(|r| r.iter().map(|s| s.name()).collect())
            .collect();
        assert_eq!(
            names,
            [vec!["classify", "hold-for-review"], vec!["excel-rows"]]
        );
    }
}
