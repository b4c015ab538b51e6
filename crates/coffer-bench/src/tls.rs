//! HTTPS client that trusts the CA certificate(s) of a `--ca-bundle` PEM file.

use std::path::Path;

use aws_sdk_s3::config::SharedHttpClient;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore};
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Builds an SDK HTTP client (rustls with ring) whose only trust anchors are the
/// certificates in `path`.
pub fn http_client_trusting(path: &Path) -> Result<SharedHttpClient, String> {
    let pem = std::fs::read(path)
        .map_err(|e| format!("cannot read CA bundle {}: {e}", path.display()))?;
    let count = validate(&pem).map_err(|e| format!("CA bundle {}: {e}", path.display()))?;
    if count == 0 {
        return Err(format!(
            "CA bundle {}: no PEM certificate found",
            path.display()
        ));
    }
    let context = TlsContext::builder()
        .with_trust_store(TrustStore::empty().with_pem_certificate(pem))
        .build()
        .map_err(|e| format!("cannot build TLS context: {e}"))?;
    Ok(aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::rustls(CryptoMode::Ring))
        .tls_context(context)
        .build_https())
}

/// The SDK's HTTP client (rustls with ring) trusting the system's roots: the SDK's default
/// TLS stack is left out of the build, since it compiles a second crypto library in C.
pub fn http_client_with_system_roots() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::rustls(CryptoMode::Ring))
        .build_https()
}

/// Checks that every certificate in `pem` parses and is usable as a rustls trust anchor,
/// so the SDK, which loads the same bytes later, cannot fail on them. Returns the count.
fn validate(pem: &[u8]) -> Result<usize, String> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| format!("invalid PEM: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("unusable certificate: {e}"))?;
    }
    Ok(roots.len())
}
