//! `#[counted]` and `#[timed]` change nothing but add counts: closures returned
//! through `impl Fn*` infer as without the attribute, parameters and locals
//! drop in the same order, `#[track_caller]` still sees the caller, and a
//! future dropped while its thread unwinds from an unrelated panic is
//! `cancelled`. Each drop-order case compares an instrumented fn with the same
//! fn without the attribute.

mod support;

use std::cell::RefCell;
use std::future::Future;
use std::ops::Add;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::pin::Pin;

use async_trait::async_trait;
use support::counts::{assert_counts, named, Counts};
use support::executor::{block_on, poll_once, yield_once};
use telemetry::{counted, timed, Kind};

// ---------------------------------------------------------------- returned closures

#[timed]
fn len_of() -> impl Fn(&str) -> usize {
    |s| s.len()
}

#[counted]
fn ident() -> impl Fn(&str) -> &str {
    |s| s
}

#[timed]
fn first() -> impl FnMut(&[u8]) -> Option<u8> {
    |i| i.first().copied()
}

#[timed]
fn adder<T: Copy + Add<Output = T>>(x: T) -> impl Fn(T) -> T {
    move |y| x + y
}

#[timed]
fn boxed_ident() -> Box<dyn Fn(&str) -> &str> {
    Box::new(|s| s)
}

type Measure = Box<dyn Fn(&str) -> usize>;

#[timed]
fn boxed_in_result(fail: bool) -> Result<Measure, String> {
    if fail {
        return Err("asked to fail".into());
    }
    Ok(Box::new(|s| s.len()))
}

// Inside `Result`, rustc deduces no closure signature with or without the
// attribute; an annotated parameter works in both.
#[timed]
fn counter_in_result(fail: bool) -> Result<impl FnMut(&[u8]) -> usize, String> {
    let mut seen = 0;
    if fail {
        Err("asked to fail".to_owned())?;
    }
    Ok(move |bytes: &[u8]| {
        seen += bytes.len();
        seen
    })
}

#[test]
fn closures_returned_through_impl_fn_infer() {
    assert_eq!(len_of()("four"), 4);
    let owned = String::from("borrowed");
    assert_eq!(ident()(&owned), "borrowed");
    assert_eq!(first()(b"xy"), Some(b'x'));
    assert_eq!(adder(2)(3), 5);
    assert_eq!(adder(1.5)(1.0), 2.5);
    assert_eq!(boxed_ident()("boxed"), "boxed");
    assert_eq!(boxed_in_result(false).unwrap()("abc"), 3);
    assert!(boxed_in_result(true).is_err());
    let mut counter = counter_in_result(false).unwrap();
    assert_eq!((counter(b"ab"), counter(b"c")), (2, 3));
    assert!(counter_in_result(true).is_err());

    assert_counts(named!("len_of"), Kind::Timed, Counts::ok(1));
    assert_counts(named!("ident"), Kind::Counted, Counts::ok(1));
    assert_counts(named!("first"), Kind::Timed, Counts::ok(1));
    assert_counts(named!("adder"), Kind::Timed, Counts::ok(2));
    assert_counts(named!("boxed_ident"), Kind::Timed, Counts::ok(1));
    assert_counts(named!("boxed_in_result"), Kind::Timed, Counts::ok_err(1, 1));
    assert_counts(
        named!("counter_in_result"),
        Kind::Timed,
        Counts::ok_err(1, 1),
    );
}

// ---------------------------------------------------------------- drop order

thread_local! {
    static DROPS: RefCell<Vec<&'static str>> = const { RefCell::new(Vec::new()) };
}

/// Logs its name when dropped.
struct D(&'static str);

impl Drop for D {
    fn drop(&mut self) {
        DROPS.with(|drops| drops.borrow_mut().push(self.0));
    }
}

/// The names dropped while `f` ran, in order.
fn drops_of<R>(f: impl FnOnce() -> R) -> Vec<&'static str> {
    DROPS.with(|drops| drops.borrow_mut().clear());
    let _ = f();
    DROPS.with(|drops| std::mem::take(&mut *drops.borrow_mut()))
}

/// The same fn three times: without the attribute, with `#[timed]`, with
/// `#[counted]`. The return type goes through as tokens (as written) or as a
/// `$ty` fragment (in an invisible group, as `macro_rules!` hands it over).
macro_rules! twins {
    ($plain:ident $timed:ident $counted:ident ($($params:tt)*) $(-> $ret:ty)? $body:block) => {
        #[allow(clippy::unused_unit)]
        fn $plain($($params)*) $(-> $ret)? $body
        #[timed]
        #[allow(clippy::unused_unit)]
        fn $timed($($params)*) $(-> $ret)? $body
        #[counted]
        #[allow(clippy::unused_unit)]
        fn $counted($($params)*) $(-> $ret)? $body
    };
}

