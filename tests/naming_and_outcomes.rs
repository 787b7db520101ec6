//! Metric names (impl and trait blocks, `name`, `skip`, methods named after their
//! `Self` type, both attributes on one fn) and how calls end up in `ok`, `err`,
//! `panics` and `in_flight`.

mod support;

use std::fmt;
use std::sync::mpsc;

use support::counts::{assert_counts, expect_panic, named, names_ending_with, Counts};
use telemetry::{counted, timed, CallOutcome, Kind};

// ---------------------------------------------------------------- impl blocks

struct Inventory {
    items: Vec<String>,
}

#[timed]
impl Inventory {
    fn new() -> Self {
        Inventory { items: Vec::new() }
    }

    fn add(&mut self, item: &str) -> usize {
        self.items.push(item.to_owned());
        self.items.len()
    }

    fn find(&self, item: &str) -> Result<usize, String> {
        self.items
            .iter()
            .position(|i| i == item)
            .ok_or_else(|| format!("no {item}"))
    }

    #[timed(skip)]
    fn len(&self) -> usize {
        self.items.len()
    }

    #[timed(name = "inventory.clear")]
    fn clear(&mut self) {
        self.items.clear();
    }

    #[counted]
    fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    const CAPACITY: usize = 8;

    const fn capacity() -> usize {
        Self::CAPACITY
    }
}

#[test]
fn impl_attribute_instruments_every_fn() {
    let mut inventory = Inventory::new();
    assert_eq!(inventory.add("apple"), 1);
    assert_eq!(inventory.add("pear"), 2);
    assert_eq!(inventory.find("pear"), Ok(1));
    assert_eq!(inventory.find("plum"), Err("no plum".into()));
    assert_eq!(inventory.len(), 2);
    assert!(!inventory.is_empty());
    inventory.clear();
    assert!(inventory.is_empty());
    assert_eq!(Inventory::capacity(), 8);

    assert_counts(named!("Inventory", "new"), Kind::Timed, Counts::ok(1));
    assert_counts(named!("Inventory", "add"), Kind::Timed, Counts::ok(2));
    assert_counts(
        named!("Inventory", "find"),
        Kind::Timed,
        Counts::ok_err(1, 1),
    );
    // The method's own attribute adds to the impl's: still one timed entry.
    assert_counts(named!("Inventory", "is_empty"), Kind::Timed, Counts::ok(2));
    assert_counts("inventory.clear", Kind::Timed, Counts::ok(1));
    assert!(names_ending_with("Inventory::clear").is_empty());
    // `skip`ped, and const fns, are left alone.
    assert!(names_ending_with("len").is_empty());
    assert!(names_ending_with("capacity").is_empty());
}

struct Wrapper<T>(T);

#[counted]
impl<T: fmt::Display> Wrapper<T> {
    fn render(&self) -> String {
        format!("[{}]", self.0)
    }
}

#[test]
fn impl_attribute_on_generic_type() {
    assert_eq!(Wrapper(1).render(), "[1]");
    assert_eq!(Wrapper("a").render(), "[a]");
    assert_counts(named!("Wrapper", "render"), Kind::Counted, Counts::ok(2));
}

struct Celsius(i32);

#[counted]
impl fmt::Display for Celsius {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} °C", self.0)
    }
}

#[test]
fn impl_attribute_on_trait_impl() {
    assert_eq!(Celsius(21).to_string(), "21 °C");
    assert_eq!(format!("{}/{}", Celsius(1), Celsius(2)), "1 °C/2 °C");
    // `fmt::Result` is a `Result`: returns split into ok and err.
    assert_counts(named!("Celsius", "fmt"), Kind::Counted, Counts::ok(3));
}

struct Fahrenheit(i32);

#[timed]
impl<'a> From<&'a Celsius> for Fahrenheit {
    fn from(c: &'a Celsius) -> Self {
        Fahrenheit(c.0 * 9 / 5 + 32)
    }
}

#[test]
fn impl_attribute_on_generic_trait_impl() {
    assert_eq!(Fahrenheit::from(&Celsius(100)).0, 212);
    assert_counts(named!("Fahrenheit", "from"), Kind::Timed, Counts::ok(1));
}

struct Feature;

// rustc does not expand the `cfg_attr`s of methods before the impl's attribute
// runs: the macro must still honour the attributes they hold.
#[counted]
impl Feature {
    #[cfg_attr(test, counted(skip))]
    fn skipped_in_tests(&self) -> u8 {
        1
    }

    #[cfg_attr(not(test), counted(skip))]
    fn skipped_elsewhere(&self) -> u8 {
        2
    }

