//! The HTTP client the SDK sends through: hyper over rustls (ring), speaking the HTTP
//! version asked for. HTTP/1.1 offers only `http/1.1` in ALPN; `--http2` offers only `h2`
//! over TLS and uses prior knowledge (h2c) over plain HTTP, so a run measures exactly one
//! protocol. It also fetches the server's `/metrics` for its CPU time.

use std::path::Path;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

type Https = hyper_rustls::HttpsConnector<ReadAhead>;

/// The TCP connector, with a read-ahead buffer on each connection: rustls reads 4 KiB at a
/// time, so without one a client receiving at full speed makes four reads per 16 KiB TLS
/// record, and the client's CPU, not the server's, sets what an HTTPS run measures.
#[derive(Clone)]
struct ReadAhead(TcpConnector);

/// A client connection with its read-ahead buffer.
struct Buffered(hyper_util::rt::TokioIo<tokio::io::BufReader<tokio::net::TcpStream>>);

const READ_AHEAD: usize = 64 * 1024;

impl tower_service::Service<http::Uri> for ReadAhead {
    type Response = Buffered;
    type Error = <TcpConnector as tower_service::Service<http::Uri>>::Error;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<Buffered, Self::Error>> + Send>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let connecting = self.0.call(uri);
        Box::pin(async move {
            let tcp = connecting.await?.into_inner();
            Ok(Buffered(hyper_util::rt::TokioIo::new(
                tokio::io::BufReader::with_capacity(READ_AHEAD, tcp),
            )))
        })
    }
}

impl hyper_util::client::legacy::connect::Connection for Buffered {
    fn connected(&self) -> hyper_util::client::legacy::connect::Connected {
        self.0.inner().get_ref().connected()
    }
}

impl hyper::rt::Read for Buffered {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Buffered {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// One pool of connections, shared by the SDK and the metrics reader.
#[derive(Clone, Debug)]
pub struct Hyper {
    client: Client<Https, SdkBody>,
}

impl Hyper {
    /// A client trusting the certificates in `ca_bundle` (or the system's roots), speaking
    /// HTTP/2 when `http2`, else HTTP/1.1.
    pub fn new(ca_bundle: Option<&Path>, http2: bool) -> Result<Self, String> {
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let builder = rustls::ClientConfig::builder_with_provider(provider.into())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let tls = match ca_bundle {
            Some(path) => {
                let pem = std::fs::read(path)
                    .map_err(|e| format!("cannot read CA bundle {}: {e}", path.display()))?;
                let mut roots = RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(&pem) {
                    let cert = cert.map_err(|e| format!("CA bundle: invalid PEM: {e}"))?;
                    roots
                        .add(cert)
                        .map_err(|e| format!("CA bundle: unusable certificate: {e}"))?;
                }
                if roots.is_empty() {
                    return Err(format!("CA bundle {}: no certificate", path.display()));
                }
                builder.with_root_certificates(roots).with_no_client_auth()
            }
            None => {
                use hyper_rustls::ConfigBuilderExt as _;
                builder
                    .with_native_roots()
                    .map_err(|e| format!("cannot load the system's roots: {e}"))?
                    .with_no_client_auth()
            }
        };
        let mut tcp = TcpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http();
        let connector = if http2 {
            https.enable_http2().wrap_connector(ReadAhead(tcp))
        } else {
            https.enable_http1().wrap_connector(ReadAhead(tcp))
        };
        let mut client = Client::builder(TokioExecutor::new());
        client.http2_only(http2);
        Ok(Self {
            client: client.build(connector),
        })
    }

    /// The body of `GET url`, if it answers 200.
    pub async fn get_text(&self, url: &str) -> Option<String> {
        let req = http::Request::get(url).body(SdkBody::empty()).ok()?;
        let resp = self.client.request(req).await.ok()?;
        if resp.status() != http::StatusCode::OK {
            return None;
        }
        let bytes = resp.into_body().collect().await.ok()?.to_bytes();
        String::from_utf8(bytes.to_vec()).ok()
    }
}

impl HttpConnector for Hyper {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.client.clone();
        HttpConnectorFuture::new(async move {
            let request = request
                .try_into_http1x()
                .map_err(|e| ConnectorError::user(e.into()))?;
            let response = client
                .request(request)
                .await
                .map_err(|e| ConnectorError::io(e.into()))?;
            let (parts, body) = response.into_parts();
            HttpResponse::try_from(http::Response::from_parts(
                parts,
                SdkBody::from_body_1_x(body),
            ))
            .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

impl HttpClient for Hyper {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

impl Hyper {
    pub fn shared(&self) -> SharedHttpClient {
        SharedHttpClient::new(self.clone())
    }
}
