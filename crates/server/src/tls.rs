//! TLS on the gRPC port: loading the server's PEM certificate and key, and the self-signed CA
//! and server certificate of `medgym cert`, so that TLS needs no OpenSSL to get started.

use std::io::Write;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tonic::transport::{Identity, ServerTlsConfig};

use crate::ServerError;

/// Hosts a certificate is made for when none are given: this machine by name and by address.
pub const DEFAULT_HOSTS: [&str; 2] = ["localhost", "127.0.0.1"];

/// File names written by [`write_certificates`].
pub const CA_FILE: &str = "ca.pem";
/// The server's certificate (for `--tls-cert`).
pub const CERT_FILE: &str = "server.pem";
/// The server's private key (for `--tls-key`), mode 0600.
pub const KEY_FILE: &str = "server.key";

/// The TLS configuration of a server from PEM files, checked now (so that a bad file stops
/// startup with its name rather than failing the first handshake).
pub fn server_config(cert: &Path, key: &Path) -> Result<ServerTlsConfig, ServerError> {
    let read = |path: &Path, what: &str| {
        std::fs::read(path)
            .map_err(|e| ServerError::Tls(format!("reading {what} {}: {e}", path.display())))
    };
    let cert_pem = read(cert, "certificate")?;
    let key_pem = read(key, "private key")?;
    if !contains(&cert_pem, b"-----BEGIN CERTIFICATE-----") {
        return Err(ServerError::Tls(format!(
            "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            cert.display()
        )));
    }
    if !contains(&key_pem, b"PRIVATE KEY-----") {
        return Err(ServerError::Tls(format!(
            "{} holds no PEM private key (-----BEGIN PRIVATE KEY-----)",
            key.display()
        )));
    }
    let config = ServerTlsConfig::new().identity(Identity::from_pem(cert_pem, key_pem));
    tonic::transport::Server::builder()
        .tls_config(config.clone())
        .map_err(|e| {
            ServerError::Tls(format!(
                "certificate {} with key {} rejected: {}",
                cert.display(),
                key.display(),
                error_chain(&e)
            ))
        })?;
    Ok(config)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// An error with its sources, which hold the useful part of tonic's transport errors.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A certificate authority and a server certificate it signed, all PEM.
#[derive(Debug, Clone)]
pub struct Certificates {
    /// The CA certificate clients trust (`ca.pem`).
    pub ca_pem: String,
    /// The server certificate (`server.pem`).
    pub cert_pem: String,
    /// The server's private key (`server.key`).
    pub key_pem: String,
}

/// A fresh CA and a server certificate for `hosts` (DNS names or IP addresses; empty:
/// [`DEFAULT_HOSTS`]). The CA's key is dropped: it signs this one certificate and no other.
pub fn generate_certificates(hosts: &[String]) -> Result<Certificates, ServerError> {
    let hosts: Vec<String> = if hosts.is_empty() {
        DEFAULT_HOSTS.iter().map(|h| h.to_string()).collect()
    } else {
        hosts.to_vec()
    };
    if let Some(h) = hosts.iter().find(|h| !is_host(h)) {
        return Err(ServerError::Tls(format!(
            "{h:?} is neither a DNS name nor an IP address"
        )));
    }
    let bad = |e: rcgen::Error| ServerError::Tls(format!("generating certificates: {e}"));
    let (not_before, not_after) = validity();

    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(bad)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    // A name of its own: a client holding another medgym CA then reports an unknown issuer
    // rather than a bad signature from a CA of the same name.
    let mut tag = [0u8; 4];
    getrandom::fill(&mut tag).map_err(|e| ServerError::Tls(format!("OS random: {e}")))?;
    let tag: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    ca.distinguished_name
        .push(DnType::CommonName, format!("medgym local CA {tag}"));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.not_before = not_before;
    ca.not_after = not_after;
    let ca_key = KeyPair::generate().map_err(bad)?;
    let ca_cert = ca.self_signed(&ca_key).map_err(bad)?;
    let issuer = Issuer::new(ca, ca_key);

    let mut server = CertificateParams::new(hosts.clone()).map_err(|e| {
        ServerError::Tls(format!(
            "hosts {hosts:?}: each must be a DNS name or an IP address: {e}"
        ))
    })?;
    server
        .distinguished_name
        .push(DnType::CommonName, hosts[0].clone());
    server.use_authority_key_identifier_extension = true;
    server.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.not_before = not_before;
    server.not_after = not_after;
    let key = KeyPair::generate().map_err(bad)?;
    let cert = server.signed_by(&key, &issuer).map_err(bad)?;
    Ok(Certificates {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// From a day ago (clock skew between hosts) to about two years on: long enough for a
/// training campaign, short enough that a forgotten development CA expires.
fn validity() -> (time::OffsetDateTime, time::OffsetDateTime) {
    let now = time::OffsetDateTime::now_utc();
    (
        now - time::Duration::days(1),
        now + time::Duration::days(825),
    )
}

/// A DNS name (labels of letters, digits and `-`, a leading `*.` for a wildcard) or an IP address.
fn is_host(h: &str) -> bool {
    if h.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    let name = h.strip_prefix("*.").unwrap_or(h);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Paths written by [`write_certificates`].
#[derive(Debug, Clone)]
pub struct CertificateFiles {
    /// `DIR/ca.pem`.
    pub ca: PathBuf,
    /// `DIR/server.pem`.
    pub cert: PathBuf,
    /// `DIR/server.key`.
    pub key: PathBuf,
}

/// Writes `ca.pem`, `server.pem` and `server.key` into `dir` (created if missing). Each file is
/// written to a temporary file in `dir` and renamed into place, so a reader never sees half a
/// key; the key is readable by its owner only (0600) from the moment it exists.
pub fn write_certificates(
    dir: &Path,
    certs: &Certificates,
) -> Result<CertificateFiles, ServerError> {
    std::fs::create_dir_all(dir)?;
    let files = CertificateFiles {
        ca: dir.join(CA_FILE),
        cert: dir.join(CERT_FILE),
        key: dir.join(KEY_FILE),
    };
    write_atomic(&files.ca, certs.ca_pem.as_bytes(), false)?;
    write_atomic(&files.cert, certs.cert_pem.as_bytes(), false)?;
    write_atomic(&files.key, certs.key_pem.as_bytes(), true)?;
    Ok(files)
}

fn write_atomic(path: &Path, contents: &[u8], secret: bool) -> Result<(), ServerError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    // tempfile creates its files with mode 0600 on Unix, so a secret is never world-readable.
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    #[cfg(unix)]
    if !secret {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    #[cfg(not(unix))]
    let _ = secret;
    tmp.write_all(contents)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| ServerError::Io(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_files_load_as_a_server_identity() {
        let dir = tempfile::tempdir().expect("tempdir");
        let certs = generate_certificates(&[]).expect("generate");
        let files = write_certificates(dir.path(), &certs).expect("write");
        server_config(&files.cert, &files.key).expect("the pair loads");
        assert!(
            std::fs::read_to_string(&files.ca)
                .expect("ca")
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode =
                |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
            assert_eq!(mode(&files.key), 0o600);
            assert_eq!(mode(&files.cert), 0o644);
        }
        // Nothing but the three files: the temporary files were renamed, not left behind.
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 3);
    }

    #[test]
    fn bad_files_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let certs = generate_certificates(&["medgym.example".into()]).expect("generate");
        let files = write_certificates(dir.path(), &certs).expect("write");
        let e = server_config(&files.key, &files.key).expect_err("a key is not a certificate");
        assert!(
            e.to_string()
                .contains("server.key holds no PEM certificate"),
            "{e}"
        );
        let e = server_config(&files.cert, &dir.path().join("missing.key")).expect_err("missing");
        assert!(e.to_string().contains("missing.key"), "{e}");
        // A key that does not belong to the certificate.
        let other = generate_certificates(&[]).expect("generate");
        std::fs::write(&files.key, other.key_pem).expect("write");
        let e = server_config(&files.cert, &files.key).expect_err("mismatched pair");
        assert!(e.to_string().contains("rejected"), "{e}");
        assert!(generate_certificates(&["not a host!".into()]).is_err());
    }
}
