//! Zero-copy views into the connection's read buffer.

/// Offsets into the connection's read buffer: parsing never copies method, path or headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    /// The bytes this span covers; empty (never a panic) when it does not fit `buf`.
    pub fn of<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        buf.get(self.start as usize..self.end as usize)
            .unwrap_or(&[])
    }

    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The span of `part`, which must be a sub-slice of `buf` (as httparse hands out).
    pub(crate) fn within(buf: &[u8], part: &[u8]) -> Option<Span> {
        let start = (part.as_ptr() as usize).checked_sub(buf.as_ptr() as usize)?;
        let end = start.checked_add(part.len())?;
        if end > buf.len() {
            return None;
        }
        Some(Span {
            start: u32::try_from(start).ok()?,
            end: u32::try_from(end).ok()?,
        })
    }

    /// A span relative to this one: `start..end` are offsets inside `self`.
    pub(crate) fn slice(&self, start: usize, end: usize) -> Span {
        let len = self.len();
        let (start, end) = (start.min(len), end.min(len).max(start.min(len)));
        // Both fit in u32 because they are at most `self.len()`.
        Span {
            start: self.start + start as u32,
            end: self.start + end as u32,
        }
    }
}

/// One header field, as spans into the read buffer (value trimmed of SP/HTAB).
#[derive(Clone, Copy, Debug)]
pub struct Header {
    pub name: Span,
    pub value: Span,
}

/// The outcome of parsing a head that may still be arriving.
#[derive(Debug)]
pub enum Parse<T> {
    Complete(T),
    /// More bytes are needed; call again with the grown buffer.
    Partial,
}

/// The first header named `name` (case-insensitive), shared by requests and responses.
pub(crate) fn find_header<'b>(headers: &[Header], buf: &'b [u8], name: &str) -> Option<&'b [u8]> {
    headers
        .iter()
        .find(|h| h.name.of(buf).eq_ignore_ascii_case(name.as_bytes()))
        .map(|h| h.value.of(buf))
}

/// Does any `Connection` field (there may be several) list `name`? Such fields are hop-by-hop
/// (RFC 9110 §7.6.1).
pub(crate) fn connection_lists(headers: &[Header], buf: &[u8], name: &[u8]) -> bool {
    ConnectionListed::of(headers, buf).contains(name)
}

/// The names every `Connection` field of a head lists, gathered once: a
/// proxy asks about each field of the head in turn, and asking each time
/// would walk all the fields again (quadratic in their number).
pub struct ConnectionListed<'b>(smallvec::SmallVec<[&'b [u8]; 4]>);

impl<'b> ConnectionListed<'b> {
    pub(crate) fn of(headers: &[Header], buf: &'b [u8]) -> Self {
        let mut names = smallvec::SmallVec::new();
        for h in headers {
            if h.name.of(buf).eq_ignore_ascii_case(b"connection") {
                for name in super::fields::list_elements(h.value.of(buf)) {
                    names.push(name);
                }
            }
        }
        ConnectionListed(names)
    }

    /// Is `name` listed (case-insensitive)?
    pub fn contains(&self, name: &[u8]) -> bool {
        self.0
            .iter()
            .any(|listed| listed.eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_never_panics_out_of_bounds() {
        let buf = b"hello";
        let cases: &[(Span, &[u8], usize)] = &[
            (Span { start: 0, end: 5 }, b"hello", 5),
            (Span { start: 1, end: 3 }, b"el", 2),
            (Span { start: 3, end: 9 }, b"", 6),
            (Span { start: 4, end: 2 }, b"", 0),
            (Span::default(), b"", 0),
        ];
        for (span, bytes, len) in cases {
            assert_eq!(span.of(buf), *bytes, "{span:?}");
            assert_eq!(span.len(), *len, "{span:?}");
        }
    }

    #[test]
    fn within_locates_sub_slices_only() {
        let buf = b"GET / HTTP/1.1";
        assert_eq!(
            Span::within(buf, &buf[4..5]),
            Some(Span { start: 4, end: 5 })
        );
        assert_eq!(
            Span::within(buf, &buf[14..]),
            Some(Span { start: 14, end: 14 })
        );
        let other = b"elsewhere";
        assert_eq!(Span::within(&buf[..2], &other[..]), None);
    }
}
