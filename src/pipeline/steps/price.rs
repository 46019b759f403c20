//! `price`: match each invoice line to the product catalog, decide eligibility,
//! convert quantities to kg/L, and compute the registration commission from
//! the declarative rules (`[registration] rules_dir`). Needs `dian-validate`
//! before it (it prices the typed document). Rejected and duplicate documents
//! are not priced.

use std::sync::Arc;

use async_trait::async_trait;
use rust_decimal::Decimal;
use tokio::sync::OnceCell;

use super::BuildContext;
use crate::catalog::{
    self, Aliases, CatalogConfig, CatalogFile, InvoiceLine, InvoiceToPrice, LineQuery, Matcher,
};
use crate::config::{Config, ConfigError};
use crate::pipeline::{Step, StepContext, StepError, WorkItem};
use crate::result::{Finding, Verdict};
use crate::rules::{CommissionRules, PricingInput, Side};

/// Compiles the registration rules (once per generation, shared by every
/// route that prices).
pub fn build(ctx: &BuildContext<'_>) -> Result<Arc<dyn Step>, Vec<ConfigError>> {
    Ok(Arc::new(Price {
        registration: ctx.registration()?,
        side: ctx.config.registration.default_side,
        aliases: Default::default(),
    }))
}

/// Compiled registration resources: one rule set for a whole generation.
pub struct Registration {
    pub rules: Arc<CommissionRules>,
    pub catalog: CatalogConfig,
    /// `[registration] catalog_dir` and `rules_dir` (the matcher opens them).
    catalog_dir: std::path::PathBuf,
    rules_dir: std::path::PathBuf,
    /// Opened on first use: building the description index scans the whole
    /// catalog (minutes at 60 M products), so start-up does not wait for it.
    matcher: OnceCell<Option<Arc<Matcher<CatalogFile>>>>,
}

impl Registration {
    /// Compile the rule files; every problem is returned.
    pub fn load(config: &Config) -> Result<Registration, Vec<ConfigError>> {
        let dir = &config.registration.rules_dir;
        let mut problems = Vec::new();
        let rules = crate::rules::load_rules(dir)
            .map_err(|e| problems.extend(e))
            .ok();
        let catalog = CatalogConfig::load(&dir.join("catalog.toml"))
            .map_err(|e| problems.extend(e))
            .ok();
        if let Some(cfg) = &catalog
            && let Err(e) = Aliases::load_dir(&dir.join("aliases"), &cfg.normalizer)
        {
            problems.extend(e);
        }
        match (rules, catalog) {
            (Some(rules), Some(catalog)) if problems.is_empty() => Ok(Registration {
                rules: Arc::new(rules),
                catalog,
                catalog_dir: config.registration.catalog_dir.clone(),
                rules_dir: config.registration.rules_dir.clone(),
                matcher: OnceCell::new(),
            }),
            _ => Err(problems),
        }
    }

    async fn matcher(&self) -> Result<Option<Arc<Matcher<CatalogFile>>>, StepError> {
        let cell = self
            .matcher
            .get_or_try_init(|| async {
                let (dir, rules_dir, cfg) = (
                    self.catalog_dir.clone(),
                    self.rules_dir.clone(),
                    self.catalog.clone(),
                );
                tokio::task::spawn_blocking(
                    move || -> Result<Option<Arc<Matcher<CatalogFile>>>, String> {
                        let aliases =
                            Aliases::load_dir(&rules_dir.join("aliases"), &cfg.normalizer)
                                .map_err(|e| {
                                    e.iter()
                                        .map(ToString::to_string)
                                        .collect::<Vec<_>>()
                                        .join("; ")
                                })?;
                        let m = catalog::open_matcher(&dir, &cfg, aliases)
                            .map_err(|e| format!("opening the catalog {}: {e}", dir.display()))?;
                        Ok(m.map(Arc::new))
                    },
                )
                .await
                .map_err(|e| e.to_string())?
            })
            .await
            .map_err(StepError::Transient)?;
        Ok(cell.clone())
    }
}