/// Asserts that the three twins drop the same things in the same order, and
/// that this order is `expected` (so the test sees the drops at all).
macro_rules! assert_same_drops {
    ($plain:ident $timed:ident $counted:ident, ($($args:expr),*), $expected:expr) => {{
        let plain = drops_of(|| {
            let _ = $plain($($args),*);
        });
        assert_eq!(plain, $expected, "without the attribute");
        let timed = drops_of(|| {
            let _ = $timed($($args),*);
        });
        assert_eq!(timed, plain, "with #[timed]");
        let counted = drops_of(|| {
            let _ = $counted($($args),*);
        });
        assert_eq!(counted, plain, "with #[counted]");
    }};
}

twins!(unit_plain unit_timed unit_counted (a: D, b: D) {
    let _local = D("local");
    let _ = (&a, &b);
});
twins!(value_plain value_timed value_counted (a: D, b: D) -> u32 {
    let _local = D("local");
    a.0.len() as u32 + b.0.len() as u32
});
twins!(result_plain result_timed result_counted (a: D, _b: D, _: D) -> Result<(), String> {
    let _local = D("local");
    if a.0.is_empty() { Err("empty".into()) } else { Ok(()) }
});
twins!(pattern_plain pattern_timed pattern_counted ((x, y): (D, D), mut m: D, (_, z): (D, D)) -> usize {
    let before = m.0.len();
    m = D("m2");
    before + x.0.len() + y.0.len() + m.0.len() + z.0.len()
});
twins!(unused_plain unused_timed unused_counted (_a: D, b: D) -> Option<usize> {
    Some(b.0.len())
});

/// A temporary that borrows a parameter and logs its name when dropped.
struct Borrowing<'a>(&'a D, &'static str);

impl Drop for Borrowing<'_> {
    fn drop(&mut self) {
        DROPS.with(|drops| drops.borrow_mut().push(self.1));
    }
}

// The tail's temporaries drop before the parameters, so they may borrow them.
twins!(tail_plain tail_timed tail_counted (a: D, b: D) -> Result<usize, String> {
    let _local = D("local");
    Ok(Borrowing(&a, "temp").0 .0.len() + b.0.len())
});

#[timed]
fn locked_len(values: std::sync::Mutex<Vec<u8>>) -> Result<usize, String> {
    Ok(values.lock().unwrap().len())
}

#[counted]
async fn borrowed_len(values: RefCell<Vec<u8>>) -> usize {
    values.borrow().len()
}

#[test]
fn parameters_and_locals_drop_in_the_original_order() {
    assert_same_drops!(unit_plain unit_timed unit_counted, (D("a"), D("b")), ["local", "b", "a"]);
    assert_same_drops!(value_plain value_timed value_counted, (D("a"), D("b")), ["local", "b", "a"]);
    assert_same_drops!(result_plain result_timed result_counted, (D("a"), D("_b"), D("_")), ["local", "_", "_b", "a"]);
    assert_same_drops!(
        pattern_plain pattern_timed pattern_counted,
        ((D("x"), D("y")), D("m"), (D("ignored"), D("z"))),
        ["m", "z", "ignored", "m2", "y", "x"]
    );
    assert_same_drops!(unused_plain unused_timed unused_counted, (D("_a"), D("b")), ["b", "_a"]);
    assert_same_drops!(tail_plain tail_timed tail_counted, (D("a"), D("b")), ["local", "temp", "b", "a"]);
}

#[test]
fn tail_temporaries_may_borrow_parameters() {
    assert_eq!(locked_len(std::sync::Mutex::new(vec![1, 2])), Ok(2));
    assert_eq!(block_on(borrowed_len(RefCell::new(vec![1, 2, 3]))), 3);
}

/// Fields used by the body in the opposite order of their declaration: a
/// closure capturing them one by one would drop them in use order.
struct Pair {
    first: D,
    second: D,
}

impl Pair {
    fn new() -> Pair {
        Pair {
            first: D("self.first"),
            second: D("self.second"),
        }
    }

    fn plain(self, a: D) -> usize {
        let _local = D("local");
        let (second, first) = (&self.second, &self.first);
        second.0.len() + first.0.len() + a.0.len()
    }

    #[timed]
    fn timed(self, a: D) -> usize {
        let _local = D("local");
        let (second, first) = (&self.second, &self.first);
        second.0.len() + first.0.len() + a.0.len()
    }

    #[counted]
    fn counted(self, a: D) -> usize {
        let _local = D("local");
        let (second, first) = (&self.second, &self.first);
        second.0.len() + first.0.len() + a.0.len()
    }

