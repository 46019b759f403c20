use super::*;

async fn store() -> (tempfile::TempDir, Store) {
    let d = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", d.path().join("t.db").display());
    let s = Store::open(&url, false, Duration::from_secs(5))
        .await
        .unwrap();
    (d, s)
}

fn new_job(spool: &str, sha: &str) -> NewJob {
    NewJob {
        account: "demo".into(),
        rel_path: "a.xml".into(),
        spool_path: spool.into(),
        size: 3,
        sha256: sha.into(),
        now_ms: 1000,
        kind: KIND_LIGHT,
    }
}

#[tokio::test]
async fn concurrent_records_are_group_committed_with_distinct_ids() {
    let (_d, s) = store().await;
    let mut handles = Vec::new();
    for i in 0..200 {
        let s = s.clone();
        handles.push(tokio::spawn(async move {
            s.record_job(&new_job(&format!("/s/{i}"), &format!("h{i}")))
                .await
                .unwrap()
        }));
    }
    let mut ids = Vec::new();
    for h in handles {
        ids.push(h.await.unwrap());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 200);
    // Re-recording a staged file inside a batch returns its id.
    assert_eq!(
        s.record_job(&new_job("/s/7", "h7")).await.unwrap(),
        s.job_by_spool_path("/s/7").await.unwrap().unwrap().id
    );
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
    let alert = outbox::NewMessage {
        idem_key: "error-alert:job-dead:test".into(),
        kind: "error-alert".into(),
        account: None,
        job_id: Some(job.id),
        recipients: vec!["ops@bolsa.example".into()],
        subject: "carta muerta".into(),
        body: "job".into(),
        attachment: None,
        message_id: "x@bolsa.example".into(),
    };
    s.dead_letter(
        &job,
        "broken",
        "{}",
        "/o/a.xml.result.json",
        Some(&alert),
        6000,
    )
    .await
    .unwrap();
    let queued = s.outbox_list().await.unwrap();
    assert_eq!(
        queued.len(),
        1,
        "the alert is committed with the dead letter"
    );
    assert_eq!(queued[0].kind, "error-alert");
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
        [
            "received",
            "running",
            "retry",
            "running",
            "dead",
            "mail.enqueued",
            "replay"
        ]
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
