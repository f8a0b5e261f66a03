//! The two sides' settings: [`TlsAcceptor`] (a server's certificate and
//! key) and [`TlsConnector`] (a client's trusted roots), each a cheap,
//! cloneable handle on a rustls configuration plus the handshake timeout,
//! and the PEM loading they are built from.

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// How long a handshake may take before the connection is dropped
/// (asyncio's `ssl_handshake_timeout` default).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

/// The provider every configuration built here uses. Named explicitly
/// rather than taken from rustls's process-wide default, which panics when
/// no provider (or more than one) was installed.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A rustls error while building a configuration, as an `io::Error` that
/// says what was being built.
fn config_error(what: &str, e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("{what}: {e}"))
}

/// Reads a whole PEM file, naming it in the error.
fn read_file(path: &Path, what: &str) -> io::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot read {what} {}: {e}", path.display()),
        )
    })
}

/// Parses every certificate in PEM text (other sections are skipped).
///
/// # Errors
///
/// `InvalidData` for malformed PEM or when there is no certificate at all;
/// `source` names the text in the message.
pub fn parse_certificates(pem: &[u8], source: &str) -> io::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{source}: bad PEM: {e}"),
            )
        })?;
    if certs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{source}: no certificate found (expected a PEM `BEGIN CERTIFICATE` section)"),
        ));
    }
    Ok(certs)
}

/// Parses the first private key (PKCS #8, PKCS #1 or SEC1) in PEM text.
///
/// # Errors
///
/// `InvalidData` for malformed PEM or when there is no key; `source` names
/// the text in the message.
pub fn parse_private_key(pem: &[u8], source: &str) -> io::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| {
        let why = match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "no private key found (expected a PEM `BEGIN PRIVATE KEY` section)".to_owned()
            }
            e => format!("bad PEM: {e}"),
        };
        io::Error::new(io::ErrorKind::InvalidData, format!("{source}: {why}"))
    })
}

/// Loads a PEM certificate chain (leaf first) from a file.
///
/// # Errors
///
/// The file cannot be read, or holds no valid certificate; the message
/// names the file.
pub fn load_certificates(path: impl AsRef<Path>) -> io::Result<Vec<CertificateDer<'static>>> {
    let path = path.as_ref();
    let pem = read_file(path, "certificate file")?;
    parse_certificates(&pem, &path.display().to_string())
}

/// Loads the first PEM private key from a file.
///
/// # Errors
///
/// The file cannot be read, or holds no valid key; the message names the
/// file.
pub fn load_private_key(path: impl AsRef<Path>) -> io::Result<PrivateKeyDer<'static>> {
    let path = path.as_ref();
    let pem = read_file(path, "private key file")?;
    parse_private_key(&pem, &path.display().to_string())
}

/// The Mozilla root certificates of `webpki-roots`: what a client trusts
/// by default.
pub fn webpki_roots() -> RootCertStore {
    RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// A TLS server's settings (the `ssl=` context of asyncio's
/// `create_server` / `start_server`): its certificate chain and key, as a
/// shared `rustls::ServerConfig`, and the handshake timeout. Cloning is
/// cheap.
///
/// ```no_run
/// use aio::tls::TlsAcceptor;
///
/// let acceptor = TlsAcceptor::from_pem_files("cert.pem", "key.pem")?;
/// let options = aio::streams::StreamOptions {
///     server_tls: Some(acceptor),
///     ..Default::default()
/// };
/// # let _ = options;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct TlsAcceptor {
    /// The rustls configuration, shared by every connection.
    config: Arc<ServerConfig>,
    /// How long a client gets to complete its handshake.
    handshake_timeout: Duration,
}

