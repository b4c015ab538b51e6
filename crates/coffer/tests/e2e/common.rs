//! A real `coffer` server on ephemeral loopback ports, and clients for it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Region};

pub const ALICE: (&str, &str, &str) = (
    "alice",
    "AKIAALICE00000000001",
    "alice-secret-key-000000000000000000000001",
);
pub const BOB: (&str, &str, &str) = (
    "bob",
    "AKIABOB0000000000002",
    "bob-secret-key-00000000000000000000000002",
);

use crate::backends::shared_backend_sections;
pub use crate::backends::{embedded_only, psql, shared_backends};

pub struct Server {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub http: SocketAddr,
    pub https: SocketAddr,
    pub stdout_lines: Vec<String>,
    extra: Vec<String>,
    /// `COFFER_LOG` for the server; with `Some`, its log goes to [`Server::log_path`].
    log_level: Option<String>,
    /// A tmpfs mounted on the data directory, unmounted when the server is dropped.
    tmpfs: Option<PathBuf>,
    /// `[metadata]` and `[blobs]` under the shared backends (empty otherwise): an operator
    /// command's configuration names them too, to reach the same store.
    pub backend_sections: String,
    /// Shell commands run before the server is started in their place (`umask`, `ulimit`).
    shell_prelude: Option<String>,
}

impl Server {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server with extra `serve` flags.
    pub fn start_with(extra: &[&str]) -> Self {
        Self::start_configured("", extra, None)
    }

    /// Starts a server with extra top-level configuration lines, extra `serve` flags, and,
    /// when `log_level` is given, its log written to [`Server::log_path`] at that level.
    pub fn start_configured(config_lines: &str, extra: &[&str], log_level: Option<&str>) -> Self {
        Self::start_after_shell(None, config_lines, extra, log_level)
    }

    /// [`Server::start_configured`], with the server started by `/bin/sh` after
    /// `shell_prelude` (e.g. `umask 000` or `ulimit -n 128`), which it inherits.
    pub fn start_after_shell(
        shell_prelude: Option<&str>,
        config_lines: &str,
        extra: &[&str],
        log_level: Option<&str>,
    ) -> Self {
        let mut s = Self::prepare(config_lines, extra, log_level);
        s.shell_prelude = shell_prelude.map(str::to_owned);
        s.launch();
        s
    }

