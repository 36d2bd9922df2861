//! Prometheus metrics, served at `/metrics` in the Prometheus text format (0.0.4).
//!
//! One [`Metrics`] per running gateway, owned by the app and handed to the parts that count: no
//! process-wide registry, so two gateways in one process (tests, `herald send`) never mix their
//! numbers. What is already counted elsewhere is read at scrape time instead of being counted
//! twice: the carriers' [`CarrierStats`] (lock-free) and the store's message counts.
//!
//! Names and labels (all prefixed `herald_`):
//! - `messages{carrier,status}` — gauge: messages in each status now, from the store. A gauge of
//!   current counts rather than a counter of changes, because the store is the one place that
//!   knows every status; `carrier` is empty for messages rejected before routing.
//! - `callback_attempts_total{format,outcome}` — counter; `format` is `query` (the plain-text
//!   API's GET) or `json` (the signed webhook); `outcome` is `acknowledged` (the answer the format
//!   counts as acknowledging), `refused` (any other HTTP answer) or `error` (no answer: timeout,
//!   connection, SSRF guard, unusable URL). Failures are every outcome but `acknowledged`.
//! - `callbacks_exhausted_total{format}` — callbacks whose retry schedule ran out.
//! - `receipt_to_callback_seconds` — histogram: from a receipt being recorded to the customer
//!   acknowledging the callback it caused (final statuses, DELIVERED and FAILED).
//! - `carrier_bind_up{carrier,session,kind}`, `carrier_bind_state{carrier,session,kind,state}` (1
//!   for the current state), `carrier_window_in_use` / `carrier_window_size{carrier,session,kind}`,
//!   `carrier_submits_total` / `carrier_receipts_total` /
//!   `carrier_reconnects_total{carrier,session,kind}`; `session` counts from 1.
//! - `http_requests_total{route,class}` — every HTTP request by matched route (`unmatched` for
//!   none) and response class (`2xx`...`5xx`).

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::carrier::{BindState, BindStats, CarrierLink};
use crate::domain::Status;
use crate::store::{CallbackFormat, MessageCount};

/// The `Content-Type` of what [`Metrics::encode`] writes.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    class: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CallbackLabels {
    format: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct FormatLabel {
    format: &'static str,
}

/// What one callback attempt came to, for [`Metrics::callback_attempt`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackOutcome {
    /// A 2xx answer.
    Acknowledged,
    /// Any other HTTP answer.
    Refused,
    /// No answer at all.
    Error,
}

impl CallbackOutcome {
    fn as_str(self) -> &'static str {
        match self {
            CallbackOutcome::Acknowledged => "acknowledged",
            CallbackOutcome::Refused => "refused",
            CallbackOutcome::Error => "error",
        }
    }
}

/// The gateway's metrics. Cheap to share (`Arc`); counting is a few atomic adds.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    callback_attempts: Family<CallbackLabels, Counter>,
    callbacks_exhausted: Family<FormatLabel, Counter>,
    receipt_to_callback: Histogram,
    messages: Arc<MessagesCollector>,
}

impl Metrics {
    /// A registry reading `carriers`' stats at every scrape.
    pub fn new(carriers: Vec<CarrierLink>) -> Self {
        let mut registry = Registry::with_prefix("herald");
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by matched route and response class",
            http_requests.clone(),
        );
        let callback_attempts = Family::<CallbackLabels, Counter>::default();
        registry.register(
            "callback_attempts",
            "Callback attempts by format and outcome (acknowledged, refused, error)",
            callback_attempts.clone(),
        );
        let callbacks_exhausted = Family::<FormatLabel, Counter>::default();
        registry.register(
            "callbacks_exhausted",
            "Callbacks whose retry schedule ran out",
            callbacks_exhausted.clone(),
        );
        // 1 ms to about 65 s: a receiver on the same network answers in milliseconds, one
        // that needed retries in minutes (those land in +Inf).
        let receipt_to_callback = Histogram::new(
            prometheus_client::metrics::histogram::exponential_buckets(0.001, 2.0, 17),
        );
        registry.register(
            "receipt_to_callback_seconds",
            "From a receipt being recorded to the customer acknowledging its callback",
            receipt_to_callback.clone(),
        );
        let messages = Arc::new(MessagesCollector::default());
        registry.register_collector(Box::new(messages.clone()));
        registry.register_collector(Box::new(CarriersCollector { carriers }));
        Self {
            registry,
            http_requests,
            callback_attempts,
            callbacks_exhausted,
            receipt_to_callback,
            messages,
        }
    }

    /// Counts one HTTP request. `route` is the matched route pattern (not the raw path, which
    /// a client could make endless).
    pub fn http_request(&self, route: Option<&str>, status: u16) {
        let class = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.http_requests
            .get_or_create(&HttpLabels {
                route: route.unwrap_or("unmatched").to_owned(),
                class,
            })
            .inc();
    }

    /// Counts one callback attempt.
    pub fn callback_attempt(&self, format: CallbackFormat, outcome: CallbackOutcome) {
        self.callback_attempts
            .get_or_create(&CallbackLabels {
                format: format.as_str(),
                outcome: outcome.as_str(),
            })
            .inc();
    }

    pub fn callback_exhausted(&self, format: CallbackFormat) {
        self.callbacks_exhausted
            .get_or_create(&FormatLabel {
                format: format.as_str(),
            })
            .inc();
    }

    /// Records how long a receipt took to reach the customer, when the callback telling it was
    /// acknowledged. Only final statuses come from receipts; others are ignored.
    pub fn receipt_acknowledged(&self, status: Status, latency: Duration) {
        if matches!(status, Status::Delivered | Status::Failed) {
            self.receipt_to_callback.observe(latency.as_secs_f64());
        }
    }

    /// Replaces the message counts the next encodings show (read from the store per scrape).
    pub fn set_message_counts(&self, counts: Vec<MessageCount>) {
        self.messages.counts.store(Arc::new(counts));
    }

    /// The whole registry in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// Messages by carrier and status, as the last scrape read them from the store.
