//! `pasarela aws sync`: read the server's state with aws-sdk-transfer, plan
//! with `plan`, carry the plan out (or print it with `--dry-run`).
//!
//! Credentials come from the AWS chain (environment, profile, web identity,
//! container or instance role) and never appear in output. Host keys are sent
//! to ImportHostKey only and never printed; their fingerprints are.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_transfer::Client;
use aws_sdk_transfer::config::http::HttpResponse;
use aws_sdk_transfer::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_transfer::types::{HomeDirectoryMapEntry, HomeDirectoryType, IdentityProviderType};
use russh::keys::ssh_key::LineEnding;
use russh::keys::{HashAlg, PrivateKey};

use super::config::Aws;
use super::plan::{self, Action, RemoteHostKey, RemoteKey, RemoteUser};
use crate::config::Config;
use crate::exit::Exit;

/// Sync the Transfer server of `config`'s `[aws]` section with its accounts:
/// local work first (host keys), then read the server, plan, and carry the
/// plan out or print it. [`Exit::Config`] without `[aws]` or with unusable
/// host keys; [`Exit::Unavailable`] when AWS cannot be read or a change fails.
pub async fn run(config: &Config, dry_run: bool, prune: bool) -> Exit {
    let Some(aws) = config.aws.clone() else {
        eprintln!(
            "error: {}: no [aws] section: nothing to sync with (docs/AWS.md)",
            config.source.display()
        );
        return Exit::Config;
    };
    // Local work first: a missing key directory fails before any AWS call.
    // A dry run does not generate missing host keys: it changes nothing, here either.
    let host_key_dir = host_key_dir(config);
    let generate_later = aws.import_host_key
        && dry_run
        && !HOST_KEY_FILES
            .iter()
            .all(|f| host_key_dir.join(f).is_file());
    let host_keys = if aws.import_host_key && !generate_later {
        match crate::sftp::hostkeys::load_or_generate(&host_key_dir) {
            Ok(k) => k,
            Err(e) => {
                eprintln!("error: host keys: {e:#}");
                return Exit::Config;
            }
        }
    } else {
        Vec::new()
    };
    // The S3 path's queues and bucket notification (`[aws.s3]`), then Transfer.
    let mut s3_failed = false;
    if let Some(s3) = &aws.s3 {
        match super::s3_setup::run(config, &aws, s3, dry_run).await {
            Ok(_) => {}
            Err(e) => {
                eprintln!("error: S3 path: {e}");
                s3_failed = true;
            }
        }
    }
    let desired = plan::desired(config, &aws);
    let client = client(&aws).await;
    println!(
        "Transfer server {} in {}{}{}",
        aws.server_id,
        aws.region,
        aws.endpoint_url
            .as_deref()
            .map(|u| format!(" at {u}"))
            .unwrap_or_default(),
        if dry_run {
            " (dry run: nothing is changed)"
        } else {
            ""
        }
    );

    let mut p = match read_state(&client, &aws, &desired, prune).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("nothing was changed");
            return Exit::Unavailable;
        }
    };
    if generate_later {
        p.notes.push(format!(
            "no host keys in {} yet: a real run generates them, as the daemon's first start would, and imports them",
            host_key_dir.display()
        ));
    } else if aws.import_host_key {
        match list_host_keys(&client, &aws).await {
            Ok(remote) => {
                let local: Vec<(String, String)> = host_keys
                    .iter()
                    .map(|k| {
                        (
                            k.algorithm().to_string(),
                            k.public_key().fingerprint(HashAlg::Sha256).to_string(),
                        )
                    })
                    .collect();
                plan::plan_host_keys(&mut p, &local, &remote);
            }
            Err(e) => {
                eprintln!("error: {e}");
                eprintln!("nothing was changed");
                return Exit::Unavailable;
            }
        }
    }
    print_findings(&p, prune);
    let failures = carry_out(&client, &aws, &p, &host_keys, dry_run).await;
    print_summary(&p, dry_run, prune);
    if s3_failed {
        return Exit::Unavailable;
    }
    if failures > 0 {
        eprintln!(
            "error: {failures} change(s) failed; the others were made. Run the sync again to retry."
        );
        return Exit::Unavailable;
    }
    Exit::Ok
}