    /// Starts a server whose data directory is a fresh tmpfs of `size` (e.g. `"64m"`), so a
    /// test can fill the disk for real. `None` where mounting is not permitted (not root).
    pub fn start_on_tmpfs(size: &str) -> Option<Self> {
        let mut s = Self::prepare("", &[], None);
        let data = s.data_dir();
        std::fs::create_dir_all(&data).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&data)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|st| st.success());
        if !mounted {
            return None;
        }
        s.tmpfs = Some(data);
        s.launch();
        Some(s)
    }

    /// A server's directory and configuration (the same users as every test server), not
    /// started: for a test that fills its data directory first, then calls
    /// [`Server::start_prepared`].
    pub fn prepared(extra: &[&str]) -> Self {
        Self::prepare("", extra, None)
    }

    pub fn start_prepared(&mut self) {
        self.launch();
    }

    /// The configuration file the server runs with.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("coffer.toml")
    }

    /// A second gateway over this server's shared store (the same PostgreSQL schema and
    /// object-store prefix), with a data directory of its own and this server's root key,
    /// started. Only under the shared backends.
    pub fn another_gateway(&self) -> Self {
        let mut other = self.prepared_gateway();
        std::fs::copy(
            self.data_dir().join("root.key"),
            other.data_dir().join("root.key"),
        )
        .expect("the first gateway's root key");
        other.launch();
        other
    }

    /// A second gateway over this server's shared store, with an empty data directory of
    /// its own (no root key), not started.
    pub fn prepared_gateway(&self) -> Self {
        self.prepared_gateway_configured("")
    }

    /// [`Server::prepared_gateway`] with `config_lines` of its own (as the first gateway's).
    pub fn prepared_gateway_configured(&self, config_lines: &str) -> Self {
        assert!(
            shared_backends(),
            "gateways share a store only under the shared backends"
        );
        let other =
            Self::prepare_over(config_lines, &[], None, Some(self.backend_sections.clone()));
        std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
            .create(other.data_dir())
            .unwrap();
        other
    }

    /// Starts a prepared server after `/bin/sh` runs `prelude` (e.g. `export VAR=…`).
    pub fn start_prepared_after_shell(&mut self, prelude: &str) {
        self.shell_prelude = Some(prelude.to_owned());
        self.launch();
    }

    /// A server's directory and configuration, not started yet.
    fn prepare(config_lines: &str, extra: &[&str], log_level: Option<&str>) -> Self {
        Self::prepare_over(config_lines, extra, log_level, None)
    }

    /// [`Server::prepare`] over the given `[metadata]`/`[blobs]` sections (`None`: a store of
    /// its own).
    fn prepare_over(
        config_lines: &str,
        extra: &[&str],
        log_level: Option<&str>,
        backend_sections: Option<String>,
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = format!(
            r#"
{config_lines}
data_dir = "{data}"
[[users]]
name = "{an}"
access_key = "{ak}"
secret_key = "{sk}"
admin = true
[[users]]
name = "{bn}"
access_key = "{bk}"
secret_key = "{bs}"
"#,
            data = dir.path().join("data").display(),
            an = ALICE.0,
            ak = ALICE.1,
            sk = ALICE.2,
            bn = BOB.0,
            bk = BOB.1,
            bs = BOB.2,
        );
        let backend_sections = backend_sections.unwrap_or_else(shared_backend_sections);
        let config = config + backend_sections.as_str();
        std::fs::write(dir.path().join("coffer.toml"), config).unwrap();
        Server {
            child: None,
            dir,
            http: "127.0.0.1:0".parse().unwrap(),
            https: "127.0.0.1:0".parse().unwrap(),
            stdout_lines: Vec::new(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            log_level: log_level.map(str::to_owned),
            tmpfs: None,
            shell_prelude: None,
            backend_sections,
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// The failpoint control file the server follows (test builds with `failpoints`).
    pub fn failpoints_file(&self) -> PathBuf {
        self.dir.path().join("failpoints")
    }

    /// Starts the binary and waits for its ready line.
    fn launch(&mut self) {
        let mut command = match &self.shell_prelude {
            None => Command::new(env!("CARGO_BIN_EXE_coffer")),
            Some(prelude) => {
                let mut c = Command::new("/bin/sh");
                c.arg("-c")
                    .arg(format!("{prelude}; exec \"$0\" \"$@\""))
                    .arg(env!("CARGO_BIN_EXE_coffer"));
                c
            }
        };
        let mut child = command
            .arg("serve")
            .arg("--config")
            .arg(self.dir.path().join("coffer.toml"))
            .args(["--http", "127.0.0.1:0", "--https", "127.0.0.1:0"])
            .args(&self.extra)
            .env("COFFER_LOG", self.log_level.as_deref().unwrap_or("warn"))
            // Lets tests see a KMS key's deletion window end without waiting 7 days.
            .env("COFFER_ALLOW_CLOCK_OVERRIDE", "1")
            // Read only by builds with the `failpoints` feature (see `faults.rs`).
            .env("COFFER_FAILPOINTS_FILE", self.failpoints_file())
            .stdout(Stdio::piped())
            .stderr(match self.log_level {
                Some(_) => Stdio::from(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(self.log_path())
                        .unwrap(),
                ),
                None => Stdio::inherit(),
            })
            .spawn()
            .expect("start coffer");
        let stdout = child.stdout.take().unwrap();
        let mut reader = BufReader::new(stdout);
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = reader.read_line(&mut line).expect("read stdout");
            assert!(n > 0, "coffer exited before it was ready: {lines:?}");
            let line = line.trim_end().to_owned();
            if let Some(rest) = line.strip_prefix("coffer ready ") {
                for field in rest.split_whitespace() {
                    if let Some(a) = field.strip_prefix("http=") {
                        self.http = a.parse().unwrap();
                    } else if let Some(a) = field.strip_prefix("https=") {
                        self.https = a.parse().unwrap();
                    }
                }
                lines.push(line);
                break;
            }
            lines.push(line);
        }
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = reader.read_to_end(&mut sink);
        });
        self.stdout_lines = lines;
        self.child = Some(child);
    }

    /// The server's process id (the shell's, which `exec` made the server).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// A `/proc/<pid>/status` figure of the server in KiB (`VmRSS`, `VmHWM`, ...).
    pub fn proc_status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc status"))
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    pub fn restart(&mut self) {
        self.kill9();
        self.launch();
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.http)
    }

    pub fn client(&self, user: (&str, &str, &str)) -> Client {
        client_for(&self.endpoint(), user.1, user.2)
    }

    pub fn alice(&self) -> Client {
        self.client(ALICE)
    }

    /// A client for the HTTPS listener that trusts only the CA in `ca_pem`.
    pub fn https_client(&self, user: (&str, &str, &str), ca_pem: &[u8]) -> Client {
        use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
        use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore};
        let tls = TlsContext::builder()
            .with_trust_store(TrustStore::empty().with_pem_certificate(ca_pem.to_vec()))
            .build()
            .unwrap();
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::rustls(CryptoMode::Ring))
            .tls_context(tls)
            .build_https();
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(format!("https://localhost:{}", self.https.port()))
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(user.1, user.2, None, None, "test"))
            .force_path_style(true)
            .http_client(http)
            .build();
        Client::from_conf(config)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
        if let Some(mount) = self.tmpfs.take() {
            let _ = Command::new("umount").arg(&mount).status();
        }
    }
}

