//! The `rss` backend encoding: an RSS 2.0 or Atom feed decoded into the
//! document krakend-rss builds (its decoder parses with mmcdole/gofeed and
//! returns `items`, `author`, `categories`, `custom`, `copyright`,
//! `description`, `type`, `language`, `title`, `published`, `updated` and,
//! when the feed has an image, `img_url`). Items are rendered as gofeed's
//! `Item` marshals to JSON: empty fields are left out.
//!
//! The feed is read with the XML reader of the `xml` encoding (mxj's map
//! form) and translated from there, as gofeed's default translators do for
//! the fields above. Not translated: extensions (`dcExt`, `itunesExt`,
//! `extensions`), `custom` (always null) and item images.

use std::borrow::Cow;

use simd_json::StaticNode;

use super::{DecodeError, Object, Value, new_object, xml_in};

pub(crate) fn decode(body: &[u8]) -> Result<Value<'static>, DecodeError> {
    let doc = xml_in::parse(body)?;
    let Value::Object(root) = &doc else {
        return Err(not_a_feed());
    };
    if let Some(rss) = root.get("rss") {
        let channel = rss.get_field("channel").ok_or_else(not_a_feed)?;
        return Ok(rss_feed(channel));
    }
    if let Some(feed) = root.get("feed") {
        return Ok(atom_feed(feed));
    }
    if let Some(rdf) = root.get("RDF") {
        // RSS 1.0: items are siblings of the channel.
        let channel = rdf.get_field("channel").ok_or_else(not_a_feed)?;
        let mut out = rss_feed(channel);
        if let Value::Object(object) = &mut out {
            object.insert(
                Cow::Borrowed("items"),
                Value::Array(Box::new(
                    list(rdf.get_field("item"))
                        .iter()
                        .map(|i| rss_item(i))
                        .collect(),
                )),
            );
        }
        return Ok(out);
    }
    Err(not_a_feed())
}

fn not_a_feed() -> DecodeError {
    DecodeError::new("Failed to detect feed type")
}

trait Field<'a> {
    fn get_field(&self, key: &str) -> Option<&Value<'a>>;
}

impl<'a> Field<'a> for Value<'a> {
    fn get_field(&self, key: &str) -> Option<&Value<'a>> {
        match self {
            Value::Object(object) => object.get(key),
            _ => None,
        }
    }
}

/// An element's text: its string, or `#text` when it has attributes.
fn text<'v>(value: Option<&'v Value<'_>>) -> &'v str {
    match value {
        Some(Value::String(s)) => s,
        Some(Value::Object(object)) => match object.get("#text") {
            Some(Value::String(s)) => s,
            _ => "",
        },
        Some(Value::Array(items)) => text(items.first()),
        _ => "",
    }
}

fn attr<'v>(value: &'v Value<'_>, name: &str) -> &'v str {
    match value.get_field(name) {
        Some(Value::String(s)) => s,
        _ => "",
    }
}

/// Repeated elements are an array in mxj's form, a single one is not.
fn list<'v, 'a>(value: Option<&'v Value<'a>>) -> Vec<&'v Value<'a>> {
    match value {
        None => Vec::new(),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one) => vec![one],
    }
}

fn string(s: &str) -> Value<'static> {
    Value::String(Cow::Owned(s.trim().to_owned()))
}

fn null() -> Value<'static> {
    Value::Static(StaticNode::Null)
}

/// Adds `key: value` when `value` is not empty (Go's `omitempty`).
fn put(object: &mut Object<'static>, key: &'static str, value: &str) {
    let value = value.trim();
    if !value.is_empty() {
        object.insert(Cow::Borrowed(key), string(value));
    }
}

fn put_list(object: &mut Object<'static>, key: &'static str, values: Vec<Value<'static>>) {
    if !values.is_empty() {
        object.insert(Cow::Borrowed(key), Value::Array(Box::new(values)));
    }
}

/// gofeed's `Person` (`name`, `email`, both omitempty); `None` when empty.
fn person(name: &str, email: &str) -> Option<Value<'static>> {
    let mut object = new_object(2);
    put(&mut object, "name", name);
    put(&mut object, "email", email);
    (!object.is_empty()).then(|| Value::Object(Box::new(object)))
}

/// `email (Name)`, `Name <email>`, a bare address or a bare name, as
/// gofeed's `ParseNameAddress` reads RSS author fields.
fn name_address(text: &str) -> Option<Value<'static>> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let (Some(open), Some(close)) = (text.find('('), text.rfind(')'))
        && open < close
    {
        return person(&text[open + 1..close], &text[..open]);
    }
    if let (Some(open), Some(close)) = (text.find('<'), text.rfind('>'))
        && open < close
    {
        return person(&text[..open], &text[open + 1..close]);
    }
    if text.contains('@') {
        person("", text)
    } else {
        person(text, "")
    }
}

