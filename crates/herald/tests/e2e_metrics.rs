//! `/metrics` and `/health` of a whole Herald: messages go through the simulated carrier and back
//! to a real callback receiver, then the exposition is scraped, parsed strictly and checked
//! against what happened.

mod support;

use std::collections::BTreeMap;

use support::{CallbackReceiver, PATIENCE, Via, spawn_app};

/// One scrape: `name{label="value",...}` (labels sorted) → value. Panics on any line that is
/// not a `# HELP` / `# TYPE` comment or a well-formed sample of a family declared before it.
fn parse_exposition(text: &str) -> BTreeMap<String, f64> {
    let mut typed: Vec<(String, String)> = Vec::new();
    let mut samples = BTreeMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            typed.push((name.to_owned(), kind.to_owned()));
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (name, mut labels, value) = parse_sample(line);
        let declared = typed.iter().any(|(family, kind)| {
            name == *family
                || (kind == "histogram"
                    && ["_bucket", "_sum", "_count"]
                        .iter()
                        .any(|s| name.strip_suffix(s) == Some(family.as_str())))
        });
        assert!(declared, "{name} has no # TYPE before it");
        labels.sort();
        let key = if labels.is_empty() {
            name
        } else {
            format!("{name}{{{}}}", labels.join(","))
        };
        assert!(samples.insert(key, value).is_none(), "{line} twice");
    }
    samples
}

/// `name{k="v",...} value`: the name, the labels as `k="v"` and the value.
fn parse_sample(line: &str) -> (String, Vec<String>, f64) {
    let c: Vec<char> = line.chars().collect();
    let mut i = 0;
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    while i < c.len() && ident(c[i]) {
        i += 1;
    }
    let name: String = c[..i].iter().collect();
    assert!(
        !name.is_empty() && !c[0].is_ascii_digit(),
        "bad name in {line:?}"
    );
    let mut labels = Vec::new();
    if c.get(i) == Some(&'{') {
        i += 1;
        while c.get(i) != Some(&'}') {
            let start = i;
            while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            let key: String = c[start..i].iter().collect();
            assert!(!key.is_empty(), "empty label name in {line:?}");
            assert_eq!(c.get(i..i + 2), Some(&['=', '"'][..]), "{line:?}");
            i += 2;
            let mut value = String::new();
            loop {
                match c.get(i) {
                    Some('"') => break,
                    Some('\\') => {
                        match c.get(i + 1) {
                            Some('n') => value.push('\n'),
                            Some(&e @ ('\\' | '"')) => value.push(e),
                            other => panic!("bad escape {other:?} in {line:?}"),
                        }
                        i += 1;
                    }
                    Some(&ch) => value.push(ch),
                    None => panic!("unterminated label value in {line:?}"),
                }
                i += 1;
            }
            i += 1;
            labels.push(format!("{key}=\"{value}\""));
            match c.get(i) {
                Some(',') => i += 1,
                Some('}') => {}
                other => panic!("unexpected {other:?} after a label in {line:?}"),
            }
        }
        i += 1;
    }
    assert_eq!(
        c.get(i),
        Some(&' '),
        "no space before the value in {line:?}"
    );
    let rest: String = c[i + 1..].iter().collect();
    let mut parts = rest.split(' ');
    let value = match parts.next().unwrap() {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v
            .parse()
            .unwrap_or_else(|_| panic!("bad value {v:?} in {line:?}")),
    };
    if let Some(ts) = parts.next() {
        ts.parse::<i64>()
            .unwrap_or_else(|_| panic!("bad timestamp in {line:?}"));
    }
    assert!(parts.next().is_none(), "trailing text in {line:?}");
    (name, labels, value)
}

async fn scrape(base: &str) -> BTreeMap<String, f64> {
    let response = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    parse_exposition(&response.text().await.unwrap())
}

