//! Where a running server listens, recorded in its data directory so that the operator
//! commands (`coffer admin|kms|audit`) reach it whatever addresses it was started on
//! (`--http`, `--https`, a configuration file they were not given, port 0).
//!
//! The file is written once the listeners are bound, atomically (a temporary file, fsynced,
//! renamed over the old one), mode 0600, and removed on a clean shutdown. A server that died
//! leaves it behind, but it is read only while a server holds the data directory's lock,
//! and a new server rewrites it before it serves.

use std::fs;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The file's name in the data directory.
pub const FILE: &str = "listening.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listening {
    /// The server's process id.
    pub pid: u32,
    /// The bound HTTP address, if that listener is on.
    pub http: Option<SocketAddr>,
    /// The bound HTTPS address, if that listener is on.
    pub https: Option<SocketAddr>,
    /// The certificate the HTTPS listener presents.
    pub tls_cert: Option<PathBuf>,
}

impl Listening {
    /// The address to connect to for a bound one: a wildcard address is reached through
    /// the loopback address of its family.
    pub fn reachable(addr: SocketAddr) -> SocketAddr {
        let ip = match addr.ip() {
            IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        SocketAddr::new(ip, addr.port())
    }
}

/// Whether a server that recorded its addresses in `data_dir` is still alive. With the
/// shared backends nothing locks the data directory, so this is how an operator command tells
/// that a server holds it (and goes through it rather than beside it).
pub fn server_alive(data_dir: &Path) -> bool {
    read(data_dir).ok().flatten().is_some_and(|l| {
        l.pid != std::process::id() && Path::new(&format!("/proc/{}", l.pid)).exists()
    })
}

fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE)
}

/// Records `l` in `data_dir`, replacing what was there in one step.
pub fn write(data_dir: &Path, l: &Listening) -> Result<(), String> {
    let target = path(data_dir);
    let tmp = data_dir.join(format!(".{FILE}.{}.tmp", l.pid));
    let text = serde_json::to_vec_pretty(l).map_err(|e| e.to_string())?;
    let result = (|| {
        let _ = fs::remove_file(&tmp);
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
        f.write_all(&text)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        fs::rename(&tmp, &target)?;
        fs::File::open(data_dir)?.sync_all()
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        format!(
            "cannot record the listening addresses in {}: {e}",
            target.display()
        )
    })
}

/// Removes the record, if it is this process's (a later server may have replaced it).
pub fn remove(data_dir: &Path, pid: u32) {
    if read(data_dir).ok().flatten().is_some_and(|l| l.pid == pid) {
        let _ = fs::remove_file(path(data_dir));
    }
}

/// The recorded addresses, if there is a record.
pub fn read(data_dir: &Path) -> Result<Option<Listening>, String> {
    let p = path(data_dir);
    match fs::read(&p) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("cannot parse {}: {e}", p.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", p.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_atomically_owner_only_and_removed_only_by_its_writer() {
        let dir = tempfile::tempdir().unwrap();
        let l = Listening {
            pid: 42,
            http: Some("127.0.0.1:1234".parse().unwrap()),
            https: None,
            tls_cert: Some(dir.path().join("tls/cert.pem")),
        };
        assert_eq!(read(dir.path()).unwrap(), None);
        write(dir.path(), &l).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some(l.clone()));
        let mode = fs::metadata(dir.path().join(FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // No temporary file is left.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        remove(dir.path(), 7);
        assert!(read(dir.path()).unwrap().is_some());
        remove(dir.path(), 42);
        assert_eq!(read(dir.path()).unwrap(), None);
    }

    #[test]
    fn wildcard_addresses_are_reached_on_loopback() {
        let r = |s: &str| Listening::reachable(s.parse().unwrap()).to_string();
        assert_eq!(r("0.0.0.0:9000"), "127.0.0.1:9000");
        assert_eq!(r("[::]:9443"), "[::1]:9443");
        assert_eq!(r("10.1.2.3:80"), "10.1.2.3:80");
    }
}
