use super::*;

async fn store() -> (tempfile::TempDir, Store) {
    let d = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", d.path().join("t.db").display());
    let s = Store::open(&url, false, Duration::from_secs(5))
        .await
        .unwrap();
    (d, s)
}

fn new_job<'a>(spool: &'a str, sha: &'a str) -> NewJob<'a> {
    NewJob {
        account: "demo",
        rel_path: "a.xml",
        spool_path: spool,
        size: 3,
        sha256: sha,
        now_ms: 1000,
    }
}

#[tokio::test]
async fn record_is_idempotent_and_claim_is_exclusive() {
    let (_d, s) = store().await;
    let a = s.record_job(&new_job("/s/1", "aa")).await.unwrap();
    assert_eq!(s.record_job(&new_job("/s/1", "aa")).await.unwrap(), a);
    let b = s.record_job(&new_job("/s/2", "aa")).await.unwrap();
    let claimed = s
        .claim("me", 10, 2000, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(claimed.iter().map(|j| j.id).collect::<Vec<_>>(), vec![a, b]);
    assert!(
        s.claim("me", 10, 2000, Duration::from_secs(60))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.first_with_sha("aa", b).await.unwrap(), Some(a));
    assert_eq!(s.first_with_sha("aa", a).await.unwrap(), None);
}

#[tokio::test]
async fn retry_dead_replay_cycle_is_audited() {
    let (_d, s) = store().await;
    let id = s.record_job(&new_job("/s/1", "bb")).await.unwrap();
    let job = s
        .claim("me", 1, 2000, Duration::from_secs(60))
        .await
        .unwrap()
        .remove(0);
    s.retry_later(&job, "busy", 5000, 2000).await.unwrap();
    assert!(
        s.claim("me", 1, 4999, Duration::from_secs(60))
            .await
            .unwrap()
            .is_empty(),
        "not due yet"
    );
    let job = s
        .claim("me", 1, 5000, Duration::from_secs(60))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(job.attempts, 2);
    s.dead_letter(&job, "broken", "{}", "/o/a.xml.result.json", 6000)
        .await
        .unwrap();
    let st = s.status().await.unwrap();
    assert_eq!(st.dead.len(), 1);
    s.replay(id, 7000).await.unwrap();
    assert!(matches!(
        s.replay(id, 7000).await,
        Err(StoreError::NotReplayable { .. })
    ));
    let events: Vec<String> = s
        .audit_of(id)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, e, _)| e)
        .collect();
    assert_eq!(
        events,
        ["received", "running", "retry", "running", "dead", "replay"]
    );
}

#[tokio::test]
async fn document_keys_find_the_first_submission() {
    let (_d, s) = store().await;
    let a = s.record_job(&new_job("/s/1", "x1")).await.unwrap();
    let b = s.record_job(&new_job("/s/2", "x2")).await.unwrap();
    assert_eq!(s.claim_document_key(b, "CUFE1").await.unwrap(), None);
    assert_eq!(s.claim_document_key(a, "CUFE1").await.unwrap(), None);
    assert_eq!(s.claim_document_key(b, "CUFE1").await.unwrap(), Some(a));
}

#[tokio::test]
async fn interrupted_jobs_are_requeued() {
    let (_d, s) = store().await;
    s.record_job(&new_job("/s/1", "cc")).await.unwrap();
    s.claim("me", 1, 2000, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(s.requeue_running(3000).await.unwrap(), 1);
    assert_eq!(
        s.claim("me", 1, 3000, Duration::from_secs(60))
            .await
            .unwrap()
            .len(),
        1
    );
}