    #[cfg_attr(test, timed(name = "feature.renamed"), inline)]
    fn renamed_in_tests(&self) -> u8 {
        3
    }

    #[cfg_attr(test, cfg_attr(test, timed))]
    fn nested_condition(&self) -> u8 {
        4
    }
}

#[test]
fn cfg_attr_on_methods_of_an_instrumented_impl() {
    assert_eq!(Feature.skipped_in_tests(), 1);
    assert_eq!(Feature.skipped_elsewhere(), 2);
    assert_eq!(Feature.renamed_in_tests(), 3);
    assert_eq!(Feature.nested_condition(), 4);
    assert!(names_ending_with("skipped_in_tests").is_empty());
    assert_counts(
        named!("Feature", "skipped_elsewhere"),
        Kind::Counted,
        Counts::ok(1),
    );
    // One entry, timed, counted once.
    assert_counts("feature.renamed", Kind::Timed, Counts::ok(1));
    assert!(names_ending_with("renamed_in_tests").is_empty());
    assert_eq!(
        names_ending_with("nested_condition"),
        [named!("Feature", "nested_condition")]
    );
    assert_counts(
        named!("Feature", "nested_condition"),
        Kind::Timed,
        Counts::ok(1),
    );
}

// ---------------------------------------------------------------- trait blocks

#[counted]
trait Greeter {
    fn name(&self) -> String;

    fn greet(&self) -> String {
        format!("hello {}", self.name())
    }

    fn farewell(&self) -> String {
        format!("bye {}", self.name())
    }

    #[counted(skip)]
    fn wave(&self) -> &'static str {
        "o/"
    }

    #[cfg_attr(test, counted(skip))]
    fn nod(&self) -> &'static str {
        "nods"
    }
}

struct English;
struct French;

impl Greeter for English {
    fn name(&self) -> String {
        "Ann".into()
    }
}

impl Greeter for French {
    fn name(&self) -> String {
        "Luc".into()
    }

    // An overriding method is the impl's own: not instrumented.
    fn farewell(&self) -> String {
        format!("au revoir {}", self.name())
    }
}

#[test]
fn trait_attribute_instruments_default_methods() {
    assert_eq!(English.greet(), "hello Ann");
    assert_eq!(French.greet(), "hello Luc");
    assert_eq!(English.farewell(), "bye Ann");
    assert_eq!(French.farewell(), "au revoir Luc");
    assert_eq!(English.wave(), "o/");
    // Named after the trait: one entry for every implementor.
    assert_counts(named!("Greeter", "greet"), Kind::Counted, Counts::ok(2));
    assert_counts(named!("Greeter", "farewell"), Kind::Counted, Counts::ok(1));
    assert_eq!(French.nod(), "nods");
    assert!(names_ending_with("wave").is_empty());
    assert!(names_ending_with("nod").is_empty());
    // Required methods have no body to instrument.
    assert!(names_ending_with("Greeter::name").is_empty());
}

// ---------------------------------------------------------------- names

#[counted(name = "api.upsert")]
fn upsert(id: u32) -> Result<u32, String> {
    if id == 0 {
        Err("zero".into())
    } else {
        Ok(id)
    }
}

#[test]
fn explicit_name() {
    assert_eq!(upsert(3), Ok(3));
    assert_eq!(upsert(0), Err("zero".into()));
    assert_counts("api.upsert", Kind::Counted, Counts::ok_err(1, 1));
    assert!(names_ending_with("upsert").is_empty());
}

struct Pair<A, B>(A, B);

impl<A: Clone, B: Clone> Pair<A, B> {
    #[counted]
    fn swap(&self) -> Pair<B, A> {
        Pair(self.1.clone(), self.0.clone())
    }

    #[timed]
    fn first_named(&self) -> A {
        self.0.clone()
    }
}

#[test]
fn method_named_after_self_type_on_first_call() {
    // The macro sees `&self` but not the type: the name is completed from
    // `Self` at the first call, without its generic arguments.
    assert!(!support::counts::is_listed(named!("Pair", "first_named")));
    assert_eq!(Pair(1, "x").first_named(), 1);
    assert_eq!(Pair('c', 2.5).first_named(), 'c');
    assert_counts(named!("Pair", "first_named"), Kind::Timed, Counts::ok(2));
}

#[test]
fn method_of_generic_type_named_without_arguments() {
    let swapped = Pair(1u8, "one").swap();
    assert_eq!((swapped.0, swapped.1), ("one", 1u8));
    assert_counts(named!("Pair", "swap"), Kind::Counted, Counts::ok(1));
}