impl TlsAcceptor {
    /// Wraps a rustls server configuration you built yourself (client
    /// authentication, ALPN, session resumption, ...).
    pub fn new(config: Arc<ServerConfig>) -> Self {
        TlsAcceptor {
            config,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// A server presenting `cert_chain` (leaf first) with `key`, with
    /// rustls's safe defaults (TLS 1.2 and 1.3, no client certificates).
    ///
    /// # Errors
    ///
    /// `InvalidInput` when the key does not suit the certificate.
    pub fn from_der(
        cert_chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> io::Result<Self> {
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| config_error("TLS server configuration", e))?
            .with_no_client_auth()
            .with_single_cert(cert_chain, key)
            .map_err(|e| config_error("TLS certificate and key", e))?;
        Ok(TlsAcceptor::new(Arc::new(config)))
    }

    /// As [`from_der`](Self::from_der), from PEM text.
    ///
    /// # Errors
    ///
    /// Malformed PEM, no certificate or key, or a key that does not suit
    /// the certificate.
    pub fn from_pem(cert_chain: &[u8], key: &[u8]) -> io::Result<Self> {
        let certs = parse_certificates(cert_chain, "certificate")?;
        let key = parse_private_key(key, "private key")?;
        Self::from_der(certs, key)
    }

    /// As [`from_der`](Self::from_der), from PEM files (what `--tls-cert`
    /// and `--tls-key` name).
    ///
    /// # Errors
    ///
    /// A file cannot be read or parsed (the message names it), or the key
    /// does not suit the certificate.
    pub fn from_pem_files(cert_chain: impl AsRef<Path>, key: impl AsRef<Path>) -> io::Result<Self> {
        let certs = load_certificates(cert_chain)?;
        let key = load_private_key(key)?;
        Self::from_der(certs, key)
    }

    /// Sets how long a client gets to finish its handshake (default
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`]).
    #[must_use]
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// The handshake timeout.
    pub fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }

    /// The rustls configuration.
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }
}

impl From<Arc<ServerConfig>> for TlsAcceptor {
    fn from(config: Arc<ServerConfig>) -> Self {
        TlsAcceptor::new(config)
    }
}

impl fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsAcceptor")
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

/// A TLS client's settings (the `ssl=` context of asyncio's
/// `create_connection` / `open_connection`): which roots it trusts, as a
/// shared `rustls::ClientConfig`, and the handshake timeout. Cloning is
/// cheap.
///
/// ```no_run
/// use aio::streams::StreamOptions;
/// use aio::tls::TlsConnector;
///
/// aio::run(async {
///     let options = StreamOptions {
///         client_tls: Some(TlsConnector::webpki()?),
///         ..Default::default()
///     };
///     let (mut reader, writer) =
///         aio::streams::open_connection_with("example.com", 443, &options).await?;
///     writer.write(b"GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n");
///     let response = reader.read_to_end().await?;
///     println!("{}", String::from_utf8_lossy(&response));
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct TlsConnector {
    /// The rustls configuration, shared by every connection.
    config: Arc<ClientConfig>,
    /// How long the server gets to complete the handshake.
    handshake_timeout: Duration,
}

impl TlsConnector {
    /// Wraps a rustls client configuration you built yourself (client
    /// certificates, ALPN, a custom verifier, ...).
    pub fn new(config: Arc<ClientConfig>) -> Self {
        TlsConnector {
            config,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// A client that trusts exactly `roots`, with rustls's safe defaults.
    ///
    /// # Errors
    ///
    /// Only if rustls rejects its own default protocol versions.
    pub fn from_roots(roots: RootCertStore) -> io::Result<Self> {
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| config_error("TLS client configuration", e))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(TlsConnector::new(Arc::new(config)))
    }

    /// A client that trusts the Mozilla roots ([`webpki_roots()`]), as a
    /// browser would.
    ///
    /// # Errors
    ///
    /// As [`from_roots`](Self::from_roots).
    pub fn webpki() -> io::Result<Self> {
        Self::from_roots(webpki_roots())
    }

    /// The Mozilla roots plus the CA certificates in PEM text (`--cacert`,
    /// or a test's own CA).
    ///
    /// # Errors
    ///
    /// Malformed PEM, no certificate, or a certificate that is not a
    /// usable trust anchor.
    pub fn webpki_and_ca_pem(ca_pem: &[u8]) -> io::Result<Self> {
        let mut roots = webpki_roots();
        add_roots(&mut roots, parse_certificates(ca_pem, "CA certificate")?)?;
        Self::from_roots(roots)
    }

    /// The Mozilla roots plus the CA certificates in a PEM file (curl's
    /// `--cacert`, Python's `cafile`).
    ///
    /// # Errors
    ///
    /// The file cannot be read or holds no usable certificate; the message
    /// names it.
    pub fn webpki_and_ca_file(path: impl AsRef<Path>) -> io::Result<Self> {
        let mut roots = webpki_roots();
        add_roots(&mut roots, load_certificates(path)?)?;
        Self::from_roots(roots)
    }

    /// Sets how long the server gets to finish the handshake (default
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`]).
    #[must_use]
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// The handshake timeout.
    pub fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }

    /// The rustls configuration.
    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.config
    }
}

/// Adds trust anchors, refusing the lot if one is unusable (a typo'd
/// `--cacert` should fail loudly, not trust less than asked).
fn add_roots(roots: &mut RootCertStore, certs: Vec<CertificateDer<'static>>) -> io::Result<()> {
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| config_error("CA certificate", e))?;
    }
    Ok(())
}

impl From<Arc<ClientConfig>> for TlsConnector {
    fn from(config: Arc<ClientConfig>) -> Self {
        TlsConnector::new(config)
    }
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnector")
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}
