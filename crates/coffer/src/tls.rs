//! TLS: the operator's certificate, or a self-signed one generated into the data directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::write_private;

/// Where the generated development certificate lives.
pub fn dev_cert_paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    let dir = data_dir.join("tls");
    (dir.join("cert.pem"), dir.join("key.pem"))
}

/// Creates the self-signed certificate on first start. Returns its path.
pub fn ensure_dev_cert(data_dir: &Path) -> Result<PathBuf, String> {
    let (cert_path, key_path) = dev_cert_paths(data_dir);
    if cert_path.exists() && key_path.exists() {
        return Ok(cert_path);
    }
    crate::private_files::create_private_dir(cert_path.parent().unwrap_or(data_dir))?;
    let names = vec![
        "localhost".to_string(),
        "*.localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    let generated = rcgen::generate_simple_self_signed(names)
        .map_err(|e| format!("cannot generate TLS certificate: {e}"))?;
    let _ = std::fs::remove_file(&key_path);
    write_private(&key_path, generated.signing_key.serialize_pem().as_bytes())?;
    // Inside the data directory, so owner-only like the rest; clients are given its path.
    let _ = std::fs::remove_file(&cert_path);
    write_private(&cert_path, generated.cert.pem().as_bytes())?;
    Ok(cert_path)
}

pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, String> {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read certificate {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate in {}", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read private key {}: {e}", key.display()))?;
    // aws-lc-rs rather than ring: its AES-256-GCM is half again as fast on CPUs with VAES
    // (see the workspace Cargo.toml), and every byte served over HTTPS passes through it.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate and key do not form a usable pair: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
