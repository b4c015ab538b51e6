//! `coffer admin`: master-key rotation and rekeying, with a progress bar. Opens the data
//! directory itself when it is idle; goes through the running server's admin API (signed as
//! an admin user of the configuration) when a server holds it.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use coffer_s3::{ServerIdentity, UserDirectory};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use crate::admin_ops::{self, ADMIN_HEADER, AdminTarget};
use crate::cli::{AdminArgs, AdminCommand, RekeyArgs, ScrubArgs, Target};
use crate::config::{ServeConfig, users_or_generated};
use crate::datadir::{self, OpenError};
use crate::listening::{self, Listening};

pub(crate) enum Ops {
    Local(AdminTarget),
    Remote(Remote),
}

pub(crate) struct Remote {
    url: String,
    host: String,
    addr: SocketAddr,
    tls: Option<Arc<rustls::ClientConfig>>,
    region: String,
    access_key: String,
    secret_key: zeroize::Zeroizing<String>,
}

pub async fn run(args: AdminArgs) -> Result<(), String> {
    match args.command {
        AdminCommand::RotateMasterKey(target) => {
            let ops = connect(&target).await?;
            let out = ops.call("rotate-master-key", Value::Null).await?;
            println!(
                "coffer: the SSE-S3 master key is now version {}",
                out["version"]
            );
            println!(
                "coffer: run `coffer admin rekey` to re-seal object keys under older versions"
            );
            Ok(())
        }
        AdminCommand::Rekey(args) => rekey(args).await,
        AdminCommand::Scrub(args) => scrub(args).await,
        AdminCommand::Migrate(args) => crate::migrate::run(args).await,
    }
}

pub(crate) async fn connect(target: &Target) -> Result<Ops, String> {
    let config = ServeConfig::for_target(target)?;
    let identity = ServerIdentity {
        account_id: config.account_id.clone(),
        region: config.region.clone(),
    };
    // The embedded database's lock says whether a server holds the directory; the shared
    // backends have no such lock, so a live server's record of its addresses says it.
    if !config.storage.is_embedded() && crate::listening::server_alive(&config.data_dir) {
        return Remote::new(&config).map(Ops::Remote);
    }
    match datadir::open(&config.storage, &config.data_dir).await {
        Ok(dir) => {
            let audit = if config.audit_enabled {
                Some(dir.open_audit(&config.data_dir, &identity, config.audit_cadence)?)
            } else {
                None
            };
            let (s3, kms) = dir.into_services(UserDirectory::default(), identity, audit)?;
            Ok(Ops::Local(AdminTarget {
                s3,
                kms,
                trail_health: Default::default(),
            }))
        }
        Err(OpenError::InUse) => Remote::new(&config).map(Ops::Remote),
        Err(e) => Err(e.into()),
    }
}

impl Ops {
    pub(crate) async fn call(&self, op: &str, args: Value) -> Result<Value, String> {
        match self {
            Ops::Local(target) => {
                let (target, op) = (target.clone(), op.to_owned());
                tokio::task::spawn_blocking(move || admin_ops::run(&target, &op, &args))
                    .await
                    .map_err(|e| e.to_string())?
            }
            Ops::Remote(r) => r.call(op, args).await,
        }
    }
}

impl Remote {
    /// The server holding the data directory, at the addresses it recorded there when it
    /// started (`listening.json`): HTTP if it listens on it, else HTTPS trusting the
    /// certificate it serves. A record from before that file existed falls back to the
    /// configuration's HTTP address.
    fn new(config: &ServeConfig) -> Result<Self, String> {
        let (addr, tls) = match listening::read(&config.data_dir)? {
            Some(Listening {
                http: Some(http), ..
            }) => (Listening::reachable(http), None),
            Some(Listening {
                https: Some(https),
                tls_cert: Some(cert),
                ..
            }) => (Listening::reachable(https), Some(client_tls(&cert)?)),
            Some(_) => {
                return Err(
                    "a server holds the data directory, and it records no address to reach it"
                        .into(),
                );
            }
            None => match crate::cli::listen_addr(&config.http_listen)? {
                Some(a) => (Listening::reachable(a), None),
                None => {
                    return Err("a server holds the data directory, and neither it nor the configuration names an HTTP listener to reach it".into());
                }
            },
        };
        let (users, _) = users_or_generated(config)?;
        let admin = users.iter().find(|u| u.admin).ok_or(
            "a server holds the data directory, and the configuration names no admin user",
        )?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        Ok(Self {
            url: format!("{scheme}://{addr}/"),
            host: addr.to_string(),
            addr,
            tls,
            region: config.region.clone(),
            access_key: admin.access_key.clone(),
            secret_key: zeroize::Zeroizing::new(admin.secret_key.clone()),
        })
    }

