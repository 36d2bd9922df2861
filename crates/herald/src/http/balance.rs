//! `get_balance`, `prices` and `pricelist`: what an account has and what sending costs.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{Answer, ApiState, BAD_PARAMETERS, Customer, SERVER_FAILURE};
use crate::{number, pricing};

/// `OK 707.54`: the account's balance in its currency.
pub(super) async fn get_balance(
    State(state): State<ApiState>,
    Customer { account, .. }: Customer,
) -> Answer {
    match state.store.balance(account.id).await {
        Ok(balance) => Answer::Ok(balance.to_string()),
        Err(e) => {
            tracing::error!(error = %e, "balance lookup failed");
            SERVER_FAILURE
        }
    }
}

/// The prices of one `country` (ISO 3166 code) as JSON; `ERROR 102` for an unknown country.
pub(super) async fn prices(
    State(state): State<ApiState>,
    Customer { params, .. }: Customer,
) -> Response {
    let Some((country, code)) = params.text("country").and_then(|c| {
        let code = number::calling_code_of(c)?;
        let id = number::countries_of(code)
            .into_iter()
            .find(|id| id.eq_ignore_ascii_case(c))?;
        Some((id, code))
    }) else {
        return BAD_PARAMETERS.into_response();
    };
    let rows = pricing::for_country(&state.routes, country, code);
    body_of(
        "application/json",
        pricing::json(country, code, &rows).to_string(),
    )
}

/// Every price as CSV: `Country,Code,MCCMNC,Network,Price`.
pub(super) async fn pricelist(State(state): State<ApiState>, _customer: Customer) -> Response {
    body_of(
        "text/csv; charset=UTF-8",
        pricing::csv(&pricing::all(&state.routes)),
    )
}

fn body_of(content_type: &'static str, body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}
