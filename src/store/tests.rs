//! The store's suite runs on both backends: every case below is one test
//! on SQLite and one on PostgreSQL (`PASARELA_TEST_POSTGRES_URL`, a scratch
//! schema per test).

use super::*;

/// Where a test's store lives; keeps it until the end of the test.
enum Place {
    Sqlite(tempfile::TempDir),
    Postgres(testing::ScratchSchema),
}

impl Place {
    async fn create(backend: Backend) -> Option<Place> {
        Some(match backend {
            Backend::Sqlite => Place::Sqlite(tempfile::tempdir().unwrap()),
            Backend::Postgres => Place::Postgres(testing::ScratchSchema::create().await?),
        })
    }
    fn url(&self) -> String {
        match self {
            Place::Sqlite(d) => format!("sqlite://{}", d.path().join("t.db").display()),
            Place::Postgres(s) => s.url.clone(),
        }
    }
    /// Another handle on the same store: what a second daemon would open.
    async fn open(&self) -> Store {
        Store::open(&self.url(), false, Duration::from_secs(5))
            .await
            .unwrap()
    }
    async fn finish(self) {
        if let Place::Postgres(s) = self {
            s.drop_now().await;
        }
    }
}

/// `both!(name, |s, place| { ... })`: the case as `name::sqlite` and
/// `name::postgres`.
macro_rules! both {
    ($name:ident, |$s:ident, $place:ident| $body:block) => {
        mod $name {
            use super::*;
            async fn case(backend: Backend) {
                let Some($place) = Place::create(backend).await else {
                    return;
                };
                let $s = $place.open().await;
                assert_eq!($s.backend(), backend);
                $body
                $s.close().await;
                $place.finish().await;
            }
            #[tokio::test]
            async fn sqlite() {
                case(Backend::Sqlite).await
            }
            #[tokio::test]
            async fn postgres() {
                case(Backend::Postgres).await
            }
        }
    };
}

fn new_job(spool: &str, sha: &str) -> NewJob {
    NewJob {
        account: "demo".into(),
        rel_path: "a.xml".into(),
        spool_path: spool.into(),
        size: 3,
        sha256: sha.into(),
        now_ms: 1000,
        kind: JobKind::Light,
        format: crate::result::Format::Xml,
    }
}

both!(
    concurrent_records_are_group_committed_with_distinct_ids,
    |s, place| {
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
);

both!(record_is_idempotent_and_claim_is_exclusive, |s, place| {
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
});

both!(retry_dead_replay_cycle_is_audited, |s, place| {
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
        kind: OutboxKind::ErrorAlert,
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
    assert_eq!(queued[0].kind, OutboxKind::ErrorAlert);
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
});

// The first claimant is the original, whichever job id is lower (before,
// a lower id claiming second also came out original: two registrations of
// one invoice). Claiming again finds no rival; a dead original frees the key.
both!(document_keys_find_the_first_submission, |s, place| {
    let a = s.record_job(&new_job("/s/1", "x1")).await.unwrap();
    let b = s.record_job(&new_job("/s/2", "x2")).await.unwrap();
    assert_eq!(s.claim_document_key(b, "CUFE1").await.unwrap(), None);
    assert_eq!(s.claim_document_key(a, "CUFE1").await.unwrap(), Some(b));
    assert_eq!(s.claim_document_key(b, "CUFE1").await.unwrap(), None);
    assert_eq!(s.claim_document_key(a, "CUFE1").await.unwrap(), Some(b));
    let c = s.record_job(&new_job("/s/3", "x3")).await.unwrap();
    assert_eq!(s.claim_document_key(c, "CUFE2").await.unwrap(), None);
    let dead = s.job(c).await.unwrap().unwrap();
    s.dead_letter(&dead, "boom", "{}", "/r", None, 3000)
        .await
        .unwrap();
    assert_eq!(s.claim_document_key(a, "CUFE2").await.unwrap(), None);
});

// Issue 17 item 5: a document holds its CUFE and its supplier key. The same
// invoice claimed by CUFE and then by supplier key alone (a PDF without a
// readable CUFE) is a duplicate, and the other way round; the duplicate holds
// neither key, so a third copy still names the first.
both!(either_document_key_finds_the_original, |s, place| {
    let a = s.record_job(&new_job("/s/1", "x1")).await.unwrap();
    let b = s.record_job(&new_job("/s/2", "x2")).await.unwrap();
    let c = s.record_job(&new_job("/s/3", "x3")).await.unwrap();
    let sup = Some("900373991/fv1");
    assert_eq!(
        s.claim_document_keys(a, Some("cufe1"), sup)
            .await
            .unwrap()
            .holder,
        None
    );
    let by_supplier = s.claim_document_keys(b, None, sup).await.unwrap().holder;
    assert_eq!(
        by_supplier,
        Some(KeyHolder {
            job_id: a,
            same_cufe: false
        })
    );
    let by_cufe = s
        .claim_document_keys(c, Some("cufe1"), None)
        .await
        .unwrap()
        .holder;
    assert_eq!(
        by_cufe,
        Some(KeyHolder {
            job_id: a,
            same_cufe: true
        })
    );
    // A job that claims again finds itself, not a rival.
    assert_eq!(
        s.claim_document_keys(a, Some("cufe1"), sup)
            .await
            .unwrap()
            .holder,
        None
    );
    // Supplier key first (the PDF), then the XML with CUFE and supplier key:
    // the XML is the duplicate, matched by the supplier key.
    let d = s.record_job(&new_job("/s/4", "x4")).await.unwrap();
    let e = s.record_job(&new_job("/s/5", "x5")).await.unwrap();
    let sup2 = Some("900373991/fv2");
    assert_eq!(
        s.claim_document_keys(d, None, sup2).await.unwrap().holder,
        None
    );
    let xml = s
        .claim_document_keys(e, Some("cufe2"), sup2)
        .await
        .unwrap()
        .holder;
    assert_eq!(
        xml,
        Some(KeyHolder {
            job_id: d,
            same_cufe: false
        })
    );
    // The duplicate holds no key: once the original is dead, a new claim of
    // the CUFE alone is an original (it was never held by the duplicate).
    let dead = s.job(d).await.unwrap().unwrap();
    s.dead_letter(&dead, "boom", "{}", "/r", None, 3000)
        .await
        .unwrap();
    let f = s.record_job(&new_job("/s/6", "x6")).await.unwrap();
    assert_eq!(
        s.claim_document_keys(f, Some("cufe2"), None)
            .await
            .unwrap()
            .holder,
        None
    );
    assert_eq!(
        s.claim_document_keys(e, Some("cufe2"), sup2)
            .await
            .unwrap()
            .holder,
        Some(KeyHolder {
            job_id: f,
            same_cufe: true
        })
    );
});

// Different invoices of one supplier are all originals, and so is the same
// number from another supplier.
both!(one_supplier_many_invoices_are_originals, |s, place| {
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            s.record_job(&new_job(&format!("/s/{i}"), &format!("y{i}")))
                .await
                .unwrap(),
        );
    }
    let keys = [
        (Some("cufe-a"), Some("900373991/fv1")),
        (Some("cufe-b"), Some("900373991/fv2")),
        (None, Some("800197268/fv1")),
    ];
    for (id, (cufe, sup)) in ids.iter().zip(keys) {
        assert_eq!(
            s.claim_document_keys(*id, cufe, sup).await.unwrap().holder,
            None
        );
    }
});

