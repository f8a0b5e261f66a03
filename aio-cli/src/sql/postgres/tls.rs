//! TLS to PostgreSQL with libpq's `sslmode`, on rustls.
//!
//! tokio-postgres asks the server for TLS (`SSLRequest`) on the plain
//! socket and then hands that socket to a [`TlsConnect`]; here that is
//! rustls through tokio-rustls. What `sslmode` means is libpq's:
//!
//! | `sslmode` | TLS | the server's certificate |
//! |---|---|---|
//! | `disable` | never | – |
//! | `allow`, `prefer` (default) | when the server offers it | not checked |
//! | `require` | always | not checked, unless a root certificate is there (then as `verify-ca`) |
//! | `verify-ca` | always | signed by the root certificate |
//! | `verify-full` | always | signed by it, and naming the host |
//!
//! The root certificate is `sslrootcert`, `PGSSLROOTCERT` or
//! `~/.postgresql/root.crt`. tokio-postgres parses neither `verify-*` nor
//! `sslrootcert`, so both are taken out of the URL here before it sees
//! it. TLS never runs over a Unix socket, as in libpq. Under `prefer` a
//! failed handshake is tried again without TLS, as libpq does. `allow`
//! tries TLS first, as `prefer` does, where libpq tries without it first.
//! Channel binding (`SCRAM-SHA-256-PLUS`) is not offered, so a server that
//! insists on it is refused.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use aio::tls::rustls;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::{ChannelBinding, TlsConnect};

/// What `sslmode` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// The TLS settings of a target: the mode, and the client configuration
/// that checks the server's certificate as that mode says.
pub(super) struct Tls {
    mode: Mode,
    /// `None` for `disable`.
    config: Option<Arc<ClientConfig>>,
}

impl Tls {
    /// Takes `sslmode` and `sslrootcert` out of `url` and returns the rest
    /// of it (for tokio-postgres) with the settings they, `PGSSLMODE`,
    /// `PGSSLROOTCERT` and `~/.postgresql/root.crt` make; `var` reads the
    /// environment.
    ///
    /// # Errors
    ///
    /// An unknown `sslmode`, a root certificate that cannot be read, or a
    /// `verify-*` mode with no root certificate at all.
    pub(super) fn take_from(
        url: &str,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<(String, Tls), String> {
        let (rest, options) = take_ssl_options(url);
        let set = |name: &str| var(name).filter(|v| !v.is_empty());
        let mode = match options.mode.or_else(|| set("PGSSLMODE")) {
            None => Mode::Prefer,
            Some(mode) => parse_mode(&mode)?,
        };
        let explicit_root = options.root.or_else(|| set("PGSSLROOTCERT"));
        let root = explicit_root.map(PathBuf::from).or_else(|| {
            let default = Path::new(&set("HOME")?).join(".postgresql/root.crt");
            default.exists().then_some(default)
        });
        // libpq's compatibility rule: `require` with a root certificate
        // at hand checks the chain; without one it only encrypts.
        let mode = match (mode, &root) {
            (Mode::Require, Some(root)) if root.exists() => Mode::VerifyCa,
            (mode, _) => mode,
        };
        let config = client_config(mode, root.as_deref())?;
        Ok((rest, Tls { mode, config }))
    }

    /// True for `prefer`, where libpq tries again without TLS when the
    /// handshake fails.
    pub(super) fn falls_back(&self) -> bool {
        self.mode == Mode::Prefer
    }

    /// The mode tokio-postgres negotiates with.
    pub(super) fn ssl_mode(&self) -> SslMode {
        match self.mode {
            Mode::Disable => SslMode::Disable,
            Mode::Prefer => SslMode::Prefer,
            Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
        }
    }

    /// What makes the TLS session to `host`, or `None` for `disable`.
    ///
    /// # Errors
    ///
    /// When `host` cannot be a TLS server name.
    pub(super) fn connector(&self, host: &str) -> Result<Option<RustlsConnect>, String> {
        let Some(config) = &self.config else {
            return Ok(None);
        };
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| format!("{host:?} cannot be checked against a certificate: {e}"))?;
        Ok(Some(RustlsConnect {
            config: config.clone(),
            name,
        }))
    }
}

