//! Escaping text for the hand-written XML of the HTML report and its inline SVG charts.

/// Escapes text for XML 1.0 content and attribute values, dropping characters XML cannot
/// carry at all (control characters other than tab, newline and carriage return).
pub(crate) fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_drops_control_characters() {
        assert_eq!(xml_escape("a\u{1}b\"'"), "ab&quot;&apos;");
        assert_eq!(xml_escape("c & <d>.json"), "c &amp; &lt;d&gt;.json");
    }
}