// Two jobs claim the two keys of one invoice at once from two store handles
// (two daemons): one carries the CUFE and the supplier key, the other only
// the supplier key, or only the CUFE. Exactly one original each round.
both!(claims_of_both_keys_race_to_one_original, |s, place| {
    let other = place.open().await;
    for round in 0..8 {
        let cufe = format!("cufe-race-{round}");
        let sup = format!("900373991/race{round}");
        let a = s
            .record_job(&new_job(&format!("/r/{round}/a"), &format!("ra{round}")))
            .await
            .unwrap();
        let b = s
            .record_job(&new_job(&format!("/r/{round}/b"), &format!("rb{round}")))
            .await
            .unwrap();
        // Odd rounds: the later job id claims first in spawn order.
        let (first, second) = if round % 2 == 0 { (a, b) } else { (b, a) };
        let (s1, s2) = (s.clone(), other.clone());
        let (c1, p1) = (cufe.clone(), sup.clone());
        let t1 = tokio::spawn(async move {
            s1.claim_document_keys(first, Some(&c1), Some(&p1))
                .await
                .unwrap()
                .holder
        });
        let (c2, p2) = (cufe.clone(), sup.clone());
        let t2 = tokio::spawn(async move {
            let (c, p) = if round % 4 < 2 {
                (None, Some(p2.as_str()))
            } else {
                (Some(c2.as_str()), None)
            };
            s2.claim_document_keys(second, c, p).await.unwrap().holder
        });
        let (r1, r2) = (t1.await.unwrap(), t2.await.unwrap());
        match (r1, r2) {
            (None, Some(h)) => assert_eq!(h.job_id, first, "round {round}"),
            (Some(h), None) => assert_eq!(h.job_id, second, "round {round}"),
            other => panic!("round {round}: not exactly one original: {other:?}"),
        }
    }
    other.close().await;
});