/// What the plan skips, notes, keeps and leaves unchanged.
fn print_findings(p: &plan::Plan, prune: bool) {
    for s in &p.skipped {
        println!("skip account {}: {}", s.account, s.reason);
    }
    for n in &p.notes {
        println!("note: {n}");
    }
    for s in &p.strays {
        if prune {
            continue; // its DeleteUser action is printed below
        }
        println!("stray user {s}: not a Pasarela account with SSH keys; kept (--prune deletes it)");
    }
    for u in &p.unchanged_users {
        println!("unchanged user {u}");
    }
    for h in &p.unchanged_host_keys {
        println!("unchanged host key {h}");
    }
}

/// Run (or with `dry_run`, print) every action in order; returns how many
/// failed. The keys of a user that could not be created are skipped.
async fn carry_out(
    client: &Client,
    aws: &Aws,
    p: &plan::Plan,
    host_keys: &[PrivateKey],
    dry_run: bool,
) -> usize {
    let mut failures = 0usize;
    let mut not_created: BTreeSet<String> = BTreeSet::new();
    for a in &p.actions {
        if dry_run {
            println!("would {a}");
            continue;
        }
        let user = match a {
            Action::ImportKey { user, .. } | Action::DeleteKey { user, .. } => Some(user),
            _ => None,
        };
        if let Some(u) = user
            && not_created.contains(u)
        {
            eprintln!("skipped: {a} (the user could not be created)");
            failures += 1;
            continue;
        }
        match execute(client, aws, a, host_keys).await {
            Ok(()) => println!("{a}: done"),
            Err(e) => {
                eprintln!("error: {a}: {e}");
                failures += 1;
                if let Action::CreateUser { name, .. } = a {
                    not_created.insert(name.clone());
                }
            }
        }
    }
    failures
}

fn print_summary(p: &plan::Plan, dry_run: bool, prune: bool) {
    let counts = p.counts();
    if p.actions.is_empty() {
        println!("summary: nothing to change; {counts}");
    } else if dry_run {
        println!("summary (dry run, nothing changed): would change {counts}");
    } else {
        println!("summary: {counts}");
    }
    if !p.strays.is_empty() && !prune {
        println!(
            "{} stray user(s) kept; `pasarela aws sync --prune` deletes them",
            p.strays.len()
        );
    }
}

/// The files `sftp::hostkeys` keeps the daemon's host keys in.
const HOST_KEY_FILES: [&str; 2] = ["ssh_host_ed25519_key", "ssh_host_ecdsa_key"];

/// Where the daemon keeps its host keys (`[sftp] host_key_dir`).
fn host_key_dir(config: &Config) -> std::path::PathBuf {
    config
        .sftp
        .as_ref()
        .map(|s| s.host_key_dir(&config.daemon.state_dir))
        .unwrap_or_else(|| config.daemon.state_dir.join("keys"))
}

async fn client(aws: &Aws) -> Client {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(10))
        .operation_timeout(Duration::from_secs(120))
        .build();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(aws.region.clone()))
        .http_client(http)
        .timeout_config(timeouts);
    if let Some(url) = &aws.endpoint_url {
        loader = loader.endpoint_url(url.clone());
    }
    Client::new(&loader.load().await)
}

/// A readable reason for a failed call: the AWS error code and message, the
/// HTTP status when the endpoint gave no AWS error (e.g. an operation it does
/// not implement), or the chain of causes (connection refused, no credentials).
fn explain<E>(e: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let text = match (e.code(), e.message(), e.raw_response()) {
        (Some(code), Some(msg), _) => format!("{code}: {msg}"),
        (Some(code), None, _) => code.to_string(),
        (None, _, Some(resp)) => format!(
            "HTTP {} with no AWS error code in the answer (an endpoint that lacks the operation answers this way)",
            resp.status().as_u16()
        ),
        (None, _, None) => causes(e),
    };
    if text.to_ascii_lowercase().contains("credential") {
        format!(
            "{text} (credentials come from the AWS chain: AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or a role)"
        )
    } else {
        text
    }
}

/// An error and its sources, `a: b: c`, without repeating a source a message
/// already includes, and without the Debug dump `DisplayErrorContext` adds.
fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        let t = s.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        next = s.source();
    }
    text
}

