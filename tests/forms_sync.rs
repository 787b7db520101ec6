//! `#[counted]` and `#[timed]` on every form of sync fn: each test checks that
//! the fn still behaves as written and that its calls are counted exactly.

mod support;

use std::fmt::Display;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use support::counts::{assert_counts, expect_panic, named, Counts};
use telemetry::{counted, timed, Kind};

// ---------------------------------------------------------------- free fns

#[counted]
fn free_counted(x: u32) -> u32 {
    x + 1
}

#[timed]
fn free_timed(x: u32) -> u32 {
    x * 2
}

#[counted]
fn free_unit(log: &mut Vec<&'static str>) {
    log.push("called");
}

#[test]
fn free_fns() {
    assert_eq!(free_counted(1), 2);
    assert_eq!(free_counted(41), 42);
    assert_eq!(free_timed(21), 42);
    let mut log = Vec::new();
    free_unit(&mut log);
    assert_eq!(log, ["called"]);

    assert_counts(named!("free_counted"), Kind::Counted, Counts::ok(2));
    assert_counts(named!("free_timed"), Kind::Timed, Counts::ok(1));
    assert_counts(named!("free_unit"), Kind::Counted, Counts::ok(1));
}

// ---------------------------------------------------------------- receivers

#[derive(Clone, Debug, PartialEq)]
struct Account {
    balance: u64,
}

impl Account {
    #[timed]
    fn by_value(self) -> u64 {
        self.balance
    }

    #[counted]
    fn by_ref(&self) -> u64 {
        self.balance
    }

    #[timed]
    fn by_mut_ref(&mut self, amount: u64) -> u64 {
        self.balance += amount;
        self.balance
    }

    #[counted]
    fn by_mut_value(mut self, amount: u64) -> Self {
        self.balance -= amount;
        self
    }

    #[timed]
    fn by_box(self: Box<Self>) -> u64 {
        self.balance * 10
    }

    #[counted]
    fn by_pin(mut self: Pin<&mut Self>) -> u64 {
        self.balance += 1;
        self.balance
    }

    #[timed]
    fn by_rc(self: Rc<Self>) -> usize {
        Rc::strong_count(&self)
    }

    #[counted]
    fn by_arc(self: Arc<Self>) -> u64 {
        self.balance + 100
    }

    #[counted]
    fn by_ref_lifetime<'a>(&'a self, other: &'a Account) -> &'a Account {
        if self.balance >= other.balance {
            self
        } else {
            other
        }
    }
}

#[test]
fn receiver_self() {
    assert_eq!(Account { balance: 7 }.by_value(), 7);
    assert_counts(named!("Account", "by_value"), Kind::Timed, Counts::ok(1));
}

#[test]
fn receiver_ref_self() {
    let account = Account { balance: 3 };
    assert_eq!(account.by_ref(), 3);
    assert_eq!(account.by_ref(), 3);
    assert_counts(named!("Account", "by_ref"), Kind::Counted, Counts::ok(2));
}

#[test]
fn receiver_mut_ref_self() {
    let mut account = Account { balance: 3 };
    assert_eq!(account.by_mut_ref(2), 5);
    assert_eq!(account.balance, 5);
    assert_counts(named!("Account", "by_mut_ref"), Kind::Timed, Counts::ok(1));
}

#[test]
fn receiver_mut_self() {
    let account = Account { balance: 10 }.by_mut_value(4);
    assert_eq!(account, Account { balance: 6 });
    assert_counts(
        named!("Account", "by_mut_value"),
        Kind::Counted,
        Counts::ok(1),
    );
}

#[test]
fn receiver_box_self() {
    assert_eq!(Box::new(Account { balance: 4 }).by_box(), 40);
    assert_counts(named!("Account", "by_box"), Kind::Timed, Counts::ok(1));
}

#[test]
fn receiver_pin_mut_self() {
    let mut account = Account { balance: 1 };
    assert_eq!(Pin::new(&mut account).by_pin(), 2);
    assert_eq!(account.balance, 2);
    assert_counts(named!("Account", "by_pin"), Kind::Counted, Counts::ok(1));
}

#[test]
fn receiver_rc_self() {
    let account = Rc::new(Account { balance: 1 });
    let kept = Rc::clone(&account);
    assert_eq!(account.by_rc(), 2);
    assert_eq!(Rc::strong_count(&kept), 1);
    assert_counts(named!("Account", "by_rc"), Kind::Timed, Counts::ok(1));
}

