//! The failpoints of a test build: configuration from the environment and a control file,
//! and what an injected fault does.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Linux errno values (no libc dependency for three constants).
const EIO: i32 = 5;
const ENOSPC: i32 = 28;
const EDQUOT: i32 = 122;

/// How often the control file is read for changes.
const POLL: Duration = Duration::from_millis(20);

pub(crate) fn io_step(name: &str) -> io::Result<()> {
    match fail::eval(name, |arg| fault(name, arg.as_deref())) {
        Some(result) => result,
        None => Ok(()),
    }
}

pub(crate) fn crash_step(name: &str) {
    let _ = fail::eval(name, |arg| match arg.as_deref() {
        Some("park") => park(name),
        other => tracing::error!(
            failpoint = name,
            action = ?other,
            "only park acts after a durable step; ignored"
        ),
    });
}

fn fault(name: &str, arg: Option<&str>) -> io::Result<()> {
    tracing::warn!(failpoint = name, action = ?arg, "failpoint fired");
    match arg {
        Some("enospc") => Err(io::Error::from_raw_os_error(ENOSPC)),
        Some("edquot") => Err(io::Error::from_raw_os_error(EDQUOT)),
        Some("eio") => Err(io::Error::from_raw_os_error(EIO)),
        Some("park") => park(name),
        other => Err(io::Error::other(format!(
            "failpoint {name}: unknown fault {other:?}"
        ))),
    }
}

/// Tells the test this step was reached, then never returns: the test kills the process
/// while it stands here.
fn park(name: &str) -> ! {
    if let Some(dir) = control_file().as_deref().and_then(Path::parent) {
        let marker = dir.join(format!("reached-{name}"));
        if let Err(e) = std::fs::write(&marker, name) {
            tracing::error!(marker = %marker.display(), error = %e, "cannot write failpoint marker");
        }
    }
    loop {
        std::thread::park();
    }
}

fn control_file() -> Option<PathBuf> {
    std::env::var_os("COFFER_FAILPOINTS_FILE").map(PathBuf::from)
}

/// `name=actions` entries separated by `;` or newlines, as `FAILPOINTS` has them.
fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
    text.split([';', '\n'])
        .map(str::trim)
        .filter(|e| !e.is_empty() && !e.starts_with('#'))
        .map(|e| {
            e.split_once('=')
                .map(|(n, a)| (n.trim().to_owned(), a.trim().to_owned()))
                .ok_or_else(|| format!("failpoint entry without '=': {e:?}"))
        })
        .collect()
}

/// Makes `text` the whole configuration: points it names are set, points set before and
/// not named any more are removed. Returns the names now set.
fn apply(text: &str, before: &BTreeSet<String>) -> Result<BTreeSet<String>, String> {
    let entries = parse(text)?;
    let now: BTreeSet<String> = entries.iter().map(|(n, _)| n.clone()).collect();
    for gone in before.difference(&now) {
        fail::remove(gone);
    }
    for (name, actions) in &entries {
        fail::cfg(name.as_str(), actions)?;
    }
    Ok(now)
}

pub(crate) fn configure_from_env() -> Result<(), String> {
    let mut set = BTreeSet::new();
    if let Ok(text) = std::env::var("FAILPOINTS") {
        set = apply(&text, &set)?;
    }
    let Some(path) = control_file() else {
        return Ok(());
    };
    let mut seen = read(&path);
    set = apply(&seen, &set)?;
    acknowledge(&path, &seen)?;
    std::thread::Builder::new()
        .name("coffer-failpoints".into())
        .spawn(move || {
            loop {
                std::thread::sleep(POLL);
                let text = read(&path);
                if text == seen {
                    continue;
                }
                match apply(&text, &set) {
                    Ok(now) => set = now,
                    Err(e) => tracing::error!(error = %e, "bad failpoint control file"),
                }
                seen = text;
                if let Err(e) = acknowledge(&path, &seen) {
                    tracing::error!(error = %e, "cannot acknowledge failpoint change");
                }
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Writes `<control file>.applied` with the text now in force, so a test knows when its
/// change took effect.
fn acknowledge(path: &Path, text: &str) -> Result<(), String> {
    let mut applied = path.as_os_str().to_owned();
    applied.push(".applied");
    let mut staged = applied.clone();
    staged.push(".tmp");
    std::fs::write(&staged, text)
        .and_then(|()| std::fs::rename(&staged, &applied))
        .map_err(|e| format!("failpoint acknowledgement: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_fire_count_down_and_clear() {
        let set = apply(
            "unit.a=1*return(eio);unit.b=return(enospc)",
            &BTreeSet::new(),
        )
        .unwrap();
        let e = io_step("unit.a").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(EIO));
        assert!(io_step("unit.a").is_ok(), "1* fires once");
        assert_eq!(
            io_step("unit.b").unwrap_err().kind(),
            io::ErrorKind::StorageFull
        );
        let set = apply("", &set).unwrap();
        assert!(set.is_empty());
        assert!(
            io_step("unit.b").is_ok(),
            "removed from the file, removed from the server"
        );
        assert!(parse("no-equals-sign").is_err());
    }
}
