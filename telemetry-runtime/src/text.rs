//! Cutting text to a bound in bytes without splitting a character: panic
//! messages, thread names, backtrace lines and the reporter's error messages are
//! all kept bounded, by this one rule.

/// The largest index `<= max` that falls on a character boundary of `text`.
pub(crate) fn floor_char_boundary(text: &str, max: usize) -> usize {
    if max >= text.len() {
        return text.len();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// `text` if it fits in `max` bytes, else its longest prefix that does, cut at
/// a character boundary, and `…`.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let end = floor_char_boundary(text, max);
    let mut cut = String::with_capacity(end + '…'.len_utf8());
    cut.push_str(&text[..end]);
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate("short", 5), "short");
        assert_eq!(truncate("abcdef", 3), "abc…");
        assert_eq!(truncate("ééé", 3), "é…");
        assert_eq!(truncate("abc", 0), "…");
    }

    #[test]
    fn the_boundary_is_at_most_max_and_never_inside_a_character() {
        assert_eq!(floor_char_boundary("ééé", 3), 2);
        assert_eq!(floor_char_boundary("ééé", 4), 4);
        assert_eq!(floor_char_boundary("abc", 10), 3);
        assert_eq!(floor_char_boundary("", 0), 0);
    }
}