#[test]
fn receiver_arc_self() {
    assert_eq!(Arc::new(Account { balance: 1 }).by_arc(), 101);
    assert_counts(named!("Account", "by_arc"), Kind::Counted, Counts::ok(1));
}

#[test]
fn receiver_with_lifetime_returns_borrow() {
    let (small, big) = (Account { balance: 1 }, Account { balance: 9 });
    assert_eq!(small.by_ref_lifetime(&big).balance, 9);
    assert_eq!(big.by_ref_lifetime(&small).balance, 9);
    assert_counts(
        named!("Account", "by_ref_lifetime"),
        Kind::Counted,
        Counts::ok(2),
    );
}

// ---------------------------------------------------------------- associated fns

struct Celsius(f64);

impl Celsius {
    // No receiver: the macro cannot see the type, so the name is `module::fn`.
    #[counted]
    fn from_fahrenheit(f: f64) -> Self {
        Celsius((f - 32.0) * 5.0 / 9.0)
    }

    #[timed(name = "forms_sync::Celsius::freezing")]
    fn freezing() -> Celsius {
        Celsius(0.0)
    }
}

#[test]
fn associated_fns() {
    assert_eq!(Celsius::from_fahrenheit(212.0).0, 100.0);
    assert_eq!(Celsius::freezing().0, 0.0);
    assert_counts(named!("from_fahrenheit"), Kind::Counted, Counts::ok(1));
    assert_counts("forms_sync::Celsius::freezing", Kind::Timed, Counts::ok(1));
}

// ---------------------------------------------------------------- traits

trait Shape {
    fn area(&self) -> u32;

    #[counted]
    fn describe(&self) -> String {
        format!("shape of area {}", self.area())
    }
}

struct Square(u32);

impl Shape for Square {
    #[timed]
    fn area(&self) -> u32 {
        self.0 * self.0
    }
}

#[test]
fn trait_impl_method() {
    assert_eq!(Square(3).area(), 9);
    assert_counts(named!("Square", "area"), Kind::Timed, Counts::ok(1));
}

trait Labelled {
    fn label(&self) -> &str;

    #[counted]
    fn shout(&self) -> String {
        self.label().to_uppercase()
    }
}

