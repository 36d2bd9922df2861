//! What a JSON webhook costs Herald before it reaches the network: building the delivery report
//! body and its signature headers (X-Messente-Signature and the Standard Webhooks HMAC), per
//! webhook, on one core.
//!
//! ```text
//! cargo run --release -p herald --example webhook_bench -- [webhooks]
//! ```
//!
//! Prints figures only; nothing is asserted (machines are shared and noisy).

use std::hint::black_box;
use std::time::Instant;

use herald::callbacks::signature::WebhookSecret;
use herald::callbacks::webhook;
use herald::domain::{MessageId, ReceiptOutcome, Report};
use herald::store::WebhookJob;

fn main() {
    let count: u32 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000);
    let secret = WebhookSecret::generate();
    let id = MessageId::generate();
    let report = Report::from_receipt(ReceiptOutcome::Delivered);
    let job = WebhookJob {
        id: webhook::webhook_id(&id, 1),
        omnimessage_id: Some("632c6f3d-49d0-4a8f-9b2e-74023d31e51d".into()),
        destination: "37255500000".into(),
        sender: "Herald".into(),
        part_price: Some("0.05".into()),
        parts_count: 2,
        changed_at: 1_795_766_982_389,
        secret: secret.clone(),
    };

    let started = Instant::now();
    let mut bytes = 0usize;
    for i in 0..count {
        let body = webhook::body(&id, &report, &job);
        let headers = webhook::headers(&secret, &job.id, 1_795_766_983_000 + i64::from(i), &body);
        bytes += black_box(&body).len() + black_box(&headers)[0].1.len();
    }
    let elapsed = started.elapsed();
    let per = elapsed.as_secs_f64() * 1e6 / f64::from(count);
    println!(
        "{count} webhooks: body + both signatures {per:.2} µs each, {:.0} webhooks/s on one core \
         ({} bytes of body and signature each)",
        f64::from(count) / elapsed.as_secs_f64(),
        bytes / count as usize
    );
}
