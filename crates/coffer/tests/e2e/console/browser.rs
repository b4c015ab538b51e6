//! A real browser for the console's tests: Debian's chromium, headless, driven over WebDriver
//! (thirtyfour) by a chromedriver of its own. Each test gets a fresh profile.
//!
//! Without chromium and chromedriver the tests say SKIPPED, except under CI, where they fail:
//! `.ci/run` installs both (scripts/services/chromium.sh).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use thirtyfour::prelude::*;

use crate::common::Server;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Whether a browser can run here; under CI its absence is a failure, not a skip.
pub fn available(test: &str) -> bool {
    let there = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !there {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI: {CHROMIUM} and {CHROMEDRIVER} are missing; scripts/services/chromium.sh installs them"
        );
        eprintln!(
            "SKIPPED {test}: no {CHROMIUM} / {CHROMEDRIVER} (apt-get install chromium chromium-driver)"
        );
    }
    there
}

pub struct Browser {
    pub driver: WebDriver,
    chromedriver: Child,
    pub downloads: tempfile::TempDir,
    _profile: tempfile::TempDir,
    /// The console's base URL (`https://localhost:<port>/console`).
    pub base: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// A browser pointed at `server`'s HTTPS listener (its self-signed certificate accepted).
    pub async fn open(server: &Server) -> Self {
        // thirtyfour's HTTP client is the workspace's reqwest, built without a TLS provider
        // of its own (see opendal in Cargo.toml): it needs one installed, even for http://.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let port = free_port();
        let chromedriver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not listen"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let downloads = tempfile::tempdir().unwrap();
        let mut caps = DesiredCapabilities::chrome();
        caps.set_binary(CHROMIUM).unwrap();
        // This machine has no network: without these, chromium keeps trying to reach
        // Google's services at every start.
        for arg in [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--no-first-run",
            "--ignore-certificate-errors",
            "--window-size=1280,900",
        ] {
            caps.add_arg(arg).unwrap();
        }
        caps.add_arg(&format!("--user-data-dir={}", profile.path().display()))
            .unwrap();
        caps.add_experimental_option(
            "prefs",
            serde_json::json!({
                "download.default_directory": downloads.path(),
                "download.prompt_for_download": false,
            }),
        )
        .unwrap();
        let driver = WebDriver::new(&url, caps)
            .await
            .expect("a chromium session");
        Self {
            driver,
            chromedriver,
            downloads,
            _profile: profile,
            base: format!("https://localhost:{}/console", server.https.port()),
        }
    }

    pub async fn goto(&self, path: &str) {
        self.driver
            .goto(format!("{}{path}", self.base))
            .await
            .unwrap();
    }

    pub async fn sign_in(&self, user: (&str, &str, &str)) {
        self.goto("/sign-in").await;
        self.driver
            .find(By::Id("access-key"))
            .await
            .unwrap()
            .send_keys(user.1)
            .await
            .unwrap();
        self.driver
            .find(By::Id("secret-key"))
            .await
            .unwrap()
            .send_keys(user.2)
            .await
            .unwrap();
        self.submit("#sign-in").await;
        if self.driver.find(By::Id("signed-in-as")).await.is_err() {
            panic!(
                "sign-in failed at {}: {}",
                self.driver.current_url().await.unwrap(),
                self.source().await
            );
        }
        let who = self.text("#signed-in-as").await;
        assert_eq!(who, user.0, "signed in as {}", user.0);
    }

    /// Clicks what submits a form or follows a link, and waits for the answer to replace
    /// the page (so the next look is at the new page, not the old one).
    pub async fn submit(&self, css: &str) {
        let old = self.driver.find(By::Css("html")).await.unwrap();
        self.click(css).await;
        self.wait_replaced(old).await;
    }

    /// Waits until `old` (the previous page's root) is gone.
    pub async fn wait_replaced(&self, old: WebElement) {
        let started = Instant::now();
        while old.tag_name().await.is_ok() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the page was not replaced"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Clicks something that stays on the page (a summary, an option, a download link).
    pub async fn click(&self, css: &str) {
        self.driver
            .find(By::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    pub async fn text(&self, css: &str) -> String {
        self.driver
            .find(By::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .text()
            .await
            .unwrap()
    }

    pub async fn texts(&self, css: &str) -> Vec<String> {
        let mut out = Vec::new();
        for e in self.driver.find_all(By::Css(css)).await.unwrap() {
            out.push(e.text().await.unwrap());
        }
        out
    }

    pub async fn fill(&self, css: &str, value: &str) {
        let e = self.driver.find(By::Css(css)).await.unwrap();
        e.clear().await.unwrap();
        e.send_keys(value).await.unwrap();
    }

    /// The page's HTML as the browser has it.
    pub async fn source(&self) -> String {
        self.driver.source().await.unwrap()
    }

    /// A PNG of the page, kept under `docs/console/` when COFFER_CONSOLE_SCREENSHOTS is set
    /// (how the committed screenshots are made), else in a temporary directory.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let dir = match std::env::var_os("COFFER_CONSOLE_SCREENSHOTS") {
            Some(d) => PathBuf::from(d),
            None => std::env::temp_dir().join("coffer-console-screenshots"),
        };
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        self.driver.screenshot(&path).await.unwrap();
        let png = std::fs::read(&path).unwrap();
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 2000,
            "{name}.png is a picture"
        );
        path
    }

    /// The one file the browser downloaded, once it is complete. Chromium writes to a
    /// `.crdownload` file beside an empty placeholder under the final name, then renames:
    /// complete is one file, no `.crdownload`, the same size twice 300 ms apart.
    pub async fn downloaded(&self) -> Vec<u8> {
        let started = Instant::now();
        let mut last: Option<(PathBuf, u64)> = None;
        loop {
            let files: Vec<PathBuf> = std::fs::read_dir(self.downloads.path())
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            let now = match &files[..] {
                [f] if !f.to_string_lossy().ends_with(".crdownload") => {
                    Some((f.clone(), std::fs::metadata(f).unwrap().len()))
                }
                _ => None,
            };
            if let Some((f, _)) = now.as_ref().filter(|_| now == last) {
                let bytes = std::fs::read(f).unwrap();
                std::fs::remove_file(f).unwrap();
                return bytes;
            }
            last = now;
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no download arrived: {files:?}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Ends the browser session (chromedriver goes when this is dropped).
    pub async fn close(self) {
        let _ = self.driver.clone().quit().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.chromedriver.kill();
        let _ = self.chromedriver.wait();
    }
}
