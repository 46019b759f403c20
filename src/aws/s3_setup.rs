//! `pasarela aws sync` with `[aws.s3]`: create or correct the S3 path's
//! dead-letter queue, intake queue (visibility, retention, redrive policy,
//! the policy statement that lets the bucket send) and the bucket's
//! `s3:ObjectCreated:*` notification for each account's `incoming/` prefix
//! (or, with `--dry-run`, say what it would do). Plans with `s3_plan`.
//! Other notification configurations of the bucket are kept.

use std::collections::BTreeMap;

use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter,
    QueueConfiguration, S3KeyFilter,
};
use aws_sdk_sqs::types::QueueAttributeName;

use super::config::{Aws, S3};
use super::s3::explain;
use super::s3_plan::{self, QueueNotification};
use crate::config::Config;

/// What the set-up did or would do; `Err` when AWS could not be read or a
/// change failed (the message says which).
pub async fn run(config: &Config, aws: &Aws, s3: &S3, dry_run: bool) -> Result<usize, String> {
    let (s3c, sqs) = super::s3::clients(aws).await;
    let verb = |what: &str| {
        if dry_run {
            format!("would {what}")
        } else {
            format!("{what}: done")
        }
    };
    let mut changes = 0;
    println!(
        "S3 path: bucket {}, queue {}, dead-letter queue {}{}",
        aws.bucket,
        s3.queue,
        s3.dead_letter_queue,
        if dry_run {
            " (dry run: nothing is changed)"
        } else {
            ""
        }
    );
    // The bucket must exist: sync does not create it (Transfer's homes live there).
    s3c.head_bucket()
        .bucket(&aws.bucket)
        .send()
        .await
        .map_err(|e| format!("bucket {}: {}", aws.bucket, explain(&e)))?;

    // Dead-letter queue first: the intake queue's redrive policy names it.
    let dlq_attrs = BTreeMap::from([(
        "MessageRetentionPeriod".to_string(),
        s3_plan::RETENTION_SECS.to_string(),
    )]);
    let dlq = ensure_queue(
        &sqs,
        &s3.dead_letter_queue,
        &dlq_attrs,
        None,
        dry_run,
        &verb,
        &mut changes,
    )
    .await?;
    let dlq_arn = dlq
        .as_ref()
        .map(|q| q.arn.clone())
        .unwrap_or_else(|| format!("(the ARN of {})", s3.dead_letter_queue));
    let attrs = s3_plan::desired_queue_attributes(
        s3.visibility_timeout.as_secs(),
        &dlq_arn,
        s3.max_receive_count,
    );
    let queue = ensure_queue(
        &sqs,
        &s3.queue,
        &attrs,
        Some(&aws.bucket),
        dry_run,
        &verb,
        &mut changes,
    )
    .await?;
    let queue_arn = queue
        .as_ref()
        .map(|q| q.arn.clone())
        .unwrap_or_else(|| format!("(the ARN of {})", s3.queue));

    // The bucket's notifications.
    let current = match s3c
        .get_bucket_notification_configuration()
        .bucket(&aws.bucket)
        .send()
        .await
    {
        Ok(c) => c,
        // moto answers an empty configuration with an empty
        // `GetBucketNotificationResponse` element, which the SDK cannot
        // read; AWS sends an empty `NotificationConfiguration` (docs/AWS.md).
        Err(e) if e.raw_response().is_some_and(|r| {
            r.status().as_u16() == 200
                && r.body().bytes().is_some_and(|b| {
                    let t = String::from_utf8_lossy(b);
                    t.contains("<GetBucketNotificationResponse") && !t.contains("Configuration>")
                })
        }) =>
        {
            aws_sdk_s3::operation::get_bucket_notification_configuration::GetBucketNotificationConfigurationOutput::builder().build()
        }
        Err(e) => return Err(format!("GetBucketNotificationConfiguration: {}", explain(&e))),
    };
    let existing: Vec<QueueNotification> = current
        .queue_configurations()
        .iter()
        .map(from_sdk)
        .collect();
    let desired =
        s3_plan::desired_notifications(aws, config.accounts.keys().map(String::as_str), &queue_arn);
    match s3_plan::plan_notifications(&existing, &desired) {
        None => println!(
            "bucket notification unchanged: {} account prefix(es) to {}",
            desired.len(),
            s3.queue
        ),
        Some(next) => {
            for d in &desired {
                if !existing.contains(d) {
                    println!(
                        "{}",
                        verb(&format!(
                            "notify {} of s3:ObjectCreated:* under {}",
                            s3.queue,
                            d.prefix.as_deref().unwrap_or("")
                        ))
                    );
                }
            }
            for e in existing
                .iter()
                .filter(|e| e.id.starts_with(s3_plan::NOTIFICATION_ID_PREFIX))
            {
                if !desired.iter().any(|d| d.id == e.id) {
                    println!("{}", verb(&format!("remove bucket notification {}", e.id)));
                }
            }
            changes += 1;
            if !dry_run {
                let mut b = NotificationConfiguration::builder()
                    .set_topic_configurations(Some(current.topic_configurations().to_vec()))
                    .set_lambda_function_configurations(Some(
                        current.lambda_function_configurations().to_vec(),
                    ));
                if let Some(eb) = current.event_bridge_configuration() {
                    b = b.event_bridge_configuration(eb.clone());
                }
                for n in &next {
                    b = b.queue_configurations(to_sdk(n)?);
                }
                s3c.put_bucket_notification_configuration()
                    .bucket(&aws.bucket)
                    .notification_configuration(b.build())
                    .send()
                    .await
                    .map_err(|e| format!("PutBucketNotificationConfiguration: {}", explain(&e)))?;
            }
        }
    }
    Ok(changes)
}

