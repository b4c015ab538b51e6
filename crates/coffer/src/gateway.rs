//! This server's gateway id: how leases, metrics and logs tell the gateways sharing one store
//! apart. Kept in `<data>/gateway-id` so that a restarted gateway is the same gateway (and
//! renews its own leases instead of waiting for them to run out).

use std::path::Path;

use ring::rand::{SecureRandom, SystemRandom};

const FILE: &str = "gateway-id";

/// The id kept in the data directory, made on first start (`gw-` and 12 hex digits).
pub fn load_or_create(data_dir: &Path) -> Result<String, String> {
    let path = data_dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(id) if is_valid(id.trim()) => return Ok(id.trim().to_owned()),
        Ok(_) => return Err(format!("{} does not hold a gateway id", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    }
    let mut bytes = [0u8; 6];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "no randomness for a gateway id".to_string())?;
    let id = format!("gw-{}", hex::encode(bytes));
    std::fs::write(&path, format!("{id}\n"))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(id)
}

fn is_valid(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_id_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = super::load_or_create(dir.path()).unwrap();
        assert!(first.starts_with("gw-") && first.len() == 15, "{first}");
        assert_eq!(super::load_or_create(dir.path()).unwrap(), first);
        std::fs::write(dir.path().join("gateway-id"), "no spaces allowed\n").unwrap();
        assert!(super::load_or_create(dir.path()).is_err());
    }
}