struct Tag(&'static str);

impl Labelled for Tag {
    fn label(&self) -> &str {
        self.0
    }
}

#[test]
fn trait_default_method() {
    assert_eq!(Tag("hi").shout(), "HI");
    // Named after the implementing type, known at the first call.
    assert_counts(named!("Tag", "shout"), Kind::Counted, Counts::ok(1));
}

#[test]
fn trait_default_method_calling_instrumented_impl() {
    struct Triangle;
    impl Shape for Triangle {
        fn area(&self) -> u32 {
            6
        }
    }
    assert_eq!(Triangle.describe(), "shape of area 6");
    assert_counts(named!("Triangle", "describe"), Kind::Counted, Counts::ok(1));
}

// ---------------------------------------------------------------- generics

#[timed]
fn largest<T: PartialOrd + Copy>(items: &[T]) -> T {
    let mut largest = items[0];
    for &item in items {
        if item > largest {
            largest = item;
        }
    }
    largest
}

#[counted]
fn longest<'a, 'b: 'a>(a: &'a str, b: &'b str) -> &'a str {
    if a.len() >= b.len() {
        a
    } else {
        b
    }
}

#[timed]
fn sum_array<const N: usize>(values: [u32; N]) -> u32 {
    values.iter().sum()
}

#[counted]
fn zeros<const N: usize>() -> [u8; N] {
    [0; N]
}

#[counted]
fn join_all<I, T>(items: I, separator: &str) -> String
where
    I: IntoIterator<Item = T>,
    T: Display,
{
    items
        .into_iter()
        .map(|item| item.to_string())
        .collect::<Vec<_>>()
        .join(separator)
}

#[counted]
fn identity<T>(value: T) -> T {
    value
}

#[test]
fn generic_type_params() {
    assert_eq!(largest(&[3, 9, 2]), 9);
    assert_eq!(largest(&[1.5, 0.5]), 1.5);
    assert_eq!(largest(&['a', 'z']), 'z');
    // One call site for every instantiation.
    assert_counts(named!("largest"), Kind::Timed, Counts::ok(3));
}

#[test]
fn generic_lifetime_params() {
    let owned = String::from("longer");
    assert_eq!(longest("ab", &owned), "longer");
    assert_eq!(longest("abc", "x"), "abc");
    assert_counts(named!("longest"), Kind::Counted, Counts::ok(2));
}

#[test]
fn generic_const_params() {
    assert_eq!(sum_array([1, 2, 3]), 6);
    assert_eq!(sum_array([10; 5]), 50);
    assert_eq!(zeros::<4>(), [0u8; 4]);
    assert_counts(named!("sum_array"), Kind::Timed, Counts::ok(2));
    assert_counts(named!("zeros"), Kind::Counted, Counts::ok(1));
}

#[test]
fn generic_where_clause() {
    assert_eq!(join_all([1, 2, 3], "-"), "1-2-3");
    assert_eq!(join_all(vec!["a", "b"], ", "), "a, b");
    assert_counts(named!("join_all"), Kind::Counted, Counts::ok(2));
}

#[test]
fn generic_return_type_counts_ok() {
    assert_eq!(identity(5u8), 5);
    assert_eq!(identity("text"), "text");
    // Inside the generic body `T` is opaque: even an `Err` value is a normal
    // return. (Bound `T: CallOutcome`, or write `result`, to split it.)
    assert_eq!(identity(Err::<u8, &str>("no")), Err("no"));
    assert_counts(named!("identity"), Kind::Counted, Counts::ok(3));
}

// ---------------------------------------------------------------- unsafe, extern, impl Trait

#[timed]
unsafe fn read_raw(pointer: *const u32) -> u32 {
    *pointer
}

#[counted]
extern "C" fn c_abi_add(a: u32, b: u32) -> u32 {
    a + b
}

#[timed]
#[export_name = "forms_sync_exported_double"]
pub extern "C" fn exported_double(x: u32) -> u32 {
    x * 2
}

#[test]
fn unsafe_fn() {
    let value = 17u32;
    // SAFETY: the pointer comes from a live reference.
    assert_eq!(unsafe { read_raw(&value) }, 17);
    assert_counts(named!("read_raw"), Kind::Timed, Counts::ok(1));
}

#[test]
fn extern_c_fn() {
    assert_eq!(c_abi_add(2, 3), 5);
    let as_pointer: extern "C" fn(u32, u32) -> u32 = c_abi_add;
    assert_eq!(as_pointer(4, 4), 8);
    assert_counts(named!("c_abi_add"), Kind::Counted, Counts::ok(2));
}

#[test]
fn extern_c_fn_keeps_its_symbol_name() {
    extern "C" {
        fn forms_sync_exported_double(x: u32) -> u32;
    }
    // SAFETY: the symbol is `exported_double` above, with this signature.
    assert_eq!(unsafe { forms_sync_exported_double(21) }, 42);
    assert_eq!(exported_double(1), 2);
    assert_counts(named!("exported_double"), Kind::Timed, Counts::ok(2));
}

#[counted]
fn total(items: impl IntoIterator<Item = u32>) -> u32 {
    items.into_iter().sum()
}

#[timed]
fn evens(limit: u32) -> impl Iterator<Item = u32> {
    (0..limit).filter(|n| n % 2 == 0)
}

#[counted]
fn borrowed_iter<'a>(items: &'a [u32], min: &'a u32) -> impl Iterator<Item = &'a u32> + 'a {
    items.iter().filter(move |&item| item >= min)
}

#[counted]
fn boxed_display(value: impl Display + 'static) -> Box<dyn Display> {
    Box::new(value)
}

#[derive(Debug, PartialEq)]
struct ParseError(String);

impl From<std::num::ParseIntError> for ParseError {
    fn from(error: std::num::ParseIntError) -> Self {
        ParseError(error.to_string())
    }
}

#[timed]
fn parsed_range(text: &str) -> Result<impl Iterator<Item = u32>, ParseError> {
    let end: u32 = text.parse()?;
    Ok(1..=end)
}

#[test]
fn impl_trait_argument() {
    assert_eq!(total(vec![1, 2, 3]), 6);
    assert_eq!(total([4].into_iter().chain(Some(5))), 9);
    assert_counts(named!("total"), Kind::Counted, Counts::ok(2));
}

#[test]
fn impl_trait_return() {
    assert_eq!(evens(7).collect::<Vec<_>>(), [0, 2, 4, 6]);
    let items = [1, 5, 3, 8];
    assert_eq!(borrowed_iter(&items, &4).collect::<Vec<_>>(), [&5, &8]);
    assert_eq!(boxed_display(3.5).to_string(), "3.5");
    assert_counts(named!("evens"), Kind::Timed, Counts::ok(1));
    assert_counts(named!("borrowed_iter"), Kind::Counted, Counts::ok(1));
    assert_counts(named!("boxed_display"), Kind::Counted, Counts::ok(1));
}