    async fn plain_async(self, a: D) -> usize {
        let _local = D("local");
        yield_once().await;
        let (second, first) = (&self.second, &self.first);
        second.0.len() + first.0.len() + a.0.len()
    }

    #[timed]
    async fn timed_async(self, a: D) -> usize {
        let _local = D("local");
        yield_once().await;
        let (second, first) = (&self.second, &self.first);
        second.0.len() + first.0.len() + a.0.len()
    }
}

#[test]
fn self_by_value_drops_after_the_other_parameters() {
    let expected = ["local", "a", "self.first", "self.second"];
    assert_eq!(drops_of(|| Pair::new().plain(D("a"))), expected);
    assert_eq!(drops_of(|| Pair::new().timed(D("a"))), expected);
    assert_eq!(drops_of(|| Pair::new().counted(D("a"))), expected);
    assert_eq!(
        drops_of(|| block_on(Pair::new().plain_async(D("a")))),
        expected
    );
    assert_eq!(
        drops_of(|| block_on(Pair::new().timed_async(D("a")))),
        expected
    );
    assert_counts(named!("Pair", "timed"), Kind::Timed, Counts::ok(1));
    assert_counts(named!("Pair", "timed_async"), Kind::Timed, Counts::ok(1));
}

async fn plain_async(a: D, (x, _): (D, D), _b: D, _: D) -> Result<usize, String> {
    let _local = D("local");
    yield_once().await;
    Ok(x.0.len() + a.0.len())
}

#[timed]
async fn timed_async(a: D, (x, _): (D, D), _b: D, _: D) -> Result<usize, String> {
    let _local = D("local");
    yield_once().await;
    Ok(x.0.len() + a.0.len())
}

#[counted]
async fn counted_async(a: D, (x, _): (D, D), _b: D, _: D) -> Result<usize, String> {
    let _local = D("local");
    yield_once().await;
    Ok(x.0.len() + a.0.len())
}

#[async_trait]
trait Store {
    async fn put(&self, a: D, b: D) -> usize;
}

struct Plain;
struct Instrumented;

#[async_trait]
impl Store for Plain {
    async fn put(&self, a: D, b: D) -> usize {
        let _local = D("local");
        yield_once().await;
        a.0.len() + b.0.len()
    }
}

#[async_trait]
impl Store for Instrumented {
    #[timed]
    async fn put(&self, a: D, b: D) -> usize {
        let _local = D("local");
        yield_once().await;
        a.0.len() + b.0.len()
    }
}

#[test]
fn async_parameters_drop_in_the_original_order() {
    type Call = Pin<Box<dyn Future<Output = Result<usize, String>>>>;
    let run = |f: fn(D, (D, D), D, D) -> Call| {
        drops_of(|| {
            block_on(f(D("a"), (D("x"), D("ignored")), D("_b"), D("_"))).unwrap();
        })
    };
    let plain = run(|a, p, b, c| Box::pin(plain_async(a, p, b, c)));
    assert_eq!(plain, ["local", "_", "_b", "x", "ignored", "a"]);
    assert_eq!(run(|a, p, b, c| Box::pin(timed_async(a, p, b, c))), plain);
    assert_eq!(run(|a, p, b, c| Box::pin(counted_async(a, p, b, c))), plain);

    let plain = drops_of(|| block_on(Plain.put(D("a"), D("b"))));
    assert_eq!(plain, ["local", "b", "a"]);
    assert_eq!(
        drops_of(|| block_on(Instrumented.put(D("a"), D("b")))),
        plain
    );
    assert_counts(named!("Instrumented", "put"), Kind::Timed, Counts::ok(1));
}

// A move closure, unlike a borrowing one, lets the body return reborrows of
// `&mut` parameters.
#[timed]
fn first_mut<'a>(values: &'a mut [u32], _spare: &'a mut u32) -> Result<&'a mut u32, String> {
    values.first_mut().ok_or_else(|| "empty".to_owned())
}

#[test]
fn reborrows_of_mut_parameters_are_returned() {
    let (mut values, mut spare) = ([1, 2], 0);
    *first_mut(&mut values, &mut spare).unwrap() += 10;
    assert_eq!(values, [11, 2]);
    assert!(first_mut(&mut [], &mut spare).is_err());
    assert_counts(named!("first_mut"), Kind::Timed, Counts::ok_err(1, 1));
}

// ---------------------------------------------------------------- #[track_caller]

#[timed]
#[track_caller]
fn caller_line(line: &mut u32) {
    *line = Location::caller().line();
}

