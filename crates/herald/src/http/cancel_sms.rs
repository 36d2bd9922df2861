//! `cancel_sms`: withdraw a message (typically scheduled with `time_to_send`) that no carrier has
//! yet.
//!
//! Answers: `OK` when cancelled (the message ends Rejected, `stat` DELETED, and its callback is
//! sent); `ERROR 107` for an unknown id or another account's; `ERROR 108` when it is too late —
//! a carrier has (or is being handed) the message, or it is already final. 108 is permanent:
//! asking again can never succeed, so it is an `ERROR`, not a `FAILED`.

use axum::extract::State;

use super::{Answer, ApiState, BAD_PARAMETERS, Customer, SERVER_FAILURE, UNKNOWN_ID};
use crate::domain::MessageId;
use crate::store::CancelOutcome;

/// `ERROR 108`: the message can no longer be cancelled.
pub const TOO_LATE_TO_CANCEL: Answer = Answer::Error(108);

pub(super) async fn cancel_sms(
    State(state): State<ApiState>,
    Customer { params, account }: Customer,
) -> Answer {
    let Some(raw_id) = params.text("sms_unique_id") else {
        return BAD_PARAMETERS;
    };
    let Some(id) = MessageId::parse(raw_id) else {
        return UNKNOWN_ID;
    };
    match state.store.cancel(&id, account.id, (state.clock)()).await {
        Ok(CancelOutcome::Cancelled) => {
            tracing::debug!(%id, "message cancelled");
            state.callback_wake.notify_one();
            Answer::Ok(String::new())
        }
        Ok(CancelOutcome::Unknown) => UNKNOWN_ID,
        Ok(CancelOutcome::TooLate) => TOO_LATE_TO_CANCEL,
        Err(e) => {
            tracing::error!(error = %e, "cancelling a message failed");
            SERVER_FAILURE
        }
    }
}
