//! JSON text from serde's data model, for [`Snapshot::to_json`] and the debug
//! endpoint, written here rather than by `serde_json`.
//!
//! Why not `serde_json`: every crate in an application's graph takes part in its
//! trait selection, and `serde_json` implements `PartialEq<Value>` for `u8`,
//! `i32`, `bool`, `str`, … Once it is in the graph, `assert_eq!(&*bytes, &[])`
//! on a `Vec<u8>` no longer infers (E0282/E0283) in the application and in every
//! crate downstream of a library that uses `#[timed]`. The snapshot types are a
//! few structs of integers, strings, options, lists and maps; writing them takes
//! this page, and the output is byte for byte `serde_json`'s (compact and
//! pretty), which the tests check against `serde_json` itself.
//!
//! Reading JSON back (a [`Snapshot`] is `Deserialize`) is left to the
//! application's own choice of format crate.
//!
//! [`Snapshot`]: crate::Snapshot
//! [`Snapshot::to_json`]: crate::Snapshot::to_json

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use serde::ser::{self, Serialize};

use crate::snapshot::{FunctionStats, Latency, Snapshot};
use ascii::append_ascii;

/// Writes `value` as JSON: compact, or indented by two spaces with `": "`
/// between keys and values, as `serde_json::to_string{,_pretty}` do.
///
/// Fails only where a `Serialize` impl reports an error or a map key is not a
/// string, a number or a bool (JSON object keys are strings).
pub(crate) fn to_string<T: Serialize + ?Sized>(value: &T, pretty: bool) -> Result<String, Error> {
    let mut writer = Writer {
        out: String::with_capacity(1024),
        pretty,
        depth: 0,
    };
    value.serialize(&mut writer)?;
    Ok(writer.out)
}

/// [`Snapshot::to_json`]: the bytes of `to_string(snapshot, false)`, faster.
///
/// The functions are nearly all of a snapshot's JSON (a thousand timed fns with
/// their buckets make 800 KB), and through serde's data model every number and
/// bracket of theirs is a few calls: they are written here directly, and the rest
/// of the snapshot goes through serde. The patterns name every field, so a new
/// one does not compile until it is written here too; the tests compare the
/// result with `serde_json`'s at every details level.
pub(crate) fn snapshot_to_string(snapshot: &Snapshot) -> Result<String, Error> {
    let Snapshot {
        schema_version,
        instance_id,
        anonymized,
        details_level,
        taken_at_unix_ms,
        uptime_ms,
        app,
        facts,
        fact_choices,
        system,
        functions,
        critical_errors,
        critical_errors_dropped,
    } = snapshot;
    let mut writer = Writer {
        out: String::with_capacity(estimated_len(functions)),
        pretty: false,
        depth: 0,
    };
    let mut object = Compound::open(&mut writer, '{', false);
    object.field("schema_version", schema_version)?;
    object.field("instance_id", instance_id)?;
    object.field("anonymized", anonymized)?;
    object.field("details_level", details_level)?;
    object.field("taken_at_unix_ms", taken_at_unix_ms)?;
    object.field("uptime_ms", uptime_ms)?;
    object.field("app", app)?;
    if !facts.is_empty() {
        object.field("facts", facts)?;
    }
    if !fact_choices.is_empty() {
        object.field("fact_choices", fact_choices)?;
    }
    object.field("system", system)?;
    object.field_name("functions");
    let out = &mut *object.writer;
    out.out.push('{');
    for (at, (name, stats)) in functions.iter().enumerate() {
        if at > 0 {
            out.out.push(',');
        }
        out.string(name);
        out.out.push(':');
        write_function(out, stats)?;
    }
    out.out.push('}');
    object.field("critical_errors", critical_errors)?;
    if *critical_errors_dropped != 0 {
        object.field("critical_errors_dropped", critical_errors_dropped)?;
    }
    object.finish()?;
    Ok(writer.out)
}

