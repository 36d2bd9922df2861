//! The customer's webhook endpoint, written in Python (`peers/webhook_receiver.py`): it verifies
//! every POST with code Herald did not write (PyPI `standardwebhooks` for the Standard Webhooks
//! headers, Python's hmac for X-Messente-Signature) and reports each request as one JSON line,
//! collected here as they come.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::peers::{peers_dir, python_importing};
use super::{PATIENCE, eventually};

/// The running endpoint, killed when dropped.
pub struct WebhookEndpoint {
    child: Child,
    lines: Arc<Mutex<Vec<Value>>>,
    pub port: u16,
}

impl WebhookEndpoint {
    /// Starts it on `port`, verifying with `secret`, and waits until it listens.
    pub async fn start(port: u16, secret: &str) -> WebhookEndpoint {
        let mut child = Command::new(python_importing("standardwebhooks", "standardwebhooks"))
            .arg("webhook_receiver.py")
            .arg(port.to_string())
            .arg(secret)
            .current_dir(peers_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the Python webhook endpoint starts");
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    sink.lock().unwrap().push(v);
                }
            }
        });
        let endpoint = WebhookEndpoint { child, lines, port };
        eventually(PATIENCE, "the Python endpoint to listen", || async {
            endpoint.lines.lock().unwrap().first().map(|_| ())
        })
        .await;
        endpoint
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks/dlr", self.port)
    }

    /// The requests it got whose body's `message_id` is `id`, in arrival order.
    pub fn requests_for(&self, id: &str) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l["body"]["message_id"] == id)
            .cloned()
            .collect()
    }

    /// Waits until `id` has `n` requests whose signatures both verified; returns those.
    pub async fn wait_verified(&self, id: &str, n: usize) -> Vec<Value> {
        eventually(
            PATIENCE,
            &format!("{n} verified webhooks for {id}"),
            || async {
                let verified: Vec<Value> = self
                    .requests_for(id)
                    .into_iter()
                    .filter(|l| l["standard"] == true && l["messente"] == true)
                    .collect();
                (verified.len() >= n).then_some(verified)
            },
        )
        .await
    }
}

impl Drop for WebhookEndpoint {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `status` of each request's body, in order.
pub fn statuses(requests: &[Value]) -> Vec<String> {
    requests
        .iter()
        .map(|r| r["body"]["status"].as_str().unwrap_or_default().to_owned())
        .collect()
}
