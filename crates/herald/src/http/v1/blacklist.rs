//! The account's blacklist as the phonebook API (api.md §2), camelCase as the published client
//! expects: `POST /v1/phonebook/blacklist` `{ "phoneNumber" }` (204, 409 when already there),
//! `GET /v1/phonebook/blacklist` `{ "phoneNumbers": [...] }`, and `GET` / `DELETE`
//! `/v1/phonebook/blacklist/{phone}` (204, 404 when not there). These are the account's own list
//! (err 008 at acceptance, like the operator's global one, which this API does not show).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::auth::Customer;
use super::error::{ApiError, payload};
use super::json::JsonBody;
use crate::http::{ApiState, RouteTable};
use crate::number::Destination;
use crate::store::BlacklistScope;

pub(super) fn router() -> RouteTable<ApiState> {
    RouteTable::new()
        .post("/v1/phonebook/blacklist", post_blacklist)
        .get("/v1/phonebook/blacklist", get_blacklist)
        .get("/v1/phonebook/blacklist/{phone}", get_blacklisted_number)
        .delete("/v1/phonebook/blacklist/{phone}", delete_blacklisted_number)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NumberToBlacklist {
    phone_number: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Blacklist {
    phone_numbers: Vec<String>,
}

/// E.164 digits of a number, or a 400 naming where it came from.
fn number(raw: &str, source: String) -> Result<String, ApiError> {
    Destination::parse(raw)
        .map(|d| d.digits().to_owned())
        .map_err(|_| {
            ApiError::invalid(
                source,
                "Not a phone number in international form, e.g. +37255500000",
            )
        })
}

async fn post_blacklist(
    State(state): State<ApiState>,
    customer: Customer,
    JsonBody(body): JsonBody<NumberToBlacklist>,
) -> Result<StatusCode, ApiError> {
    let digits = number(&body.phone_number, payload(["phoneNumber"]))?;
    let scope = BlacklistScope::Account(customer.account.id);
    if state
        .store
        .blacklist_add(scope, &digits, (state.clock)())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::invalid(
            payload(["phoneNumber"]),
            format!("+{digits} is already on the blacklist"),
        )
        .with_status(StatusCode::CONFLICT))
    }
}

async fn get_blacklist(
    State(state): State<ApiState>,
    customer: Customer,
) -> Result<Json<Blacklist>, ApiError> {
    let numbers = state
        .store
        .blacklist(BlacklistScope::Account(customer.account.id))
        .await?;
    Ok(Json(Blacklist {
        phone_numbers: numbers.into_iter().map(|n| format!("+{n}")).collect(),
    }))
}

async fn get_blacklisted_number(
    State(state): State<ApiState>,
    customer: Customer,
    Path(phone): Path<String>,
) -> Result<StatusCode, ApiError> {
    let digits = number(&phone, "path[phone]".into())?;
    let numbers = state
        .store
        .blacklist(BlacklistScope::Account(customer.account.id))
        .await?;
    if numbers.contains(&digits) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "+{digits} is not on the blacklist"
        )))
    }
}

async fn delete_blacklisted_number(
    State(state): State<ApiState>,
    customer: Customer,
    Path(phone): Path<String>,
) -> Result<StatusCode, ApiError> {
    let digits = number(&phone, "path[phone]".into())?;
    let scope = BlacklistScope::Account(customer.account.id);
    if state.store.blacklist_remove(scope, &digits).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "+{digits} is not on the blacklist"
        )))
    }
}