/// About the length of a snapshot's JSON, over rather than under: growing a
/// string of hundreds of KB copies it each time.
fn estimated_len(functions: &BTreeMap<String, FunctionStats>) -> usize {
    let per_function = |(name, stats): (&String, &FunctionStats)| {
        let buckets = stats
            .latency_ns
            .as_ref()
            .and_then(|latency| latency.buckets.as_ref())
            .map_or(0, Vec::len);
        name.len() + 320 + buckets * 16
    };
    4096 + functions.iter().map(per_function).sum::<usize>()
}

fn write_function(writer: &mut Writer, stats: &FunctionStats) -> Result<(), Error> {
    let FunctionStats {
        kind,
        calls,
        ok,
        err,
        panics,
        cancelled,
        in_flight,
        latency_ns,
    } = stats;
    writer.out.push_str("{\"kind\":");
    kind.serialize(&mut *writer)?;
    writer.number_field("calls", *calls);
    writer.number_field("ok", *ok);
    writer.number_field("err", *err);
    writer.number_field("panics", *panics);
    writer.number_field("cancelled", *cancelled);
    writer.number_field("in_flight", *in_flight);
    if let Some(latency) = latency_ns {
        writer.out.push_str(",\"latency_ns\":");
        write_latency(writer, latency);
    }
    writer.out.push('}');
    Ok(())
}

fn write_latency(writer: &mut Writer, latency: &Latency) {
    let Latency {
        count,
        sample,
        min,
        max,
        mean,
        sum,
        p50,
        p90,
        p99,
        p999,
        buckets,
    } = latency;
    writer.out.push_str("{\"count\":");
    writer.decimal(*count);
    if let Some(sample) = sample {
        writer.number_field("sample", u64::from(*sample));
    }
    writer.number_field("min", *min);
    writer.number_field("max", *max);
    writer.number_field("mean", *mean);
    if let Some(sum) = sum {
        writer.number_field("sum", *sum);
    }
    writer.number_field("p50", *p50);
    writer.number_field("p90", *p90);
    writer.number_field("p99", *p99);
    writer.number_field("p999", *p999);
    if let Some(buckets) = buckets {
        writer.out.push_str(",\"buckets\":[");
        for (at, &(upper, count)) in buckets.iter().enumerate() {
            append_ascii::<{ 2 + 20 + 1 + 20 + 1 }>(&mut writer.out, |pair| {
                if at > 0 {
                    pair.push(b',');
                }
                pair.push(b'[');
                pair.decimal(upper);
                pair.push(b',');
                pair.decimal(count);
                pair.push(b']');
            });
        }
        writer.out.push(']');
    }
    writer.out.push('}');
}

/// Numbers written straight into the output, the fast way: in a module of its
/// own, so that nothing but [`Ascii`](ascii::Ascii)'s methods can write to the
/// room it hands out, which is what keeps the output UTF-8.
mod ascii {
    /// Appends to `out` what `write` puts in an [`Ascii`] of `N` bytes: room
    /// reserved in `out` itself, so that the bytes are written where they stay.
    ///
    /// A snapshot's JSON is mostly short numbers: some 143,000 of them for
    /// 1,000 timed fns of 64 buckets (two a bucket, fifteen more a fn).
    /// Written a piece at a time (`itoa` into its own buffer, then
    /// `push_str`), each number cost a call to `memcpy` for a few bytes and
    /// every piece a check of the string's capacity: most of `to_json`'s time.
    /// Built on the stack and copied in at once, the copy's wide loads wait
    /// for the narrow stores before them to reach the cache, which cost as
    /// much again.
    pub(super) fn append_ascii<const N: usize>(
        out: &mut String,
        write: impl FnOnce(&mut Ascii<'_, N>),
    ) {
        // SAFETY: `out` must be UTF-8 whenever the borrow ends, normally or by
        // a panic in `write`. Its first `start` bytes are left as they were.
        // The N bytes added after them are zeros, and `Ascii` (whose fields
        // no code outside this module can reach) overwrites them with ASCII
        // only, so everything from `start` on is ASCII: UTF-8 however long,
        // and `truncate` cuts it on a character boundary. `len` never exceeds
        // N when `truncate` runs: `push` and `decimal` index with bounds
        // checks and panic first. After such a panic (a bug), `out` ends in up
        // to N zeros and digits: valid UTF-8, and dropped with the unwinding
        // writer.
        let bytes = unsafe { out.as_mut_vec() };
        let start = bytes.len();
        bytes.resize(start + N, 0);
        let room = (&mut bytes[start..])
            .try_into()
            .expect("N bytes were added");
        let mut ascii = Ascii {
            bytes: room,
            len: 0,
        };
        write(&mut ascii);
        let end = start + ascii.len;
        bytes.truncate(end);
    }

    /// Room for `N` bytes of ASCII, filled from the start: see [`append_ascii`].
    pub(super) struct Ascii<'a, const N: usize> {
        bytes: &'a mut [u8; N],
        len: usize,
    }

