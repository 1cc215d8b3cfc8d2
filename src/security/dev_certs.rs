//! Development certificates (`riskd dev-certs DIR`) and the certificate authority the tests use:
//! ECDSA P-256 keys made with ring through rcgen. Not for production: a bank issues its own.

use std::net::IpAddr;
use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

use super::roles::Role;

/// A certificate authority that issues server and client certificates.
pub struct DevCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate to issue.
#[derive(Debug, Clone)]
pub struct Leaf {
    /// Subject common name.
    pub common_name: String,
    /// DNS names and IP addresses (subject alternative names).
    pub dns_names: Vec<String>,
    pub ips: Vec<IpAddr>,
    /// For TLS servers (server auth) or clients (client auth).
    pub server: bool,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl Leaf {
    /// A server certificate for localhost, valid from an hour ago for `days`.
    pub fn localhost_server(days: i64) -> Leaf {
        let now = OffsetDateTime::now_utc();
        Leaf {
            common_name: "localhost".to_owned(),
            dns_names: vec!["localhost".to_owned()],
            ips: vec![IpAddr::from([127, 0, 0, 1]), IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1])],
            server: true,
            not_before: now - Duration::hours(1),
            not_after: now + Duration::days(days),
        }
    }

    /// A client certificate named `common_name`, valid from an hour ago for `days`.
    pub fn client(common_name: &str, days: i64) -> Leaf {
        let now = OffsetDateTime::now_utc();
        Leaf {
            common_name: common_name.to_owned(),
            dns_names: Vec::new(),
            ips: Vec::new(),
            server: false,
            not_before: now - Duration::hours(1),
            not_after: now + Duration::days(days),
        }
    }
}

/// A PEM certificate and its PEM (PKCS#8) private key.
#[derive(Debug, Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

impl DevCa {
    /// A new self-signed CA valid for ten years.
    pub fn new(common_name: &str) -> Result<DevCa, rcgen::Error> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::hours(1);
        params.not_after = now + Duration::days(3650);
        let key = KeyPair::generate()?;
        Ok(DevCa {
            issuer: CertifiedIssuer::self_signed(params, key)?,
        })
    }

    pub fn cert_pem(&self) -> String {
        pem_text("CERTIFICATE", self.issuer.der())
    }

    pub fn issue(&self, leaf: &Leaf) -> Result<Issued, rcgen::Error> {
        let mut params = CertificateParams::new(leaf.dns_names.clone())?;
        params
            .subject_alt_names
            .extend(leaf.ips.iter().map(|ip| SanType::IpAddress(*ip)));
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, leaf.common_name.as_str());
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![if leaf.server {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            ExtendedKeyUsagePurpose::ClientAuth
        }];
        params.not_before = leaf.not_before;
        params.not_after = leaf.not_after;
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Issued {
            cert_pem: pem_text("CERTIFICATE", cert.der()),
            key_pem: pem_text("PRIVATE KEY", &key.serialize_der()),
        })
    }
}

/// PEM text of DER bytes (RFC 7468: base64 in lines of 64).
pub fn pem_text(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Writes a development CA, a localhost server certificate, one client certificate per role
/// (`<role>.pem` / `<role>.key`, common name `<role>.dev`) and an `auth.toml` giving each its
/// role, into `dir`. Refuses to overwrite unless `force`.
pub fn write_dev_certs(dir: &Path, force: bool) -> Result<Vec<String>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    if !force && dir.join("ca.pem").exists() {
        return Err(format!(
            "{} already holds ca.pem: pass --force to replace the certificates",
            dir.display()
        ));
    }
    let err = |e: rcgen::Error| format!("certificate generation failed: {e}");
    let ca = DevCa::new("riskd development CA").map_err(err)?;
    let mut written = Vec::new();
    let mut write = |name: &str, text: &str, secret: bool| -> Result<(), String> {
        let path = dir.join(name);
        write_file(&path, text.as_bytes(), secret).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        written.push(path.display().to_string());
        Ok(())
    };
    write("ca.pem", &ca.cert_pem(), false)?;
    let server = ca.issue(&Leaf::localhost_server(365)).map_err(err)?;
    write("server.pem", &server.cert_pem, false)?;
    write("server.key", &server.key_pem, true)?;
    let mut auth = String::from(
        "# Development callers (riskd dev-certs): each client certificate's common name (cert:) and its role.\n[callers]\n",
    );
    for role in Role::ALL {
        let name = format!("{}.dev", role.name());
        let client = ca.issue(&Leaf::client(&name, 365)).map_err(err)?;
        write(&format!("{}.pem", role.name()), &client.cert_pem, false)?;
        write(&format!("{}.key", role.name()), &client.key_pem, true)?;
        auth.push_str(&format!("\"cert:{name}\" = [\"{}\"]\n", role.name()));
    }
    write("auth.toml", &auth, false)?;
    Ok(written)
}

fn write_file(path: &Path, bytes: &[u8], secret: bool) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = secret;
    options.open(path)?.write_all(bytes)
}