mod renamed {
    pub use telemetry as metrics;
}

#[counted(crate = "crate::renamed::metrics")]
fn through_renamed_crate() -> u32 {
    5
}

#[test]
fn crate_argument() {
    assert_eq!(through_renamed_crate(), 5);
    assert_counts(
        named!("through_renamed_crate"),
        Kind::Counted,
        Counts::ok(1),
    );
    // The same registry, whichever path reaches it.
    let snapshot = renamed::metrics::snapshot();
    assert_eq!(snapshot.functions[named!("through_renamed_crate")].calls, 1);
}

// ---------------------------------------------------------------- both attributes

#[timed]
#[counted]
fn timed_then_counted(x: u32) -> u32 {
    x + 1
}

#[counted]
#[timed]
fn counted_then_timed(x: u32) -> Result<u32, u32> {
    if x % 2 == 0 {
        Ok(x)
    } else {
        Err(x)
    }
}

#[counted(name = "both.named")]
#[timed]
fn both_named() -> u8 {
    1
}

#[test]
fn timed_and_counted_on_one_fn_give_one_timed_entry() {
    assert_eq!(timed_then_counted(1), 2);
    assert_eq!(counted_then_timed(2), Ok(2));
    assert_eq!(counted_then_timed(3), Err(3));
    assert_eq!(both_named(), 1);

    assert_eq!(
        names_ending_with("timed_then_counted"),
        [named!("timed_then_counted")]
    );
    assert_counts(named!("timed_then_counted"), Kind::Timed, Counts::ok(1));
    assert_eq!(
        names_ending_with("counted_then_timed"),
        [named!("counted_then_timed")]
    );
    assert_counts(
        named!("counted_then_timed"),
        Kind::Timed,
        Counts::ok_err(1, 1),
    );
    assert_counts("both.named", Kind::Timed, Counts::ok(1));
    assert!(names_ending_with("both_named").is_empty());
}

// ---------------------------------------------------------------- outcomes by type

#[counted]
fn read_config(path: &str) -> std::io::Result<String> {
    if path.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "empty path",
        ));
    }
    Ok(format!("config at {path}"))
}

#[test]
fn io_result() {
    assert!(read_config("a.toml").is_ok());
    assert!(read_config("").is_err());
    assert!(read_config("").is_err());
    assert_counts(named!("read_config"), Kind::Counted, Counts::ok_err(1, 2));
}

#[timed]
fn checked_ratio(a: u32, b: u32) -> anyhow::Result<u32> {
    anyhow::ensure!(b != 0, "division by zero");
    let digits: u32 = format!("{a}").parse()?;
    Ok(digits / b)
}

#[test]
fn anyhow_result() {
    assert_eq!(checked_ratio(10, 2).unwrap(), 5);
    assert_eq!(
        checked_ratio(1, 0).unwrap_err().to_string(),
        "division by zero"
    );
    assert_counts(named!("checked_ratio"), Kind::Timed, Counts::ok_err(1, 1));
}