// Many submissions of one invoice claimed at once from two store handles
// (two daemons): exactly one original, and every other names it.
both!(document_key_claims_race_to_one_original, |s, place| {
    let other = place.open().await;
    let mut ids = Vec::new();
    for i in 0..24 {
        let spool = format!("/s/{i}");
        ids.push(
            s.record_job(&new_job(&spool, &format!("h{i}")))
                .await
                .unwrap(),
        );
    }
    let mut tasks = Vec::new();
    for (n, id) in ids.iter().rev().enumerate() {
        let st = if n % 2 == 0 { s.clone() } else { other.clone() };
        let id = *id;
        tasks.push(tokio::spawn(async move {
            (id, st.claim_document_key(id, "CUFE-RACE").await.unwrap())
        }));
    }
    let mut got = Vec::new();
    for t in tasks {
        got.push(t.await.unwrap());
    }
    let originals: Vec<i64> = got
        .iter()
        .filter(|(_, o)| o.is_none())
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(originals.len(), 1, "{got:?}");
    assert!(
        got.iter()
            .all(|(id, o)| *id == originals[0] || *o == Some(originals[0])),
        "{got:?}"
    );
    other.close().await;
});

// A restarted daemon requeues what it left running: on SQLite everything (it
// is the only daemon), on PostgreSQL only jobs whose lease has expired.
both!(interrupted_jobs_are_requeued, |s, place| {
    s.record_job(&new_job("/s/1", "cc")).await.unwrap();
    s.claim("me", 1, 2000, Duration::from_secs(60))
        .await
        .unwrap();
    let restart = match s.backend() {
        Backend::Sqlite => 3000,
        Backend::Postgres => {
            assert_eq!(s.requeue_running(3000).await.unwrap(), 0, "lease alive");
            62_001
        }
    };
    assert_eq!(s.requeue_running(restart).await.unwrap(), 1);
    assert_eq!(
        s.claim("me", 1, restart, Duration::from_secs(60))
            .await
            .unwrap()
            .len(),
        1
    );
});

// Poison jobs: a start that never ends (the daemon died under the job) is
// counted durably across restarts and lease take-overs; any recorded end of
// an attempt (retry, done, dead letter) and a replay start the count afresh.
both!(
    unfinished_starts_survive_restarts_and_reset_on_recorded_ends,
    |s, place| {
        let lease = Duration::from_secs(60);
        let id = s.record_job(&new_job("/s/1", "pp")).await.unwrap();
        let mut now = 2000;
        let mut starts = Vec::new();
        for _ in 0..3 {
            let job = s.claim("me", 1, now, lease).await.unwrap().remove(0);
            starts.push(job.unfinished_starts);
            // The daemon dies: nothing is recorded. Restart after the lease.
            now += 61_000;
            assert_eq!(s.requeue_running(now).await.unwrap(), 1);
        }
        // A take-over of an expired lease (another daemon) is a start too.
        let job = s.claim("me", 1, now, lease).await.unwrap().remove(0);
        starts.push(job.unfinished_starts);
        now += 61_000;
        let job = s.claim("other", 1, now, lease).await.unwrap().remove(0);
        starts.push(job.unfinished_starts);
        assert_eq!(starts, [1, 2, 3, 4, 5]);
        assert_eq!(job.attempts, 5);
        // A transient failure is a recorded end: the next start is the first.
        s.retry_later(&job, "busy", now, now).await.unwrap();
        let job = s.claim("me", 1, now, lease).await.unwrap().remove(0);
        assert_eq!((job.attempts, job.unfinished_starts), (6, 1));
        s.dead_letter(&job, "PAS91", "{}", "/o/a.xml.result.json", None, now)
            .await
            .unwrap();
        assert_eq!(s.job(id).await.unwrap().unwrap().unfinished_starts, 0);
        s.replay(id, now).await.unwrap();
        let job = s.claim("me", 1, now, lease).await.unwrap().remove(0);
        assert_eq!((job.attempts, job.unfinished_starts), (1, 1));
        let done = Completion {
            verdict: crate::result::Verdict::Accepted,
            result_json: "{}".into(),
            result_path: "/o/a.xml.result.json".into(),
            archive_path: "/a/a.xml".into(),
            duplicate_of: None,
            now_ms: now,
            review_reason: None,
            decision_id: None,
            refs: Default::default(),
            writes: Default::default(),
        };
        s.complete(&job, &done).await.unwrap();
        assert_eq!(s.job(id).await.unwrap().unwrap().unfinished_starts, 0);
    }
);

fn registration(job_id: i64, n: &str, day: &str) -> reports::Registration {
    reports::Registration {
        job_id,
        certificate_number: n.into(),
        account: "demo".into(),
        invoice_number: format!("SETP{job_id}"),
        cufe: "c".repeat(96),
        supplier_id: "900373115".into(),
        supplier_name: "Agrícola Ñandú S.A.S.".into(),
        customer_id: "800199436".into(),
        customer_name: "Molinos".into(),
        value: "1234567.89".into(),
        commission: "1234.50".into(),
        rule_id: "granos-venta".into(),
        rule_version: "3".into(),
        registered_at: 1_710_514_800_123,
        registered_day: day.into(),
        ledger: reports::Ledger::registration("1234567.89", "1234.50", None),
    }
}

