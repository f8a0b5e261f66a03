//! URLs for `aio get`: exactly what an HTTP/1.1 client needs, and no more.
//!
//! [`Url::parse`] takes an absolute `http://` or `https://` URL;
//! [`Url::join`] resolves a redirect's `Location` against the current URL
//! (RFC 3986 §5.2: absolute, scheme-relative, absolute-path, relative-path,
//! query-only and fragment-only references, with dot segments removed).
//! The request target keeps the path and query as written, percent-encoding
//! only the bytes that may not appear on a request line (spaces, controls,
//! non-ASCII), so a server sees what the user typed. Fragments are never
//! sent. Userinfo (`user:pass@`) is refused rather than silently sent in
//! clear text.

use std::fmt;
use std::net::Ipv6Addr;

/// The URL schemes `aio get` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// Plain HTTP, port 80 by default.
    Http,
    /// HTTP over TLS, port 443 by default.
    Https,
}

impl Scheme {
    /// The scheme as written in a URL.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// An absolute http(s) URL, split into what a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Url {
    /// http or https.
    scheme: Scheme,
    /// The host, lower-cased; an IPv6 literal keeps its brackets so it can
    /// be written back into the Host header and the URL unchanged.
    host: String,
    /// The port written in the URL, if any (the Host header repeats it only
    /// then).
    port: Option<u16>,
    /// The path, always starting with `/`, encoded for a request line.
    path: String,
    /// The query without its `?`, encoded for a request line.
    query: Option<String>,
}

/// Why a URL cannot be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UrlError {
    /// The URL (or reference) as given.
    url: String,
    /// What is wrong with it.
    problem: &'static str,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad URL `{}`: {}", self.url, self.problem)
    }
}

impl std::error::Error for UrlError {}

impl Url {
    /// Parses an absolute `http://` or `https://` URL.
    ///
    /// # Errors
    ///
    /// A missing or unsupported scheme, a missing host, a bad port or IPv6
    /// literal, or credentials in the URL.
    pub(crate) fn parse(text: &str) -> Result<Url, UrlError> {
        let fail = |problem| UrlError {
            url: text.to_owned(),
            problem,
        };
        let trimmed = text.trim();
        let (scheme, rest) = split_scheme(trimmed).ok_or_else(|| fail("no http:// or https://"))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            _ => return Err(fail("only http:// and https:// are supported")),
        };
        let rest = rest
            .strip_prefix("//")
            .ok_or_else(|| fail("no // after the scheme"))?;
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, reference) = rest.split_at(authority_end);
        let (host, port) = parse_authority(authority).map_err(fail)?;
        let (path, query) = split_path_query(reference);
        let path = if path.is_empty() { "/" } else { path };
        Ok(Url {
            scheme,
            host,
            port,
            path: encode(&remove_dot_segments(path)),
            query: query.map(encode),
        })
    }

    /// Resolves `reference` (a `Location` header) against this URL, as a
    /// browser or curl does.
    ///
    /// # Errors
    ///
    /// When the result is not a URL [`parse`](Self::parse) accepts.
    pub(crate) fn join(&self, reference: &str) -> Result<Url, UrlError> {
        let reference = reference.trim();
        let without_fragment = reference.split('#').next().unwrap_or("");
        if split_scheme(without_fragment).is_some() {
            return Url::parse(without_fragment);
        }
        if without_fragment.starts_with("//") {
            return Url::parse(&format!("{}:{without_fragment}", self.scheme.as_str()));
        }
        let mut joined = self.clone();
        let (path, query) = split_path_query(without_fragment);
        if path.is_empty() {
            // "" keeps the query, "?q" replaces it (RFC 3986 §5.2.2).
            if query.is_some() {
                joined.query = query.map(encode);
            }
            return Ok(joined);
        }
        let merged = if path.starts_with('/') {
            path.to_owned()
        } else {
            let base_dir = &self.path[..=self.path.rfind('/').unwrap_or(0)];
            format!("{base_dir}{path}")
        };
        joined.path = encode(&remove_dot_segments(&merged));
        joined.query = query.map(encode);
        Ok(joined)
    }

    /// The scheme.
    pub(crate) fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host to resolve and connect to (an IPv6 literal without its
    /// brackets).
    pub(crate) fn connect_host(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }

    /// The port to connect to: the URL's, or the scheme's default.
    pub(crate) fn port(&self) -> u16 {
        self.port.unwrap_or(self.scheme.default_port())
    }

    /// The value of the Host header: the host, with the port when the URL
    /// names one that is not the scheme's default.
    pub(crate) fn host_header(&self) -> String {
        match self.port {
            Some(p) if p != self.scheme.default_port() => format!("{}:{p}", self.host),
            _ => self.host.clone(),
        }
    }

    /// The request target: path and query (origin form).
    pub(crate) fn target(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        }
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme.as_str(), self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        f.write_str(&self.target())
    }
}

/// Splits `scheme:rest` when the text starts with a valid scheme (a letter,
/// then letters, digits, `+`, `-` or `.`).
fn split_scheme(text: &str) -> Option<(&str, &str)> {
    let colon = text.find(':')?;
    let scheme = &text[..colon];
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (first_ok && rest_ok).then(|| (scheme, &text[colon + 1..]))
}

