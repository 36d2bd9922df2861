//! Message ids on `/v1`. A message has one id, Herald's 128-bit `sms_unique_id`; the
//! omnimessage endpoints show it in the 8-4-4-4-12 UUID form their clients expect, and every
//! `/v1` path accepts either form.

use super::auth::Customer;
use super::error::ApiError;
use crate::domain::MessageId;
use crate::http::ApiState;
use crate::store::MessageView;

/// The UUID form of `id` ([`MessageId::uuid_form`]).
pub fn uuid(id: &MessageId) -> String {
    id.uuid_form()
}

/// The id in a path: Herald's form or the UUID form.
pub fn parse(raw: &str) -> Option<MessageId> {
    let compact: String = raw.chars().filter(|&c| c != '-').collect();
    MessageId::parse(&compact)
}

/// The customer's own message `raw`; 404 ("101") when there is none, or it is another account's
/// (which is not revealed).
pub async fn own_message(
    state: &ApiState,
    customer: &Customer,
    raw: &str,
) -> Result<MessageView, ApiError> {
    let not_found = || ApiError::not_found(format!("No message {raw}"));
    let id = parse(raw).ok_or_else(not_found)?;
    match state.store.message(&id).await? {
        Some(view) if view.account_id == customer.account.id => Ok(view),
        _ => Err(not_found()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_uuid_form_parses_back_to_the_same_id() {
        let id = MessageId::generate();
        let shown = uuid(&id);
        assert_eq!(shown.len(), 36);
        assert_eq!(parse(&shown), Some(id.clone()));
        assert_eq!(parse(id.as_str()), Some(id));
        assert_eq!(parse("not/an id"), None);
    }
}
