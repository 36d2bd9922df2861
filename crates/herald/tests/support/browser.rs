//! A real headless browser for the dashboard's tests: Debian's `chromium`, driven over WebDriver
//! by `chromedriver` (started here, on a free port, in its own process group) through the
//! `fantoccini` crate. Each browser gets a fresh profile directory and no network beyond
//! loopback.
//!
//! Without chromium or chromedriver a test cannot run: in CI (`CI=true`) that is a failure with
//! the reason; elsewhere the test says so on stderr and returns (install both with
//! `apt-get install chromium chromium-driver`, as `.ci/run` does).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use tempfile::TempDir;

use super::{PATIENCE, free_port};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

pub struct Browser {
    pub client: Client,
    driver: Option<Child>,
    _profile: TempDir,
}

/// Starts chromedriver and a headless chromium; `None` (outside CI only) when they are not
/// installed.
pub async fn start() -> Option<Browser> {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if !missing.is_empty() {
        let why = format!(
            "the dashboard's browser tests need {} (apt-get install chromium chromium-driver; \
             .ci/run installs them)",
            missing.join(" and ")
        );
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{why}");
        }
        eprintln!("NOT RUN: {why}");
        return None;
    }
    let port = free_port();
    let driver = {
        use std::os::unix::process::CommandExt;
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own group, so the browser it starts is stopped with it.
            .process_group(0)
            .spawn()
            .expect("chromedriver starts")
    };
    let profile = tempfile::tempdir().expect("a profile directory");
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                format!("--user-data-dir={}", profile.path().display()),
                "--window-size=1280,1000",
            ],
        }),
    );
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + PATIENCE;
    let client = loop {
        // chromedriver takes a moment to listen; the first connections may be refused.
        match ClientBuilder::new(HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(client) => break client,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("no WebDriver session from chromedriver on {url}: {e}"),
        }
    };
    Some(Browser {
        client,
        driver: Some(driver),
        _profile: profile,
    })
}

impl Browser {
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("the page loads");
    }

    /// Logs in on `base`'s dashboard with `account`'s credentials.
    pub async fn log_in(&self, base: &str, account: (&str, &str)) {
        self.goto(&format!("{base}/dashboard/login")).await;
        self.fill("input[name=username]", account.0).await;
        self.fill("input[name=password]", account.1).await;
        self.click("button[type=submit]").await;
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("the field clears");
        field.send_keys(text).await.expect("typing works");
    }

    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    /// The element `css` selects, waiting for it to appear.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    /// The text of the element `css` selects, or `None` when there is none right now.
    pub async fn text(&self, css: &str) -> Option<String> {
        let element = self.client.find(Locator::Css(css)).await.ok()?;
        element.text().await.ok()
    }

    /// How many elements `css` selects right now.
    pub async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .map(|all| all.len())
            .unwrap_or(0)
    }

    /// Waits until the text of `css` is `expected`.
    pub async fn wait_text(&self, css: &str, expected: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let now = self.text(css).await;
            if now.as_deref() == Some(expected) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{css} shows {now:?}, not {expected:?}, after {PATIENCE:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("a current URL")
            .path()
            .to_owned()
    }

    /// Runs `script` in the page and returns its value (a returned promise is awaited).
    pub async fn run(&self, script: &str) -> serde_json::Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("script {script:?}: {e}"))
    }

    pub async fn resize(&self, width: u32, height: u32) {
        self.client
            .set_window_size(width, height)
            .await
            .expect("the window resizes");
    }

    /// Saves a PNG of the page as `name` in [`screenshot_dir`].
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("a screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a screenshot is a PNG");
        let path = screenshot_dir().join(name);
        std::fs::write(&path, png).expect("the screenshot is saved");
        path
    }

    pub async fn close(mut self) {
        let _ = tokio::time::timeout(PATIENCE, self.client.clone().close()).await;
        stop(&mut self.driver);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        stop(&mut self.driver);
    }
}

fn stop(driver: &mut Option<Child>) {
    let Some(mut driver) = driver.take() else {
        return;
    };
    // The whole group: chromedriver and the browser it started. `--` so the negative group id
    // is read as a process group, never as an option.
    let _ = Command::new("kill")
        .args(["-s", "TERM", "--", &format!("-{}", driver.id())])
        .stdin(Stdio::null())
        .status();
    let _ = driver.wait();
}

/// Where screenshots go: `HERALD_SCREENSHOTS` (e.g. `docs/screenshots`, relative to the
/// workspace) when set, else a directory under the system's temporary one.
pub fn screenshot_dir() -> PathBuf {
    let dir = match std::env::var_os("HERALD_SCREENSHOTS") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../..")
                    .join(dir)
            }
        }
        None => std::env::temp_dir().join("herald-dashboard-screenshots"),
    };
    std::fs::create_dir_all(&dir).expect("the screenshot directory exists");
    dir
}