struct Queue {
    arn: String,
}

/// Create `name` with `desired` (and the bucket's policy statement when
/// `bucket` is given), or set the attributes that differ. `None` on a dry
/// run for a queue that does not exist yet.
async fn ensure_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    desired: &BTreeMap<String, String>,
    bucket: Option<&str>,
    dry_run: bool,
    verb: &dyn Fn(&str) -> String,
    changes: &mut usize,
) -> Result<Option<Queue>, String> {
    let url = match sqs.get_queue_url().queue_name(name).send().await {
        Ok(o) => o.queue_url().map(str::to_owned),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_queue_does_not_exist()) =>
        {
            None
        }
        Err(e) => return Err(format!("GetQueueUrl {name}: {}", explain(&e))),
    };
    let url = match url {
        Some(u) => u,
        None => {
            *changes += 1;
            println!("{}", verb(&format!("create queue {name}")));
            if dry_run {
                if bucket.is_some() {
                    println!(
                        "{}",
                        verb(&format!(
                            "let bucket {} send to queue {name}",
                            bucket.unwrap_or("")
                        ))
                    );
                }
                return Ok(None);
            }
            let out = sqs
                .create_queue()
                .queue_name(name)
                .send()
                .await
                .map_err(|e| format!("CreateQueue {name}: {}", explain(&e)))?;
            out.queue_url()
                .map(str::to_owned)
                .ok_or("CreateQueue answered without a URL")?
        }
    };
    let got = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .map_err(|e| format!("GetQueueAttributes {name}: {}", explain(&e)))?;
    let current: BTreeMap<String, String> = got
        .attributes()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.as_str().to_string(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    let arn = current
        .get("QueueArn")
        .cloned()
        .ok_or_else(|| format!("queue {name} has no QueueArn"))?;
    let statement = bucket.map(|b| s3_plan::policy_statement(b, &arn));
    let plan = s3_plan::plan_queue_attributes(&current, desired, statement.as_ref());
    if plan.is_empty() {
        println!("queue {name} unchanged");
    }
    let mut set = std::collections::HashMap::new();
    for (k, v, old) in plan {
        let shown = if k == "Policy" {
            format!("let bucket {} send to queue {name}", bucket.unwrap_or(""))
        } else {
            match old {
                Some(o) => format!("set queue {name} {k} to {v} (was {o})"),
                None => format!("set queue {name} {k} to {v}"),
            }
        };
        println!("{}", verb(&shown));
        *changes += 1;
        set.insert(QueueAttributeName::from(k.as_str()), v);
    }
    if !dry_run && !set.is_empty() {
        sqs.set_queue_attributes()
            .queue_url(&url)
            .set_attributes(Some(set))
            .send()
            .await
            .map_err(|e| format!("SetQueueAttributes {name}: {}", explain(&e)))?;
    }
    Ok(Some(Queue { arn }))
}

fn from_sdk(q: &QueueConfiguration) -> QueueNotification {
    let rules: Vec<(String, String)> = q
        .filter()
        .and_then(|f| f.key())
        .map(|k| {
            k.filter_rules()
                .iter()
                .map(|r| {
                    (
                        r.name()
                            .map(|n| n.as_str().to_ascii_lowercase())
                            .unwrap_or_default(),
                        r.value().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    QueueNotification {
        id: q.id().unwrap_or_default().to_string(),
        queue_arn: q.queue_arn().to_string(),
        events: q.events().iter().map(|e| e.as_str().to_string()).collect(),
        prefix: rules
            .iter()
            .find(|(n, _)| n == "prefix")
            .map(|(_, v)| v.clone()),
        other_rules: rules.into_iter().filter(|(n, _)| n != "prefix").collect(),
    }
}

fn to_sdk(n: &QueueNotification) -> Result<QueueConfiguration, String> {
    let mut rules = Vec::new();
    if let Some(p) = &n.prefix {
        rules.push(
            FilterRule::builder()
                .name(FilterRuleName::Prefix)
                .value(p)
                .build(),
        );
    }
    for (k, v) in &n.other_rules {
        rules.push(
            FilterRule::builder()
                .name(FilterRuleName::from(k.as_str()))
                .value(v)
                .build(),
        );
    }
    let mut b = QueueConfiguration::builder()
        .id(&n.id)
        .queue_arn(&n.queue_arn)
        .set_events(Some(
            n.events.iter().map(|e| Event::from(e.as_str())).collect(),
        ));
    if !rules.is_empty() {
        b = b.filter(
            NotificationConfigurationFilter::builder()
                .key(S3KeyFilter::builder().set_filter_rules(Some(rules)).build())
                .build(),
        );
    }
    b.build().map_err(|e| format!("notification {}: {e}", n.id))
}