#[test]
fn track_caller_sees_the_caller() {
    let mut line = 0;
    caller_line(&mut line);
    assert_eq!(line, line!() - 1);
}

// ---------------------------------------------------------------- cancelled while unwinding

#[timed]
async fn pending_once_timed() -> u32 {
    yield_once().await;
    1
}

#[counted]
async fn pending_once_counted() -> Result<u32, String> {
    yield_once().await;
    Ok(1)
}

#[timed]
async fn panics_after_yield() -> u32 {
    yield_once().await;
    panic!("in the instrumented fn");
}

const ONE_CANCELLED: Counts = Counts {
    calls: 1,
    ok: 0,
    err: 0,
    panics: 0,
    cancelled: 1,
    in_flight: 0,
};

const ONE_PANIC: Counts = Counts {
    calls: 1,
    ok: 0,
    err: 0,
    panics: 1,
    cancelled: 0,
    in_flight: 0,
};

/// Drops what it holds while its thread unwinds.
struct DropsWhileUnwinding<T>(#[allow(dead_code)] T);

#[test]
fn future_dropped_during_an_unrelated_unwind_is_cancelled() {
    let mut timed = Box::pin(pending_once_timed());
    let mut counted = Box::pin(pending_once_counted());
    assert!(poll_once(timed.as_mut()).is_pending());
    assert!(poll_once(counted.as_mut()).is_pending());
    let unwound = catch_unwind(AssertUnwindSafe(|| {
        let _holder = DropsWhileUnwinding((timed, counted));
        panic!("unrelated to the futures");
    }));
    assert!(unwound.is_err());
    // No latency: `assert_counts` checks the histogram holds ok + err + panics.
    assert_counts(named!("pending_once_timed"), Kind::Timed, ONE_CANCELLED);
    assert_counts(named!("pending_once_counted"), Kind::Counted, ONE_CANCELLED);
}

#[test]
fn future_dropped_after_its_poll_unwound_is_a_panic() {
    let mut future = Box::pin(panics_after_yield());
    assert!(poll_once(future.as_mut()).is_pending());
    let unwound = catch_unwind(AssertUnwindSafe(|| poll_once(future.as_mut())));
    assert!(unwound.is_err());
    // Dropped later, while nothing unwinds: still the panic it was.
    drop(future);
    assert_counts(named!("panics_after_yield"), Kind::Timed, ONE_PANIC);
}

#[timed]
async fn tokio_pending_forever() {
    std::future::pending::<()>().await;
}

#[timed]
async fn tokio_panics_in_task() -> u32 {
    tokio::task::yield_now().await;
    panic!("in a tokio task");
}

#[test]
fn tokio_tasks_cancelled_while_the_runtime_unwinds_and_panicking_tasks() {
    let unwound = catch_unwind(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            tokio::spawn(tokio_pending_forever());
            tokio::task::yield_now().await;
        });
        // The runtime drops its pending task while this thread unwinds.
        panic!("unrelated to the task");
    });
    assert!(unwound.is_err());
    assert_counts(named!("tokio_pending_forever"), Kind::Timed, ONE_CANCELLED);

    // tokio catches a task's panic and drops the task afterwards, when nothing
    // unwinds: a panic all the same.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let joined = runtime.block_on(runtime.spawn(tokio_panics_in_task()));
    assert!(joined.unwrap_err().is_panic());
    assert_counts(named!("tokio_panics_in_task"), Kind::Timed, ONE_PANIC);
}

// ---------------------------------------------------------------- in-place bodies and unwinding

#[counted]
fn called_from_drop() {}

#[timed]
fn unit_panics() {
    panic!("in an in-place body");
}

#[timed]
fn opaque_panics() -> impl Fn() -> u8 {
    panic!("before returning a closure");
    #[allow(unreachable_code)]
    || 1
}

/// Calls an instrumented fn from its `Drop`, so while its thread unwinds.
struct CallsWhileUnwinding;

impl Drop for CallsWhileUnwinding {
    fn drop(&mut self) {
        called_from_drop();
    }
}

#[test]
fn in_place_bodies_tell_returns_from_panics() {
    let unwound = catch_unwind(|| {
        let _calls = CallsWhileUnwinding;
        panic!("unrelated to the fn");
    });
    assert!(unwound.is_err());
    // Entered while unwinding, it returned: `ok`.
    assert_counts(named!("called_from_drop"), Kind::Counted, Counts::ok(1));

    assert!(catch_unwind(unit_panics).is_err());
    assert!(catch_unwind(|| opaque_panics()()).is_err());
    assert_counts(named!("unit_panics"), Kind::Timed, ONE_PANIC);
    assert_counts(named!("opaque_panics"), Kind::Timed, ONE_PANIC);
}