pub(super) struct Price {
    registration: Arc<Registration>,
    /// `[registration] default_side`.
    side: Side,
    /// Each submitter's names for catalog products (homologation sheets),
    /// read from the store at most every [`ALIASES_TTL`] or when this
    /// process recorded new ones.
    aliases: std::sync::Mutex<std::collections::HashMap<String, CachedAliases>>,
}

struct CachedAliases {
    at: std::time::Instant,
    epoch: u64,
    aliases: Arc<Aliases>,
}

/// How long another daemon's new homologation sheet may go unseen.
const ALIASES_TTL: std::time::Duration = std::time::Duration::from_secs(10);

#[async_trait]
impl Step for Price {
    fn name(&self) -> &'static str {
        "price"
    }

    async fn run(&self, item: &mut WorkItem, ctx: &StepContext) -> Result<(), StepError> {
        let reg = &self.registration;
        let rejected = item.rejected();
        if rejected || item.verdict_override == Some(Verdict::Duplicate) {
            return Ok(());
        }
        let Some(mut doc) = item.document.clone() else {
            return Ok(());
        };
        // An operator named the catalog product of some lines.
        if let Some(a) = &item.approval {
            for (i, line) in doc.lines.iter_mut().enumerate() {
                if let Some(code) = crate::review::line_code(&a.corrections, i + 1) {
                    line.standard_item_id = Some(code.to_owned());
                    line.sellers_item_id = None;
                }
            }
        }
        if doc.kind != crate::dian::model::DocKind::Invoice {
            // A note never earns its own registration: it changes the
            // registration of the invoice it refers to.
            return super::notes::settle(self, item, ctx, &doc).await;
        }
        let Some(matcher) = reg.matcher().await? else {
            item.add(catalog_missing());
            item.verdict_override.get_or_insert(Verdict::Review);
            return Ok(());
        };
        let PricedDoc {
            priced,
            values,
            client,
            date,
        } = self
            .price_lines(
                &matcher,
                doc,
                ctx.now.date_naive(),
                self.submitter_aliases(ctx, item.result.account.as_deref())
                    .await?,
            )
            .await?;
        let side = self.side;
        item.result.findings.extend(priced.findings.iter().cloned());
        if priced.review {
            item.verdict_override.get_or_insert(Verdict::Review);
        }
        item.result.registration_lines = serde_json::to_value(&priced.lines).ok();
        item.result.commission = priced
            .commission
            .as_ref()
            .and_then(|c| serde_json::to_value(c).ok());
        if let (Some(_), Some(job), Some(commission)) =
            (&ctx.services.store, item.job_id, &priced.commission)
        {
            let lines = priced
                .lines
                .iter()
                .zip(&values)
                .filter_map(|(a, v)| a.pricing_line(*v))
                .collect();
            let input = PricingInput {
                date,
                client,
                side,
                lines,
            };
            // Recorded with the job's outcome (`store::OutcomeWrites`).
            item.outcome.commission(
                job,
                item.document_key.as_deref(),
                &input,
                commission,
                ctx.now.timestamp_millis(),
            );
            item.pricing = Some(input);
        }
        item.priced = Some(super::certify::PricedLines { priced, values });
        Ok(())
    }
}

/// A document's lines matched to the catalog and priced as an invoice.
pub(super) struct PricedDoc {
    pub priced: crate::catalog::PricedInvoice,
    /// Each line's value (LineExtensionAmount), in line order.
    pub values: Vec<Decimal>,
    /// The priced party's NIT.
    pub client: String,
    pub date: chrono::NaiveDate,
}

