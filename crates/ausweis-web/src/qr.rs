//! QR codes drawn as inline SVG, for the `otpauth://` URI that an
//! authenticator app scans. Drawn on the server: the page runs no script
//! and loads no image.

use qrcodegen::{QrCode, QrCodeEcc};

/// Light modules around the code (ISO/IEC 18004 section 6.3.8 asks for 4).
const QUIET_ZONE: i32 = 4;

/// An `<svg>` element showing `text` as a QR code, with `label` as its
/// accessible name; `None` if the text is too long for a QR code.
pub fn svg(text: &str, label: &str) -> Option<String> {
    // medium error correction: a phone screen or a print stays readable
    let code = QrCode::encode_text(text, QrCodeEcc::Medium).ok()?;
    let side = code.size() + 2 * QUIET_ZONE;
    // one rectangle per horizontal run of dark modules
    let mut path = String::new();
    for y in 0..code.size() {
        let mut x = 0;
        while x < code.size() {
            if !code.get_module(x, y) {
                x += 1;
                continue;
            }
            let start = x;
            while x < code.size() && code.get_module(x, y) {
                x += 1;
            }
            let run = x - start;
            path.push_str(&format!(
                "M{},{}h{run}v1h-{run}z",
                start + QUIET_ZONE,
                y + QUIET_ZONE
            ));
        }
    }
    Some(format!(
        "<svg viewBox=\"0 0 {side} {side}\" width=\"264\" height=\"264\" role=\"img\" \
aria-labelledby=\"qr-label\" shape-rendering=\"crispEdges\"><title id=\"qr-label\">{}</title>\
<rect width=\"{side}\" height=\"{side}\" fill=\"#fff\"/><path fill=\"#000\" d=\"{path}\"/></svg>",
        crate::html::escape(label)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uri_becomes_one_square_svg_with_its_label() {
        let uri = "otpauth://totp/ausweis:alice?secret=JBSWY3DPEHPK3PXP&issuer=ausweis";
        let out = svg(uri, "QR <code>").unwrap_or_default();
        assert!(out.starts_with("<svg viewBox=\"0 0 "));
        assert!(out.ends_with("</svg>"));
        assert!(out.contains("<title id=\"qr-label\">QR &lt;code&gt;</title>"));
        // version 5 at medium correction holds these 71 bytes: 37 modules
        // and the quiet zone on both sides
        assert!(out.contains("viewBox=\"0 0 45 45\""), "{out}");
        // the top left finder pattern starts with a run of seven
        assert!(out.contains("d=\"M4,4h7v1h-7z"), "{out}");
        assert!(!out.contains("secret=") && !out.contains("http"));
    }

    #[test]
    fn text_beyond_the_largest_code_is_refused() {
        assert!(svg(&"x".repeat(4000), "too long").is_none());
    }
}
