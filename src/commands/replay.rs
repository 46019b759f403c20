//! `pasarela replay ID`: queue a dead-lettered (or finished) job again.

use std::path::Path;

use super::config_and_store;
use crate::exit::Exit;
use crate::store::StoreError;

/// Queue job `id` again: [`Exit::DataErr`] when there is no such job or its
/// state cannot be replayed.
pub async fn replay(path: &Path, id: i64) -> Exit {
    let (_, store) = match config_and_store(path).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    match store
        .replay(id, chrono::Utc::now().timestamp_millis())
        .await
    {
        Ok(job) => {
            println!(
                "job {id} ({}/{}) was {}; queued again",
                job.account,
                job.rel_path,
                job.state.as_str()
            );
            Exit::Ok
        }
        Err(StoreError::NoSuchJob(_)) => {
            eprintln!("error: no job with id {id}");
            Exit::DataErr
        }
        Err(e @ StoreError::NotReplayable { .. }) => {
            eprintln!("error: {e}");
            Exit::DataErr
        }
        Err(e) => {
            eprintln!("error: {e}");
            Exit::Unavailable
        }
    }
}