    impl<const N: usize> Ascii<'_, N> {
        #[inline(always)]
        pub(super) fn push(&mut self, byte: u8) {
            // Callers pass constants, so this compiles away; it is what keeps
            // the `String` that `append_ascii` extends UTF-8.
            assert!(byte.is_ascii());
            self.bytes[self.len] = byte;
            self.len += 1;
        }

        /// `n`'s decimal digits, as `itoa` and `serde_json` write them.
        #[inline(always)]
        pub(super) fn decimal(&mut self, mut n: u64) {
            const PAIRS: &[u8; 200] = b"\
                0001020304050607080910111213141516171819\
                2021222324252627282930313233343536373839\
                4041424344454647484950515253545556575859\
                6061626364656667686970717273747576777879\
                8081828384858687888990919293949596979899";
            // Most counts of a bucket are below 100: they skip the logarithm.
            let digits = match n {
                0..10 => 1,
                10..100 => 2,
                _ => n.ilog10() as usize + 1,
            };
            let mut end = self.len + digits;
            self.len = end;
            while n >= 100 {
                let pair = (n % 100) as usize * 2;
                n /= 100;
                self.bytes[end - 2..end].copy_from_slice(&PAIRS[pair..pair + 2]);
                end -= 2;
            }
            if n >= 10 {
                let pair = n as usize * 2;
                self.bytes[end - 2..end].copy_from_slice(&PAIRS[pair..pair + 2]);
            } else {
                self.bytes[end - 1] = b'0' + n as u8;
            }
        }
    }
}

/// Why a value could not be written as JSON.
#[derive(Debug)]
pub(crate) struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: fmt::Display>(message: T) -> Error {
        Error(message.to_string())
    }
}

struct Writer {
    out: String,
    pretty: bool,
    /// Open arrays and objects around the next value, for indentation.
    depth: usize,
}

impl Writer {
    fn open(&mut self, bracket: char) {
        self.out.push(bracket);
        self.depth += 1;
    }

    /// Before an array element or an object key.
    fn next_entry(&mut self, first: bool) {
        if !first {
            self.out.push(',');
        }
        if self.pretty {
            self.out.push('\n');
            self.indent();
        }
    }

    /// Between an object key and its value.
    fn colon(&mut self) {
        self.out.push_str(if self.pretty { ": " } else { ":" });
    }