    /// Sends one request on a new connection (over TLS when the server is reached by HTTPS).
    async fn exchange(
        &self,
        req: http::Request<Full<Bytes>>,
    ) -> Result<(http::StatusCode, Bytes), String> {
        let unreachable =
            |e: &dyn std::fmt::Display| format!("cannot reach the server at {}: {e}", self.url);
        let tcp = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|e| unreachable(&e))?;
        let resp = match &self.tls {
            None => send(TokioIo::new(tcp), req).await,
            Some(cfg) => {
                let name = rustls::pki_types::ServerName::IpAddress(self.addr.ip().into());
                let stream = tokio_rustls::TlsConnector::from(cfg.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| unreachable(&e))?;
                send(TokioIo::new(stream), req).await
            }
        }
        .map_err(|e| unreachable(&e))?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, bytes))
    }

    async fn call(&self, op: &str, args: Value) -> Result<Value, String> {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        use aws_sigv4::sign::v4;
        let body = args.to_string().into_bytes();
        let payload = hex::encode(ring::digest::digest(&ring::digest::SHA256, &body));
        let mut headers = vec![
            ("host".to_owned(), self.host.clone()),
            (ADMIN_HEADER.to_owned(), op.to_owned()),
            ("x-amz-content-sha256".to_owned(), payload.clone()),
        ];
        let identity = aws_credential_types::Credentials::new(
            &self.access_key,
            self.secret_key.as_str(),
            None,
            None,
            "coffer-admin",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let signable = SignableRequest::new(
            "POST",
            &self.url,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Precomputed(payload),
        )
        .map_err(|e| e.to_string())?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| e.to_string())?
            .into_parts();
        for (k, v) in instructions.headers() {
            headers.push((k.to_owned(), v.to_owned()));
        }
        // Origin form on the wire; the host header names the server.
        let mut req = http::Request::builder().method("POST").uri("/");
        for (k, v) in &headers {
            req = req.header(k, v);
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let (status, bytes) = self.exchange(req).await?;
        if !status.is_success() {
            return Err(format!(
                "the server refused ({status}): {}",
                String::from_utf8_lossy(&bytes)
            ));
        }
        serde_json::from_slice(&bytes).map_err(|e| e.to_string())
    }
}

/// One HTTP/1.1 request on `io`.
async fn send<T>(
    io: TokioIo<T>,
    req: http::Request<Full<Bytes>>,
) -> Result<http::Response<hyper::body::Incoming>, hyper::Error>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(conn);
    sender.send_request(req).await
}

/// A TLS client that trusts only the certificate the server records that it serves.
fn client_tls(cert: &Path) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("cannot read certificate {}: {e}", cert.display()))?
    {
        let c = c.map_err(|e| format!("cannot read certificate {}: {e}", cert.display()))?;
        roots
            .add(c)
            .map_err(|e| format!("unusable certificate {}: {e}", cert.display()))?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

async fn rekey(args: RekeyArgs) -> Result<(), String> {
    let ops = connect(&args.target).await?;
    let status = ops.call("key-status", Value::Null).await?;
    let total = status["objects"].as_u64().unwrap_or(0);
    let stale = status["objects_under_older_versions"].as_u64().unwrap_or(0);
    println!(
        "coffer: master key version {}; {stale} of {total} objects under older versions",
        status["current"]
    );
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {pos}/{len} objects scanned, {msg} [{elapsed_precise}, eta {eta}]",
        )
        .map_err(|e| e.to_string())?,
    );
    let (scanned, resealed) = rekey_pass(&ops, &args, &bar).await?;
    bar.finish();
    println!("coffer: rekey complete: {scanned} objects scanned, {resealed} data keys re-sealed");
    if args.keep_old_versions {
        return Ok(());
    }
    // Other gateways learn of a rotation within a few seconds (they reload the keyring
    // every MASTER_KEY_FOLLOW_PERIOD); until then they may still seal new objects under
    // the old version, and retiring it is refused. Such stragglers are re-sealed by another
    // pass, and retiring is tried again, for a bounded time.
    let mut attempts = 0;
    let out = loop {
        match ops.call("retire-master-keys", Value::Null).await {
            Ok(out) => break out,
            Err(e) if e.contains("still need older master-key versions") && attempts < 10 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
                let (_, again) = rekey_pass(&ops, &args, &ProgressBar::hidden()).await?;
                println!("coffer: re-sealed {again} data keys written meanwhile");
            }
            Err(e) => return Err(e),
        }
    };
    match out["retired"].as_array() {
        Some(v) if !v.is_empty() => println!(
            "coffer: retired master-key versions {}",
            v.iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => println!("coffer: no master-key version to retire"),
    }
    Ok(())
}