#[derive(Debug, PartialEq)]
struct StoreError(&'static str);

type StoreResult<T> = Result<T, StoreError>;

#[counted]
fn store_get(key: &str) -> StoreResult<u8> {
    match key {
        "one" => Ok(1),
        _ => Err(StoreError("missing")),
    }
}

type Lookup = Result<&'static str, ()>;

#[counted]
fn lookup_plain(key: u8) -> Lookup {
    if key == 0 {
        Err(())
    } else {
        Ok("found")
    }
}

#[test]
fn user_result_aliases() {
    assert_eq!(store_get("one"), Ok(1));
    assert_eq!(store_get("two"), Err(StoreError("missing")));
    assert_eq!(lookup_plain(0), Err(()));
    assert_eq!(lookup_plain(0), Err(()));
    assert_eq!(lookup_plain(1), Ok("found"));
    assert_counts(named!("store_get"), Kind::Counted, Counts::ok_err(1, 1));
    assert_counts(named!("lookup_plain"), Kind::Counted, Counts::ok_err(1, 2));
}

#[timed]
fn boxed_error(text: &str) -> Result<i64, Box<dyn std::error::Error + Send + Sync>> {
    Ok(text.parse::<i64>()? * 2)
}

#[test]
fn result_with_boxed_error_and_question_mark() {
    assert_eq!(boxed_error("21").unwrap(), 42);
    assert!(boxed_error("x").is_err());
    assert_counts(named!("boxed_error"), Kind::Timed, Counts::ok_err(1, 1));
}

#[derive(Debug, PartialEq)]
struct Reply {
    status: u16,
}

impl CallOutcome for Reply {
    fn is_err(&self) -> bool {
        self.status >= 500
    }
}

#[timed]
fn handle(path: &str) -> Reply {
    match path {
        "/" => Reply { status: 200 },
        "/missing" => Reply { status: 404 },
        _ => Reply { status: 503 },
    }
}

#[test]
fn user_type_implementing_call_outcome() {
    assert_eq!(handle("/").status, 200);
    assert_eq!(handle("/missing").status, 404);
    assert_eq!(handle("/down").status, 503);
    assert_counts(named!("handle"), Kind::Timed, Counts::ok_err(2, 1));
}

#[counted]
fn optional(x: u8) -> Option<u8> {
    x.checked_sub(1)
}

#[test]
fn non_result_types_count_ok() {
    assert_eq!(optional(1), Some(0));
    assert_eq!(optional(0), None);
    assert_counts(named!("optional"), Kind::Counted, Counts::ok(2));
}

#[counted]
fn bounded_generic<R: CallOutcome>(value: R) -> R {
    value
}

#[counted(result)]
fn forced_result<R: CallOutcome>(value: R) -> R {
    value
}

#[test]
fn generic_return_bounded_by_call_outcome() {
    assert_eq!(bounded_generic(Ok::<u8, u8>(1)), Ok(1));
    assert_eq!(bounded_generic(Reply { status: 500 }).status, 500);
    assert_counts(
        named!("bounded_generic"),
        Kind::Counted,
        Counts::ok_err(1, 1),
    );
    assert_eq!(forced_result(Err::<u8, u8>(1)), Err(1));
    assert_eq!(forced_result(Reply { status: 200 }).status, 200);
    assert_counts(named!("forced_result"), Kind::Counted, Counts::ok_err(1, 1));
}

#[timed(no_result)]
fn try_lock_like(free: bool) -> Result<u8, u8> {
    if free {
        Ok(1)
    } else {
        Err(0)
    }
}

#[test]
fn no_result_counts_err_values_as_ok() {
    assert_eq!(try_lock_like(true), Ok(1));
    assert_eq!(try_lock_like(false), Err(0));
    assert_counts(named!("try_lock_like"), Kind::Timed, Counts::ok(2));
}

struct Validator;

#[counted(no_result)]
impl Validator {
    fn lenient(&self, x: i32) -> Result<i32, i32> {
        if x >= 0 {
            Ok(x)
        } else {
            Err(x)
        }
    }

    #[counted(result)]
    fn strict(&self, x: i32) -> Result<i32, i32> {
        if x >= 0 {
            Ok(x)
        } else {
            Err(x)
        }
    }
}

#[test]
fn method_result_argument_overrides_impl_no_result() {
    assert_eq!(Validator.lenient(-1), Err(-1));
    assert_eq!(Validator.strict(-1), Err(-1));
    assert_eq!(Validator.strict(1), Ok(1));
    assert_counts(named!("Validator", "lenient"), Kind::Counted, Counts::ok(1));
    assert_counts(
        named!("Validator", "strict"),
        Kind::Counted,
        Counts::ok_err(1, 1),
    );
}

// ---------------------------------------------------------------- panics and in flight

#[timed]
fn risky(divisor: u32) -> Result<u32, String> {
    if divisor == 1 {
        return Err("one is boring".into());
    }
    Ok(100 / divisor)
}

#[test]
fn panics_are_counted_with_latency() {
    assert_eq!(risky(5), Ok(20));
    assert!(risky(1).is_err());
    expect_panic(|| risky(std::hint::black_box(0)));
    expect_panic(|| risky(std::hint::black_box(0)));
    // `assert_counts` also checks that the two panics' latencies are recorded.
    assert_counts(
        named!("risky"),
        Kind::Timed,
        Counts {
            calls: 4,
            ok: 1,
            err: 1,
            panics: 2,
            ..Counts::default()
        },
    );
}

#[counted]
fn panicking_method_owner(values: &[u8], index: usize) -> u8 {
    values[index]
}

#[test]
fn counted_panics() {
    assert_eq!(panicking_method_owner(&[1, 2], 1), 2);
    expect_panic(|| panicking_method_owner(&[1, 2], std::hint::black_box(5)));
    assert_counts(
        named!("panicking_method_owner"),
        Kind::Counted,
        Counts {
            calls: 2,
            ok: 1,
            panics: 1,
            ..Counts::default()
        },
    );
}

#[timed]
fn wait_for_release(entered: mpsc::Sender<()>, release: mpsc::Receiver<u32>) -> u32 {
    entered.send(()).unwrap();
    release.recv().unwrap()
}

#[test]
fn in_flight_while_a_call_is_blocked() {
    let (entered_sender, entered) = mpsc::channel();
    let (release, release_receiver) = mpsc::channel();
    let worker = std::thread::spawn(move || wait_for_release(entered_sender, release_receiver));

    entered.recv().unwrap();
    assert_counts(
        named!("wait_for_release"),
        Kind::Timed,
        Counts {
            calls: 1,
            in_flight: 1,
            ..Counts::default()
        },
    );

    release.send(9).unwrap();
    assert_eq!(worker.join().unwrap(), 9);
    assert_counts(named!("wait_for_release"), Kind::Timed, Counts::ok(1));
}

#[test]
fn snapshot_json_has_the_entry() {
    assert_eq!(upsert_json(), 1);
    let json: serde_json::Value = serde_json::from_str(&telemetry::snapshot().to_json()).unwrap();
    let entry = &json["functions"][named!("upsert_json")];
    assert_eq!(entry["kind"], "counted");
    assert_eq!(entry["calls"], 1);
    assert_eq!(entry["ok"], 1);
    assert_eq!(entry["in_flight"], 0);
}

#[counted]
fn upsert_json() -> u8 {
    1
}

// ---------------------------------------------------------------- readable owner names

/// Implemented for every type that converts into a byte: a blanket impl.
trait IntoNotification {
    fn notification(self) -> u8;
}

#[timed]
impl<N: Into<u8>> IntoNotification for N {
    fn notification(self) -> u8 {
        self.into()
    }
}

trait Buf {
    fn put_len(&self) -> usize;
}

#[timed]
impl Buf for [u8] {
    fn put_len(&self) -> usize {
        self.len()
    }
}

#[counted]
impl Buf for [u8; 4] {
    fn put_len(&self) -> usize {
        4
    }
}

#[counted]
impl Buf for (u8, String) {
    fn put_len(&self) -> usize {
        self.1.len()
    }
}

trait Described {
    fn describe(&self) -> usize;
}

// A method attribute, not a block one: the name comes from `Self` at run time.
impl Described for [u16] {
    #[counted]
    fn describe(&self) -> usize {
        self.len()
    }
}

#[test]
fn blanket_and_slice_impls_get_readable_names() {
    assert_eq!(7u8.notification() + true.notification(), 8);
    assert_eq!([1u8, 2].as_slice().put_len(), 2);
    assert_eq!([0u8; 4].put_len(), 4);
    assert_eq!((1u8, "ab".to_owned()).put_len(), 2);
    assert_eq!([1u16, 2, 3].as_slice().describe(), 3);

    // A blanket impl over a type parameter is named after its trait.
    assert_counts(
        named!("IntoNotification", "notification"),
        Kind::Timed,
        Counts::ok(2),
    );
    assert_counts(named!("u8_slice", "put_len"), Kind::Timed, Counts::ok(1));
    assert_counts(named!("u8_array", "put_len"), Kind::Counted, Counts::ok(1));
    assert_counts(
        named!("u8_String_tuple", "put_len"),
        Kind::Counted,
        Counts::ok(1),
    );
    assert_counts(
        named!("u16_slice", "describe"),
        Kind::Counted,
        Counts::ok(1),
    );
    let snapshot = telemetry::snapshot();
    for name in snapshot.functions.keys() {
        assert!(
            !name.contains(['[', ']', '(', ')', ' ', ';']) && !name.contains("::N::"),
            "unreadable name {name}"
        );
    }
}

// ---------------------------------------------------------------- one name, two kinds

#[counted(name = "shared.by.both.kinds")]
fn shared_counted() -> Result<(), String> {
    Err("counted site".into())
}

#[timed(name = "shared.by.both.kinds")]
fn shared_timed() -> u8 {
    1
}

#[timed(name = "shared.by.two.timed")]
fn shared_timed_a() -> u8 {
    1
}

#[timed(name = "shared.by.two.timed")]
fn shared_timed_b() -> u8 {
    2
}

#[test]
fn one_name_on_counted_and_timed_sites_is_one_counted_entry() {
    shared_counted().unwrap_err();
    shared_timed();
    shared_timed();
    // A histogram of the timed site's calls only would break
    // `latency_ns.count == ok + err + panics`: the entry is `counted`.
    assert_counts("shared.by.both.kinds", Kind::Counted, Counts::ok_err(2, 1));

    // Sites of one kind add up, latency included.
    shared_timed_a();
    shared_timed_b();
    assert_counts("shared.by.two.timed", Kind::Timed, Counts::ok(2));
}
