//! The error codes of refused records: one mapping from the core's checks
//! and the store's refusals to the codes of docs/PROTOCOL.md.

use crate::store::records::Refusal;
use twinline_core::model::RecordError;
use twinline_core::protocol::ErrorCode;

/// The error code for a record that fails the core's checks.
pub(super) fn record_error_code(error: &RecordError) -> ErrorCode {
    match error {
        RecordError::Text(..) | RecordError::File(_) => ErrorCode::BadText,
        RecordError::OutOfRange { .. } | RecordError::LamportJump { .. } => ErrorCode::OutOfRange,
    }
}

/// The error code for a record the store refused.
pub(super) fn refusal_code(refusal: &Refusal) -> ErrorCode {
    match refusal {
        // Final like a taken id: sending it again cannot change that (the
        // widget drops the chat on the `erased` frame that follows).
        Refusal::IdTaken(_) | Refusal::Erased => ErrorCode::Conflict,
        Refusal::Invalid(error) => record_error_code(error),
    }
}