/// The feed-level texts of a krakend-rss document.
struct Texts<'s> {
    kind: &'s str,
    title: &'s str,
    description: &'s str,
    language: &'s str,
    copyright: &'s str,
    published: &'s str,
    updated: &'s str,
    image: &'s str,
}

/// The keys every krakend-rss document has.
fn feed_document(
    texts: Texts<'_>,
    author: Option<Value<'static>>,
    categories: Vec<Value<'static>>,
    items: Vec<Value<'static>>,
) -> Value<'static> {
    let Texts {
        kind,
        title,
        description,
        language,
        copyright,
        published,
        updated,
        image,
    } = texts;
    let mut object = new_object(12);
    object.insert(Cow::Borrowed("items"), Value::Array(Box::new(items)));
    object.insert(Cow::Borrowed("author"), author.unwrap_or_else(null));
    object.insert(
        Cow::Borrowed("categories"),
        if categories.is_empty() {
            null()
        } else {
            Value::Array(Box::new(categories))
        },
    );
    object.insert(Cow::Borrowed("custom"), null());
    object.insert(Cow::Borrowed("copyright"), string(copyright));
    object.insert(Cow::Borrowed("description"), string(description));
    object.insert(Cow::Borrowed("type"), string(kind));
    object.insert(Cow::Borrowed("language"), string(language));
    object.insert(Cow::Borrowed("title"), string(title));
    object.insert(Cow::Borrowed("published"), string(published));
    object.insert(Cow::Borrowed("updated"), string(updated));
    if !image.trim().is_empty() {
        object.insert(Cow::Borrowed("img_url"), string(image));
    }
    Value::Object(Box::new(object))
}