#[test]
fn impl_trait_inside_result() {
    assert_eq!(parsed_range("3").unwrap().collect::<Vec<_>>(), [1, 2, 3]);
    let error = parsed_range("three").err().unwrap();
    assert_eq!(error, ParseError("invalid digit found in string".into()));
    assert_counts(named!("parsed_range"), Kind::Timed, Counts::ok_err(1, 1));
}

// ---------------------------------------------------------------- control flow

#[derive(Debug, PartialEq)]
enum AppError {
    Parse(std::num::ParseIntError),
    Negative(i64),
}

impl From<std::num::ParseIntError> for AppError {
    fn from(error: std::num::ParseIntError) -> Self {
        AppError::Parse(error)
    }
}

#[timed]
fn classify(n: i32) -> &'static str {
    if n < 0 {
        return "negative";
    }
    for _ in 0..n {
        if n > 100 {
            return "large";
        }
    }
    "small"
}

#[counted]
fn parse_positive(text: &str) -> Result<i64, AppError> {
    let n: i64 = text.trim().parse()?;
    if n < 0 {
        return Err(AppError::Negative(n));
    }
    Ok(n)
}

#[counted]
fn first_char_upper(text: &str) -> Option<char> {
    let first = text.chars().next()?;
    Some(first.to_ascii_uppercase())
}

#[test]
fn early_return() {
    assert_eq!(classify(-1), "negative");
    assert_eq!(classify(500), "large");
    assert_eq!(classify(3), "small");
    assert_counts(named!("classify"), Kind::Timed, Counts::ok(3));
}

#[test]
fn question_mark_with_from_conversion() {
    assert_eq!(parse_positive(" 12 "), Ok(12));
    assert!(matches!(parse_positive("x"), Err(AppError::Parse(_))));
    assert_eq!(parse_positive("-4"), Err(AppError::Negative(-4)));
    assert_counts(
        named!("parse_positive"),
        Kind::Counted,
        Counts::ok_err(1, 2),
    );
}

#[test]
fn question_mark_on_option() {
    assert_eq!(first_char_upper("abc"), Some('A'));
    assert_eq!(first_char_upper(""), None);
    // `Option` is not an error type: `None` is a normal return.
    assert_counts(named!("first_char_upper"), Kind::Counted, Counts::ok(2));
}

#[timed]
fn factorial(n: u64) -> u64 {
    if n <= 1 {
        1
    } else {
        n * factorial(n - 1)
    }
}

#[counted]
fn countdown_to_error(n: u32) -> Result<u32, String> {
    if n == 0 {
        return Err("reached zero".into());
    }
    countdown_to_error(n - 1).or(Ok(n))
}

#[test]
fn recursion() {
    assert_eq!(factorial(5), 120);
    assert_counts(named!("factorial"), Kind::Timed, Counts::ok(5));
    assert_eq!(countdown_to_error(2), Ok(1));
    // Calls with n = 2, 1 return `Ok`, the innermost (n = 0) `Err`.
    assert_counts(
        named!("countdown_to_error"),
        Kind::Counted,
        Counts::ok_err(2, 1),
    );
}

#[timed]
fn diverge(message: &str) -> ! {
    panic!("giving up: {message}")
}

#[counted]
fn diverge_or_value(fail: bool) -> u32 {
    if fail {
        panic!("asked to fail");
    }
    1
}

#[test]
fn never_returning_fn() {
    expect_panic(|| diverge("test"));
    assert_counts(
        named!("diverge"),
        Kind::Timed,
        Counts {
            calls: 1,
            panics: 1,
            ..Counts::default()
        },
    );
}

#[test]
fn panics_unwinding_through_instrumented_fns() {
    assert_eq!(diverge_or_value(false), 1);
    expect_panic(|| diverge_or_value(true));
    assert_counts(
        named!("diverge_or_value"),
        Kind::Counted,
        Counts {
            calls: 2,
            ok: 1,
            panics: 1,
            ..Counts::default()
        },
    );
}

// ---------------------------------------------------------------- borrowed returns

#[timed]
fn first<'a>(values: &'a [u32]) -> &'a u32 {
    &values[0]
}

#[counted]
fn first_elided(values: &[u32]) -> &u32 {
    &values[0]
}

#[counted]
fn last_mut(values: &mut [u32]) -> &mut u32 {
    let last = values.len() - 1;
    &mut values[last]
}

#[timed]
fn pick<'a>(key: &str, map: &'a std::collections::BTreeMap<String, String>) -> Option<&'a str> {
    map.get(key).map(String::as_str)
}

