//! A crate that depends on a library using `#[timed]` and never names
//! `telemetry`: the library's dependency graph is in this crate's trait
//! selection all the same, and must not make its code ambiguous to infer.

/// The library's bytes, summed.
pub fn total() -> u32 {
    lib_a::bytes().iter().map(|&b| u32::from(b)).sum()
}

#[cfg(test)]
mod tests {
    /// `Vec::new()` gets its element type from `extend`, which has two impls
    /// (`T` and `&T`); the comparison then decides it, unless some crate in the
    /// graph gives `u8` a second `PartialEq`.
    #[test]
    fn a_vec_typed_by_extend_and_a_comparison_infers() {
        let mut sum = Vec::new();
        sum.extend(lib_a::bytes().iter());
        assert_eq!(&[1u8, 2][..], &sum[..]);
        assert_eq!(super::total(), 3);
    }
}