/// The SDK's HTTP client on rustls with ring (the SDK's default TLS stack is left out of the
/// build: it would compile a second crypto library in C).
pub fn plain_http_client() -> aws_sdk_s3::config::SharedHttpClient {
    use aws_smithy_http_client::tls::Provider;
    use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::rustls(CryptoMode::Ring))
        .build_https()
}

pub fn client_for(endpoint: &str, access: &str, secret: &str) -> Client {
    client_in_region(endpoint, access, secret, "us-east-1")
}

/// A client that signs for `region` (the server's is us-east-1).
pub fn client_in_region(endpoint: &str, access: &str, secret: &str, region: &str) -> Client {
    let config = aws_sdk_s3::Config::builder()
        .http_client(plain_http_client())
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_owned()))
        .credentials_provider(Credentials::new(access, secret, None, None, "test"))
        .force_path_style(true)
        .build();
    Client::from_conf(config)
}

/// Deterministic pseudo-random bytes (xorshift), so failures are reproducible.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(data))
}

pub async fn body_bytes(out: aws_sdk_s3::operation::get_object::GetObjectOutput) -> Vec<u8> {
    out.body
        .collect()
        .await
        .expect("read body")
        .into_bytes()
        .to_vec()
}

/// The S3 error code and HTTP status of a failed SDK call.
pub fn err_code<E>(
    e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> (Option<String>, u16)
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    use aws_sdk_s3::error::ProvideErrorMetadata as _;
    let status = e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
    (e.code().map(str::to_owned), status)
}

/// A raw HTTP/1.1 exchange: exactly the bytes given, nothing added.
pub fn raw_exchange(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // No half-close: the request says `connection: close`, and hyper ends a connection whose
    // client stopped sending.
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// Signs a request with SigV4 (service `s3`) and returns the headers to send.
pub fn sign(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    access: &str,
    secret: &str,
    time: SystemTime,
) -> Vec<(String, String)> {
    sign_payload(
        method,
        url,
        headers,
        payload_hash(body),
        access,
        secret,
        time,
    )
}

/// A signed body's `x-amz-content-sha256`: its SHA-256, in hex.
fn payload_hash(body: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, body))
}

