//! The overview: how many messages of the period were Delivered, Sent, Failed, Rejected (and are
//! Queued or Scheduled), the delivery rate, a chart over time, and where the failures are — by
//! carrier, country and err code. Refreshes itself every few seconds while open.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;

use super::{DashboardState, PageError, Viewer, format, respond};
use crate::domain::Status;
use crate::store::{Millis, Overview, OverviewQuery, StatusCounts};

/// The periods one can choose, as (name in the URL, label, length).
const PERIODS: [(&str, &str, Millis); 5] = [
    ("15m", "15 minutes", 15 * 60_000),
    ("1h", "hour", 3_600_000),
    ("24h", "24 hours", 86_400_000),
    ("7d", "7 days", 7 * 86_400_000),
    ("30d", "30 days", 30 * 86_400_000),
];
const DEFAULT_PERIOD: &str = "1h";
/// Bars in the chart.
const BUCKETS: u32 = 30;
/// Chart drawing area, in SVG units (it scales to the screen).
const CHART_W: f64 = 600.0;
const CHART_H: f64 = 160.0;

/// The four statuses customers read, then the two before a carrier has the message; with the
/// CSS class that colours them.
const SHOWN: [(Status, &str); 6] = [
    (Status::Delivered, "delivered"),
    (Status::Sent, "sent"),
    (Status::Failed, "failed"),
    (Status::Rejected, "rejected"),
    (Status::Queued, "queued"),
    (Status::Scheduled, "scheduled"),
];

#[derive(Debug, Default, Deserialize)]
pub struct OverviewParams {
    period: Option<String>,
    account: Option<String>,
}

struct Count {
    label: &'static str,
    class: &'static str,
    value: u64,
}

struct Row {
    label: String,
    total: u64,
    delivered: u64,
    sent: u64,
    failed: u64,
    rejected: u64,
    rate: String,
}

impl Row {
    fn new(label: String, c: &StatusCounts) -> Self {
        Row {
            label,
            total: c.total(),
            delivered: c.delivered,
            sent: c.sent,
            failed: c.failed,
            rejected: c.rejected,
            rate: format::rate(c.delivery_rate()),
        }
    }
}

/// One stacked bar of the chart.
struct Bar {
    x: f64,
    width: f64,
    /// (y, height, class) from the bottom up.
    parts: Vec<(f64, f64, &'static str)>,
    title: String,
}

#[derive(Template)]
#[template(path = "dashboard/overview.html")]
struct OverviewBody {
    self_url: String,
    period: &'static str,
    periods: Vec<(&'static str, &'static str)>,
    account: String,
    accounts: Vec<String>,
    operator: bool,
    counts: Vec<Count>,
    total: u64,
    rate: String,
    bars: Vec<Bar>,
    peak: u64,
    axis: Vec<(f64, String)>,
    /// By carrier, by country, by err code.
    breakdowns: Vec<(&'static str, Vec<Row>)>,
    chart_w: f64,
    chart_h: f64,
    updated: String,
}

pub async fn page(
    State(state): State<DashboardState>,
    viewer: Viewer,
    headers: HeaderMap,
    Query(params): Query<OverviewParams>,
) -> Result<Response, PageError> {
    let scope = viewer
        .scope(&state, params.account.as_deref(), true)
        .await?;
    let (period, _, length) = PERIODS
        .into_iter()
        .find(|(name, _, _)| Some(*name) == params.period.as_deref())
        .or_else(|| PERIODS.into_iter().find(|(n, _, _)| *n == DEFAULT_PERIOD))
        .expect("the default period is listed");
    let now = (state.clock)();
    let query = OverviewQuery {
        account: scope.account_id(),
        // The window ends a moment ahead so a message accepted this millisecond is counted.
        from: now + 1 - length,
        to: now + 1,
        buckets: BUCKETS,
    };
    let overview = state.store.overview(query).await?;

    let peak = overview
        .series
        .iter()
        .map(|(_, c)| c.total())
        .max()
        .unwrap_or(0)
        .max(1);
    let slot = CHART_W / f64::from(BUCKETS);
    let bars = overview
        .series
        .iter()
        .enumerate()
        .map(|(i, (start, counts))| {
            let mut y = CHART_H;
            let parts = SHOWN
                .iter()
                .filter(|(s, _)| counts.get(*s) > 0)
                .map(|(s, class)| {
                    let h = counts.get(*s) as f64 / peak as f64 * CHART_H;
                    y -= h;
                    (y, h, *class)
                })
                .collect();
            Bar {
                x: i as f64 * slot + 1.0,
                width: slot - 2.0,
                parts,
                title: format!(
                    "{}: {} messages, {} delivered",
                    format::time(*start),
                    counts.total(),
                    counts.delivered
                ),
            }
        })
        .collect();
    let axis = overview
        .series
        .iter()
        .enumerate()
        .step_by(BUCKETS as usize / 5)
        .map(|(i, (start, _))| (i as f64 * slot, format::short_time(*start, length)))
        .collect();

    let body = OverviewBody {
        self_url: self_url(period, &scope.account_name()),
        period,
        periods: PERIODS.iter().map(|(n, l, _)| (*n, *l)).collect(),
        account: scope.account_name(),
        accounts: scope.usernames(),
        operator: viewer.0.operator,
        counts: SHOWN
            .iter()
            .map(|(s, class)| Count {
                label: format::status(*s),
                class,
                value: overview.totals.get(*s),
            })
            .collect(),
        total: overview.totals.total(),
        rate: format::rate(overview.totals.delivery_rate()),
        bars,
        peak,
        axis,
        breakdowns: vec![
            ("By carrier", by_carrier(&overview)),
            ("By country", by_country(&overview)),
            ("By err code", by_err(&overview)),
        ],
        chart_w: CHART_W,
        chart_h: CHART_H,
        updated: format::time(now),
    };
    respond(&headers, &viewer.0, "Overview", "overview", body)
}

fn by_carrier(overview: &Overview) -> Vec<Row> {
    overview
        .by_carrier
        .iter()
        .map(|(c, counts)| Row::new(c.clone().unwrap_or_else(|| "(none)".into()), counts))
        .collect()
}

fn by_country(overview: &Overview) -> Vec<Row> {
    overview
        .by_country
        .iter()
        .map(|(c, counts)| Row::new(c.clone(), counts))
        .collect()
}

fn by_err(overview: &Overview) -> Vec<Row> {
    overview
        .by_err
        .iter()
        .map(|(e, counts)| Row::new(format!("{e} {}", format::err_meaning(*e)), counts))
        .collect()
}

fn self_url(period: &str, account: &str) -> String {
    let mut url = format!("/dashboard?period={period}");
    if !account.is_empty() {
        url.push_str("&account=");
        url.push_str(&format::query_value(account));
    }
    url
}
