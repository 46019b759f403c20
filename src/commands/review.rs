//! `pasarela review list|show|approve|reject`: the review queue from the
//! command line (docs/REVIEW.md). A decision is recorded in the store and the
//! job queued again; the daemon applies it on the job's next run.

use std::collections::BTreeMap;
use std::path::Path;

use super::config_and_store;
use crate::cli::ReviewCommand;
use crate::exit::Exit;
use crate::review::{Decision, Reason};
use crate::store::review::{DecideError, Filter};

pub async fn review(command: ReviewCommand) -> Exit {
    match command {
        ReviewCommand::List {
            json,
            account,
            reason,
            config,
        } => list(&config, json, account.as_deref(), reason.as_deref()).await,
        ReviewCommand::Show { id, json, config } => show(&config, id, json).await,
        ReviewCommand::Approve {
            id,
            set,
            operator,
            config,
        } => match Decision::approve(&operator, set.iter().map(String::as_str)) {
            Ok(d) => decide(&config, id, d).await,
            Err(e) => {
                eprintln!("error: --set {e}");
                Exit::Usage
            }
        },
        ReviewCommand::Reject {
            id,
            reason,
            operator,
            config,
        } => decide(&config, id, Decision::Reject { operator, reason }).await,
    }
}

async fn list(path: &Path, json: bool, account: Option<&str>, reason: Option<&str>) -> Exit {
    let reason = match reason.map(|r| (r, Reason::parse(r))) {
        Some((r, None)) => {
            let known: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
            eprintln!("error: unknown reason '{r}' (known: {})", known.join(", "));
            return Exit::Usage;
        }
        Some((_, r)) => r,
        None => None,
    };
    let (config, store) = match config_and_store(path).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    let filter = Filter {
        account,
        reason,
        ..Filter::default()
    };
    let (items, counts) = match (
        store.review_queue(&filter).await,
        store.review_counts().await,
    ) {
        (Ok(i), Ok((c, _))) => (i, c),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return Exit::Unavailable;
        }
    };
    let overdue_before =
        chrono::Utc::now().timestamp_millis() - config.review.max_age.as_millis() as i64;
    if json {
        let v = serde_json::json!({
            "counts": counts.iter().map(|(r, n)| (r.clone(), *n)).collect::<BTreeMap<_, _>>(),
            "items": items.iter().map(|i| {
                let mut v = serde_json::to_value(i).unwrap_or_default();
                v["overdue"] = serde_json::json!(i.since < overdue_before);
                v
            }).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Exit::Ok;
    }
    let c: Vec<String> = counts.iter().map(|(r, n)| format!("{r}={n}")).collect();
    println!(
        "in review: {}",
        if c.is_empty() {
            "none".to_owned()
        } else {
            c.join(" ")
        }
    );
    for i in &items {
        let late = if i.since < overdue_before {
            "  OVERDUE"
        } else {
            ""
        };
        println!(
            "{:>8}  {}  {:<20} {}/{}{late}",
            i.job_id,
            super::bogota_time_as(i.since, "%Y-%m-%d %H:%M"),
            i.reason,
            i.account,
            i.file.escape_debug()
        );
    }
    Exit::Ok
}

async fn show(path: &Path, id: i64, json: bool) -> Exit {
    let (_, store) = match config_and_store(path).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    let got = async {
        Ok::<_, crate::store::StoreError>((
            store.job(id).await?,
            store.result_json(id).await?,
            store.decisions_of(id).await?,
            store.audit_of(id).await?,
        ))
    }
    .await;
    let (job, result, decisions, audit) = match got {
        Ok((Some(j), r, d, a)) => (j, r, d, a),
        Ok((None, ..)) => {
            eprintln!("error: no job with id {id}");
            return Exit::DataErr;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Unavailable;
        }
    };
    let result: serde_json::Value = result
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or_default();
    if json {
        let v = serde_json::json!({
            "job": job,
            "result": result,
            "decisions": decisions,
            "audit": audit.iter().map(|(at, ev, d)| serde_json::json!({
                "at": at, "event": ev,
                "detail": serde_json::from_str::<serde_json::Value>(d).unwrap_or_default(),
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Exit::Ok;
    }
    println!(
        "job {id}: {}/{} ({}, verdict {})",
        job.account,
        job.rel_path.escape_debug(),
        job.state.as_str(),
        result["verdict"].as_str().unwrap_or("-")
    );
    if let Some(fields) = result
        .pointer("/extraction/fields")
        .and_then(|f| f.as_object())
    {
        println!("fields read:");
        for (k, f) in fields {
            if k == "lines" {
                continue;
            }
            println!(
                "  {k:<16} {:<40} {} {}",
                f["value"].as_str().unwrap_or("-"),
                f["source"].as_str().unwrap_or(""),
                f["confidence"]
            );
        }
    }
    println!("findings:");
    for f in result["findings"].as_array().into_iter().flatten() {
        println!(
            "  {} {}: {}",
            f["code"].as_str().unwrap_or(""),
            f["severity"].as_str().unwrap_or(""),
            f["message"].as_str().unwrap_or("")
        );
    }
    for d in &decisions {
        println!(
            "decision {}: {} by {} at {}{}",
            d.id,
            d.decision,
            d.operator,
            super::bogota_time_as(d.decided_at, "%Y-%m-%d %H:%M"),
            d.outcome
                .as_deref()
                .map(|o| format!(" → {o}"))
                .unwrap_or_else(|| " (waiting to be applied)".to_owned())
        );
    }
    println!("audit:");
    for (at, ev, detail) in &audit {
        println!(
            "  {} {ev} {detail}",
            super::bogota_time_as(*at, "%Y-%m-%d %H:%M")
        );
    }
    Exit::Ok
}

async fn decide(path: &Path, id: i64, decision: Decision) -> Exit {
    if let Err(e) = decision.check() {
        let flag = match decision {
            Decision::Reject { .. } if !decision.operator().trim().is_empty() => "--reason",
            _ => "--operator",
        };
        eprintln!("error: {flag}: {e}");
        return Exit::Usage;
    }
    let (_, store) = match config_and_store(path).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    match store
        .decide(id, &decision, chrono::Utc::now().timestamp_millis())
        .await
    {
        Ok(d) => {
            println!(
                "job {id}: {} by {} recorded (decision {d}); the daemon applies it on the job's next run",
                decision.word(),
                decision.operator()
            );
            Exit::Ok
        }
        Err(
            e @ (DecideError::NoSuchJob(_)
            | DecideError::NotInReview { .. }
            | DecideError::Pending(_)
            | DecideError::Invalid(_)),
        ) => {
            eprintln!("error: {e}");
            Exit::DataErr
        }
        Err(e) => {
            eprintln!("error: {e}");
            Exit::Unavailable
        }
    }
}
