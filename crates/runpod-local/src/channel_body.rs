//! A response body fed by a channel, for answers written while they are sent (server-sent
//! events): each message is one data frame, and the body ends when the sender is dropped.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Bytes;
use http_body::Frame;
use tokio::sync::mpsc;

/// The body side of an `mpsc` channel of frames.
pub(crate) struct ChannelBody {
    frames: mpsc::Receiver<Bytes>,
}

impl ChannelBody {
    pub(crate) fn new(frames: mpsc::Receiver<Bytes>) -> Self {
        Self { frames }
    }
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.frames
            .poll_recv(cx)
            .map(|frame| frame.map(|bytes| Ok(Frame::data(bytes))))
    }
}