fn rss_feed(channel: &Value<'_>) -> Value<'static> {
    let author = ["managingEditor", "webMaster", "author", "creator"]
        .iter()
        .find_map(|key| name_address(text(channel.get_field(key))));
    let categories = list(channel.get_field("category"))
        .into_iter()
        .map(|c| text(Some(c)))
        .filter(|c| !c.trim().is_empty())
        .map(string)
        .collect();
    let items = list(channel.get_field("item"))
        .into_iter()
        .map(rss_item)
        .collect();
    let image = channel
        .get_field("image")
        .map(|image| text(image.get_field("url")))
        .unwrap_or_default();
    let updated = match text(channel.get_field("lastBuildDate")) {
        "" => text(channel.get_field("date")),
        date => date,
    };
    let texts = Texts {
        kind: "rss",
        title: text(channel.get_field("title")),
        description: text(channel.get_field("description")),
        language: text(channel.get_field("language")),
        copyright: text(channel.get_field("copyright")),
        published: text(channel.get_field("pubDate")),
        updated,
        image,
    };
    feed_document(texts, author, categories, items)
}

fn rss_item(item: &Value<'_>) -> Value<'static> {
    let mut object = new_object(12);
    put(&mut object, "title", text(item.get_field("title")));
    put(
        &mut object,
        "description",
        text(item.get_field("description")),
    );
    put(&mut object, "content", text(item.get_field("encoded")));
    let link = text(item.get_field("link"));
    put(&mut object, "link", link);
    if !link.trim().is_empty() {
        put_list(&mut object, "links", vec![string(link)]);
    }
    let published = match text(item.get_field("pubDate")) {
        "" => text(item.get_field("date")),
        date => date,
    };
    put(&mut object, "published", published);
    if let Some(parsed) = rfc822(published) {
        object.insert(
            Cow::Borrowed("publishedParsed"),
            Value::String(Cow::Owned(parsed)),
        );
    }
    if let Some(author) = ["author", "creator"]
        .iter()
        .find_map(|key| name_address(text(item.get_field(key))))
    {
        object.insert(Cow::Borrowed("author"), author.clone());
        object.insert(
            Cow::Borrowed("authors"),
            Value::Array(Box::new(vec![author])),
        );
    }
    put(&mut object, "guid", text(item.get_field("guid")));
    let categories = list(item.get_field("category"))
        .into_iter()
        .map(|c| text(Some(c)))
        .filter(|c| !c.trim().is_empty())
        .map(string)
        .collect();
    put_list(&mut object, "categories", categories);
    let enclosures = list(item.get_field("enclosure"))
        .into_iter()
        .filter_map(|e| enclosure(attr(e, "-url"), attr(e, "-length"), attr(e, "-type")))
        .collect();
    put_list(&mut object, "enclosures", enclosures);
    Value::Object(Box::new(object))
}

fn enclosure(url: &str, length: &str, kind: &str) -> Option<Value<'static>> {
    let mut object = new_object(3);
    put(&mut object, "url", url);
    put(&mut object, "length", length);
    put(&mut object, "type", kind);
    (!object.is_empty()).then(|| Value::Object(Box::new(object)))
}

fn atom_feed(feed: &Value<'_>) -> Value<'static> {
    let author = list(feed.get_field("author"))
        .first()
        .and_then(|a| person(text(a.get_field("name")), text(a.get_field("email"))));
    let categories = list(feed.get_field("category"))
        .into_iter()
        .map(|c| attr(c, "-term"))
        .filter(|c| !c.trim().is_empty())
        .map(string)
        .collect();
    let items = list(feed.get_field("entry"))
        .into_iter()
        .map(atom_entry)
        .collect();
    let image = match text(feed.get_field("logo")) {
        "" => text(feed.get_field("icon")),
        logo => logo,
    };
    let texts = Texts {
        kind: "atom",
        title: text(feed.get_field("title")),
        description: text(feed.get_field("subtitle")),
        language: attr(feed, "-lang"),
        copyright: text(feed.get_field("rights")),
        published: text(feed.get_field("published")),
        updated: text(feed.get_field("updated")),
        image,
    };
    feed_document(texts, author, categories, items)
}

fn atom_entry(entry: &Value<'_>) -> Value<'static> {
    let mut object = new_object(12);
    put(&mut object, "title", text(entry.get_field("title")));
    put(&mut object, "description", text(entry.get_field("summary")));
    put(&mut object, "content", text(entry.get_field("content")));
    let links = list(entry.get_field("link"));
    let alternate = links
        .iter()
        .find(|l| matches!(attr(l, "-rel"), "" | "alternate"))
        .map(|l| attr(l, "-href"))
        .unwrap_or_default();
    put(&mut object, "link", alternate);
    put_list(
        &mut object,
        "links",
        links
            .iter()
            .map(|l| attr(l, "-href"))
            .filter(|h| !h.trim().is_empty())
            .map(string)
            .collect(),
    );
    for (key, parsed_key) in [
        ("updated", "updatedParsed"),
        ("published", "publishedParsed"),
    ] {
        let date = text(entry.get_field(key));
        put(&mut object, key, date);
        if let Some(parsed) = rfc3339(date) {
            object.insert(Cow::Borrowed(parsed_key), Value::String(Cow::Owned(parsed)));
        }
    }
    let authors: Vec<Value<'static>> = list(entry.get_field("author"))
        .into_iter()
        .filter_map(|a| person(text(a.get_field("name")), text(a.get_field("email"))))
        .collect();
    if let Some(first) = authors.first() {
        object.insert(Cow::Borrowed("author"), first.clone());
    }
    put_list(&mut object, "authors", authors);
    put(&mut object, "guid", text(entry.get_field("id")));
    put_list(
        &mut object,
        "categories",
        list(entry.get_field("category"))
            .into_iter()
            .map(|c| attr(c, "-term"))
            .filter(|c| !c.trim().is_empty())
            .map(string)
            .collect(),
    );
    put_list(
        &mut object,
        "enclosures",
        links
            .iter()
            .filter(|l| attr(l, "-rel") == "enclosure")
            .filter_map(|l| enclosure(attr(l, "-href"), attr(l, "-length"), attr(l, "-type")))
            .collect(),
    );
    Value::Object(Box::new(object))
}

/// An RFC 3339 date as Go's `time.Time` marshals it (`Z` for UTC); `None`
/// when it is not one.
fn rfc3339(text: &str) -> Option<String> {
    let text = text.trim();
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r.clone())
            .is_some_and(|s| s.iter().all(u8::is_ascii_digit))
    };
    let shape = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && matches!(b[10], b'T' | b't')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !shape {
        return None;
    }
    let field = |r: std::ops::Range<usize>| text[r].parse::<u32>().unwrap_or(99);
    if !(1..=12).contains(&field(5..7))
        || !(1..=31).contains(&field(8..10))
        || field(11..13) > 23
        || field(14..16) > 59
        || field(17..19) > 60
    {
        return None;
    }
    let zone = &text[19..];
    let zone = zone.strip_prefix('.').map_or(zone, |fraction| {
        let n = fraction.bytes().take_while(u8::is_ascii_digit).count();
        &fraction[n..]
    });
    let fraction = &text[19..text.len() - zone.len()];
    // Go drops trailing zeros of the fraction.
    let fraction = fraction.trim_end_matches('0');
    let fraction = if fraction == "." { "" } else { fraction };
    let zone = match zone {
        "Z" | "z" | "+00:00" => "Z",
        z if z.len() == 6 && matches!(z.as_bytes()[0], b'+' | b'-') && z.as_bytes()[3] == b':' => z,
        _ => return None,
    };
    Some(format!(
        "{}{fraction}{zone}",
        text[..19].replacen('t', "T", 1)
    ))
}

/// An RFC 822/1123 date (`Mon, 02 Jan 2006 15:04:05 GMT` or `-0700`),
/// as Go's `time.Time` marshals it; `None` when it does not parse.
fn rfc822(text: &str) -> Option<String> {
    let text = text.trim();
    let text = text.split_once(',').map_or(text, |(_, rest)| rest).trim();
    let mut parts = text.split_ascii_whitespace();
    let day: u32 = parts.next()?.parse().ok()?;
    let month = parts.next()?;
    let month = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ]
    .iter()
    .position(|m| month.len() >= 3 && month[..3].eq_ignore_ascii_case(m))?
        + 1;
    let year: u32 = match parts.next()?.parse::<u32>().ok()? {
        y if y < 100 => 2000 + y,
        y => y,
    };
    let mut clock = parts.next()?.split(':');
    let hour: u32 = clock.next()?.parse().ok()?;
    let minute: u32 = clock.next()?.parse().ok()?;
    let second: u32 = clock.next().map_or(Some(0), |s| s.parse().ok())?;
    if day == 0 || day > 31 || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let zone = match parts.next().unwrap_or("GMT") {
        "GMT" | "UT" | "UTC" | "Z" => "Z".to_owned(),
        "EST" => "-05:00".to_owned(),
        "EDT" => "-04:00".to_owned(),
        "CST" => "-06:00".to_owned(),
        "CDT" => "-05:00".to_owned(),
        "MST" => "-07:00".to_owned(),
        "MDT" => "-06:00".to_owned(),
        "PST" => "-08:00".to_owned(),
        "PDT" => "-07:00".to_owned(),
        z if z.len() == 5
            && matches!(z.as_bytes()[0], b'+' | b'-')
            && z[1..].bytes().all(|c| c.is_ascii_digit()) =>
        {
            if &z[1..] == "0000" {
                "Z".to_owned()
            } else {
                format!("{}:{}", &z[..3], &z[3..])
            }
        }
        _ => return None,
    };
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{zone}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::testutil::to_json;

    #[test]
    fn rss_two() {
        let feed = r#"<?xml version="1.0"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
 <channel>
  <title>News</title><link>http://example.com/</link><description>All the news</description>
  <language>en-us</language><copyright>(c) Ex</copyright>
  <pubDate>Mon, 30 Nov 2026 10:00:00 GMT</pubDate><lastBuildDate>Tue, 01 Dec 2026 08:00:00 +0100</lastBuildDate>
  <managingEditor>editor@example.com (Ed Itor)</managingEditor>
  <category>tech</category>
  <image><url>http://example.com/logo.png</url><title>News</title></image>
  <item>
   <title>First</title><link>http://example.com/1</link><description>One &amp; only</description>
   <content:encoded><![CDATA[<p>Full</p>]]></content:encoded>
   <pubDate>Mon, 30 Nov 2026 09:30:00 -0500</pubDate><author>a@example.com (Ann)</author>
   <guid isPermaLink="false">id-1</guid><category>x</category><category>y</category>
   <enclosure url="http://example.com/1.mp3" length="123" type="audio/mpeg"/>
  </item>
  <item><title>Second</title></item>
 </channel>
</rss>"#;
        let value = decode(feed.as_bytes()).unwrap();
        assert_eq!(
            to_json(&value),
            concat!(
                r#"{"author":{"email":"editor@example.com","name":"Ed Itor"},"categories":["tech"],"#,
                r#""copyright":"(c) Ex","custom":null,"description":"All the news","img_url":"http://example.com/logo.png","#,
                r#""items":[{"author":{"email":"a@example.com","name":"Ann"},"authors":[{"email":"a@example.com","name":"Ann"}],"#,
                r#""categories":["x","y"],"content":"\u003cp\u003eFull\u003c/p\u003e","description":"One \u0026 only","#,
                r#""enclosures":[{"length":"123","type":"audio/mpeg","url":"http://example.com/1.mp3"}],"guid":"id-1","#,
                r#""link":"http://example.com/1","links":["http://example.com/1"],"published":"Mon, 30 Nov 2026 09:30:00 -0500","#,
                r#""publishedParsed":"2026-11-30T09:30:00-05:00","title":"First"},{"title":"Second"}],"#,
                r#""language":"en-us","published":"Mon, 30 Nov 2026 10:00:00 GMT","title":"News","type":"rss","#,
                r#""updated":"Tue, 01 Dec 2026 08:00:00 +0100"}"#
            )
        );
    }

    #[test]
    fn atom() {
        let feed = r#"<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">
  <title>Blog</title><subtitle>Notes</subtitle><updated>2026-11-30T10:00:00Z</updated>
  <author><name>Bo</name><email>bo@example.com</email></author><rights>CC</rights>
  <entry><title>Post</title><id>urn:1</id><link href="http://e.com/p"/><link rel="enclosure" href="http://e.com/a.mp3" type="audio/mpeg"/>
   <updated>2026-11-30T10:00:00.500+01:00</updated><summary>Short</summary><category term="go"/></entry>
</feed>"#;
        let value = decode(feed.as_bytes()).unwrap();
        assert_eq!(
            to_json(&value),
            concat!(
                r#"{"author":{"email":"bo@example.com","name":"Bo"},"categories":null,"copyright":"CC","custom":null,"#,
                r#""description":"Notes","items":[{"categories":["go"],"description":"Short","#,
                r#""enclosures":[{"type":"audio/mpeg","url":"http://e.com/a.mp3"}],"guid":"urn:1","link":"http://e.com/p","#,
                r#""links":["http://e.com/p","http://e.com/a.mp3"],"title":"Post","updated":"2026-11-30T10:00:00.500+01:00","#,
                r#""updatedParsed":"2026-11-30T10:00:00.5+01:00"}],"language":"en","published":"","title":"Blog","#,
                r#""type":"atom","updated":"2026-11-30T10:00:00Z"}"#
            )
        );
    }

    #[test]
    fn dates() {
        assert_eq!(
            rfc3339("2026-11-30T10:00:00Z").as_deref(),
            Some("2026-11-30T10:00:00Z")
        );
        assert_eq!(
            rfc3339("2026-11-30T10:00:00.120+01:00").as_deref(),
            Some("2026-11-30T10:00:00.12+01:00")
        );
        assert_eq!(rfc3339("2026-13-30T10:00:00Z"), None);
        assert_eq!(rfc3339("2026-11-30 10:00"), None);
        assert_eq!(
            rfc822("Mon, 30 Nov 2026 10:00:00 GMT").as_deref(),
            Some("2026-11-30T10:00:00Z")
        );
        assert_eq!(
            rfc822("30 Nov 26 10:00 -0130").as_deref(),
            Some("2026-11-30T10:00:00-01:30")
        );
        assert_eq!(rfc822("Mon, 30 Foo 2026 10:00:00 GMT"), None);
        assert_eq!(rfc822("Mon, 30 Nov 2026 25:00:00 GMT"), None);
    }

    #[test]
    fn not_a_feed_is_an_error() {
        for body in ["<html><body/></html>", "not xml", "<rss version=\"2.0\"/>"] {
            assert!(decode(body.as_bytes()).is_err(), "{body}");
        }
    }

    proptest::proptest! {
        /// Feed-like input assembled from fragments, and arbitrary bytes:
        /// an error or a document, never a panic.
        #[test]
        fn any_input_decodes_or_fails_cleanly(
            pieces in proptest::collection::vec(proptest::prop_oneof![
                proptest::strategy::Just("<rss version=\"2.0\">"), proptest::strategy::Just("<channel>"),
                proptest::strategy::Just("<item>"), proptest::strategy::Just("</item>"),
                proptest::strategy::Just("<title>t</title>"), proptest::strategy::Just("<feed>"),
                proptest::strategy::Just("<entry><link href=\"h\" rel=\"enclosure\"/></entry>"),
                proptest::strategy::Just("<pubDate>Mon, 99 Foo 20 25:61 +99</pubDate>"),
                proptest::strategy::Just("<updated>2026-13-45T99:99:99.Z</updated>"),
                proptest::strategy::Just("<author>(a</author>"), proptest::strategy::Just("</channel></rss>"),
                proptest::strategy::Just("</feed>"), proptest::strategy::Just("&amp;"), proptest::strategy::Just("\u{e9}"),
            ], 0..12),
            noise in proptest::collection::vec(proptest::num::u8::ANY, 0..16),
        ) {
            let text = pieces.concat();
            let _ = decode(text.as_bytes());
            let mut bytes = text.into_bytes();
            bytes.extend_from_slice(&noise);
            let _ = decode(&bytes);
        }
    }
}