/// Splits `host[:port]` (or `[v6]:port`) and checks both.
fn parse_authority(authority: &str) -> Result<(String, Option<u16>), &'static str> {
    if authority.contains('@') {
        return Err("credentials in URLs are not supported");
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let close = v6.find(']').ok_or("an IPv6 address without its `]`")?;
        v6[..close]
            .parse::<Ipv6Addr>()
            .map_err(|_| "a bad IPv6 address")?;
        let after = &v6[close + 1..];
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or("junk after the IPv6 address")?,
            ),
        };
        (&authority[..close + 2], port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("no host");
    }
    let host_ok = host
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b'<' | b'>' | b'"' | b'\\' | b'^' | b'`'));
    if !host_ok {
        return Err("a host with characters a host cannot hold");
    }
    let port = match port {
        None | Some("") => None,
        Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p.parse::<u16>().map_err(|_| "a port above 65535")?)
        }
        Some(_) => return Err("a port that is not a number"),
    };
    Ok((host.to_ascii_lowercase(), port))
}

/// Splits `path?query`; the query is `None` without a `?`.
fn split_path_query(reference: &str) -> (&str, Option<&str>) {
    let reference = reference.split('#').next().unwrap_or("");
    match reference.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (reference, None),
    }
}

/// Removes `.` and `..` segments from an absolute path (RFC 3986 §5.2.4).
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let mut ends_in_dir = false;
    for segment in path.split('/').skip(1) {
        ends_in_dir = false;
        match segment {
            "." => ends_in_dir = true,
            ".." => {
                out.pop();
                ends_in_dir = true;
            }
            s => out.push(s),
        }
    }
    let mut result = format!("/{}", out.join("/"));
    if ends_in_dir && !out.is_empty() {
        result.push('/');
    }
    result
}

/// Percent-encodes the bytes that may not appear in a request target;
/// everything else (including existing `%XX` escapes) is kept as written.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_graphic() && !matches!(b, b'"' | b'<' | b'>' | b'\\' | b'^' | b'`') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn parse_splits_what_a_request_needs() {
        let u = url("http://Example.COM:8080/a/b?x=1&y=2#frag");
        assert_eq!(u.scheme(), Scheme::Http);
        assert_eq!(u.connect_host(), "example.com");
        assert_eq!(u.port(), 8080);
        assert_eq!(u.host_header(), "example.com:8080");
        assert_eq!(u.target(), "/a/b?x=1&y=2");
        assert_eq!(u.to_string(), "http://example.com:8080/a/b?x=1&y=2");

        let u = url("HTTP://host");
        assert_eq!(
            (u.port(), u.target(), u.host_header()),
            (80, "/".into(), "host".into())
        );
        let u = url("https://host:443?q");
        assert_eq!(
            (u.port(), u.target(), u.host_header()),
            (443, "/?q".into(), "host".into())
        );
        let u = url("http://host:/x");
        assert_eq!(u.port(), 80);
    }

    #[test]
    fn ipv6_literals_keep_brackets_in_the_host_header_only() {
        let u = url("http://[::1]:8000/");
        assert_eq!(u.connect_host(), "::1");
        assert_eq!(u.host_header(), "[::1]:8000");
        assert_eq!(u.port(), 8000);
        assert_eq!(url("http://[::1]").port(), 80);
        assert!(Url::parse("http://[::1/").is_err());
        assert!(Url::parse("http://[nope]/").is_err());
        assert!(Url::parse("http://[::1]x/").is_err());
    }

    #[test]
    fn bad_urls_say_why() {
        for bad in [
            "example.com/",
            "ftp://example.com/",
            "http:example.com",
            "http:///path",
            "http://user:pw@host/",
            "http://host:99999/",
            "http://host:http/",
            "http://ho st/",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad} was accepted");
        }
        let e = Url::parse("ftp://x/").unwrap_err().to_string();
        assert!(e.contains("ftp://x/") && e.contains("http"), "{e}");
    }

    #[test]
    fn targets_are_encoded_for_the_request_line() {
        assert_eq!(
            url("http://h/a b/é?q=a b").target(),
            "/a%20b/%C3%A9?q=a%20b"
        );
        assert_eq!(url("http://h/a%20b").target(), "/a%20b");
    }

    #[test]
    fn join_follows_rfc_3986_examples() {
        let base = url("http://a/b/c/d;p?q");
        let cases = [
            ("g", "http://a/b/c/g"),
            ("./g", "http://a/b/c/g"),
            ("g/", "http://a/b/c/g/"),
            ("/g", "http://a/g"),
            ("//g", "http://g/"),
            ("?y", "http://a/b/c/d;p?y"),
            ("g?y", "http://a/b/c/g?y"),
            ("#s", "http://a/b/c/d;p?q"),
            ("g#s", "http://a/b/c/g"),
            (";x", "http://a/b/c/;x"),
            ("", "http://a/b/c/d;p?q"),
            (".", "http://a/b/c/"),
            ("./", "http://a/b/c/"),
            ("..", "http://a/b/"),
            ("../", "http://a/b/"),
            ("../g", "http://a/b/g"),
            ("../..", "http://a/"),
            ("../../g", "http://a/g"),
            ("../../../g", "http://a/g"),
            ("/./g", "http://a/g"),
            ("/../g", "http://a/g"),
            ("g.", "http://a/b/c/g."),
            ("..g", "http://a/b/c/..g"),
            ("./../g", "http://a/b/g"),
            ("g/./h", "http://a/b/c/g/h"),
            ("g/../h", "http://a/b/c/h"),
            ("http://x:81/y", "http://x:81/y"),
            ("HTTPS://x/y", "https://x/y"),
        ];
        for (reference, expected) in cases {
            let joined = base.join(reference).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(joined.to_string(), expected, "joining {reference:?}");
        }
        assert!(base.join("mailto:me@example.com").is_err());
    }

    #[test]
    fn join_keeps_the_port_for_relative_references() {
        let base = url("http://127.0.0.1:5000/start");
        let joined = base.join("/next").unwrap();
        assert_eq!((joined.port(), joined.target()), (5000, "/next".into()));
    }
}