    fn close(&mut self, bracket: char, empty: bool) {
        self.depth -= 1;
        if self.pretty && !empty {
            self.out.push('\n');
            self.indent();
        }
        self.out.push(bracket);
    }

    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }

    fn number(&mut self, n: impl itoa::Integer) {
        self.out.push_str(itoa::Buffer::new().format(n));
    }

    /// `,"name":n`, a field after the first of an object written directly.
    #[inline(always)]
    fn number_field(&mut self, name: &str, n: u64) {
        self.out.push_str(",\"");
        self.out.push_str(name);
        self.out.push_str("\":");
        self.decimal(n);
    }

    /// `n` in decimal, the fast way for the snapshot's own numbers (see
    /// [`append_ascii`]).
    fn decimal(&mut self, n: u64) {
        append_ascii::<20>(&mut self.out, |digits| digits.decimal(n));
    }

    fn string(&mut self, s: &str) {
        self.out.reserve(s.len() + 2);
        self.out.push('"');
        // Names rarely hold anything to escape: one pass to check, one copy.
        if !s.bytes().any(needs_escape) {
            self.out.push_str(s);
            self.out.push('"');
            return;
        }
        let mut plain_from = 0;
        for (at, byte) in s.bytes().enumerate() {
            let escape = match byte {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0x08 => "\\b",
                0x0c => "\\f",
                0x00..=0x1f => "",
                _ => continue,
            };
            self.out.push_str(&s[plain_from..at]);
            plain_from = at + 1;
            if escape.is_empty() {
                write!(self.out, "\\u{byte:04x}").expect("writing to a String never fails");
            } else {
                self.out.push_str(escape);
            }
        }
        self.out.push_str(&s[plain_from..]);
        self.out.push('"');
    }

    /// An enum variant with content: `{"variant": content}`, the content still to come.
    fn open_variant(&mut self, variant: &str) {
        self.open('{');
        self.next_entry(true);
        self.string(variant);
        self.colon();
    }
}

fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// An array or object being written, and whether it has no entry yet.
struct Compound<'a> {
    writer: &'a mut Writer,
    /// `]` or `}`.
    close: char,
    first: bool,
    /// Inside `{"variant": …}`, which closes too.
    in_variant: bool,
}

impl<'a> Compound<'a> {
    fn open(writer: &'a mut Writer, bracket: char, in_variant: bool) -> Compound<'a> {
        writer.open(bracket);
        Compound {
            writer,
            close: if bracket == '[' { ']' } else { '}' },
            first: true,
            in_variant,
        }
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.writer.next_entry(self.first);
        self.first = false;
        value.serialize(&mut *self.writer)
    }

    fn key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.writer.next_entry(self.first);
        self.first = false;
        // A key is any scalar, written as a string: write it as a value, then
        // quote what is not quoted yet (numbers and bools, as `serde_json` does).
        let start = self.writer.out.len();
        key.serialize(&mut *self.writer)?;
        match self.writer.out.as_bytes().get(start) {
            Some(b'"') => {}
            Some(b'-' | b'0'..=b'9' | b't' | b'f') => {
                self.writer.out.insert(start, '"');
                self.writer.out.push('"');
            }
            _ => {
                let text = self.writer.out.split_off(start);
                return Err(Error(format!(
                    "a JSON object key must be a string, a number or a bool, not {text}"
                )));
            }
        }
        self.writer.colon();
        Ok(())
    }

    fn field<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> Result<(), Error> {
        self.field_name(name);
        value.serialize(&mut *self.writer)
    }

    /// A field's name, its value still to come.
    fn field_name(&mut self, name: &str) {
        self.writer.next_entry(self.first);
        self.first = false;
        self.writer.string(name);
        self.writer.colon();
    }

    fn finish(self) -> Result<(), Error> {
        self.writer.close(self.close, self.first);
        if self.in_variant {
            self.writer.close('}', false);
        }
        Ok(())
    }
}

/// Integers of every width: their decimal digits.
macro_rules! integers {
    ($($method:ident: $int:ty),*) => {$(
        fn $method(self, v: $int) -> Result<(), Error> {
            self.number(v);
            Ok(())
        }
    )*};
}

