//! Locks that outlive a panic.
//!
//! The runtime's mutexes guard data that every update leaves consistent (a few
//! field writes, an insert), and they are taken from places that must not
//! panic in turn: a panic hook, a reporter thread, an app's setter. So a lock
//! poisoned by a holder that panicked is taken as it is, here, in one place.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::Duration;

/// Locks `mutex`, ignoring poisoning.
pub(crate) fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Locks `mutex` if no one holds it, ignoring poisoning.
pub(crate) fn try_lock<T: ?Sized>(mutex: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match mutex.try_lock() {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

/// Waits on `condvar` for at most `timeout`, ignoring poisoning; returns the
/// guard whether woken or timed out (callers check their condition again).
#[cfg_attr(not(feature = "reporter"), allow(dead_code))]
pub(crate) fn wait_timeout<'a, T>(
    condvar: &Condvar,
    guard: MutexGuard<'a, T>,
    timeout: Duration,
) -> MutexGuard<'a, T> {
    match condvar.wait_timeout(guard, timeout) {
        Ok((guard, _)) => guard,
        Err(poisoned) => poisoned.into_inner().0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_lock_is_still_taken_with_its_data() {
        let mutex = Mutex::new(1);
        let _ = std::panic::catch_unwind(|| {
            let mut guard = mutex.lock().unwrap();
            *guard = 2;
            panic!("poisons the lock");
        });
        assert!(mutex.is_poisoned());
        assert_eq!(*lock(&mutex), 2);
        let condvar = Condvar::new();
        let guard = wait_timeout(&condvar, lock(&mutex), Duration::from_millis(1));
        assert_eq!(*guard, 2);
    }
}