#[test]
fn returns_reference_with_named_lifetime() {
    let values = vec![4, 5];
    assert_eq!(*first(&values), 4);
    assert_counts(named!("first"), Kind::Timed, Counts::ok(1));
}

#[test]
fn returns_reference_with_elided_lifetime() {
    let values = [8, 9];
    assert_eq!(*first_elided(&values), 8);
    assert_counts(named!("first_elided"), Kind::Counted, Counts::ok(1));
}

#[test]
fn returns_mutable_reference() {
    let mut values = [1, 2, 3];
    *last_mut(&mut values) = 30;
    assert_eq!(values, [1, 2, 30]);
    assert_counts(named!("last_mut"), Kind::Counted, Counts::ok(1));
}

#[test]
fn returns_option_of_reference() {
    let map = [("a".to_string(), "x".to_string())].into_iter().collect();
    assert_eq!(pick("a", &map), Some("x"));
    assert_eq!(pick("b", &map), None);
    assert_counts(named!("pick"), Kind::Timed, Counts::ok(2));
}

// ---------------------------------------------------------------- arguments

struct Point {
    x: i32,
    y: i32,
}

#[counted]
fn add_pair((a, b): (u32, u32)) -> u32 {
    a + b
}

#[timed]
fn manhattan(Point { x, y }: Point, [dx, dy]: [i32; 2], _: &str) -> i32 {
    (x + dx).abs() + (y + dy).abs()
}

#[counted]
fn count_down(mut n: u32, mut steps: Vec<u32>) -> Vec<u32> {
    while n > 0 {
        steps.push(n);
        n -= 1;
    }
    steps
}

#[test]
fn pattern_arguments() {
    assert_eq!(add_pair((2, 3)), 5);
    assert_eq!(manhattan(Point { x: 1, y: -2 }, [2, -1], "ignored"), 6);
    assert_counts(named!("add_pair"), Kind::Counted, Counts::ok(1));
    assert_counts(named!("manhattan"), Kind::Timed, Counts::ok(1));
}

#[test]
fn mut_arguments() {
    assert_eq!(count_down(3, vec![9]), [9, 3, 2, 1]);
    assert_counts(named!("count_down"), Kind::Counted, Counts::ok(1));
}

// ---------------------------------------------------------------- attributes and names

/// Doubles a number.
///
/// The doc comment, `must_use`, `inline` and `allow` stay on the fn.
#[timed]
#[must_use = "the doubled value is the point"]
#[inline]
#[allow(clippy::let_and_return)]
fn documented_double(x: u32) -> u32 {
    let doubled = x * 2;
    doubled
}

// One definition is left only if the macro keeps `cfg` and `cfg_attr`: dropping
// them would define `configured` three times.
#[counted]
#[cfg(test)]
fn configured() -> u32 {
    1
}

#[counted]
#[cfg(not(test))]
fn configured() -> u32 {
    2
}

#[counted]
#[cfg_attr(test, cfg(not(test)))]
fn configured() -> u32 {
    3
}

#[test]
fn other_attributes_are_kept() {
    assert_eq!(documented_double(4), 8);
    assert_eq!(configured(), 1);
    assert_counts(named!("documented_double"), Kind::Timed, Counts::ok(1));
    assert_counts(named!("configured"), Kind::Counted, Counts::ok(1));
}

#[counted]
fn r#type() -> &'static str {
    "keyword"
}

struct Keywords;

impl Keywords {
    #[timed]
    fn r#match(&self, x: u32) -> bool {
        x == 1
    }
}

#[test]
fn raw_identifiers() {
    assert_eq!(r#type(), "keyword");
    assert!(Keywords.r#match(1));
    assert_counts(named!("type"), Kind::Counted, Counts::ok(1));
    assert_counts(named!("Keywords", "match"), Kind::Timed, Counts::ok(1));
}

// Instrumented fns nested in a fn body, and a body with its own items.
#[test]
fn nested_fns_and_items() {
    #[counted]
    fn outer(x: u32) -> u32 {
        #[timed]
        fn inner(x: u32) -> u32 {
            const STEP: u32 = 3;
            x + STEP
        }
        inner(x) + inner(x)
    }

    assert_eq!(outer(1), 8);
    // Nested fns' `module_path!()` is the module: their names are `module::fn`.
    assert_counts(named!("outer"), Kind::Counted, Counts::ok(1));
    assert_counts(named!("inner"), Kind::Timed, Counts::ok(2));
}
