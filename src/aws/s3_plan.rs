//! The pure half of `pasarela aws sync`'s S3 path set-up: what the queues'
//! attributes and the bucket's notification configuration should be, and
//! what differs from what AWS reports. No IO; unit-tested on every build.

use std::collections::BTreeMap;

use super::config::Aws;

/// The `Sid` of the queue policy statement that lets the bucket send.
pub const POLICY_SID: &str = "pasarela-s3-notifications";
/// Notification configurations whose `Id` starts with this are managed by
/// sync; others on the bucket (other queues, topics, Lambdas) are kept.
pub const NOTIFICATION_ID_PREFIX: &str = "pasarela-";
/// SQS's longest retention, for both queues: a message waits 14 days.
pub const RETENTION_SECS: &str = "1209600";

/// One queue notification configuration of the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueNotification {
    pub id: String,
    pub queue_arn: String,
    pub events: Vec<String>,
    /// The key prefix filter (`[PREFIX/]NAME/incoming/`).
    pub prefix: Option<String>,
    /// Other filter rules, kept as they are: (name, value).
    pub other_rules: Vec<(String, String)>,
}

/// The managed notification configurations: one per account's `incoming/`.
pub fn desired_notifications<'a>(
    aws: &Aws,
    accounts: impl IntoIterator<Item = &'a str>,
    queue_arn: &str,
) -> Vec<QueueNotification> {
    let mut out: Vec<QueueNotification> = accounts
        .into_iter()
        .map(|a| QueueNotification {
            id: format!("{NOTIFICATION_ID_PREFIX}{a}"),
            queue_arn: queue_arn.to_string(),
            events: vec!["s3:ObjectCreated:*".to_string()],
            prefix: Some(format!("{}incoming/", aws.home_key(a))),
            other_rules: Vec::new(),
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// The bucket's queue configurations as they should be: the unmanaged ones
/// kept, the managed ones replaced by `desired`. `None` when nothing changes.
pub fn plan_notifications(
    current: &[QueueNotification],
    desired: &[QueueNotification],
) -> Option<Vec<QueueNotification>> {
    let mut managed: Vec<QueueNotification> = current
        .iter()
        .filter(|c| c.id.starts_with(NOTIFICATION_ID_PREFIX))
        .cloned()
        .collect();
    managed.sort_by(|a, b| a.id.cmp(&b.id));
    if managed == desired {
        return None;
    }
    let mut next: Vec<QueueNotification> = current
        .iter()
        .filter(|c| !c.id.starts_with(NOTIFICATION_ID_PREFIX))
        .cloned()
        .collect();
    next.extend(desired.iter().cloned());
    Some(next)
}

/// The queue policy statement that lets `bucket` send to `queue_arn`.
pub fn policy_statement(bucket: &str, queue_arn: &str) -> serde_json::Value {
    serde_json::json!({
        "Sid": POLICY_SID,
        "Effect": "Allow",
        "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "SQS:SendMessage",
        "Resource": queue_arn,
        "Condition": {"ArnLike": {"aws:SourceArn": format!("arn:aws:s3:::{bucket}")}}
    })
}

/// The intake queue's attributes as they should be (those sync manages).
pub fn desired_queue_attributes(
    visibility_secs: u64,
    dlq_arn: &str,
    max_receive_count: u32,
) -> BTreeMap<String, String> {
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": max_receive_count,
    });
    BTreeMap::from([
        ("VisibilityTimeout".to_string(), visibility_secs.to_string()),
        (
            "MessageRetentionPeriod".to_string(),
            RETENTION_SECS.to_string(),
        ),
        ("RedrivePolicy".to_string(), redrive.to_string()),
    ])
}

/// The attributes to set: those of `desired` that `current` lacks or has
/// otherwise (a redrive policy compared by meaning, not by its text), and
/// the policy when its statement for the bucket is missing or different
/// (the other statements kept). (name, new value, old value).
pub fn plan_queue_attributes(
    current: &BTreeMap<String, String>,
    desired: &BTreeMap<String, String>,
    statement: Option<&serde_json::Value>,
) -> Vec<(String, String, Option<String>)> {
    let mut out = Vec::new();
    for (k, v) in desired {
        let old = current.get(k);
        let same = match (k.as_str(), old) {
            ("RedrivePolicy", Some(o)) => same_redrive(o, v),
            (_, Some(o)) => o == v,
            (_, None) => false,
        };
        if !same {
            out.push((k.clone(), v.clone(), old.cloned()));
        }
    }
    if let Some(statement) = statement {
        let old = current.get("Policy");
        let mut policy: serde_json::Value = old
            .and_then(|p| serde_json::from_str(p).ok())
            .unwrap_or_else(|| serde_json::json!({"Version": "2012-10-17", "Statement": []}));
        let statements = policy
            .get("Statement")
            .and_then(|s| s.as_array())
            .cloned()
            .unwrap_or_default();
        let ours = statements
            .iter()
            .find(|s| s.get("Sid").and_then(|x| x.as_str()) == Some(POLICY_SID));
        if ours != Some(statement) {
            let mut kept: Vec<serde_json::Value> = statements
                .into_iter()
                .filter(|s| s.get("Sid").and_then(|x| x.as_str()) != Some(POLICY_SID))
                .collect();
            kept.push(statement.clone());
            policy["Statement"] = serde_json::Value::Array(kept);
            if policy.get("Version").is_none() {
                policy["Version"] = "2012-10-17".into();
            }
            out.push(("Policy".to_string(), policy.to_string(), old.cloned()));
        }
    }
    out
}

/// Two redrive policies say the same: same target, same count (AWS gives
/// the count as a number, some stand-ins as a string).
fn same_redrive(a: &str, b: &str) -> bool {
    let parse = |s: &str| -> Option<(String, String)> {
        let v: serde_json::Value = serde_json::from_str(s).ok()?;
        let arn = v.get("deadLetterTargetArn")?.as_str()?.to_string();
        let count = match v.get("maxReceiveCount")? {
            serde_json::Value::String(s) => s.clone(),
            n => n.to_string(),
        };
        Some((arn, count))
    };
    parse(a).is_some() && parse(a) == parse(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aws() -> Aws {
        Aws {
            region: "us-east-1".into(),
            endpoint_url: None,
            server_id: "s-0123456789abcdef0".into(),
            role_arn: "arn:aws:iam::1:role/r".into(),
            bucket: "bolsa".into(),
            home_prefix: "p".into(),
            import_host_key: false,
            s3: None,
        }
    }

    #[test]
    fn notifications_are_planned_per_account_and_others_are_kept() {
        let desired = desired_notifications(&aws(), ["b", "a"], "arn:q");
        assert_eq!(desired[0].id, "pasarela-a");
        assert_eq!(desired[0].prefix.as_deref(), Some("p/a/incoming/"));
        let theirs = QueueNotification {
            id: "audit".into(),
            queue_arn: "arn:other".into(),
            events: vec!["s3:ObjectRemoved:*".into()],
            prefix: None,
            other_rules: vec![("suffix".into(), ".log".into())],
        };
        let next = plan_notifications(std::slice::from_ref(&theirs), &desired).unwrap();
        assert_eq!(next.len(), 3);
        assert_eq!(next[0], theirs);
        let mut current = next.clone();
        current.reverse();
        assert_eq!(
            plan_notifications(&current, &desired),
            None,
            "order does not matter"
        );
        // An account removed: its configuration goes.
        let fewer = desired_notifications(&aws(), ["a"], "arn:q");
        assert_eq!(plan_notifications(&current, &fewer).unwrap().len(), 2);
    }

    #[test]
    fn queue_attributes_are_compared_by_meaning() {
        let desired = desired_queue_attributes(300, "arn:dlq", 5);
        let statement = policy_statement("bolsa", "arn:q");
        let all = plan_queue_attributes(&BTreeMap::new(), &desired, Some(&statement));
        assert_eq!(all.len(), 4);
        let mut current: BTreeMap<String, String> =
            all.iter().map(|(k, v, _)| (k.clone(), v.clone())).collect();
        current.insert(
            "RedrivePolicy".into(),
            r#"{"maxReceiveCount":"5","deadLetterTargetArn":"arn:dlq"}"#.into(),
        );
        assert!(plan_queue_attributes(&current, &desired, Some(&statement)).is_empty());
        current.insert("VisibilityTimeout".into(), "30".into());
        let p = plan_queue_attributes(&current, &desired, Some(&statement));
        assert_eq!(
            p,
            vec![("VisibilityTimeout".into(), "300".into(), Some("30".into()))]
        );
        // Someone else's statement stays beside ours.
        current.insert(
            "Policy".into(),
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"mine","Effect":"Deny"}]}"#.into(),
        );
        let p = plan_queue_attributes(&current, &desired, Some(&statement));
        let policy = &p.iter().find(|x| x.0 == "Policy").unwrap().1;
        let v: serde_json::Value = serde_json::from_str(policy).unwrap();
        assert_eq!(v["Statement"].as_array().unwrap().len(), 2);
    }
}