fn parse_mode(mode: &str) -> Result<Mode, String> {
    Ok(match mode {
        "disable" => Mode::Disable,
        "allow" | "prefer" => Mode::Prefer,
        "require" => Mode::Require,
        "verify-ca" => Mode::VerifyCa,
        "verify-full" => Mode::VerifyFull,
        other => {
            return Err(format!(
                "invalid sslmode {other:?}: one of disable, allow, prefer, require, verify-ca, verify-full"
            ))
        }
    })
}

/// The rustls configuration for `mode`, checking against `root`.
fn client_config(mode: Mode, root: Option<&Path>) -> Result<Option<Arc<ClientConfig>>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        Mode::Disable => return Ok(None),
        Mode::Prefer | Mode::Require => Arc::new(Lenient {
            provider: provider.clone(),
            chain: None,
        }),
        Mode::VerifyCa | Mode::VerifyFull => {
            let Some(root) = root else {
                return Err(format!(
                    "sslmode={} needs a root certificate: sslrootcert=FILE, PGSSLROOTCERT, or ~/.postgresql/root.crt",
                    if mode == Mode::VerifyCa { "verify-ca" } else { "verify-full" }
                ));
            };
            let mut roots = RootCertStore::empty();
            let certs =
                aio::tls::load_certificates(root).map_err(|e| format!("sslrootcert: {e}"))?;
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| format!("sslrootcert {}: {e}", root.display()))?;
            }
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| format!("sslrootcert {}: {e}", root.display()))?;
            if mode == Mode::VerifyCa {
                Arc::new(Lenient {
                    provider: provider.clone(),
                    chain: Some(webpki),
                })
            } else {
                webpki
            }
        }
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Some(Arc::new(config)))
}

/// `sslmode` and `sslrootcert` as a URL or key=value string gave them.
#[derive(Debug, Default, PartialEq, Eq)]
struct SslOptions {
    mode: Option<String>,
    root: Option<String>,
}

/// Splits the TLS options from the rest of a `--postgres` string. A string
/// that does not parse is returned whole, for tokio-postgres to reject.
fn take_ssl_options(url: &str) -> (String, SslOptions) {
    let mut options = SslOptions::default();
    let mut take = |key: &str, value: String| match key {
        "sslmode" => {
            options.mode = Some(value);
            true
        }
        "sslrootcert" => {
            options.root = Some(value);
            true
        }
        _ => false,
    };
    let rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else {
            return (url.to_string(), options);
        };
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                !take(&percent_decode(key), percent_decode(value))
            })
            .collect();
        if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        }
    } else {
        let Some(pairs) = key_value_pairs(url) else {
            return (url.to_string(), SslOptions::default());
        };
        let kept: Vec<&str> = pairs
            .into_iter()
            .filter(|(key, value, _)| !take(key, value.clone()))
            .map(|(_, _, text)| text)
            .collect();
        kept.join(" ")
    };
    (rest, options)
}

/// `%XX` escapes decoded (an invalid one is kept as it is).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A libpq `key=value` string as (key, value, the pair's own text), or
/// `None` when it is not one.
fn key_value_pairs(text: &str) -> Option<Vec<(String, String, &str)>> {
    let mut pairs = Vec::new();
    let mut chars = text.char_indices().peekable();
    let skip_spaces = |chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>| {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
    };
    loop {
        skip_spaces(&mut chars);
        let Some(&(start, _)) = chars.peek() else {
            return Some(pairs);
        };
        let mut key = String::new();
        while let Some((_, c)) = chars.next_if(|(_, c)| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        skip_spaces(&mut chars);
        chars.next_if(|(_, c)| *c == '=')?;
        skip_spaces(&mut chars);
        let mut value = String::new();
        if chars.next_if(|(_, c)| *c == '\'').is_some() {
            loop {
                match chars.next()? {
                    (_, '\\') => value.push(chars.next()?.1),
                    (_, '\'') => break,
                    (_, c) => value.push(c),
                }
            }
        } else {
            while let Some((_, c)) = chars.next_if(|(_, c)| !c.is_whitespace()) {
                match c {
                    '\\' => value.push(chars.next()?.1),
                    c => value.push(c),
                }
            }
        }
        let end = chars.peek().map_or(text.len(), |&(i, _)| i);
        pairs.push((key, value, &text[start..end]));
    }
}

/// The checks of `prefer`, `require` and `verify-ca`, which libpq makes
/// looser than rustls's: no check of the certificate at all (`chain` is
/// `None`: encryption without knowing who is at the other end), or of its
/// chain but not of the name in it (`verify-ca`). The handshake's
/// signatures are checked either way, so the session is with the holder
/// of the certificate's key.
#[derive(Debug)]
struct Lenient {
    provider: Arc<CryptoProvider>,
    chain: Option<Arc<WebPkiServerVerifier>>,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Makes the TLS session over the socket tokio-postgres hands over.
#[derive(Clone)]
pub(super) struct RustlsConnect {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl std::fmt::Debug for RustlsConnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RustlsConnect")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    type Stream = TlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TlsStream<S>>>>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let session = tokio_rustls::TlsConnector::from(self.config)
                .connect(self.name, stream)
                .await?;
            Ok(TlsStream(session))
        })
    }
}

