//! Executing the steps of a route on one file. Shared by the daemon's runner
//! and `pasarela process`; no store writes and no file moves happen here.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset};
use futures::FutureExt;

use super::{StepContext, StepError, WorkItem, final_verdict, steps};
use crate::config::Config;
use crate::result::{FileIdentity, Finding, ResultDoc, Verdict};
use crate::store::OutcomeWrites;

/// Routes with their steps instantiated.
pub struct Pipeline {
    pub config: Arc<Config>,
    routes: Vec<Vec<Arc<dyn super::Step>>>,
    /// The generation's DIAN settings: rule 90 for identical bytes is worded
    /// (and its severity set) as the `dian-validate` step words it.
    dian: Arc<crate::dian::DianSettings>,
}

/// Who submitted a file and how it relates to earlier submissions.
#[derive(Debug, Clone, Default)]
pub struct Submission<'a> {
    pub account: Option<&'a str>,
    pub rel_path: &'a str,
    pub job_id: Option<i64>,
    /// Set when identical bytes were submitted before.
    pub duplicate_of: Option<i64>,
    /// Human description of the earlier identical submission.
    pub duplicate_note: Option<String>,
    /// An operator's decision this run applies (docs/REVIEW.md).
    pub decision: Option<crate::review::Pending>,
}

impl Pipeline {
    /// Build every route's steps from configuration (`steps::build_routes`);
    /// every problem (unknown step names, broken rules files) is returned.
    pub fn build(config: Arc<Config>) -> Result<Pipeline, Vec<crate::config::ConfigError>> {
        let (routes, dian) = steps::build_routes_with_dian(&config)?;
        Ok(Pipeline {
            config,
            routes,
            dian,
        })
    }

    /// A pipeline with explicit steps per route (tests, embedding).
    pub fn with_steps(config: Arc<Config>, routes: Vec<Vec<Arc<dyn super::Step>>>) -> Pipeline {
        Pipeline {
            config,
            routes,
            dian: Arc::default(),
        }
    }

    /// Run the route that applies to this file and return its result (what
    /// its steps prepared for the store is dropped: for callers that record
    /// no outcome). A panic inside a step is caught and reported as a
    /// permanent error.
    pub async fn process(
        &self,
        bytes: Arc<Vec<u8>>,
        sub: &Submission<'_>,
        ctx: &StepContext,
    ) -> Result<ResultDoc, StepError> {
        let id = FileIdentity::of_bytes(&bytes);
        let (result, _) = self.process_identified(bytes, sub, id, ctx).await?;
        Ok(result)
    }

    /// [`Pipeline::process`] for a file whose hash and format are already
    /// known (a daemon job: intake hashed and sniffed it), so its bytes are
    /// neither hashed nor sniffed again. Also returns what the steps
    /// prepared for the transaction that commits the job's outcome.
    pub async fn process_identified(
        &self,
        bytes: Arc<Vec<u8>>,
        sub: &Submission<'_>,
        id: FileIdentity,
        ctx: &StepContext,
    ) -> Result<(ResultDoc, OutcomeWrites), StepError> {
        let now = ctx.now;
        let mut item = new_item(bytes, sub, id, now);
        if sub.duplicate_of.is_some() || sub.duplicate_note.is_some() {
            let what = sub
                .duplicate_note
                .clone()
                .unwrap_or_else(|| format!("al envío {}", sub.duplicate_of.unwrap_or_default()));
            // Identical bytes: rule 90 as the DIAN step words it.
            if let Some(f) = crate::dian::duplicate_finding(&self.dian, &format!("idéntico {what}"))
            {
                item.add(f);
            }
            item.result.duplicate_of = sub.duplicate_of;
            item.result.verdict = Verdict::Duplicate;
            return Ok(item.into_outcome());
        }
        match sub.decision.as_ref().map(|p| &p.decision) {
            Some(crate::review::Decision::Reject { operator, reason }) => {
                // Refused by an operator: no step runs; the sender reads why.
                item.add(Finding::reject(
                    "PAS89",
                    format!("Rechazado en revisión por la bolsa ({operator}): {reason}"),
                ));
                item.result.verdict = Verdict::Rejected;
                return Ok(item.into_outcome());
            }
            Some(crate::review::Decision::Approve {
                operator,
                corrections,
            }) => {
                item.approval = Some(super::Approval {
                    operator: operator.clone(),
                    corrections: corrections.clone(),
                });
            }
            None => {}
        }
        let format = item.result.format;
        let Some(idx) = self.config.route_index(sub.account, sub.rel_path, format) else {
            item.add(Finding::reject(
                "PAS81",
                format!(
                    "Ninguna ruta de procesamiento admite este archivo (formato {}).",
                    format.as_str()
                ),
            ));
            item.result.verdict = final_verdict(&item);
            return Ok(item.into_outcome());
        };
        item.result.route = Some(self.config.routes[idx].name.clone());
        for step in &self.routes[idx] {
            let started = std::time::Instant::now();
            let fut = AssertUnwindSafe(step.run(&mut item, ctx)).catch_unwind();
            let outcome = fut.await;
            let name = step.name();
            crate::admin::metrics::observe(
                "pasarela_step_duration_seconds",
                &[("step", name)],
                started.elapsed().as_secs_f64(),
            );
            let kind = match &outcome {
                Ok(Ok(())) => None,
                Ok(Err(StepError::Transient(_))) => Some("transient"),
                Ok(Err(StepError::Permanent(_))) => Some("permanent"),
                Ok(Err(StepError::Conflict(_))) => Some("conflict"),
                Err(_) => Some("panic"),
            };
            if let Some(kind) = kind {
                crate::admin::metrics::inc(
                    "pasarela_step_errors_total",
                    &[("step", name), ("kind", kind)],
                );
            }
            match outcome {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(panic) => {
                    let msg = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown panic".into());
                    return Err(StepError::Permanent(format!(
                        "step '{}' panicked: {msg}",
                        step.name()
                    )));
                }
            }
            if item.verdict_override == Some(Verdict::Duplicate) {
                break;
            }
        }
        item.result.verdict = final_verdict(&item);
        Ok(item.into_outcome())
    }
}

