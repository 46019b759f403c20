//! `pasarela status`: queue counts, SFTP sessions and bans, the oldest
//! pending file, dead letters and recent errors, read from the store.

use std::path::Path;

use super::config_and_store;
use crate::exit::Exit;

/// Print the store's status report (text, or JSON with `json`).
pub async fn status(path: &Path, json: bool) -> Exit {
    let (config, store) = match config_and_store(path).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    let report = match store.status().await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Unavailable;
        }
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
        return Exit::Ok;
    }
    // "state=n state=n", or `none` when there are no rows.
    let counts = |rows: &[(String, i64)], none: &str| {
        if rows.is_empty() {
            return none.to_string();
        }
        let parts: Vec<String> = rows.iter().map(|(s, n)| format!("{s}={n}")).collect();
        parts.join(" ")
    };
    println!("jobs:      {}", counts(&report.jobs_by_state, "none"));
    println!("verdicts:  {}", counts(&report.verdicts, "none"));
    println!("outbox:    {}", counts(&report.outbox, "empty"));
    let overdue_before =
        chrono::Utc::now().timestamp_millis() - config.review.max_age.as_millis() as i64;
    match report.review_oldest_since {
        Some(t) => println!(
            "in review: {} (oldest since {}{}; `pasarela review list`)",
            counts(&report.review, "none"),
            super::bogota_time(t),
            if t < overdue_before { ", OVERDUE" } else { "" }
        ),
        None => println!("in review: none"),
    }
    println!("sftp sessions: {}", report.sftp_sessions.len());
    for s in &report.sftp_sessions {
        println!(
            "  {} from {} since {} ({})",
            s.account,
            s.peer,
            super::bogota_time(s.started_at),
            s.daemon
        );
    }
    println!("sftp bans: {}", report.sftp_bans.len());
    for b in &report.sftp_bans {
        println!(
            "  {} until {} (ban #{})",
            b.addr,
            super::bogota_time(b.until_at),
            b.bans
        );
    }
    match &report.oldest_pending {
        Some(j) => println!(
            "oldest pending: job {} {}/{} received {}",
            j.id,
            j.account,
            j.rel_path.escape_debug(),
            super::bogota_time(j.received_at)
        ),
        None => println!("oldest pending: none"),
    }
    println!("dead letters: {}", report.dead.len());
    for j in &report.dead {
        println!(
            "  job {} {}/{} after {} attempt(s) at {}: {}",
            j.id,
            j.account,
            j.rel_path.escape_debug(),
            j.attempts,
            super::bogota_time(j.updated_at),
            j.last_error.as_deref().unwrap_or("")
        );
    }
    if !report.recent_errors.is_empty() {
        println!("recent errors:");
        for j in &report.recent_errors {
            println!(
                "  job {} {}/{} [{}] at {}: {}",
                j.id,
                j.account,
                j.rel_path.escape_debug(),
                j.state.as_str(),
                super::bogota_time(j.updated_at),
                j.last_error.as_deref().unwrap_or("")
            );
        }
    }
    Exit::Ok
}
