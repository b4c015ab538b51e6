//! `coffer serve`: opens the data directory, collects orphans, binds the listeners and serves.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use coffer_s3::{RequireSigV4, ServerIdentity, ServerOptions, User, UserDirectory};
use coffer_store::{GcPolicy, collect_orphans};
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::admin_ops::AdminTarget;
use crate::admin_route::AdminRoute;
use crate::chores;
use crate::cli::{ServeArgs, listen_addr};
use crate::config::{ServeConfig, users_or_generated};
use crate::datadir;
use crate::front::Front;
use crate::gateway;
use crate::host::LocalVirtualHosts;
use crate::json_api::JsonApis;
use crate::listener::Connections;
use crate::listening;
use crate::private_files;
use crate::routes::Routes;
use crate::storage_config::BlobBackend;
use crate::tls;

/// How long released blobs wait in a shared store before they are deleted (see
/// `ServerOptions::blob_release_delay`).
const SHARED_BLOB_RELEASE_DELAY: Duration = Duration::from_secs(600);

pub async fn serve(args: ServeArgs) -> Result<(), String> {
    let config = ServeConfig::resolve(&args)?;
    let http_addr = listen_addr(&config.http_listen)?;
    let https_addr = listen_addr(&config.https_listen)?;
    if http_addr.is_none() && https_addr.is_none() {
        return Err("both listeners are disabled; set http_listen or https_listen".into());
    }
    private_files::restrict_new_files();
    private_files::create_private_dir(&config.data_dir)?;
    let tightened = private_files::tighten(&config.data_dir)?;
    if tightened > 0 {
        tracing::warn!(
            data_dir = %config.data_dir.display(),
            entries = tightened,
            "took group and other permissions away from entries in the data directory (left \
             by an earlier version); it is now 0700 and its files 0600"
        );
    }

    tracing::info!(
        data_dir = %config.data_dir.display(),
        region = %config.region,
        account_id = %config.account_id,
        allow_sse_c_over_http = config.allow_sse_c_over_http,
        block_sse_c_on_new_buckets = config.block_sse_c_on_new_buckets,
        "starting"
    );
    let (users, generated) = users_or_generated(&config)?;
    match &generated {
        // Printed once, when generated; afterwards they are only in the 0600 file.
        Some(path) => {
            for u in &users {
                println!(
                    "coffer: generated user {:?} (saved to {})",
                    u.name,
                    path.display()
                );
                println!("  access key: {}", u.access_key);
                println!("  secret key: {}", u.secret_key);
            }
        }
        None if config.users.is_empty() => println!(
            "coffer: users from {}",
            config.data_dir.join("credentials.toml").display()
        ),
        None => {}
    }
    let directory = UserDirectory::new(users.iter().map(|u| {
        User::new(
            u.name.clone(),
            u.access_key.clone(),
            u.secret_key.clone(),
            u.admin,
        )
    }));

    // Test builds only (feature `failpoints`); a no-op otherwise.
    coffer_faults::configure_from_env()?;
    let dir = datadir::open(&config.storage, &config.data_dir).await?;
    let gateway = gateway::load_or_create(&config.data_dir)?;
    tracing::info!(gateway = %gateway, "gateway id");
    let dir_meta = dir.meta.clone();
    let shared_blobs = (!config.storage.is_embedded()).then(|| dir.blobs.clone());
    if config.storage.is_embedded() {
        // Exclusive: the database lock is ours and nothing is served yet, so whatever no
        // record names is a leftover, however young.
        let report = collect_orphans(
            dir.meta.as_ref(),
            dir.blobs.as_ref(),
            &GcPolicy::exclusive(),
        )
        .await
        .map_err(|e| format!("start-up collection failed: {e}"))?;
        tracing::info!(
            unfinished_writes = report.unfinished_writes,
            orphan_blobs = report.orphan_blobs,
            stale_intents = report.stale_intents,
            "collected leftovers of earlier runs"
        );
    }
    let identity = ServerIdentity {
        account_id: config.account_id.clone(),
        region: config.region.clone(),
    };
    let audit = if config.audit_enabled {
        Some(dir.open_audit(&config.data_dir, &identity, config.audit_cadence)?)
    } else {
        tracing::warn!(
            "the audit trail is disabled (audit_enabled = false): key use is not recorded"
        );
        None
    };
    let trail_health = Arc::new(crate::trail_health::TrailHealth::default());
    if let Some(a) = audit
        .clone()
        .filter(|_| config.audit_self_check_seconds > 0)
    {
        tokio::spawn(check_trail(
            a,
            Duration::from_secs(config.audit_self_check_seconds),
            trail_health.clone(),
        ));
    }
    let audit_for_sealing = audit.clone().filter(|a| a.stores().is_shared());
    let (mut s3, kms) = dir.into_services(directory.clone(), identity, audit.clone())?;
    if let Some(a) = audit.filter(|_| config.audit_s3_data_events) {
        s3 = s3.with_data_events(a);
    }
    let s3 = s3.with_options(ServerOptions {
        allow_sse_c_over_http: config.allow_sse_c_over_http,
        block_sse_c_on_new_buckets: config.block_sse_c_on_new_buckets,
        blob_release_delay: match config.storage.blobs.backend {
            BlobBackend::Local => Duration::ZERO,
            // Longer than any read of an object that is being replaced should take.
            BlobBackend::S3 => SHARED_BLOB_RELEASE_DELAY,
        },
    });
    let mut metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(&[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0])
        .map_err(|e| format!("cannot configure metrics: {e}"))?;
    // The audit journal's times are fractions of a millisecond.
    for name in [
        coffer_audit::RECORD_WAIT_SECONDS,
        coffer_audit::JOURNAL_SYNC_SECONDS,
    ] {
        metrics = metrics
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full(name.into()),
                coffer_audit::AUDIT_LATENCY_BUCKETS,
            )
            .map_err(|e| format!("cannot configure metrics: {e}"))?;
    }
    let metrics = metrics
        .install_recorder()
        .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
    // One gateway at a time runs each chore: the one holding its lease (taken before the
    // chores start, so that the first round of each already knows).
    let leases = chores::Leases::new(dir_meta.clone(), gateway.clone())?;
    let first = leases.clone();
    tokio::task::spawn_blocking(move || first.renew_once())
        .await
        .map_err(|_| "lease renewal panicked".to_string())?;
    tokio::spawn(leases.clone().renew_forever());
    if config.master_key_rotation_days > 0 {
        tokio::spawn(chores::rotate_master_key(
            s3.clone(),
            Duration::from_secs(u64::from(config.master_key_rotation_days) * 86_400),
            leases.clone(),
        ));
    }
    tokio::spawn(chores::kms_schedule(kms.clone(), leases.clone()));
    if !config.storage.is_embedded() {
        tokio::spawn(chores::follow_master_key(s3.clone()));
    }
    if let Some(a) = audit_for_sealing {
        // One gateway at a time cuts the shared trail's journal and signs its digests.
        tokio::spawn(chores::seal_audit(a, leases.clone()));
    }
    if let Some(blobs) = shared_blobs {
        // A shared store may have other writers (other gateways, a migration): only blobs
        // past the grace period that no record names and no intent covers are leftovers,
        // and walking a whole bucket must not hold up the start.
        tokio::spawn(chores::collect_shared(
            dir_meta.clone(),
            blobs,
            leases.clone(),
        ));
    }
    // Which gateway this is, as Prometheus names identities: an info series to join on
    // (a label on every series would change every existing series' identity).
    metrics::gauge!("coffer_gateway_info", "gateway" => gateway.clone()).set(1.0);
    let service = {
        let mut b = S3ServiceBuilder::new(s3.clone());
        b.set_config(Arc::new(s3s::config::StaticConfigProvider::new(Arc::new(
            post_form_limits(),
        ))));
        b.set_route(Routes {
            admin: AdminRoute {
                target: AdminTarget {
                    s3,
                    kms: kms.clone(),
                    trail_health: trail_health.clone(),
                },
                users: Arc::new(directory.clone()),
            },
        });
        b.set_auth(directory.clone());
        b.set_access(RequireSigV4);
        b.set_host(LocalVirtualHosts);
        Front {
            s3: b.build(),
            console: config.console_enabled.then(|| {
                crate::console::build(directory.clone(), config.region.clone(), metrics.clone())
            }),
            metrics,
            apis: JsonApis {
                kms: kms.clone(),
                users: Arc::new(directory.clone()),
                region: config.region.clone(),
                account_id: config.account_id.clone(),
            },
            transport: None,
            activity: None,
        }
    };

    let (tls_config, tls_cert) = match https_addr {
        None => (None, None),
        Some(_) => {
            let (cert, key) = match (&config.tls_cert, &config.tls_key) {
                (Some(c), Some(k)) => (c.clone(), k.clone()),
                _ => {
                    let cert = tls::ensure_dev_cert(&config.data_dir)?;
                    println!(
                        "coffer: TLS certificate {} (pass it to --ca-bundle)",
                        cert.display()
                    );
                    tls::dev_cert_paths(&config.data_dir)
                }
            };
            (Some(tls::server_config(&cert, &key)?), Some(cert))
        }
    };

    let connections = Connections::new(config.connections.clone());
    let http = match http_addr {
        Some(a) => Some(bind(a).await?),
        None => None,
    };
    let https = match https_addr {
        Some(a) => Some(bind(a).await?),
        None => None,
    };
    let shown = |l: &Option<TcpListener>| {
        l.as_ref()
            .and_then(|l| l.local_addr().ok())
            .map(|a| a.to_string())
            .unwrap_or_default()
    };
    // The operator commands find the server here, whatever addresses it was given.
    let pid = std::process::id();
    let bound = |l: &Option<TcpListener>| l.as_ref().and_then(|l| l.local_addr().ok());
    listening::write(
        &config.data_dir,
        &listening::Listening {
            pid,
            http: bound(&http),
            https: bound(&https),
            tls_cert: tls_cert.map(|c| std::path::absolute(&c).unwrap_or(c)),
        },
    )?;
    println!("coffer gateway {gateway}");
    println!("coffer ready http={} https={}", shown(&http), shown(&https));

    let mut tasks = Vec::new();
    if let Some(l) = http {
        tasks.push(tokio::spawn(connections.clone().accept_loop(
            l,
            service.clone(),
            None,
        )));
    }
    if let (Some(l), Some(cfg)) = (https, tls_config) {
        tasks.push(tokio::spawn(connections.clone().accept_loop(
            l,
            service.clone(),
            Some(TlsAcceptor::from(cfg)),
        )));
    }
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("cannot handle SIGTERM: {e}"))?;
    let outcome = tokio::select! {
        _ = futures::future::join_all(tasks) => Err("listeners stopped".into()),
        _ = tokio::signal::ctrl_c() => Ok(()),
        _ = terminate.recv() => Ok(()),
    };
    listening::remove(&config.data_dir, pid);
    outcome
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))
}

