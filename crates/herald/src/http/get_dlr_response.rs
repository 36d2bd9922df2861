//! `get_dlr_response`: the status of one message, as its owner may see it.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;

use super::{Answer, ApiState, BAD_PARAMETERS, NO_REPORT_YET, SERVER_FAILURE, UNKNOWN_ID};
use crate::domain::MessageId;

pub(super) async fn get_dlr_response(
    State(state): State<ApiState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let params = super::request_params(query.as_deref(), &headers, &body);
    let account = match super::authenticate(&state, &params).await {
        Ok(account) => account,
        Err(answer) => return answer,
    };
    let Some(raw_id) = params.text("sms_unique_id") else {
        return BAD_PARAMETERS;
    };
    // An id we could never have issued is simply unknown.
    let Some(id) = MessageId::parse(raw_id) else {
        return UNKNOWN_ID;
    };
    match state.store.message(&id).await {
        // Another account's message is answered exactly like an unknown one, so ids cannot be
        // probed across accounts.
        Ok(Some(view)) if view.account_id == account.id => match view.status.callback_status() {
            Some(status) => Answer::Ok(status.to_owned()),
            None => NO_REPORT_YET,
        },
        Ok(_) => UNKNOWN_ID,
        Err(e) => {
            tracing::error!(error = %e, "message lookup failed");
            SERVER_FAILURE
        }
    }
}
