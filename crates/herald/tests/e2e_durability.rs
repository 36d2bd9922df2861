//! Herald never loses a message or a report: the real `herald` binary killed with SIGKILL while
//! messages flow and restarted on the same database; a customer's callback receiver that is down
//! for a while; a graceful SIGTERM and a restart that resumes what was queued.
//!
//! The carrier in the process tests is `herald simulate-carrier` in a process of its own: a
//! carrier does not crash with the gateway, and keeps the receipts of a gateway that went away
//! until it binds again, as real SMSCs do.

mod support;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use support::*;

// ---------------------------------------------------------------------------------------------
// Processes.

/// A child process with its output in a log file; killed when dropped, and its log printed when
/// the test is failing.
struct Process {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Process {
    fn spawn(name: &'static str, args: &[&str], log: PathBuf) -> Self {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("a log file");
        let child = Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(args)
            .env("HERALD_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {name}: {e}"));
        Self { name, child, log }
    }

    /// SIGKILL: no chance to clean up anything.
    fn kill_hard(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    /// SIGTERM: the polite request to stop.
    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
    }

    async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let what = format!("{} to exit", self.name);
        eventually(timeout, &what, || {
            let exited = self.child.try_wait().expect("try_wait");
            async move { exited }
        })
        .await
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!("---- last lines of {} ----", self.name);
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

/// `herald simulate-carrier` on `port`.
async fn start_carrier(dir: &Path, port: u16) -> Process {
    let listen = format!("127.0.0.1:{port}");
    let carrier = Process::spawn(
        "simulated carrier",
        &[
            "simulate-carrier",
            "--listen",
            &listen,
            "--receipt-delay-ms",
            "300",
        ],
        dir.join("carrier.log"),
    );
    eventually(PATIENCE, "the simulated carrier to listen", || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    carrier
}

/// A `herald serve` configuration: fixed ports (a restart must be found where it was), SQLite
/// in `dir`, the carrier on `carrier_port`, short leases and retries.
fn write_config(dir: &Path, http_port: u16, carrier_port: u16) -> PathBuf {
    let text = format!(
        r#"
[http]
listen = "127.0.0.1:{http_port}"

[database]
url = "sqlite://{db}"

[[carriers]]
name = "sim"
host = "127.0.0.1"
port = {carrier_port}
system_id = "herald"
password = "secret"
response_timeout_secs = 5
tps = 500

[[routes]]
prefix = ""
carrier = "sim"
price = "0.05"

[[accounts]]
username = "{user}"
password = "{password}"
balance = "100.00"
senders = ["Herald"]

[callbacks]
allow_networks = ["127.0.0.0/8"]
timeout_secs = 2
schedule = ["100ms", "200ms", "500ms", "1s", "1s", "2s", "2s", "2s", "2s", "2s", "2s", "2s"]

[pipeline]
submit_retry_delay_ms = 200
submit_lease_secs = 6
"#,
        db = dir.join("herald.db").display(),
        user = ALICE.0,
        password = ALICE.1,
    );
    let path = dir.join("herald.toml");
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .expect("config written");
    path
}

/// `herald serve --config FILE`, returned once its HTTP API answers.
async fn start_herald(config: &Path, api: &Api) -> Process {
    let log = config.with_file_name("herald.log");
    let herald = Process::spawn(
        "herald",
        &["serve", "--config", config.to_str().unwrap()],
        log,
    );
    eventually(PATIENCE, "herald to answer /health", || async {
        api.try_call("get_dlr_response", Via::Get, &[]).await.ok()
    })
    .await;
    herald
}

// ---------------------------------------------------------------------------------------------
// What a message must end with.

/// Destinations by outcome: the simulated carrier's last two digits (`11` delivered, `01`
/// undeliverable, `03` refused at submit).
fn destination(i: usize) -> (String, fn(&str) -> String) {
    match i % 3 {
        0 => (format!("3725{i:05}11"), delivered as fn(&str) -> String),
        1 => (format!("3725{i:05}01"), |id| {
            report(id, "FAILED", "UNDELIV", 2, "001")
        }),
        _ => (format!("3725{i:05}03"), |id| {
            report(id, "FAILED", "NACK", 16, "003")
        }),
    }
}

/// Checks the callbacks `id` got: `last` arrived; nothing after a final callback but copies of
/// it (at-least-once delivery may repeat, never reorder or contradict); the SENT callbacks, if
/// any, are the one SENT report. Returns how many duplicates there were.
fn check_sequence(receiver: &CallbackReceiver, id: &str, last: &str) -> usize {
    let got = receiver.acknowledged(id);
    let first_final = got
        .iter()
        .position(|q| q.contains("status=DELIVERED") || q.contains("status=FAILED"))
        .unwrap_or_else(|| panic!("no final callback for {id}: {got:?}"));
    assert!(
        got[first_final..].iter().all(|q| q == last),
        "after the final report only copies of it, for {id}: {got:?}"
    );
    assert!(
        got[..first_final].iter().all(|q| *q == sent(id)),
        "before the final report only SENT, for {id}: {got:?}"
    );
    if last.contains("stat=NACK") {
        assert_eq!(first_final, 0, "a refused message was never SENT: {got:?}");
    }
    let distinct = usize::from(first_final > 0) + 1;
    got.len() - distinct
}

// ---------------------------------------------------------------------------------------------
// (a) SIGKILL while messages flow.

/// Message number `i` to [`destination`]`(i)`; `None` when no answer came (the gateway died).
async fn send_numbered(api: &Api, dlr_url: &str, i: usize) -> Option<(String, fn(&str) -> String)> {
    let (to, last) = destination(i);
    let params = [
        ("username", ALICE.0),
        ("password", ALICE.1),
        ("to", to.as_str()),
        ("text", "crash test"),
        ("dlr-url", dlr_url),
    ];
    let via = if i.is_multiple_of(2) {
        Via::Get
    } else {
        Via::Post
    };
    // A request cut off by the kill is not accepted: the customer never got an id.
    let answer = api.try_call("send_sms", via, &params).await.ok()?;
    let id = answer.strip_prefix("OK ")?.to_owned();
    Some((id, last))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_accepted_message_survives_a_kill_9_and_its_final_callback_arrives() {
    const N: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let receiver = CallbackReceiver::start().await;
    let (http_port, carrier_port) = (free_port(), free_port());
    let _carrier = start_carrier(dir.path(), carrier_port).await;
    let config = write_config(dir.path(), http_port, carrier_port);
    let api = Api::new(format!("http://127.0.0.1:{http_port}"));
    let mut herald = start_herald(&config, &api).await;
    // One request first, so the 300 do not all pay for argon2 at once.
    assert_eq!(api.dlr_response(ALICE, Via::Get, "0").await, "ERROR 107");

    let dlr_url = receiver.url("/dlr");
    let accepted_so_far = Arc::new(AtomicUsize::new(0));
    // Many clients at once, but not all 300 in one go: the kill must find requests still coming.
    let clients = Arc::new(tokio::sync::Semaphore::new(16));
    let sends: Vec<_> = (0..N)
        .map(|i| {
            let (api, dlr_url, counter) = (api.clone(), dlr_url.clone(), accepted_so_far.clone());
            let clients = clients.clone();
            tokio::spawn(async move {
                let _client = clients.acquire_owned().await.unwrap();
                let sent = send_numbered(&api, &dlr_url, i).await;
                if sent.is_some() {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
                (i, sent)
            })
        })
        .collect();

    // Kill it in the middle of the flow: a third accepted, some callbacks already out.
    eventually(PATIENCE, "a third of the messages accepted", || {
        let n = accepted_so_far.load(Ordering::SeqCst);
        async move { (n >= N / 3).then_some(()) }
    })
    .await;
    herald.kill_hard();
    let callbacks_before_kill = receiver.calls().len();

    let mut accepted: HashMap<String, fn(&str) -> String> = HashMap::new();
    let mut unanswered = Vec::new();
    for send in sends {
        match send.await.unwrap() {
            (_, Some((id, last))) => {
                accepted.insert(id, last);
            }
            (i, None) => unanswered.push(i),
        }
    }
    let accepted_before_kill = accepted.len();
    assert!(
        (N / 3..N).contains(&accepted_before_kill),
        "the kill came while messages were still being sent: {accepted_before_kill} of {N} accepted"
    );

    // Restarted on the same database; the client sends again what got no answer.
    let _herald = start_herald(&config, &api).await;
    for i in unanswered {
        let (id, last) = send_numbered(&api, &dlr_url, i)
            .await
            .expect("accepted after the restart");
        accepted.insert(id, last);
    }
    assert_eq!(accepted.len(), N);
    eventually(
        Duration::from_secs(90),
        "a final callback for every accepted message",
        || {
            let missing = accepted
                .iter()
                .filter(|(id, last)| !receiver.acknowledged(id).contains(&last(id)))
                .count();
            async move { (missing == 0).then_some(()) }
        },
    )
    .await;

    let mut duplicates = 0;
    for (id, last) in &accepted {
        duplicates += check_sequence(&receiver, id, &last(id));
        let status = api.dlr_response(ALICE, Via::Get, id).await;
        let expected = if last(id).contains("status=DELIVERED") {
            "OK DELIVERED"
        } else {
            "OK FAILED"
        };
        assert_eq!(status, expected, "{id}");
    }
    eprintln!(
        "{accepted_before_kill} of {N} accepted before the kill; {callbacks_before_kill} \
         callbacks before the kill; {duplicates} duplicate callbacks after the restart"
    );
    // Recovery after the kill left no row referring to one that is not there.
    assert_references_hold(&dir.path().join("herald.db"));
}

// ---------------------------------------------------------------------------------------------
// (b) The customer's receiver is down for a while.

#[tokio::test]
async fn callbacks_wait_for_a_receiver_that_is_down_and_arrive_in_order() {
    // Nothing listens on this port until the second half of the test.
    let late_port = free_port();
    let receiver = CallbackReceiver::start().await;
    receiver.answer_with(503);
    let app = spawn_app(|c| {
        c.callbacks.schedule = [100, 200, 400, 800]
            .into_iter()
            .chain([1000; 20])
            .map(Duration::from_millis)
            .collect();
    })
    .await;
    let failing_url = receiver.url("/dlr");
    let unreachable_url = format!("http://127.0.0.1:{late_port}/dlr");

    let mut messages = Vec::new();
    for i in 0..16 {
        let (to, last) = destination(i * 3 + (i % 2)); // delivered and undeliverable
        let url = if i < 8 {
            &failing_url
        } else {
            &unreachable_url
        };
        let id = app
            .api
            .send_ok(
                ALICE,
                Via::Post,
                &[("to", &to), ("text", "hello"), ("dlr-url", url)],
            )
            .await;
        messages.push((id, last, i < 8));
    }

    // Every message reaches its final status while its callbacks keep failing, and each has
    // been tried at least twice.
    for (id, _, answered_503) in &messages {
        eventually(
            PATIENCE,
            &format!("{id} final, callbacks failing"),
            || async {
                let status = app.api.dlr_response(ALICE, Via::Get, id).await;
                let history = app.history(id).await;
                let failed = events(&history, "callback")
                    .filter(|e| e.detail["next"] == "retry")
                    .count();
                let is_final = status == "OK DELIVERED" || status == "OK FAILED";
                (is_final && failed >= 2).then_some(())
            },
        )
        .await;
        if *answered_503 {
            let calls = receiver.calls_for(id);
            assert!(calls.iter().all(|c| c.answered == 503));
            assert!(
                calls.iter().all(|c| c.status() == "SENT"),
                "the final callback waits behind the unacknowledged SENT: {calls:?}"
            );
        }
    }

    // The receivers come back.
    receiver.answer_with(200);
    let late = CallbackReceiver::start_on(format!("127.0.0.1:{late_port}").parse().unwrap())
        .await
        .expect("the late receiver gets its port");
    for (id, last, answered_503) in &messages {
        let r = if *answered_503 { &receiver } else { &late };
        let got = r.wait_acknowledged(id, 2, PATIENCE).await;
        assert_eq!(got, [sent(id), last(id)], "in order, each once");
        app.wait_settled(id, PATIENCE).await;
        assert_eq!(r.acknowledged(id).len(), 2);
    }
    app.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// (c) SIGTERM.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_shutdown_keeps_queued_messages_for_the_restart() {
    const N: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let receiver = CallbackReceiver::start().await;
    let (http_port, carrier_port) = (free_port(), free_port());
    let config = write_config(dir.path(), http_port, carrier_port);
    let api = Api::new(format!("http://127.0.0.1:{http_port}"));

    // The carrier is not there yet: everything accepted stays queued.
    let mut herald = start_herald(&config, &api).await;
    let dlr_url = receiver.url("/dlr");
    let mut ids = Vec::new();
    for i in 0..N {
        let (to, last) = destination(i);
        let id = api
            .send_ok(
                ALICE,
                Via::Get,
                &[("to", &to), ("text", "queued"), ("dlr-url", &dlr_url)],
            )
            .await;
        assert_eq!(api.dlr_response(ALICE, Via::Get, &id).await, "FAILED 102");
        ids.push((id, last));
    }

    herald.terminate();
    let status = herald.wait_exit(PATIENCE).await;
    assert!(status.success(), "SIGTERM is a clean exit: {status}");
    assert!(receiver.calls().is_empty(), "nothing went out yet");

    let _carrier = start_carrier(dir.path(), carrier_port).await;
    let _herald = start_herald(&config, &api).await;
    for (id, last) in &ids {
        let expected = if last(id).contains("stat=NACK") {
            vec![last(id)]
        } else {
            vec![sent(id), last(id)]
        };
        let got = receiver
            .wait_acknowledged(id, expected.len(), PATIENCE)
            .await;
        assert_eq!(got, expected, "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigterm_while_messages_flow_loses_nothing_and_repeats_nothing() {
    const N: usize = 60;
    let dir = tempfile::tempdir().unwrap();
    let receiver = CallbackReceiver::start().await;
    let (http_port, carrier_port) = (free_port(), free_port());
    let _carrier = start_carrier(dir.path(), carrier_port).await;
    let config = write_config(dir.path(), http_port, carrier_port);
    let api = Api::new(format!("http://127.0.0.1:{http_port}"));
    let mut herald = start_herald(&config, &api).await;

    let dlr_url = receiver.url("/dlr");
    let mut ids = Vec::new();
    for i in 0..N {
        let (to, last) = destination(i);
        let id = api
            .send_ok(
                ALICE,
                Via::Post,
                &[("to", &to), ("text", "in flight"), ("dlr-url", &dlr_url)],
            )
            .await;
        ids.push((id, last));
    }
    // Stop while the first reports are coming back.
    eventually(PATIENCE, "the first callbacks", || async {
        (!receiver.calls().is_empty()).then_some(())
    })
    .await;
    herald.terminate();
    let status = herald.wait_exit(PATIENCE).await;
    assert!(status.success(), "SIGTERM is a clean exit: {status}");

    let _herald = start_herald(&config, &api).await;
    for (id, last) in &ids {
        let final_query = last(id);
        eventually(PATIENCE, &format!("the final callback of {id}"), || {
            let done = receiver.acknowledged(id).contains(&final_query);
            async move { done.then_some(()) }
        })
        .await;
        let duplicates = check_sequence(&receiver, id, &final_query);
        assert_eq!(duplicates, 0, "{id}: {:?}", receiver.acknowledged(id));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigterm_lets_a_callback_in_flight_finish_instead_of_repeating_it_later() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = CallbackReceiver::start().await;
    // Slow, but well within the callback timeout (2 s).
    receiver.answer_after(Duration::from_millis(1200));
    let (http_port, carrier_port) = (free_port(), free_port());
    let _carrier = start_carrier(dir.path(), carrier_port).await;
    let config = write_config(dir.path(), http_port, carrier_port);
    let api = Api::new(format!("http://127.0.0.1:{http_port}"));
    let mut herald = start_herald(&config, &api).await;

    let dlr_url = receiver.url("/dlr");
    let (to, last) = destination(0);
    let id = api
        .send_ok(
            ALICE,
            Via::Get,
            &[
                ("to", &to),
                ("text", "slow receiver"),
                ("dlr-url", &dlr_url),
            ],
        )
        .await;
    // The SENT callback has reached the customer, who has not answered yet.
    eventually(PATIENCE, "the SENT callback to arrive", || {
        let arrived = !receiver.calls_for(&id).is_empty();
        async move { arrived.then_some(()) }
    })
    .await;
    herald.terminate();
    let status = herald.wait_exit(PATIENCE).await;
    assert!(status.success(), "SIGTERM is a clean exit: {status}");

    receiver.answer_after(Duration::ZERO);
    let _herald = start_herald(&config, &api).await;
    let got = receiver.wait_acknowledged(&id, 2, PATIENCE).await;
    assert_eq!(got, [sent(&id), last(&id)], "each callback once");
    assert_eq!(api.dlr_response(ALICE, Via::Get, &id).await, "OK DELIVERED");
}