/// A TLS session to the server, as tokio-postgres's stream.
pub(super) struct TlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> tokio_postgres::tls::TlsStream for TlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taken(url: &str) -> (String, SslOptions) {
        take_ssl_options(url)
    }

    fn options(mode: Option<&str>, root: Option<&str>) -> SslOptions {
        SslOptions {
            mode: mode.map(str::to_string),
            root: root.map(str::to_string),
        }
    }

    #[test]
    fn ssl_options_come_out_of_a_url_and_the_rest_stays() {
        assert_eq!(
            taken("postgres://u@h/db?sslmode=verify-full&application_name=x&sslrootcert=%2Fca%20dir%2Froot.pem"),
            (
                "postgres://u@h/db?application_name=x".to_string(),
                options(Some("verify-full"), Some("/ca dir/root.pem"))
            )
        );
        assert_eq!(
            taken("postgresql://h/db?sslmode=require"),
            (
                "postgresql://h/db".to_string(),
                options(Some("require"), None)
            )
        );
        assert_eq!(
            taken("postgres://h/db"),
            ("postgres://h/db".to_string(), options(None, None))
        );
    }

    #[test]
    fn ssl_options_come_out_of_a_key_value_string() {
        assert_eq!(
            taken("host=h sslmode = verify-ca  dbname='my db' sslrootcert='/a\\'b'"),
            (
                "host=h dbname='my db'".to_string(),
                options(Some("verify-ca"), Some("/a'b"))
            )
        );
        // Not a key=value string: left whole for tokio-postgres to refuse.
        assert_eq!(
            taken("nonsense"),
            ("nonsense".to_string(), options(None, None))
        );
    }

    fn tls(url: &str, env: &[(&str, &str)]) -> Result<(String, Mode), String> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let (rest, tls) = Tls::take_from(url, |k| {
            env.iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.clone())
        })?;
        Ok((rest, tls.mode))
    }

    #[test]
    fn modes_follow_libpq() {
        let home = [("HOME", "/nonexistent")];
        assert_eq!(tls("postgres://h/db", &home).map(|t| t.1), Ok(Mode::Prefer));
        assert_eq!(
            tls("postgres://h/db?sslmode=allow", &home).map(|t| t.1),
            Ok(Mode::Prefer)
        );
        assert_eq!(
            tls("postgres://h/db?sslmode=disable", &home).map(|t| t.1),
            Ok(Mode::Disable)
        );
        assert_eq!(
            tls("postgres://h/db", &[("PGSSLMODE", "require"), home[0]]).map(|t| t.1),
            Ok(Mode::Require)
        );
        // The URL wins over PGSSLMODE.
        assert_eq!(
            tls(
                "postgres://h/db?sslmode=disable",
                &[("PGSSLMODE", "require")]
            )
            .map(|t| t.1),
            Ok(Mode::Disable)
        );
        let err = tls("postgres://h/db?sslmode=verify-full", &home).unwrap_err();
        assert!(err.contains("needs a root certificate"), "{err}");
        let err = tls("postgres://h/db?sslmode=always", &home).unwrap_err();
        assert!(err.starts_with("invalid sslmode \"always\""), "{err}");
        let err = tls(
            "postgres://h/db?sslmode=verify-ca&sslrootcert=/nonexistent.pem",
            &home,
        )
        .unwrap_err();
        assert!(err.contains("/nonexistent.pem"), "{err}");
    }
}
