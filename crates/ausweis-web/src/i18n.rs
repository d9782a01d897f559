//! The language of a page: English or German, chosen by the browser's
//! `Accept-Language` (RFC 9110 section 12.5.4).
//!
//! Texts stay beside the markup that shows them: `lang.t("Log in",
//! "Anmelden")`. Both versions are written at every call site, so a page
//! cannot lack a translation, and a component carries only its own texts.

use http::header;

use crate::Request;

/// The languages pages are written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    De,
}

/// Longest `Accept-Language` value read; browsers send a few dozen bytes.
const MAX_HEADER: usize = 1024;
/// Most language ranges looked at.
const MAX_RANGES: usize = 32;

impl Lang {
    /// The language the browser prefers among ours; English when it names
    /// neither or sends nothing readable.
    pub fn of(req: &Request) -> Lang {
        req.headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.len() <= MAX_HEADER)
            .map(Lang::from_header)
            .unwrap_or(Lang::En)
    }

    /// Picks from a header such as `de-CH, de;q=0.9, en;q=0.8`: the highest
    /// weight wins, and the earlier range among equal weights.
    pub fn from_header(value: &str) -> Lang {
        let mut best: Option<(u16, Lang)> = None;
        for range in value.split(',').take(MAX_RANGES) {
            let mut parts = range.split(';');
            let tag = parts.next().unwrap_or("").trim();
            let weight = parts
                .find_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
                .map_or(Some(1000), quality);
            let (Some(lang), Some(weight)) = (Lang::of_tag(tag), weight) else {
                continue;
            };
            if weight > 0 && best.is_none_or(|(w, _)| weight > w) {
                best = Some((weight, lang));
            }
        }
        best.map_or(Lang::En, |(_, l)| l)
    }

    fn of_tag(tag: &str) -> Option<Lang> {
        let primary = tag.split('-').next().unwrap_or("");
        if primary.eq_ignore_ascii_case("de") {
            Some(Lang::De)
        } else if primary.eq_ignore_ascii_case("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// The BCP 47 tag for the page's `lang` attribute.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
        }
    }

    /// The text in this language.
    pub fn t<'a>(self, en: &'a str, de: &'a str) -> &'a str {
        match self {
            Lang::En => en,
            Lang::De => de,
        }
    }
}

/// A weight `0`, `0.5`, `1.000` in thousandths; `None` if malformed
/// (RFC 9110 section 12.4.2).
fn quality(text: &str) -> Option<u16> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_value: u16 = format!("{frac:0<3}").parse().ok()?;
    match int {
        "0" => Some(frac_value),
        "1" if frac_value == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_weight_among_our_languages_wins() {
        assert_eq!(Lang::from_header("de-DE,de;q=0.9,en;q=0.8"), Lang::De);
        assert_eq!(Lang::from_header("en-GB, de;q=0.5"), Lang::En);
        assert_eq!(Lang::from_header("fr, de;q=0.3, en;q=0.2"), Lang::De);
        assert_eq!(Lang::from_header("fr-CH, fr;q=0.9"), Lang::En);
        assert_eq!(Lang::from_header("en;q=0.4, DE;q=0.6"), Lang::De);
    }

    #[test]
    fn a_zero_weight_or_a_broken_one_does_not_choose() {
        assert_eq!(Lang::from_header("de;q=0, en;q=0.1"), Lang::En);
        assert_eq!(Lang::from_header("de;q=2"), Lang::En);
        assert_eq!(Lang::from_header("de;q=0.12345"), Lang::En);
        assert_eq!(Lang::from_header("de;q=abc"), Lang::En);
        assert_eq!(Lang::from_header(""), Lang::En);
        assert_eq!(Lang::from_header(",,;;q=,"), Lang::En);
    }

    #[test]
    fn equal_weights_keep_the_browser_order() {
        assert_eq!(Lang::from_header("de, en"), Lang::De);
        assert_eq!(Lang::from_header("en, de"), Lang::En);
    }
}
