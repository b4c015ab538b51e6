//! How the operator deployed this server, and what a handler knows of the connection a
//! request came in on.

/// Operator choices that change S3 behaviour.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Accept SSE-C over plain HTTP from loopback clients (testing only).
    pub allow_sse_c_over_http: bool,
    /// New buckets start with SSE-C blocked, as on AWS since April 2026.
    pub block_sse_c_on_new_buckets: bool,
    /// How long blobs an overwrite or delete released stay before they are deleted. A GET
    /// already streaming the old object keeps reading them, as on S3: an open file outlives
    /// its unlinking, but an object in a shared store does not, so there they wait.
    pub blob_release_delay: std::time::Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            allow_sse_c_over_http: false,
            block_sse_c_on_new_buckets: true,
            blob_release_delay: std::time::Duration::ZERO,
        }
    }
}

/// The connection a request arrived on. The listener puts it in the request's extensions;
/// a request without one is treated as insecure and remote.
#[derive(Debug, Clone, Copy)]
pub struct Transport {
    /// Arrived over TLS.
    pub secure: bool,
    /// The peer is a loopback address.
    pub loopback: bool,
    /// The peer's address, as audit records name it.
    pub peer: std::net::SocketAddr,
}

impl Transport {
    /// The client's address and user agent as audit records name them (`unknown` for a
    /// request that came in without a transport).
    pub fn client_of(extensions: &http::Extensions, headers: &http::HeaderMap) -> (String, String) {
        let source_ip = extensions
            .get::<Transport>()
            .map_or_else(|| "unknown".to_owned(), |t| t.peer.ip().to_string());
        let user_agent = headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (source_ip, user_agent)
    }
}
