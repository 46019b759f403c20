//! `pasarela report`: publish the daily report of a day and/or the monthly
//! summary of a month (the same publication the scheduler makes).

use std::path::Path;

use super::config_and_store;
use crate::exit::Exit;

/// `pasarela report --date YYYY-MM-DD [--month YYYY-MM]`.
pub async fn report(
    config_path: &Path,
    date: Option<chrono::NaiveDate>,
    month: Option<&str>,
) -> Exit {
    let (config, store) = match config_and_store(config_path).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    let mut code = Exit::Ok;
    let mut outputs = Vec::new();
    if let Some(day) = date {
        outputs.push(crate::reports::publish_daily(&store, &config, day).await);
    }
    if let Some(m) = month {
        let parsed = chrono::NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d");
        match parsed {
            Ok(first) => {
                use chrono::Datelike;
                outputs.push(
                    crate::reports::publish_monthly(&store, &config, first.year(), first.month())
                        .await,
                )
            }
            Err(_) => {
                eprintln!("error: --month must be YYYY-MM, got '{m}'");
                return Exit::Usage;
            }
        }
    }
    if outputs.is_empty() {
        eprintln!("error: give --date YYYY-MM-DD and/or --month YYYY-MM");
        return Exit::Usage;
    }
    for o in outputs {
        match o {
            Ok(p) => {
                println!(
                    "{} {}: {} registro(s), valor {}, comisión {}, sha256 {}{}",
                    p.kind,
                    p.period,
                    p.rows,
                    p.value,
                    p.commission,
                    p.sha256,
                    if p.newly_published {
                        ""
                    } else {
                        " (sin cambios)"
                    }
                );
                for f in p.files {
                    println!("  {}", f.display());
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                code = Exit::Software;
            }
        }
    }
    store.close().await;
    code
}
