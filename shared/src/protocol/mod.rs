//! The wire protocol: JSON frames over a WebSocket at `/v1/ws`, plus the JSON
//! bodies of the few HTTP endpoints clients call. docs/PROTOCOL.md describes
//! every frame with an example; a test there keeps the two in step.
//!
//! Frames are internally tagged (`{"type": "send", ...}`). Unknown fields are
//! ignored so either side can grow; an unknown `type` is reported as
//! [`FrameError::UnknownType`] so the relay can answer with an error frame
//! instead of dropping the connection. Parsing never panics.

mod client;
mod decode;
mod decode_json;
mod decode_types;
mod http;
pub mod reference;
pub mod samples;
mod server;

pub use client::{ChatResume, ClientFrame};
pub use decode::{MAX_SAFE_INTEGER, Unreadable, VariantText, decode_server_frame};
pub use decode_json::{Fields, FromJson, JsonError, JsonView, UnitVariants, strict_value};
pub use http::{
    ActiveDeployment, ConsoleConfig, ConsolePeer, DeploymentRole, DeploymentState, Health,
    LoginRequest, LoginResponse, ReplicationLag, VisitorTokenRequest, VisitorTokenResponse,
};
pub use server::{ChatSync, ErrorCode, QueueEntry, ServerFrame};

use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Version carried in `hello` and `welcome`. A relay refuses versions it
/// does not speak with [`ErrorCode::Version`].
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest frame either side accepts, in bytes. A full `hello` of an operator
/// with many open chats fits; anything larger is refused with
/// [`ErrorCode::TooLarge`] before it is parsed.
pub const MAX_FRAME_BYTES: usize = 128 * 1024;

/// Why a frame could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Larger than [`MAX_FRAME_BYTES`].
    #[error("frame of {0} bytes exceeds the limit of {MAX_FRAME_BYTES}")]
    TooLarge(usize),
    /// Not JSON, or not the shape its `type` demands.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// Well-formed JSON whose `type` this side does not know.
    #[error("unknown frame type \"{0}\"")]
    UnknownType(String),
}

impl FrameError {
    /// The stable code for an error frame reporting this.
    pub fn code(&self) -> ErrorCode {
        match self {
            FrameError::TooLarge(_) => ErrorCode::TooLarge,
            FrameError::Malformed(_) => ErrorCode::BadFrame,
            FrameError::UnknownType(_) => ErrorCode::UnknownType,
        }
    }
}

fn parse_frame<T: DeserializeOwned>(text: &str, known: &[&str]) -> Result<T, FrameError> {
    if text.len() > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge(text.len()));
    }
    serde_json::from_str(text).map_err(|error| {
        #[derive(Deserialize)]
        struct Tag {
            #[serde(rename = "type")]
            kind: String,
        }
        match serde_json::from_str::<Tag>(text) {
            Ok(tag) if !known.contains(&tag.kind.as_str()) => FrameError::UnknownType(tag.kind),
            _ => FrameError::Malformed(error.to_string()),
        }
    })
}

fn to_json<T: serde::Serialize>(frame: &T) -> String {
    // The frame types contain only strings, numbers, bools, sequences and
    // maps with string keys, which serde_json always serialises.
    serde_json::to_string(frame).unwrap_or_else(|_| String::from("{}"))
}

#[cfg(test)]
mod decode_tests;
#[cfg(test)]
mod tests;
