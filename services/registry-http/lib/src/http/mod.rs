//! HTTP/1.1 pieces: the request head, responses, the chunked body decoder.
//! The connection state machine that uses them is [`crate::Connection`].

pub mod chunked;
pub mod request;
pub mod response;
