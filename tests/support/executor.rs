//! A minimal executor: futures polled by hand on the test's thread, so an async
//! test decides every poll (and where a future is dropped unfinished). The
//! examples include this file too (with `#[path]`), for their `async fn`s: it
//! depends on nothing else of the tests' support.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Waker};

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
#[track_caller]
pub fn block_on_expect_panic<F: Future>(future: F) {
    let panicked = catch_unwind(AssertUnwindSafe(|| block_on(future))).is_err();
    assert!(panicked, "expected a panic");
}

/// A future that is `Pending` at its first poll and `Ready` at the next, like
/// an I/O wait; it wakes its task, as a future must before returning `Pending`.
#[derive(Default)]
pub struct YieldOnce {
    yielded: bool,
}

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            Poll::Ready(())
        } else {
            self.yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// Yields once to the executor.
pub fn yield_once() -> YieldOnce {
    YieldOnce::default()
}