/// Verifies the whole trail every `period` (the first time one period after start): a
/// failure raises `coffer_audit_integrity_failures_total` and logs a `coffer::integrity`
/// line with what was found, so tampering is seen without anyone running `verify`. Of
/// gateways sharing a trail, the one that seals it checks it.
async fn check_trail(
    audit: Arc<coffer_audit::AuditLog>,
    period: Duration,
    health: Arc<crate::trail_health::TrailHealth>,
) {
    loop {
        tokio::time::sleep(period).await;
        if !audit.is_sealing() {
            continue;
        }
        let a = audit.clone();
        let Ok(report) = tokio::task::spawn_blocking(move || a.verify(None, None)).await else {
            tracing::error!("the audit trail self-check panicked");
            continue;
        };
        metrics::counter!("coffer_audit_self_checks_total").increment(1);
        health.record(&report);
        if report.passed() {
            tracing::debug!(
                records = report.records_checked,
                digests = report.digests_checked,
                "audit trail self-check passed"
            );
        } else {
            metrics::counter!("coffer_audit_integrity_failures_total").increment(1);
            tracing::error!(
                target: "coffer::integrity",
                problems = report.problems.len(),
                first = %report.problems.first().map(String::as_str).unwrap_or_default(),
                "integrity alert: the audit trail failed its self-check"
            );
        }
    }
}

/// Browser POST forms: the fields before the file are read (and held) before the signature
/// is checked, so they are bounded as S3 bounds them, 20 KiB in all
/// (`MaxPostPreDataLengthExceededError`); s3s's default, 20 MB, would let unsigned forms
/// hold 20 MB of memory per connection.
fn post_form_limits() -> s3s::config::S3Config {
    let mut config = s3s::config::S3Config::default();
    config.form_max_field_size = POST_FIELDS_LIMIT;
    config.form_max_fields_size = POST_FIELDS_LIMIT;
    config.form_max_parts = 100;
    config
}

/// S3's limit on a POST form's fields before the file.
pub const POST_FIELDS_LIMIT: usize = 20 * 1024;
