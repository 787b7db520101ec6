//! A library as users write one: it puts `#[timed]` on a fn and knows nothing
//! else of `telemetry`. Using the attribute loads the `telemetry` crate graph
//! into this crate's trait selection; nothing in that graph may make the
//! library's own code, below, ambiguous to infer.

/// Two bytes, timed.
#[telemetry::timed]
pub fn bytes() -> &'static [u8] {
    &[1, 2]
}

#[cfg(test)]
mod tests {
    /// The form of smallvec's and bytes' own tests that a crate implementing
    /// `PartialEq<ItsValue>` for `u8` (as `serde_json` does) makes ambiguous.
    #[test]
    fn an_empty_byte_slice_equals_an_untyped_empty_array() {
        let v: Vec<u8> = Vec::new();
        assert_eq!(&*v, &[]);
    }

    /// The same form for the other primitives such a crate covers.
    #[test]
    fn other_primitives_infer_too() {
        let v: Vec<u16> = Vec::new();
        assert_eq!(&*v, &[]);
        let v: Vec<i64> = Vec::new();
        assert_eq!(&*v, &[]);
        let v: Vec<f64> = Vec::new();
        assert_eq!(&*v, &[]);
        let v: Vec<bool> = Vec::new();
        assert_eq!(&*v, &[]);
        assert_eq!(super::bytes(), [1, 2]);
    }
}