/// One scan over every object, re-sealing what an older master-key version seals: returns
/// how many were scanned and re-sealed.
async fn rekey_pass(ops: &Ops, args: &RekeyArgs, bar: &ProgressBar) -> Result<(u64, u64), String> {
    let started = Instant::now();
    let (mut scanned, mut resealed) = (0u64, 0u64);
    let mut after = Value::Null;
    loop {
        let step = ops
            .call("rekey-step", json!({ "after": after, "limit": args.batch }))
            .await?;
        let n = step["scanned"].as_u64().unwrap_or(0);
        scanned += n;
        resealed += step["resealed"].as_u64().unwrap_or(0);
        bar.inc(n);
        bar.set_message(format!("{resealed} re-sealed"));
        if step["next"].is_null() {
            return Ok((scanned, resealed));
        }
        after = step["next"].clone();
        if let Some(rate) = args.rate.filter(|r| *r > 0.0) {
            let due = Duration::from_secs_f64(scanned as f64 / rate);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
    }
}

async fn scrub(args: ScrubArgs) -> Result<(), String> {
    let ops = connect(&args.target).await?;
    let status = ops.call("key-status", Value::Null).await?;
    let total = status["objects"].as_u64().unwrap_or(0);
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {pos}/{len} objects scrubbed, {msg} [{elapsed_precise}, eta {eta}]",
        )
        .map_err(|e| e.to_string())?,
    );
    let started = Instant::now();
    let (mut scanned, mut bytes, mut structure_only) = (0u64, 0u64, 0u64);
    let mut damaged: Vec<Value> = Vec::new();
    let mut after = Value::Null;
    loop {
        let step = ops
            .call("scrub-step", json!({ "after": after, "limit": args.batch }))
            .await?;
        let n = step["scanned"].as_u64().unwrap_or(0);
        scanned += n;
        bytes += step["bytes"].as_u64().unwrap_or(0);
        structure_only += step["structure_only"].as_u64().unwrap_or(0);
        for d in step["damaged"].as_array().into_iter().flatten() {
            // Printed whether or not the bar is drawn (it is hidden off a terminal).
            bar.suspend(|| {
                println!(
                    "DAMAGED {}/{}: {}",
                    d["bucket"].as_str().unwrap_or_default(),
                    d["key"].as_str().unwrap_or_default(),
                    d["what"].as_str().unwrap_or_default()
                )
            });
            damaged.push(d.clone());
        }
        bar.inc(n);
        bar.set_message(format!(
            "{} MiB authenticated, {} damaged",
            bytes >> 20,
            damaged.len()
        ));
        if step["next"].is_null() {
            break;
        }
        after = step["next"].clone();
        if let Some(rate) = args.rate.filter(|r| *r > 0.0) {
            let due = Duration::from_secs_f64(bytes as f64 / (rate * 1024.0 * 1024.0));
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
    }
    bar.finish();
    println!(
        "coffer: scrub complete: {scanned} objects, {bytes} bytes authenticated, \
         {structure_only} SSE-C objects checked for structure only (their key is the \
         customer's), {} damaged",
        damaged.len()
    );
    if damaged.is_empty() {
        Ok(())
    } else {
        Err(format!("{} damaged objects", damaged.len()))
    }
}
