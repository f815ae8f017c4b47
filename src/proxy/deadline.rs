//! One future raced against one timer.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

/// `Some(output)` when `future` finishes within `limit`, else `None`; a
/// future still running at the limit is dropped (its connection with it).
pub async fn within<F: Future>(limit: Duration, future: F) -> Option<F::Output> {
    let mut timer = glommio::timer::Timer::new(limit);
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        if Pin::new(&mut timer).poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        future.as_mut().poll(cx).map(Some)
    })
    .await
}
