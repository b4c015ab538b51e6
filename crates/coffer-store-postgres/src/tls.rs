//! TLS to the database, through rustls.
//!
//! `sslmode` as tokio-postgres knows it: `disable` (plain), `prefer` (the default: TLS when
//! the server offers it) and `require`. With `require` the server's certificate is verified
//! (against the caller's CA, or the system's roots) and its name checked: stricter than
//! libpq's `require`, which does not verify. With `prefer` and no CA given, the session is
//! encrypted without verifying the certificate, as libpq's `prefer` is: a server with a
//! self-signed certificate (Debian's default) still connects, and an operator who wants a
//! verified server says `sslmode=require`.

use std::sync::Arc;

use coffer_store::{StoreError, StoreResult};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio_postgres::config::SslMode;

fn provider() -> Arc<CryptoProvider> {
    // Named here, so no process-wide default provider has to be installed first.
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(format!("TLS to postgres: {e}"))
}

/// The configuration a pool connects with, for the URL's `sslmode`.
pub(crate) fn client_config(
    mode: SslMode,
    given: Option<&rustls::ClientConfig>,
) -> StoreResult<rustls::ClientConfig> {
    match (given, mode) {
        (Some(given), _) => Ok(given.clone()),
        (None, SslMode::Prefer) => opportunistic(),
        (None, _) => system_roots(),
    }
}

/// A TLS configuration that trusts only the CA certificates in `ca_pem` (PEM): for a
/// database whose certificate a private CA signed (a managed database's CA bundle, a test
/// server's own), passed as [`crate::ConnectOptions::tls`].
pub fn tls_trusting(ca_pem: &[u8]) -> StoreResult<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert.map_err(tls_error)?).map_err(tls_error)?;
    }
    if roots.is_empty() {
        return Err(tls_error("no CA certificate in the PEM"));
    }
    with_roots(roots)
}

fn with_roots(roots: rustls::RootCertStore) -> StoreResult<rustls::ClientConfig> {
    rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_error)
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
}

fn system_roots() -> StoreResult<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    // Certificates the system offers but rustls cannot parse are skipped, as browsers do.
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    with_roots(roots)
}

fn opportunistic() -> StoreResult<rustls::ClientConfig> {
    let algorithms = provider().signature_verification_algorithms;
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(EncryptOnly(algorithms)))
        .with_no_client_auth())
}

/// `sslmode=prefer`: accepts any certificate, but still checks that the server holds its
/// key (the handshake signatures), so the session is encrypted to whoever answered.
#[derive(Debug)]
struct EncryptOnly(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        assert!(tls_trusting(b"").is_err());
        let garbage = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(tls_trusting(garbage).is_err());
    }

    #[test]
    fn every_mode_has_a_configuration() {
        for mode in [SslMode::Disable, SslMode::Prefer, SslMode::Require] {
            assert!(client_config(mode, None).is_ok());
        }
    }
}
