//! `get_dlr_response`: the status of one message, as its owner may see it.

use axum::extract::State;

use super::{
    Answer, ApiState, BAD_PARAMETERS, Customer, NO_REPORT_YET, SERVER_FAILURE, UNKNOWN_ID,
};
use crate::domain::MessageId;

pub(super) async fn get_dlr_response(
    State(state): State<ApiState>,
    Customer { params, account }: Customer,
) -> Answer {
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