#[derive(Debug, Default)]
struct MessagesCollector {
    counts: ArcSwap<Vec<MessageCount>>,
}

impl Collector for MessagesCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let counts = self.counts.load();
        let gauge = ConstGauge::new(0i64);
        let mut family = encoder.encode_descriptor(
            "messages",
            "Messages by carrier and current status",
            None,
            gauge.metric_type(),
        )?;
        for c in counts.iter() {
            let labels = [
                ("carrier", c.carrier.as_deref().unwrap_or("")),
                ("status", c.status.as_str()),
            ];
            let count = i64::try_from(c.count).unwrap_or(i64::MAX);
            ConstGauge::new(count).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// The carriers' binds, read from their lock-free stats at every scrape.
#[derive(Debug)]
struct CarriersCollector {
    carriers: Vec<CarrierLink>,
}

/// One bind as the carrier metrics label it.
struct BindRow<'a> {
    carrier: &'a str,
    /// The session's number, from 1, as the label's text.
    session: String,
    stats: &'a BindStats,
}

impl BindRow<'_> {
    fn labels(&self) -> [(&'static str, &str); 3] {
        [
            ("carrier", self.carrier),
            ("session", &self.session),
            ("kind", self.stats.kind.as_str()),
        ]
    }
}

const BIND_STATES: [BindState; 5] = [
    BindState::Connecting,
    BindState::Bound,
    BindState::Backoff,
    BindState::Stopped,
    BindState::ShutDown,
];

impl Collector for CarriersCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let stats: Vec<_> = self.carriers.iter().map(|c| c.stats()).collect();
        // One row per bind, for each metric below.
        let binds: Vec<BindRow<'_>> = stats
            .iter()
            .flat_map(|c| {
                c.binds.iter().map(|b| BindRow {
                    carrier: &c.name,
                    session: b.session.to_string(),
                    stats: b,
                })
            })
            .collect();
        type Value = fn(&crate::carrier::BindStats) -> i64;
        let gauges: [(&str, &str, Value); 3] = [
            ("carrier_bind_up", "1 while the bind is bound", |b| {
                i64::from(b.state.is_up())
            }),
            (
                "carrier_window_in_use",
                "Submits waiting for their response on the bind",
                |b| b.window_in_use as i64,
            ),
            (
                "carrier_window_size",
                "Requests the bind may have in flight",
                |b| b.window_size as i64,
            ),
        ];
        for (name, help, value) in gauges {
            let mut family =
                encoder.encode_descriptor(name, help, None, ConstGauge::new(0i64).metric_type())?;
            for bind in &binds {
                ConstGauge::new(value(bind.stats)).encode(family.encode_family(&bind.labels())?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "carrier_bind_state",
            "1 for the state the bind is in",
            None,
            ConstGauge::new(0i64).metric_type(),
        )?;
        for bind in &binds {
            let [carrier, session, kind] = bind.labels();
            for state in BIND_STATES {
                let labels = [carrier, session, kind, ("state", state.as_str())];
                ConstGauge::new(i64::from(bind.stats.state == state))
                    .encode(family.encode_family(&labels)?)?;
            }
        }
        type Count = fn(&crate::carrier::BindStats) -> u64;
        let counters: [(&str, &str, Count); 3] = [
            ("carrier_submits", "submit_sm written on the bind", |b| {
                b.submits
            }),
            (
                "carrier_receipts",
                "Receipts the carrier sent on the bind",
                |b| b.receipts,
            ),
            (
                "carrier_reconnects",
                "Times the bind was lost after being up",
                |b| b.reconnects,
            ),
        ];
        for (name, help, value) in counters {
            let mut family = encoder.encode_descriptor(
                name,
                help,
                None,
                ConstCounter::new(0u64).metric_type(),
            )?;
            for bind in &binds {
                ConstCounter::new(value(bind.stats))
                    .encode(family.encode_family(&bind.labels())?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_appear_with_their_labels_in_the_text_format() {
        let m = Metrics::new(Vec::new());
        m.http_request(Some("/send_sms"), 200);
        m.http_request(Some("/send_sms"), 429);
        m.http_request(None, 404);
        m.callback_attempt(CallbackFormat::Query, CallbackOutcome::Acknowledged);
        m.callback_attempt(CallbackFormat::Json, CallbackOutcome::Refused);
        m.receipt_acknowledged(Status::Delivered, Duration::from_millis(3));
        m.receipt_acknowledged(Status::Sent, Duration::from_millis(3));
        m.set_message_counts(vec![MessageCount {
            carrier: Some("sim".into()),
            status: Status::Delivered,
            count: 7,
        }]);
        let text = m.encode();
        for line in [
            "herald_http_requests_total{route=\"/send_sms\",class=\"2xx\"} 1",
            "herald_http_requests_total{route=\"/send_sms\",class=\"4xx\"} 1",
            "herald_http_requests_total{route=\"unmatched\",class=\"4xx\"} 1",
            "herald_callback_attempts_total{format=\"query\",outcome=\"acknowledged\"} 1",
            "herald_callback_attempts_total{format=\"json\",outcome=\"refused\"} 1",
            "herald_receipt_to_callback_seconds_count 1",
            "herald_messages{carrier=\"sim\",status=\"delivered\"} 7",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from\n{text}"
            );
        }
    }
}