/// [`sign`] for a body named by its `x-amz-content-sha256` value (a hash, or a streaming
/// mode such as `STREAMING-UNSIGNED-PAYLOAD-TRAILER`).
pub fn sign_payload(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    payload_hash: String,
    access: &str,
    secret: &str,
    time: SystemTime,
) -> Vec<(String, String)> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign as sigv4};
    use aws_sigv4::sign::v4;
    let identity = Credentials::new(access, secret, None, None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("s3")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let mut all: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    all.push(("x-amz-content-sha256".into(), payload_hash.clone()));
    let signable = SignableRequest::new(
        method,
        url,
        all.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Precomputed(payload_hash),
    )
    .unwrap();
    let (instructions, _) = sigv4(signable, &params).unwrap().into_parts();
    for (k, v) in instructions.headers() {
        all.push((k.to_string(), v.to_string()));
    }
    all
}

/// Sends a signed raw request built from parts; `body` is sent as given.
pub fn signed_raw(
    server: &Server,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    signed_raw_at(
        server,
        method,
        path_and_query,
        headers,
        body,
        SystemTime::now(),
    )
}

/// [`signed_raw`], signed as if at `time`.
pub fn signed_raw_at(
    server: &Server,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    time: SystemTime,
) -> (u16, String) {
    signed_raw_payload(
        server,
        method,
        path_and_query,
        headers,
        body,
        payload_hash(body),
        time,
    )
}

/// [`signed_raw_at`] for a body named by its `x-amz-content-sha256` value (a hash, or a
/// streaming mode such as `STREAMING-UNSIGNED-PAYLOAD-TRAILER` with an aws-chunked body).
pub fn signed_raw_payload(
    server: &Server,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    payload_hash: String,
    time: SystemTime,
) -> (u16, String) {
    let host = server.http.to_string();
    let url = format!("http://{host}{path_and_query}");
    let mut hs: Vec<(&str, &str)> = vec![("host", host.as_str())];
    hs.extend_from_slice(headers);
    let signed = sign_payload(method, &url, &hs, payload_hash, ALICE.1, ALICE.2, time);
    let mut req = format!("{method} {path_and_query} HTTP/1.1\r\n");
    for (k, v) in &signed {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    raw_exchange(server.http, &bytes)
}

pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if let Ok(rd) = std::fs::read_dir(&d) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p);
                }
            }
        }
    }
    out
}

/// GET of an absolute `http://` URL, as a browser would fetch a presigned link.
pub fn http_get(url: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").expect("http url");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let addr: SocketAddr = host.parse().expect("ip:port host");
    let req = format!("GET {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n");
    raw_exchange(addr, req.as_bytes())
}

/// The value of the unlabelled series `name` in a `/metrics` text, 0 while it does not
/// exist yet (a counter appears at its first increment).
pub fn series_value(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix(name))
        .find_map(|rest| rest.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

/// The blob files under the data directory once background deletions settle (they run after
/// the response), waiting up to five seconds for the count to reach `expected`.
pub async fn blob_files_settled(server: &Server, expected: usize) -> Vec<PathBuf> {
    let dir = server.data_dir().join("objects/blobs");
    for _ in 0..100 {
        let files = files_under(&dir);
        if files.len() == expected {
            return files;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    files_under(&dir)
}

/// A customer (SSE-C) key as a client holds it: raw, and the base64 key and MD5 it sends.
pub struct Ck {
    pub raw: [u8; 32],
    pub b64: String,
    pub md5: String,
}

/// The customer key numbered `seed`.
pub fn ck(seed: u8) -> Ck {
    use base64::Engine as _;
    use md5::Digest as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let raw: [u8; 32] = pattern(32, 1000 + u64::from(seed)).try_into().unwrap();
    Ck {
        raw,
        b64: b64.encode(raw),
        md5: b64.encode(md5::Md5::digest(raw)),
    }
}