/// Check the server, list its users, describe Pasarela's, and plan.
async fn read_state(
    client: &Client,
    aws: &Aws,
    desired: &plan::Desired,
    prune: bool,
) -> Result<plan::Plan, String> {
    let server = client
        .describe_server()
        .server_id(&aws.server_id)
        .send()
        .await
        .map_err(|e| format!("DescribeServer {}: {}", aws.server_id, explain(&e)))?;
    if let Some(idp) = server.server().and_then(|s| s.identity_provider_type())
        && *idp != IdentityProviderType::ServiceManaged
    {
        return Err(format!(
            "server {} uses identity provider {}: only SERVICE_MANAGED servers keep users and keys that can be synced",
            aws.server_id,
            idp.as_str()
        ));
    }

    let mut names: Vec<String> = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = client
            .list_users()
            .server_id(&aws.server_id)
            .max_results(1000)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| format!("ListUsers {}: {}", aws.server_id, explain(&e)))?;
        names.extend(
            out.users()
                .iter()
                .filter_map(|u| u.user_name().map(str::to_string)),
        );
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }

    let wanted: BTreeSet<&str> = desired.users.iter().map(|u| u.name.as_str()).collect();
    let mut remote: BTreeMap<String, Option<RemoteUser>> = BTreeMap::new();
    for name in names {
        if !wanted.contains(name.as_str()) {
            remote.insert(name, None);
            continue;
        }
        let out = client
            .describe_user()
            .server_id(&aws.server_id)
            .user_name(&name)
            .send()
            .await
            .map_err(|e| format!("DescribeUser {name}: {}", explain(&e)))?;
        let Some(u) = out.user() else {
            return Err(format!("DescribeUser {name}: the answer holds no user"));
        };
        let user = RemoteUser {
            role: u.role().map(str::to_string),
            home_type: u.home_directory_type().map(|t| t.as_str().to_string()),
            mappings: u
                .home_directory_mappings()
                .iter()
                .map(|m| (m.entry().to_string(), m.target().to_string()))
                .collect(),
            keys: u
                .ssh_public_keys()
                .iter()
                .map(|k| RemoteKey {
                    id: k.ssh_public_key_id().to_string(),
                    body: k.ssh_public_key_body().to_string(),
                })
                .collect(),
        };
        remote.insert(name, Some(user));
    }
    Ok(plan::plan(desired, &remote, prune))
}

async fn list_host_keys(client: &Client, aws: &Aws) -> Result<Vec<RemoteHostKey>, String> {
    let mut keys = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = client
            .list_host_keys()
            .server_id(&aws.server_id)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| format!("ListHostKeys {}: {}", aws.server_id, explain(&e)))?;
        keys.extend(out.host_keys().iter().map(|k| RemoteHostKey {
            fingerprint: k.fingerprint().map(str::to_string),
        }));
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    Ok(keys)
}

fn home(target: &str) -> Result<HomeDirectoryMapEntry, String> {
    HomeDirectoryMapEntry::builder()
        .entry("/")
        .target(target)
        .build()
        .map_err(|e| e.to_string())
}

async fn execute(
    client: &Client,
    aws: &Aws,
    action: &Action,
    host_keys: &[PrivateKey],
) -> Result<(), String> {
    let server = aws.server_id.as_str();
    match action {
        Action::CreateUser { name, role, target } => client
            .create_user()
            .server_id(server)
            .user_name(name)
            .role(role)
            .home_directory_type(HomeDirectoryType::Logical)
            .home_directory_mappings(home(target)?)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| explain(&e)),
        Action::UpdateUser {
            name, role, target, ..
        } => client
            .update_user()
            .server_id(server)
            .user_name(name)
            .role(role)
            .home_directory_type(HomeDirectoryType::Logical)
            .home_directory_mappings(home(target)?)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| explain(&e)),
        Action::ImportKey { user, body, .. } => client
            .import_ssh_public_key()
            .server_id(server)
            .user_name(user)
            .ssh_public_key_body(body)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| explain(&e)),
        Action::DeleteKey { user, id, .. } => client
            .delete_ssh_public_key()
            .server_id(server)
            .user_name(user)
            .ssh_public_key_id(id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| explain(&e)),
        Action::DeleteUser { name } => client
            .delete_user()
            .server_id(server)
            .user_name(name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| explain(&e)),
        Action::ImportHostKey {
            index, algorithm, ..
        } => {
            let key = host_keys
                .get(*index)
                .ok_or_else(|| "internal error: no such host key".to_string())?;
            let body = key
                .to_openssh(LineEnding::LF)
                .map_err(|e| format!("cannot encode the host key: {e}"))?;
            client
                .import_host_key()
                .server_id(server)
                .host_key_body(body.as_str())
                .description(format!("pasarela {algorithm} host key"))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| explain(&e))
        }
    }
}