impl Price {
    /// Match `doc`'s lines to the catalog and price them on `date`.
    pub(super) async fn price_lines(
        &self,
        matcher: &Arc<Matcher<CatalogFile>>,
        doc: crate::dian::Document,
        date: chrono::NaiveDate,
        aliases: Arc<Aliases>,
    ) -> Result<PricedDoc, StepError> {
        let side = self.side;
        let party = match side {
            Side::Seller => doc.supplier.as_ref(),
            Side::Buyer => doc.customer.as_ref(),
        };
        let client = party.and_then(|p| p.company_id.clone()).unwrap_or_default();
        let rules = self.registration.rules.clone();
        let cfg = self.registration.catalog.clone();
        let matcher = matcher.clone();
        let priced = tokio::task::spawn_blocking(move || {
            let lines: Vec<(InvoiceLine<'_>, Decimal)> = doc
                .lines
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    let codes: Vec<&str> =
                        [l.standard_item_id.as_deref(), l.sellers_item_id.as_deref()]
                            .into_iter()
                            .flatten()
                            .collect();
                    let line = InvoiceLine {
                        line: i + 1,
                        query: LineQuery {
                            client: Some(&client),
                            codes,
                            description: l.description.as_deref().unwrap_or(""),
                            unit: None,
                        },
                        quantity: l.quantity.unwrap_or_default(),
                        unit: l.unit_code.as_deref().unwrap_or(""),
                    };
                    (line, l.line_extension.unwrap_or_default())
                })
                .collect();
            let values: Vec<Decimal> = lines.iter().map(|(_, v)| *v).collect();
            let inv = InvoiceToPrice {
                date,
                client: &client,
                side,
                lines,
            };
            catalog::assess_and_price_with(&matcher, &cfg, &rules, &inv, &aliases)
                .map(|p| (p, values, client.clone()))
        })
        .await
        .map_err(|e| StepError::Permanent(format!("pricing failed: {e}")))?
        .map_err(|e| StepError::Transient(format!("reading the catalog: {e}")))?;
        let (priced, values, client) = priced;
        Ok(PricedDoc {
            priced,
            values,
            client,
            date,
        })
    }

    /// `account`'s names for catalog products (its homologation sheets).
    pub(super) async fn submitter_aliases(
        &self,
        ctx: &StepContext,
        account: Option<&str>,
    ) -> Result<Arc<Aliases>, StepError> {
        let (Some(store), Some(account)) = (&ctx.services.store, account) else {
            return Ok(Arc::default());
        };
        let epoch = crate::store::review::ALIASES_EPOCH.load(std::sync::atomic::Ordering::Acquire);
        if let Ok(cache) = self.aliases.lock()
            && let Some(c) = cache.get(account)
            && c.epoch == epoch
            && c.at.elapsed() < ALIASES_TTL
        {
            return Ok(c.aliases.clone());
        }
        let rows = store
            .submitter_aliases(account)
            .await
            .map_err(|e| StepError::Transient(e.to_string()))?;
        let aliases = Arc::new(Aliases::from_homologation(
            rows.iter().map(|r| {
                (
                    Some(r.nit.as_str()).filter(|n| !n.is_empty()),
                    r.product.as_str(),
                    r.code.as_str(),
                )
            }),
            &self.registration.catalog.normalizer,
        ));
        if let Ok(mut cache) = self.aliases.lock() {
            cache.insert(
                account.to_owned(),
                CachedAliases {
                    at: std::time::Instant::now(),
                    epoch,
                    aliases: aliases.clone(),
                },
            );
        }
        Ok(aliases)
    }

    /// The catalog matcher (`None` when no catalog is loaded).
    pub(super) async fn matcher(&self) -> Result<Option<Arc<Matcher<CatalogFile>>>, StepError> {
        self.registration.matcher().await
    }

    pub(super) fn rules(&self) -> &CommissionRules {
        &self.registration.rules
    }
}

/// PAS69: no catalog to match products against.
pub(super) fn catalog_missing() -> Finding {
    Finding::notify(
        "PAS69",
        "El catálogo de productos no está cargado; la factura queda en revisión para asignar los productos.",
    )
}
