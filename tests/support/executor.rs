//! A minimal executor: futures polled by hand on the test's thread, so an async
//! test decides every poll (and where a future is dropped unfinished).

use std::future::Future;
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Waker};

use super::counts::expect_panic;

/// Polls `future` to completion on this thread, with a waker that does nothing
/// (every `Pending` is simply polled again).
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::yield_now();
    }
}

/// Polls `future` once.
pub fn poll_once<F: Future + ?Sized>(future: Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

/// Runs `future` to completion, expecting it to panic in a poll.
pub fn block_on_expect_panic<F: Future>(future: F) {
    expect_panic(|| block_on(future));
}

/// A future that is `Pending` at its first poll and `Ready` at the next.
#[derive(Default)]
pub struct YieldOnce {
    yielded: bool,
}

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            Poll::Ready(())
        } else {
            self.yielded = true;
            Poll::Pending
        }
    }
}

/// Yields once to the executor.
pub fn yield_once() -> YieldOnce {
    YieldOnce::default()
}