fn new_item(
    bytes: Arc<Vec<u8>>,
    sub: &Submission<'_>,
    id: FileIdentity,
    now: DateTime<FixedOffset>,
) -> WorkItem {
    let result = ResultDoc::new(sub.rel_path.to_string(), id, now, sub.job_id, sub.account);
    WorkItem {
        bytes,
        rel_path: sub.rel_path.to_string(),
        result,
        verdict_override: None,
        document_key: None,
        supplier_key: None,
        job_id: sub.job_id,
        document: None,
        priced: None,
        pricing: None,
        settlement: None,
        approval: None,
        outcome: Default::default(),
        recorded_events: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{Services, Step, WorkItem};
    use async_trait::async_trait;

    struct Panics;
    #[async_trait]
    impl Step for Panics {
        fn name(&self) -> &'static str {
            "panics"
        }
        async fn run(&self, _item: &mut WorkItem, _ctx: &StepContext) -> Result<(), StepError> {
            panic!("decoder exploded")
        }
    }

    struct Rejects;
    #[async_trait]
    impl Step for Rejects {
        fn name(&self) -> &'static str {
            "rejects"
        }
        async fn run(&self, item: &mut WorkItem, _ctx: &StepContext) -> Result<(), StepError> {
            item.add(Finding::reject("FAD06", "CUFE mal calculado"));
            item.add(Finding::notify("FAZ09", "sin identificación de ítem"));
            Ok(())
        }
    }

    fn config() -> Arc<Config> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(
            &path,
            "[accounts.a]\nhome = \"h/a\"\n[[routes]]\nname = \"xml\"\nformats = [\"xml\"]\nsteps = [\"classify\"]\n[[routes]]\nname = \"pdf\"\npatterns = [\"*.pdf\"]\nsteps = [\"classify\"]\n",
        )
        .unwrap();
        Arc::new(crate::config::load_with_base(&path, dir.path()).unwrap().0)
    }

    fn ctx() -> StepContext {
        StepContext {
            now: crate::clock::Clock::default().now(),
            services: Arc::new(Services::new(None)),
        }
    }

    fn sub(name: &str) -> Submission<'_> {
        Submission {
            account: Some("a"),
            rel_path: name,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_panicking_step_is_a_permanent_error_not_a_crash() {
        let config = config();
        let p = Pipeline::with_steps(config.clone(), vec![vec![Arc::new(Panics)], vec![]]);
        let err = p
            .process(Arc::new(b"<Invoice/>".to_vec()), &sub("a.xml"), &ctx())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StepError::Permanent(m) if m.contains("decoder exploded")),
            "{err}"
        );
    }

    #[tokio::test]
    async fn findings_decide_the_verdict_and_routes_match_by_content() {
        let config = config();
        let p = Pipeline::with_steps(config.clone(), vec![vec![Arc::new(Rejects)], vec![]]);
        let r = p
            .process(Arc::new(b"<Invoice/>".to_vec()), &sub("a.bin"), &ctx())
            .await
            .unwrap();
        assert_eq!(
            (r.verdict, r.route.as_deref(), r.findings.len()),
            (Verdict::Rejected, Some("xml"), 2)
        );
        // A PDF named *.xml is routed as PDF; junk named *.pdf goes to the pdf pattern route.
        let r = p
            .process(Arc::new(b"junk".to_vec()), &sub("x.pdf"), &ctx())
            .await
            .unwrap();
        assert_eq!(
            (r.verdict, r.route.as_deref()),
            (Verdict::Accepted, Some("pdf"))
        );
        let r = p
            .process(Arc::new(b"junk".to_vec()), &sub("x.txt"), &ctx())
            .await
            .unwrap();
        assert_eq!(r.verdict, Verdict::Rejected);
        assert_eq!(r.findings[0].code, "PAS81");
    }
}