impl<'a> ser::Serializer for &'a mut Writer {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out.push_str(if v { "true" } else { "false" });
        Ok(())
    }

    integers!(
        serialize_i8: i8,
        serialize_i16: i16,
        serialize_i32: i32,
        serialize_i64: i64,
        serialize_i128: i128,
        serialize_u8: u8,
        serialize_u16: u16,
        serialize_u32: u32,
        serialize_u64: u64,
        serialize_u128: u128
    );

    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.serialize_f64(v.into())
    }

    /// Finite numbers in Rust's shortest round-trip form (`0.5`, `1.0`, `1e-7`),
    /// which is valid JSON; JSON has no NaN or infinity, so those are `null`, as
    /// `serde_json` writes them. (No snapshot field is a float.)
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        if v.is_finite() {
            write!(self.out, "{v:?}").expect("writing to a String never fails");
        } else {
            self.out.push_str("null");
        }
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.string(v.encode_utf8(&mut [0; 4]));
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.string(v);
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        let mut array = Compound::open(self, '[', false);
        for byte in v {
            array.element(byte)?;
        }
        array.finish()
    }

    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Error> {
        self.out.push_str("null");
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.string(variant);
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.open_variant(variant);
        value.serialize(&mut *self)?;
        self.close('}', false);
        Ok(())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a>, Error> {
        Ok(Compound::open(self, '[', false))
    }

    fn serialize_tuple(self, len: usize) -> Result<Compound<'a>, Error> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Compound<'a>, Error> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, Error> {
        self.open_variant(variant);
        Ok(Compound::open(self, '[', true))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a>, Error> {
        Ok(Compound::open(self, '{', false))
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Compound<'a>, Error> {
        Ok(Compound::open(self, '{', false))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, Error> {
        self.open_variant(variant);
        Ok(Compound::open(self, '{', true))
    }
}

/// serde's four array-like compound traits: each is a JSON array.
macro_rules! array_like {
    ($($serde_trait:ident::$add:ident),*) => {$(
        impl ser::$serde_trait for Compound<'_> {
            type Ok = ();
            type Error = Error;

            fn $add<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                self.element(value)
            }

            fn end(self) -> Result<(), Error> {
                self.finish()
            }
        }
    )*};
}

array_like!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

/// serde's two struct-like compound traits: each is a JSON object.
macro_rules! struct_like {
    ($($serde_trait:ident),*) => {$(
        impl ser::$serde_trait for Compound<'_> {
            type Ok = ();
            type Error = Error;

            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                name: &'static str,
                value: &T,
            ) -> Result<(), Error> {
                self.field(name, value)
            }

            fn end(self) -> Result<(), Error> {
                self.finish()
            }
        }
    )*};
}