fn value(m: &BTreeMap<String, f64>, key: &str) -> f64 {
    m.get(key).copied().unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_count_messages_callbacks_carrier_traffic_and_requests() {
    let app = spawn_app(|_| {}).await;
    let receiver = CallbackReceiver::start().await;
    let base = app.api.base.clone();
    let link = app.carrier("sim");
    tokio::time::timeout(PATIENCE, link.wait_bound())
        .await
        .unwrap();

    let before = scrape(&base).await;
    let bind = "carrier=\"sim\",kind=\"transceiver\",session=\"1\"";
    assert_eq!(
        value(&before, &format!("herald_carrier_bind_up{{{bind}}}")),
        1.0
    );
    assert_eq!(
        value(
            &before,
            &format!("herald_carrier_bind_state{{{bind},state=\"bound\"}}")
        ),
        1.0
    );
    assert_eq!(
        value(
            &before,
            &format!("herald_carrier_bind_state{{{bind},state=\"backoff\"}}")
        ),
        0.0
    );
    assert_eq!(
        value(&before, &format!("herald_carrier_window_size{{{bind}}}")),
        10.0
    );
    assert_eq!(
        value(&before, &format!("herald_carrier_submits_total{{{bind}}}")),
        0.0
    );
    assert_eq!(
        value(&before, "herald_receipt_to_callback_seconds_count"),
        0.0
    );

    let dlr = receiver.url("/dlr");
    let mut delivered = Vec::new();
    for n in 0..3 {
        let to = format!("3725550001{n}");
        delivered.push(
            app.api
                .send_ok(
                    support::ALICE,
                    Via::Get,
                    &[("to", &to), ("text", "hi"), ("dlr-url", &dlr)],
                )
                .await,
        );
    }
    // Refused by the carrier at submit (0x0B): Rejected, one FAILED callback, no receipt.
    let nacked = app
        .api
        .send_ok(
            support::ALICE,
            Via::Post,
            &[("to", "37255500003"), ("text", "hi"), ("dlr-url", &dlr)],
        )
        .await;
    for id in delivered.iter().chain([&nacked]) {
        app.wait_settled(id, PATIENCE).await;
    }
    let acknowledged = receiver.calls().iter().filter(|c| c.acknowledged()).count();
    let stats = app.carrier_stats();
    assert_eq!(stats.len(), 1);
    assert_eq!((stats[0].submits(), stats[0].receipts()), (4, 3));
    assert_eq!(
        acknowledged,
        3 * 2 + 1,
        "SENT and DELIVERED each, and the NACK"
    );

    let after = scrape(&base).await;
    let messages = |status: &str| {
        value(
            &after,
            &format!("herald_messages{{carrier=\"sim\",status=\"{status}\"}}"),
        )
    };
    assert_eq!(messages("delivered"), 3.0);
    assert_eq!(messages("rejected"), 1.0);
    assert_eq!(messages("sent"), 0.0);
    assert_eq!(
        value(
            &after,
            "herald_callback_attempts_total{format=\"query\",outcome=\"acknowledged\"}"
        ),
        acknowledged as f64
    );
    assert_eq!(
        value(
            &after,
            "herald_callback_attempts_total{format=\"query\",outcome=\"refused\"}"
        ),
        0.0
    );
    // Only the three receipts' callbacks have a receipt-to-callback latency.
    assert_eq!(
        value(&after, "herald_receipt_to_callback_seconds_count"),
        3.0
    );
    assert_eq!(
        value(
            &after,
            "herald_receipt_to_callback_seconds_bucket{le=\"+Inf\"}"
        ),
        3.0
    );
    assert!(value(&after, "herald_receipt_to_callback_seconds_sum") > 0.0);
    assert_eq!(
        value(&after, &format!("herald_carrier_submits_total{{{bind}}}")),
        4.0
    );
    assert_eq!(
        value(&after, &format!("herald_carrier_receipts_total{{{bind}}}")),
        3.0
    );
    assert_eq!(
        value(&after, &format!("herald_carrier_window_in_use{{{bind}}}")),
        0.0
    );
    assert_eq!(
        value(
            &after,
            "herald_http_requests_total{class=\"2xx\",route=\"/send_sms\"}"
        ),
        4.0
    );
    assert_eq!(
        value(
            &after,
            "herald_http_requests_total{class=\"2xx\",route=\"/metrics\"}"
        ),
        1.0,
        "the scrape before this one"
    );

    // A receiver that refuses: counted as refused, and no latency is recorded.
    receiver.answer_with(500);
    app.api
        .send_ok(
            support::ALICE,
            Via::Get,
            &[("to", "37255500020"), ("text", "hi"), ("dlr-url", &dlr)],
        )
        .await;
    let refused = support::eventually(PATIENCE, "a refused callback counted", || async {
        let m = scrape(&base).await;
        let refused = value(
            &m,
            "herald_callback_attempts_total{format=\"query\",outcome=\"refused\"}",
        );
        (refused >= 1.0).then_some(m)
    })
    .await;
    assert_eq!(
        value(&refused, "herald_receipt_to_callback_seconds_count"),
        3.0
    );
    app.shutdown().await;
}

#[tokio::test]
async fn health_is_ok_while_the_store_answers_and_a_route_leads_to_a_carrier() {
    let app = spawn_app(|_| {}).await;
    let response = reqwest::get(format!("{}/health", app.api.base))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ok");
    app.shutdown().await;

    let app = spawn_app(|c| {
        c.carriers.clear();
        c.routes.clear();
    })
    .await;
    let response = reqwest::get(format!("{}/health", app.api.base))
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("no route to a carrier")
    );
    app.shutdown().await;
}