// Money, days and instants survive the round trip exactly (NUMERIC, DATE and
// TIMESTAMPTZ on PostgreSQL), and month bounds are calendar bounds.
both!(native_types_round_trip, |s, place| {
    let r = registration(1, "2024-000001", "2024-03-15");
    assert!(s.record_registration(&r).await.unwrap());
    assert!(!s.record_registration(&r).await.unwrap(), "once per job");
    s.record_registration(&registration(2, "2024-000002", "2024-03-31"))
        .await
        .unwrap();
    s.record_registration(&registration(3, "2024-000003", "2024-04-01"))
        .await
        .unwrap();
    assert_eq!(s.registrations_on("2024-03-15").await.unwrap(), vec![r]);
    let march = s.registration_amounts_in_month("2024-03").await.unwrap();
    assert_eq!(
        march,
        vec![
            (
                "2024-03-15".into(),
                "1234567.89".into(),
                "1234.50".into(),
                EntryKind::Registration
            ),
            (
                "2024-03-31".into(),
                "1234567.89".into(),
                "1234.50".into(),
                EntryKind::Registration
            )
        ]
    );
    let mut seen = Vec::new();
    s.for_each_registration_on("2024-04-01", |r| {
        seen.push(r.certificate_number);
        Ok::<(), ()>(())
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(seen, ["2024-000003"]);
    let id = s.record_job(&new_job("/s/1", "t")).await.unwrap();
    assert_eq!(s.job(id).await.unwrap().unwrap().received_at, 1000);
    assert_eq!(s.next_due().await.unwrap(), Some(1000));
});

/// A numbered, pending certificate of `job_id` (what `build` returns).
fn new_certificate(job_id: i64, number: &str) -> certificates::NewCertificate {
    certificates::NewCertificate {
        record: certificates::CertificateRecord {
            number: number.to_string(),
            job_id,
            account: "demo".into(),
            digest: "d".into(),
            pdf_sha256: String::new(),
            path: format!("outgoing/certificates/{number}.pdf"),
            data_json: "{}".into(),
            issued_at: 5000,
        },
        registration: registration(job_id, number, "2026-01-02"),
    }
}

// Certificate numbers stay gap-free and unique when many issuers race, also
// from two store handles (two daemons).
both!(
    certificate_numbers_are_gapless_under_contention,
    |s, place| {
        let other = place.open().await;
        let mut tasks = Vec::new();
        for job_id in 1..=40i64 {
            let st = if job_id % 2 == 0 {
                s.clone()
            } else {
                other.clone()
            };
            tasks.push(tokio::spawn(async move {
                st.issue_certificate_with(job_id, 2026, move |number| {
                    // An issuer that fails rolls its number back.
                    if job_id == 13 {
                        return Err("render failed");
                    }
                    Ok(new_certificate(job_id, &number))
                })
                .await
                .unwrap()
                .map(|(r, _)| r.number)
            }));
        }
        let mut numbers = Vec::new();
        for t in tasks {
            if let Ok(n) = t.await.unwrap() {
                numbers.push(n);
            }
        }
        numbers.sort();
        let expected: Vec<String> = (1..=39).map(|i| format!("2026-{i:06}")).collect();
        assert_eq!(numbers, expected);
        assert_eq!(s.certificates_issued(2026).await.unwrap(), 39);
        other.close().await;
    }
);

// A numbered certificate stays pending until its PDF is written; finishing
// it records the hash, queues the delivery message and audits, exactly once,
// even when two handles (two runs of the job) finish it at the same time.
both!(certificate_is_finished_exactly_once, |s, place| {
    let other = place.open().await;
    let (record, newly) = s
        .issue_certificate_with(7, 2026, |number| Ok::<_, ()>(new_certificate(7, &number)))
        .await
        .unwrap()
        .unwrap();
    assert!(newly && record.is_pending());
    // Numbered again (the job re-ran): the same, still pending record.
    let (again, newly) = s
        .issue_certificate_with(7, 2026, |_| Err("must not be called"))
        .await
        .unwrap()
        .unwrap();
    assert!(!newly && again.is_pending() && again.number == record.number);
    let message = outbox::NewMessage {
        idem_key: format!("certificate-delivery:{}", record.number),
        kind: OutboxKind::CertificateDelivery,
        account: Some("demo".into()),
        job_id: Some(7),
        recipients: vec!["a@b.example".into()],
        subject: "Certificado".into(),
        body: "Adjunto".into(),
        attachment: None,
        message_id: "c7@bolsa.example".into(),
    };
    let (a, b) = tokio::join!(
        s.finish_certificate(&record, "sha", Some(message.clone()), 6000),
        other.finish_certificate(&record, "sha", Some(message.clone()), 6000)
    );
    assert_eq!(
        [a.unwrap(), b.unwrap()].iter().filter(|x| **x).count(),
        1,
        "exactly one finisher wins"
    );
    let done = s.certificate_for_job(7).await.unwrap().unwrap();
    assert_eq!(done.pdf_sha256, "sha");
    assert!(!done.is_pending());
    assert!(
        !s.finish_certificate(&done, "other", Some(message), 7000)
            .await
            .unwrap()
    );
    assert_eq!(s.outbox_list().await.unwrap().len(), 1);
    other.close().await;
});

// Two daemons claiming at once never take the same job; a job whose lease
// expired is taken over unless its owner renews the lease.
both!(
    claims_are_exclusive_across_daemons_and_leases_expire,
    |s, place| {
        let other = place.open().await;
        for i in 0..60 {
            s.record_job(&new_job(&format!("/s/{i}"), &format!("h{i}")))
                .await
                .unwrap();
        }
        let lease = Duration::from_secs(60);
        let (a, b) = tokio::join!(
            async {
                let mut got = Vec::new();
                for _ in 0..10 {
                    got.extend(s.claim("a", 3, 2000, lease).await.unwrap());
                }
                got
            },
            async {
                let mut got = Vec::new();
                for _ in 0..10 {
                    got.extend(other.claim("b", 3, 2000, lease).await.unwrap());
                }
                got
            }
        );
        let mut ids: Vec<i64> = a.iter().chain(&b).map(|j| j.id).collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!((ids.len(), n), (60, 60), "every job claimed exactly once");
        // "a" keeps its leases alive; "b" died.
        let a_ids: Vec<i64> = a.iter().map(|j| j.id).collect();
        assert_eq!(
            s.renew_leases("a", &a_ids, 50_000, lease).await.unwrap(),
            a.len() as u64
        );
        assert_eq!(
            s.renew_leases("b", &a_ids, 50_000, lease).await.unwrap(),
            0,
            "not b's"
        );
        let after_expiry = 2000 + lease.as_millis() as i64 + 1;
        let taken = other.claim("c", 100, after_expiry, lease).await.unwrap();
        let mut t: Vec<i64> = taken.iter().map(|j| j.id).collect();
        t.sort();
        let mut dead: Vec<i64> = b.iter().map(|j| j.id).collect();
        dead.sort();
        assert_eq!(t, dead, "exactly the dead daemon's jobs are taken over");
        assert!(taken.iter().all(|j| j.attempts == 2));
        match s.backend() {
            // A restart on a shared store leaves live leases alone.
            Backend::Postgres => assert_eq!(s.requeue_running(after_expiry).await.unwrap(), 0),
            // The only daemon requeues everything it left running.
            Backend::Sqlite => assert_eq!(s.requeue_running(after_expiry).await.unwrap(), 60),
        }
        other.close().await;
    }
);

// Each outbox message goes to one sender even when two claim at once.
both!(outbox_claims_are_exclusive, |s, place| {
    let other = place.open().await;
    for i in 0..30 {
        let m = outbox::NewMessage {
            idem_key: format!("k{i}"),
            kind: OutboxKind::CertificateDelivery,
            account: Some("demo".into()),
            job_id: Some(i),
            recipients: vec!["a@b.example".into()],
            subject: "Certificado".into(),
            body: "Adjunto".into(),
            attachment: Some(outbox::Attachment {
                name: "c.pdf".into(),
                mime: "application/pdf".into(),
                bytes: vec![0, 1, 2, 255],
            }),
            message_id: format!("k{i}@bolsa.example"),
        };
        assert!(s.enqueue_message(&m, 1000).await.unwrap().1);
        assert!(
            !other.enqueue_message(&m, 1000).await.unwrap().1,
            "idempotent"
        );
    }
    let (a, b) = tokio::join!(
        s.claim_messages(20, 2000, 60_000),
        other.claim_messages(20, 2000, 60_000)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut ids: Vec<i64> = a.iter().chain(&b).map(|m| m.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!((ids.len(), a.len() + b.len()), (30, 30));
    assert_eq!(a[0].attachment.as_ref().unwrap().bytes, vec![0, 1, 2, 255]);
    other.close().await;
});

// Bans are shared by every daemon on the store; sessions of gone daemons are
// forgotten, live ones kept.
both!(sftp_state_is_shared, |s, place| {
    let other = place.open().await;
    s.sftp_ban("192.0.2.7", 10_000, 1, 1000).await.unwrap();
    let bans = other.sftp_bans(2000).await.unwrap();
    assert_eq!(
        (bans[0].addr.as_str(), bans[0].until_at),
        ("192.0.2.7", 10_000)
    );
    assert!(other.sftp_bans(10_001).await.unwrap().is_empty());
    for (id, daemon) in [("1", "h:1"), ("2", "h:2")] {
        s.sftp_session_open(&sftp_state::SftpSession {
            id: id.into(),
            daemon: daemon.into(),
            account: "demo".into(),
            peer: "127.0.0.1:5".into(),
            started_at: 1000,
        })
        .await
        .unwrap();
    }
    assert_eq!(
        other
            .sftp_sessions_clear_stale(|d| d == "h:2")
            .await
            .unwrap(),
        1
    );
    let left: Vec<String> = s
        .sftp_sessions()
        .await
        .unwrap()
        .into_iter()
        .map(|x| x.id)
        .collect();
    assert_eq!(left, ["2"]);
    other.close().await;
});

#[test]
fn passwords_never_reach_logs_through_the_store_url() {
    assert_eq!(
        redact_url("postgres://pasarela:s3cr3t@db.bolsa:5432/pasarela?sslmode=require"),
        "postgres://pasarela:***@db.bolsa:5432/pasarela?sslmode=require"
    );
    assert_eq!(
        redact_url("postgres://postgres@127.0.0.1:5432/test"),
        "postgres://postgres@127.0.0.1:5432/test"
    );
    assert_eq!(
        redact_url("postgres://u@h/db?sslmode=require&password=s3cr3t"),
        "postgres://u@h/db?sslmode=require&password=***"
    );
    assert_eq!(redact_url("sqlite://var/p.db"), "sqlite://var/p.db");
}

both!(kind_format_and_verdict_round_trip_as_enums, |s, place| {
    let mut pdf = new_job("/s/p", "pp");
    pdf.kind = JobKind::Heavy;
    pdf.format = crate::result::Format::Pdf;
    s.record_job(&new_job("/s/x", "xx")).await.unwrap();
    let p = s.record_job(&pdf).await.unwrap();
    let lease = Duration::from_secs(60);
    let heavy = s
        .claim_kind("me", Some(JobKind::Heavy), 10, 2000, lease)
        .await
        .unwrap();
    assert_eq!(heavy.len(), 1);
    assert_eq!(heavy[0].id, p);
    assert_eq!(heavy[0].state, JobState::Running);
    assert_eq!(heavy[0].format, Some(crate::result::Format::Pdf));
    let light = s
        .claim_kind("me", Some(JobKind::Light), 10, 2000, lease)
        .await
        .unwrap();
    assert_eq!(light[0].format, Some(crate::result::Format::Xml));
    let c = Completion {
        verdict: crate::result::Verdict::Review,
        result_json: "{}".into(),
        result_path: "/o/p.result.json".into(),
        archive_path: "/a/p".into(),
        duplicate_of: None,
        now_ms: 3000,
        review_reason: Some("manual".into()),
        decision_id: None,
        refs: Default::default(),
        writes: Default::default(),
    };
    s.complete(&heavy[0], &c).await.unwrap();
    let done = s.job(p).await.unwrap().unwrap();
    assert_eq!(done.state, JobState::Done);
    assert_eq!(done.verdict, Some(crate::result::Verdict::Review));
    let status = s.status().await.unwrap();
    assert!(
        status.verdicts.contains(&("review".to_string(), 1)),
        "{status:?}"
    );
});

// A transaction the database ended on its own (SQLite rolls back by itself
// when a COMMIT fails for a full disk): the driver's rollback on drop then
// fails and the connection would come back "inside a transaction", making
// every later BEGIN on it fail. The pool must not hand such a connection out.
both!(
    a_connection_left_in_a_transaction_is_not_reused,
    |s, _place| {
        for _ in 0..6 {
            let mut tx = s.db.begin_write().await.unwrap();
            tx.execute("ROLLBACK", vec![]).await.unwrap();
            drop(tx);
        }
        for _ in 0..12 {
            let mut tx = s.db.begin_write().await.unwrap();
            tx.execute("SELECT 1", vec![]).await.unwrap();
            tx.commit().await.unwrap();
        }
    }
);

// Audit rows and commission lines are written in bulk (one statement per
// transaction, issue 21): order, NULLs, odd text and exact money survive,
// and a replayed commission replaces its lines.
both!(bulk_rows_keep_order_and_values, |s, place| {
    let job = s.record_job(&new_job("/s/bulk", "b1")).await.unwrap();
    let mut tx = s.db.begin_write().await.unwrap();
    let odd = "comillas ' \" y \\ barra, ñandú, 日本, {\"a\": [1, null]}, ?, $1";
    for i in 0..300_i64 {
        let rec = AuditRecord {
            account: (i % 2 == 0).then_some(odd),
            job_id: Some(job),
            event: if i % 3 == 0 { "bulk.a" } else { "bulk.b" },
            detail: serde_json::json!({"i": i, "text": odd}),
        };
        audit_tx(&mut tx, 1_700_000_000_123 + i, &rec)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let rows: Vec<(i64, String, String)> = s
        .audit_of(job)
        .await
        .unwrap()
        .into_iter()
        .filter(|(_, e, _)| e.starts_with("bulk."))
        .collect();
    assert_eq!(rows.len(), 300);
    for (i, (at, event, detail)) in rows.iter().enumerate() {
        let i = i as i64;
        assert_eq!(*at, 1_700_000_000_123 + i, "exact millisecond, in order");
        assert_eq!(event, if i % 3 == 0 { "bulk.a" } else { "bulk.b" });
        let d: serde_json::Value = serde_json::from_str(detail).unwrap();
        assert_eq!(d, serde_json::json!({"i": i, "text": odd}));
    }
    let accounts =
        s.db.fetch_all(
            "SELECT account FROM audit WHERE event LIKE 'bulk.%' ORDER BY id",
            args![],
        )
        .await
        .unwrap();
    for (i, r) in accounts.iter().enumerate() {
        let want = (i % 2 == 0).then(|| odd.to_owned());
        assert_eq!(r.opt_text("account").unwrap(), want);
    }

    let commission = |lines: i64, fee: &str| lane::CommissionRows {
        job_id: job,
        document_key: Some("cufe-bulk".into()),
        priced_at: 2000,
        pricing_date: "2024-03-15".into(),
        client: "900123456".into(),
        side: "V".into(),
        rule_set: "2024".into(),
        total: "1.10".into(),
        lines: (1..=lines)
            .map(|l| lane::CommissionLineRow {
                line: l,
                code: format!("P{l}"),
                rule_id: "r1".into(),
                rule_version: 3,
                base: "123456789012.345678".into(),
                fee: fee.into(),
                trace: "[\"tramo 1\"]".into(),
            })
            .collect(),
    };
    let write = |c| std::sync::Arc::new(lane::Write::Commission(Box::new(c)));
    lane::write_many(&s.db, &[write(commission(40, "0.000001"))])
        .await
        .unwrap();
    let day = chrono::NaiveDate::from_ymd_opt(2024, 3, 15).unwrap();
    let stored = s.commission_lines(day, day).await.unwrap();
    assert_eq!(stored.len(), 40);
    assert_eq!(stored[39].line, 40);
    assert_eq!(stored[39].code, "P40");
    assert_eq!(
        stored[0].base,
        rust_decimal::Decimal::from_str("123456789012.345678").unwrap()
    );
    assert_eq!(
        stored[0].fee,
        rust_decimal::Decimal::from_str("0.000001").unwrap()
    );
    // A replay replaces the commission and all its lines.
    lane::write_many(&s.db, &[write(commission(2, "7.5"))])
        .await
        .unwrap();
    let stored = s.commission_lines(day, day).await.unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(
        stored[1].fee,
        rust_decimal::Decimal::from_str("7.5").unwrap()
    );
    // Lines kept by number take the new values; none left: none stored.
    let mut other = commission(3, "2");
    other.lines[0].code = "Q1".into();
    lane::write_many(&s.db, &[write(other)]).await.unwrap();
    let stored = s.commission_lines(day, day).await.unwrap();
    let codes: Vec<&str> = stored.iter().map(|l| l.code.as_str()).collect();
    assert_eq!(codes, ["Q1", "P2", "P3"]);
    assert!(stored.iter().all(|l| l.fee == rust_decimal::Decimal::TWO));
    lane::write_many(&s.db, &[write(commission(0, "2"))])
        .await
        .unwrap();
    assert!(s.commission_lines(day, day).await.unwrap().is_empty());
    assert_eq!(
        s.commission_total(job).await.unwrap(),
        Some(rust_decimal::Decimal::from_str("1.10").unwrap())
    );
});

// What a job's steps prepare for its outcome (its commission, its finished
// certificate with the delivery e-mail, a notice) is written by the
// transaction that completes the job, with their audit rows, and not before:
// a run that never completes leaves the certificate pending and no
// commission, and the next run's completion writes them once.
both!(
    outcome_writes_are_committed_with_the_outcome,
    |s, _place| {
        use crate::catalog::ProcessingState;
        use crate::rules::{PricingInput, PricingLine, Side};
        use rust_decimal::Decimal;
        let lease = Duration::from_secs(60);
        let id = s.record_job(&new_job("/s/o.xml", "oo")).await.unwrap();
        let rules = crate::rules::load_rules(
            &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules"),
        )
        .unwrap();
        let input = PricingInput {
            date: chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
            client: "800.111.222-1".into(),
            side: Side::Seller,
            lines: vec![PricingLine {
                code: "1".into(),
                group: "GRANOS".into(),
                state: ProcessingState::Natural,
                quantity_kg: Decimal::ONE,
                value: Decimal::from(250_000_000),
            }],
        };
        let commission = rules.price(&input).unwrap();
        let message = |key: &str| outbox::NewMessage {
            idem_key: key.into(),
            kind: OutboxKind::CertificateDelivery,
            account: Some("demo".into()),
            job_id: Some(id),
            recipients: vec!["a@b.example".into()],
            subject: "Certificado".into(),
            body: "Adjunto".into(),
            attachment: None,
            message_id: format!("{key}@bolsa.example"),
        };
        let prepare = |record: &certificates::CertificateRecord| {
            let mut w = OutcomeWrites::default();
            w.commission(id, Some("cufe-o"), &input, &commission, 2000);
            w.finished_certificate(record, "pdfsha", Some(message("cert-o")), 2000);
            w.message(message("notice-o"), 2000);
            w
        };
        let completion = |writes: OutcomeWrites| Completion {
            verdict: crate::result::Verdict::Accepted,
            result_json: "{}".into(),
            result_path: "/o/o.xml.result.json".into(),
            archive_path: "/a/o.xml".into(),
            duplicate_of: None,
            now_ms: 3000,
            review_reason: None,
            decision_id: None,
            refs: Default::default(),
            writes,
        };
        // A first run numbers the certificate and prepares its writes, then
        // fails (a transient error): nothing it prepared is in the store.
        let job = s.claim("me", 1, 1000, lease).await.unwrap().remove(0);
        let (record, _) = s
            .issue_certificate_with(id, 2026, move |n| Ok::<_, ()>(new_certificate(id, &n)))
            .await
            .unwrap()
            .unwrap();
        let unused = prepare(&record);
        assert_eq!(unused.len(), 3);
        s.retry_later(&job, "busy", 1000, 1000).await.unwrap();
        assert_eq!(s.commission_total(id).await.unwrap(), None);
        assert!(
            s.certificate_for_job(id)
                .await
                .unwrap()
                .unwrap()
                .is_pending()
        );
        assert!(s.outbox_list().await.unwrap().is_empty());
        // The next run completes: all three are written with the outcome.
        let job = s.claim("me", 1, 1000, lease).await.unwrap().remove(0);
        s.complete(&job, &completion(prepare(&record)))
            .await
            .unwrap();
        assert_eq!(
            s.commission_total(id).await.unwrap(),
            Some(commission.total)
        );
        let done = s.certificate_for_job(id).await.unwrap().unwrap();
        assert_eq!(done.pdf_sha256, "pdfsha");
        let mut keys: Vec<String> = s
            .outbox_list()
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.idem_key)
            .collect();
        keys.sort();
        assert_eq!(keys, ["cert-o", "notice-o"]);
        let events: Vec<String> = s
            .audit_of(id)
            .await
            .unwrap()
            .into_iter()
            .map(|(_, event, _)| event)
            .collect();
        for e in ["done", "certificate.issued", "mail.enqueued"] {
            assert!(events.iter().any(|x| x == e), "{e} in {events:?}");
        }
        // The same writes committed again (a replayed job) change nothing.
        s.replay(id, 4000).await.unwrap();
        let job = s.claim("me", 1, 5000, lease).await.unwrap().remove(0);
        s.complete(&job, &completion(prepare(&done))).await.unwrap();
        assert_eq!(s.outbox_list().await.unwrap().len(), 2);
        assert_eq!(
            s.certificate_for_job(id).await.unwrap().unwrap().pdf_sha256,
            "pdfsha"
        );
    }
);

// A key claim says what else is on record under the keys (readings waiting
// for the document, RADIAN events about its CUFE), whatever the keys' case,
// so the steps skip those reads when there is nothing.
both!(
    a_key_claim_tells_what_is_recorded_under_the_keys,
    |s, _place| {
        let a = s.record_job(&new_job("/s/k1", "k1")).await.unwrap();
        let b = s.record_job(&new_job("/s/k2", "k2")).await.unwrap();
        let c = s.record_job(&new_job("/s/k3", "k3")).await.unwrap();
        let w = s.record_job(&new_job("/s/k4", "k4")).await.unwrap();
        let nothing = s
            .claim_document_keys(a, Some("CUFE-A"), Some("900/FV1"))
            .await
            .unwrap();
        assert_eq!(
            (nothing.holder, nothing.waiting, nothing.events),
            (None, false, false)
        );
        // A scan waits under the supplier key; an event names the second CUFE.
        s.await_documents(w, &["900/fv2".to_owned()], 1000)
            .await
            .unwrap();
        s.record_event(
            &events::NewEvent {
                cude: "cude-1",
                cufe: "cufe-b",
                code: "030",
                event_id: "E1",
                issued: "2026-03-01T10:00:00",
                sender: "900",
                receiver: "800",
                job_id: w,
            },
            1000,
        )
        .await
        .unwrap();
        let both = s
            .claim_document_keys(b, Some("CUFE-B"), Some("900/FV2"))
            .await
            .unwrap();
        assert_eq!((both.holder, both.waiting, both.events), (None, true, true));
        // Only the supplier key waits; no event names this CUFE.
        let waiting = s
            .claim_document_keys(c, Some("cufe-c"), Some("900/FV2"))
            .await
            .unwrap();
        assert_eq!(
            (
                waiting.holder.map(|h| h.job_id),
                waiting.waiting,
                waiting.events
            ),
            (Some(b), true, false)
        );
    }
);