struct_like!(SerializeStruct, SerializeStructVariant);

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.key(key)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut *self.writer)
    }

    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Serialize;

    use super::ascii::append_ascii;
    use super::to_string;
    use crate::facts::FactValue;
    use crate::{
        CriticalError, DetailsLevel, DiskKind, FunctionStats, Kind, Latency, PanicCategory,
        Snapshot,
    };

    /// Ours and `serde_json`'s output, compact and pretty, are the same bytes.
    fn assert_same_as_serde_json<T: Serialize>(value: &T) {
        assert_eq!(
            to_string(value, false).unwrap(),
            serde_json::to_string(value).unwrap()
        );
        assert_eq!(
            to_string(value, true).unwrap(),
            serde_json::to_string_pretty(value).unwrap()
        );
    }

    /// A string with every character JSON escapes, and some it does not.
    fn awkward_text() -> String {
        let mut text: String = (0u8..0x80).map(char::from).collect();
        text.push_str("é ☃ 𝄞 \u{7f}\u{2028}\u{feff} \\\"quoted\"\\");
        text
    }

    fn full_snapshot() -> Snapshot {
        let mut snapshot = Snapshot::take(DetailsLevel::Full);
        snapshot.app.name = awkward_text();
        snapshot.system.kernel_version = Some([6, 8]);
        snapshot.system.disk = Some(DiskKind::Ssd);
        snapshot.system.cpu_features = vec!["avx2".into(), "sse4.2".into()];
        snapshot.facts.insert("tls".into(), FactValue::Bool(true));
        snapshot.facts.insert("shards".into(), FactValue::Int(-12));
        snapshot
            .facts
            .insert(awkward_text(), FactValue::Text(awkward_text()));
        snapshot
            .fact_choices
            .insert("mode".into(), vec!["fast".into(), awkward_text()]);
        let counted = FunctionStats {
            kind: Kind::Counted,
            calls: 3,
            ok: 3,
            err: 0,
            panics: 0,
            cancelled: 0,
            in_flight: 0,
            latency_ns: None,
        };
        let timed = FunctionStats {
            kind: Kind::Timed,
            calls: u64::MAX,
            latency_ns: Some(Latency {
                count: 10,
                sample: None,
                min: 900,
                max: 52_000,
                mean: 4_100,
                sum: Some(41_000),
                p50: 1_100,
                p90: 9_000,
                p99: 52_000,
                p999: 52_000,
                // Every digit count, and the widest pair the writer has room for.
                buckets: Some(vec![
                    (0, 0),
                    (1_023, 3),
                    (2_047, 5),
                    (65_535, 2),
                    (u64::MAX, u64::MAX),
                ]),
            }),
            ..counted.clone()
        };
        let no_buckets = FunctionStats {
            latency_ns: Some(Latency {
                sum: None,
                buckets: Some(Vec::new()),
                ..timed.latency_ns.clone().unwrap()
            }),
            ..timed.clone()
        };
        let sampled = FunctionStats {
            latency_ns: Some(Latency {
                sample: Some(u32::MAX),
                ..timed.latency_ns.clone().unwrap()
            }),
            ..timed.clone()
        };
        snapshot.functions.insert("app::sampled".into(), sampled);
        snapshot.functions.insert(awkward_text(), counted.clone());
        snapshot.functions.insert("app::counted".into(), counted);
        snapshot.functions.insert("app::timed".into(), timed);
        snapshot
            .functions
            .insert("app::timed_empty".into(), no_buckets);
        snapshot.critical_errors = vec![
            CriticalError {
                message: Some(awkward_text()),
                category: PanicCategory::IndexOutOfBounds,
                location: "src/db.rs:42:17".into(),
                thread: Some("worker-3".into()),
                count: 2,
                first_seen_unix_ms: 1_795_000_000_000,
                last_seen_unix_ms: 1_795_000_001_000,
                backtrace: Some(vec!["app::db::flush".into(), "app::api::upsert".into()]),
            },
            CriticalError {
                message: None,
                category: PanicCategory::Other,
                location: "src/main.rs:1:1".into(),
                thread: None,
                count: 1,
                first_seen_unix_ms: 0,
                last_seen_unix_ms: 0,
                backtrace: None,
            },
        ];
        snapshot.critical_errors_dropped = 7;
        snapshot
    }

    /// Through serde's data model and through `Snapshot::to_json`'s direct path.
    fn assert_snapshot_same_as_serde_json(snapshot: &Snapshot) {
        assert_same_as_serde_json(snapshot);
        assert_eq!(snapshot.to_json(), serde_json::to_string(snapshot).unwrap());
    }

    #[test]
    fn snapshots_come_out_as_serde_json_writes_them() {
        let full = full_snapshot();
        assert_snapshot_same_as_serde_json(&full);
        for level in [
            DetailsLevel::Instance,
            DetailsLevel::Counters,
            DetailsLevel::Summaries,
        ] {
            assert_snapshot_same_as_serde_json(&full.details(level));
        }
        assert_snapshot_same_as_serde_json(&full.anonymize());
        // The documented schema's empty forms.
        let mut empty = Snapshot::take(DetailsLevel::Instance);
        empty.system.cpu_features.clear();
        assert_snapshot_same_as_serde_json(&empty);
        // And without the optional parts the full one has.
        let mut bare = full.clone();
        bare.critical_errors_dropped = 0;
        bare.facts.clear();
        bare.fact_choices.clear();
        assert_snapshot_same_as_serde_json(&bare);
    }

    #[test]
    fn numbers_of_every_length_come_out_as_std_writes_them() {
        let edges = (0..20).flat_map(|power| {
            let ten = 10u64.pow(power);
            [ten - 1, ten, ten + 1, ten.saturating_mul(5)]
        });
        for n in edges.chain([u64::MAX - 1, u64::MAX, 1 << 63, 4_294_967_296]) {
            let mut written = String::from("x");
            append_ascii::<20>(&mut written, |digits| digits.decimal(n));
            assert_eq!(written, format!("x{n}"));

            written.clear();
            append_ascii::<44>(&mut written, |pair| {
                pair.push(b'[');
                pair.decimal(n);
                pair.push(b',');
                pair.decimal(u64::MAX - n);
                pair.push(b']');
            });
            assert_eq!(written, format!("[{n},{}]", u64::MAX - n));
        }
    }

    #[test]
    fn every_shape_of_serdes_data_model_comes_out_as_serde_json_writes_it() {
        #[derive(Serialize)]
        struct Unit;
        #[derive(Serialize)]
        struct Newtype(u8);
        #[derive(Serialize)]
        struct Pair(i8, &'static str);
        #[derive(Serialize)]
        struct Empty {}
        #[derive(Serialize)]
        enum Shapes {
            Unit,
            Newtype(i32),
            Tuple(u8, bool),
            Struct { a: char, b: Option<u16> },
            EmptyStruct {},
        }
        #[derive(Serialize)]
        struct All {
            unit: (),
            unit_struct: Unit,
            newtype: Newtype,
            pair: Pair,
            empty: Empty,
            nested_empty: Vec<Vec<u8>>,
            shapes: Vec<Shapes>,
            extremes: (i64, i64, u64, i128, u128, i16, u32),
            #[serde(with = "bytes")]
            bytes: Vec<u8>,
            int_keys: BTreeMap<i32, &'static str>,
            char_keys: BTreeMap<char, u8>,
            none: Option<u8>,
            some_none: Option<Option<u8>>,
        }
        mod bytes {
            pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(v)
            }
        }
        let all = All {
            unit: (),
            unit_struct: Unit,
            newtype: Newtype(7),
            pair: Pair(-1, "x"),
            empty: Empty {},
            nested_empty: vec![vec![], vec![1]],
            shapes: vec![
                Shapes::Unit,
                Shapes::Newtype(-5),
                Shapes::Tuple(1, false),
                Shapes::Struct { a: '"', b: None },
                Shapes::Struct {
                    a: 'é', b: Some(9)
                },
                Shapes::EmptyStruct {},
            ],
            extremes: (i64::MIN, i64::MAX, u64::MAX, i128::MIN, u128::MAX, -0, 0),
            bytes: vec![0, 255],
            int_keys: [(-1, "a"), (20, "b")].into(),
            char_keys: [('k', 1)].into(),
            none: None,
            some_none: Some(None),
        };
        assert_same_as_serde_json(&all);
        assert_same_as_serde_json(&Shapes::Tuple(3, true));
        assert_same_as_serde_json(&Vec::<u8>::new());
        assert_same_as_serde_json(&BTreeMap::<String, u8>::new());
        // As recent serde_json versions write them (older ones refuse bool keys).
        let bool_keys: BTreeMap<bool, ()> = [(false, ()), (true, ())].into();
        assert_eq!(
            to_string(&bool_keys, false).unwrap(),
            r#"{"false":null,"true":null}"#
        );
    }

    #[test]
    fn floats_are_valid_json_that_reads_back_the_same() {
        for v in [
            0.0,
            -0.0,
            0.5,
            1.0,
            -1.5e-7,
            1e20,
            1e300,
            f64::MIN_POSITIVE,
            f64::MAX,
            f64::EPSILON,
            0.1 + 0.2,
        ] {
            let text = to_string(&v, false).unwrap();
            assert_eq!(serde_json::from_str::<f64>(&text).unwrap(), v, "{text}");
        }
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(to_string(&v, false).unwrap(), "null");
        }
        assert_eq!(to_string(&0.25f32, false).unwrap(), "0.25");
    }

    #[test]
    fn a_key_that_json_cannot_hold_is_an_error() {
        let by_list: BTreeMap<Vec<u8>, u8> = [(vec![1], 1)].into();
        let error = to_string(&by_list, false).unwrap_err().to_string();
        assert!(
            error.contains("key must be a string, a number or a bool, not [1]"),
            "{error}"
        );
        let by_unit: BTreeMap<(), u8> = [((), 1)].into();
        assert!(to_string(&by_unit, false).is_err());
    }
}
