//! Caller authentication: the client certificate's name (mutual TLS), or a bearer token in the
//! `authorization` metadata: a static token listed by its SHA-256 in the auth config, or a JWT
//! verified with a configured key. Then the caller's roles from the same file.
//!
//! ```toml
//! # Who may call, with which roles (core-banking, loan-origination, risk-ops, auditor). The
//! # identity says how the caller proves it: `cert:` a client certificate's name (subject CN,
//! # else its first DNS SAN, else its first URI SAN), `token:` a static token's identity, `jwt:`
//! # a JWT's `sub`. A JWT whose subject is a certificate's name gets none of its roles.
//! [callers]
//! "cert:core-banking.bank.internal" = ["core-banking"]
//! "cert:los.bank.internal" = ["loan-origination"]
//! "token:risk-console" = ["risk-ops"]
//! "jwt:audit-portal" = ["auditor"]
//!
//! # Static bearer tokens, by SHA-256 (hex) of the token: `riskd hash-token` prints it. The
//! # caller is `token:<identity>`.
//! [[tokens]]
//! identity = "risk-console"
//! sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
//!
//! # JWTs (HS256 with a shared secret file, or RS256 / ES256 with a PEM public key file).
//! [jwt]
//! algorithm = "RS256"
//! key_file = "sso-public.pem"      # relative to this file
//! issuer = "https://sso.bank.internal"
//! audience = "riskd"
//! leeway_secs = 30
//! ```
//!
//! JWTs are verified here with `ring` rather than the `jsonwebtoken` crate: its 9.x line (the
//! last on `ring`) has an open advisory (claims of the wrong JSON type skipped, CVE-2026-25537)
//! and the fixed releases need either aws-lc (a C build) or the RustCrypto `rsa` crate. Only
//! what is configured is accepted: one algorithm, `exp` required and numeric, `nbf` numeric when
//! present, `iss` and `aud` when configured, a `sub`, and no `crit` header.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::{hmac, signature};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::der;
use super::roles::Role;
use super::{AuthMethod, Caller};

/// Longest `authorization` value looked at.
const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Longest identity accepted (without its prefix).
const MAX_IDENTITY_CHARS: usize = 256;

/// Prefix of a caller proved by a client certificate.
pub const CERT_PREFIX: &str = "cert:";
/// Prefix of a caller proved by a static bearer token.
pub const TOKEN_PREFIX: &str = "token:";
/// Prefix of a caller proved by a JWT (its subject follows).
pub const JWT_PREFIX: &str = "jwt:";

/// The name in a prefixed identity (`cert:`, `token:` or `jwt:`), if it has one of them.
fn unprefixed(identity: &str) -> Option<&str> {
    [CERT_PREFIX, TOKEN_PREFIX, JWT_PREFIX]
        .iter()
        .find_map(|prefix| identity.strip_prefix(prefix))
}

/// The auth config file, as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Identity -> role names.
    #[serde(default)]
    pub callers: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub tokens: Vec<TokenEntry>,
    pub jwt: Option<JwtConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    pub identity: String,
    /// SHA-256 of the token, 64 hex digits.
    pub sha256: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// "HS256", "RS256" or "ES256".
    pub algorithm: String,
    /// HS256: the shared secret (the file's bytes, at least 32); RS256 / ES256: a PEM public key.
    pub key_file: PathBuf,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
}

fn default_leeway() -> u64 {
    30
}

/// SHA-256 hex of a token, as listed in the auth config.
pub fn token_sha256(token: &str) -> String {
    Sha256::digest(token.trim().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The name a client certificate identifies its holder by: the subject's common name, else the
/// first DNS subject alternative name, else the first URI one.
pub fn certificate_identity(cert: &CertificateDer<'_>) -> Option<String> {
    let ee = webpki::EndEntityCert::try_from(cert).ok()?;
    der::common_name(ee.subject())
        .filter(|cn| !cn.trim().is_empty())
        .or_else(|| ee.valid_dns_names().next().map(str::to_owned))
        .or_else(|| ee.valid_uri_names().next().map(str::to_owned))
        .filter(|id| id.chars().count() <= MAX_IDENTITY_CHARS && !id.chars().any(char::is_control))
}

/// Why a call was not let in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No credentials, or credentials that do not verify: UNAUTHENTICATED.
    Unauthenticated(String),
}

/// Verifies credentials and knows every caller's roles.
#[derive(Debug)]
pub struct Authenticator {
    roles: HashMap<String, Vec<Role>>,
    tokens: HashMap<[u8; 32], String>,
    jwt: Option<JwtVerifier>,
    source: String,
}

impl Authenticator {
    /// Reads and validates an auth config file.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read auth config {}: {e}", path.display()))?;
        let config: AuthConfig = toml::from_str(&text).map_err(|e| format!("auth config {}: {e}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::new(config, base, &path.display().to_string())
    }

    /// Builds from a parsed config; relative key files are resolved against `base`.
    pub fn new(config: AuthConfig, base: &Path, source: &str) -> Result<Self, String> {
        let mut problems = Vec::new();
        let mut roles = HashMap::new();
        for (identity, names) in &config.callers {
            match unprefixed(identity) {
                None => problems.push(format!(
                    "callers: identity {identity:?} must say how the caller proves it: \"cert:<certificate name>\", \"token:<token identity>\" or \"jwt:<subject>\""
                )),
                Some(name) if name.trim().is_empty() || name.chars().count() > MAX_IDENTITY_CHARS => {
                    problems.push(format!(
                        "callers: identity {identity:?} must name 1..{MAX_IDENTITY_CHARS} characters after its prefix"
                    ));
                }
                Some(_) => {}
            }
            let mut parsed = Vec::new();
            for name in names {
                match Role::parse(name) {
                    Some(r) => parsed.push(r),
                    None => problems.push(format!(
                        "callers.{identity:?}: unknown role {name:?} (known: core-banking, loan-origination, risk-ops, auditor)"
                    )),
                }
            }
            parsed.sort();
            parsed.dedup();
            roles.insert(identity.clone(), parsed);
        }
        let mut tokens = HashMap::new();
        for (i, t) in config.tokens.iter().enumerate() {
            let identity = format!(
                "{TOKEN_PREFIX}{}",
                t.identity.strip_prefix(TOKEN_PREFIX).unwrap_or(&t.identity)
            );
            match decode_hex32(&t.sha256) {
                Some(hash) => {
                    if tokens.insert(hash, identity.clone()).is_some() {
                        problems.push(format!("tokens[{i}]: the same token is listed twice"));
                    }
                }
                None => problems.push(format!(
                    "tokens[{i}].sha256: must be 64 hex digits (SHA-256 of the token)"
                )),
            }
            if !roles.contains_key(&identity) {
                problems.push(format!(
                    "tokens[{i}].identity: {identity:?} is not in [callers], so it could call nothing"
                ));
            }
        }
        let jwt = match &config.jwt {
            Some(j) => match JwtVerifier::from_config(j, base) {
                Ok(v) => Some(v),
                Err(e) => {
                    problems.push(format!("jwt: {e}"));
                    None
                }
            },
            None => None,
        };
        if !problems.is_empty() {
            return Err(format!("auth config {source}: {}", problems.join("; ")));
        }
        Ok(Authenticator {
            roles,
            tokens,
            jwt,
            source: source.to_owned(),
        })
    }

    pub fn describe(&self) -> String {
        format!(
            "on ({} callers, {} static tokens, JWT {}; from {})",
            self.roles.len(),
            self.tokens.len(),
            self.jwt.as_ref().map_or("off", |j| j.algorithm.name()),
            self.source
        )
    }

    /// The caller of a request: its verified client certificate's name (when mutual TLS
    /// verified one), else its bearer token, prefixed by which it was (`cert:`, `token:`,
    /// `jwt:`). Roles may be empty (then every RPC is denied).
    pub fn authenticate(
        &self,
        peer_certs: Option<&[CertificateDer<'static>]>,
        authorization: Option<&[u8]>,
    ) -> Result<Caller, AuthError> {
        let (id, method) = if let Some(leaf) = peer_certs.and_then(|c| c.first()) {
            let id = certificate_identity(leaf).ok_or_else(|| {
                AuthError::Unauthenticated("the client certificate carries no usable name (CN or SAN)".to_owned())
            })?;
            (format!("{CERT_PREFIX}{id}"), AuthMethod::Certificate)
        } else {
            self.bearer(authorization)?
        };
        let roles = self.roles.get(&id).cloned().unwrap_or_default();
        let personal_data = roles.iter().any(|r| r.personal_data());
        Ok(Caller {
            id,
            roles,
            method,
            personal_data,
        })
    }

    fn bearer(&self, authorization: Option<&[u8]>) -> Result<(String, AuthMethod), AuthError> {
        let unauthenticated = |m: &str| AuthError::Unauthenticated(m.to_owned());
        let raw = authorization.ok_or_else(|| {
            unauthenticated("no credentials: present a client certificate or an `authorization: Bearer <token>` header")
        })?;
        if raw.len() > MAX_TOKEN_BYTES {
            return Err(unauthenticated("the authorization header is too long"));
        }
        let text = std::str::from_utf8(raw).map_err(|_| unauthenticated("the authorization header is not text"))?;
        // `credentials = auth-scheme 1*SP token68`; the scheme is case-insensitive (RFC 7235 2.1).
        let token = text
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim_matches(' '))
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthenticated("the authorization header must be `Bearer <token>`"))?;
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(id) = self.tokens.get(&hash) {
            return Ok((id.clone(), AuthMethod::Token));
        }
        if let Some(jwt) = &self.jwt
            && token.matches('.').count() == 2
        {
            return jwt
                .verify(token, unix_now())
                .map(|sub| (format!("{JWT_PREFIX}{sub}"), AuthMethod::Jwt))
                .map_err(|e| AuthError::Unauthenticated(format!("invalid token: {e}")));
        }
        Err(unauthenticated("invalid token"))
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn decode_hex32(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    Hs256,
    Rs256,
    Es256,
}

impl JwtAlgorithm {
    pub fn name(self) -> &'static str {
        match self {
            JwtAlgorithm::Hs256 => "HS256",
            JwtAlgorithm::Rs256 => "RS256",
            JwtAlgorithm::Es256 => "ES256",
        }
    }
}

enum JwtKey {
    Hmac(hmac::Key),
    Public(Vec<u8>),
}

/// Verifies compact JWS tokens signed with one configured algorithm and key.
pub struct JwtVerifier {
    algorithm: JwtAlgorithm,
    key: JwtKey,
    issuer: Option<String>,
    audience: Option<String>,
    leeway_secs: u64,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("algorithm", &self.algorithm)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    fn from_config(c: &JwtConfig, base: &Path) -> Result<Self, String> {
        let path = base.join(&c.key_file);
        let bytes = std::fs::read(&path).map_err(|e| format!("cannot read key_file {}: {e}", path.display()))?;
        let (algorithm, key) = match c.algorithm.as_str() {
            "HS256" => (JwtAlgorithm::Hs256, Self::hmac_key(&bytes)?),
            "RS256" => (JwtAlgorithm::Rs256, Self::public_key(&bytes, der::OID_RSA, None)?),
            "ES256" => (
                JwtAlgorithm::Es256,
                Self::public_key(&bytes, der::OID_EC, Some(der::OID_P256))?,
            ),
            other => return Err(format!("algorithm {other:?} is not supported (HS256, RS256 or ES256)")),
        };
        Ok(JwtVerifier {
            algorithm,
            key,
            issuer: c.issuer.clone(),
            audience: c.audience.clone(),
            leeway_secs: c.leeway_secs.min(300),
        })
    }

    /// An HS256 verifier over `secret` (at least 32 bytes).
    pub fn hs256(secret: &[u8], issuer: Option<&str>, audience: Option<&str>) -> Result<Self, String> {
        Ok(JwtVerifier {
            algorithm: JwtAlgorithm::Hs256,
            key: Self::hmac_key(secret)?,
            issuer: issuer.map(str::to_owned),
            audience: audience.map(str::to_owned),
            leeway_secs: 30,
        })
    }

    fn hmac_key(secret: &[u8]) -> Result<JwtKey, String> {
        if secret.len() < 32 {
            return Err(format!(
                "an HS256 secret must be at least 32 bytes, got {}",
                secret.len()
            ));
        }
        Ok(JwtKey::Hmac(hmac::Key::new(hmac::HMAC_SHA256, secret)))
    }

    fn public_key(pem: &[u8], oid: &[u8], curve: Option<&[u8]>) -> Result<JwtKey, String> {
        let spki = rustls::pki_types::SubjectPublicKeyInfoDer::from_pem_slice(pem)
            .map_err(|e| format!("key_file must hold a PEM `PUBLIC KEY`: {e}"))?;
        match der::spki(spki.as_ref()) {
            Some(k) if k.algorithm == oid && (curve.is_none() || k.parameter == curve) => {
                Ok(JwtKey::Public(k.key.to_vec()))
            }
            _ => Err("the public key does not match the algorithm".to_owned()),
        }
    }

    /// Verifies `token` at `now` (Unix seconds); returns its subject.
    pub fn verify(&self, token: &str, now: u64) -> Result<String, &'static str> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err("not a compact JWS");
        };
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).map_err(|_| "bad header encoding")?)
                .map_err(|_| "bad header")?;
        if header.get("alg").and_then(|a| a.as_str()) != Some(self.algorithm.name()) {
            return Err("unexpected algorithm");
        }
        if header.get("crit").is_some() {
            return Err("critical header extensions are not supported");
        }
        let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| "bad signature encoding")?;
        let signed = &token.as_bytes()[..h.len() + 1 + p.len()];
        let ok = match (&self.key, self.algorithm) {
            (JwtKey::Hmac(k), _) => hmac::verify(k, signed, &sig).is_ok(),
            (JwtKey::Public(k), JwtAlgorithm::Rs256) => {
                signature::UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, k)
                    .verify(signed, &sig)
                    .is_ok()
            }
            (JwtKey::Public(k), _) => signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, k)
                .verify(signed, &sig)
                .is_ok(),
        };
        if !ok {
            return Err("bad signature");
        }
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).map_err(|_| "bad payload encoding")?)
                .map_err(|_| "bad payload")?;
        let claims = claims.as_object().ok_or("claims must be an object")?;
        let number = |name: &str| -> Result<Option<u64>, &'static str> {
            match claims.get(name) {
                None => Ok(None),
                Some(v) => v
                    .as_u64()
                    .or_else(|| v.as_f64().filter(|f| f.is_finite() && *f >= 0.0).map(|f| f as u64))
                    .map(Some)
                    .ok_or("a time claim is not a number"),
            }
        };
        let exp = number("exp")?.ok_or("exp is required")?;
        if now > exp.saturating_add(self.leeway_secs) {
            return Err("expired");
        }
        if let Some(nbf) = number("nbf")?
            && now.saturating_add(self.leeway_secs) < nbf
        {
            return Err("not yet valid");
        }
        if let Some(iss) = &self.issuer
            && claims.get("iss").and_then(|v| v.as_str()) != Some(iss.as_str())
        {
            return Err("wrong issuer");
        }
        if let Some(aud) = &self.audience {
            let ok = match claims.get("aud") {
                Some(serde_json::Value::String(a)) => a == aud,
                Some(serde_json::Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(aud.as_str())),
                _ => false,
            };
            if !ok {
                return Err("wrong audience");
            }
        }
        match claims.get("sub").and_then(|v| v.as_str()) {
            Some(sub)
                if !sub.trim().is_empty()
                    && sub.chars().count() <= MAX_IDENTITY_CHARS
                    && !sub.chars().any(char::is_control) =>
            {
                Ok(sub.to_owned())
            }
            _ => Err("sub is required"),
        }
    }
}

/// Signs an HS256 JWT (tests and tooling).
pub fn sign_hs256(secret: &[u8], claims: &serde_json::Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn verifier() -> JwtVerifier {
        JwtVerifier::hs256(SECRET, Some("sso"), Some("riskd")).expect("verifier")
    }

    #[test]
    fn jwt_accepts_a_good_token() {
        let t = sign_hs256(
            SECRET,
            &json!({"sub": "los", "exp": 2000, "iss": "sso", "aud": ["x", "riskd"]}),
        );
        assert_eq!(verifier().verify(&t, 1000), Ok("los".to_owned()));
    }

    #[test]
    fn jwt_rejects_what_it_must() {
        let v = verifier();
        let good = json!({"sub": "los", "exp": 2000, "iss": "sso", "aud": "riskd"});
        let with = |k: &str, val: serde_json::Value| {
            let mut c = good.clone();
            c[k] = val;
            sign_hs256(SECRET, &c)
        };
        assert_eq!(v.verify(&sign_hs256(SECRET, &good), 2031), Err("expired"));
        assert_eq!(
            v.verify(&with("exp", json!("never")), 1000),
            Err("a time claim is not a number")
        );
        assert_eq!(
            v.verify(&with("nbf", json!("later")), 1000),
            Err("a time claim is not a number")
        );
        assert_eq!(v.verify(&with("nbf", json!(1500)), 1000), Err("not yet valid"));
        assert_eq!(v.verify(&with("iss", json!("evil")), 1000), Err("wrong issuer"));
        assert_eq!(v.verify(&with("aud", json!("other")), 1000), Err("wrong audience"));
        assert_eq!(v.verify(&with("sub", json!("")), 1000), Err("sub is required"));
        let mut no_exp = good.clone();
        no_exp.as_object_mut().expect("object").remove("exp");
        assert_eq!(v.verify(&sign_hs256(SECRET, &no_exp), 1000), Err("exp is required"));
        let other_key = sign_hs256(b"another secret of at least 32 bytes!", &good);
        assert_eq!(v.verify(&other_key, 1000), Err("bad signature"));
        // alg "none" and a tampered payload.
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(good.to_string())
        );
        assert_eq!(v.verify(&none, 1000), Err("unexpected algorithm"));
        let t = sign_hs256(SECRET, &good);
        let mut parts: Vec<&str> = t.split('.').collect();
        let forged =
            URL_SAFE_NO_PAD.encode(json!({"sub": "admin", "exp": 2000, "iss": "sso", "aud": "riskd"}).to_string());
        parts[1] = &forged;
        assert_eq!(v.verify(&parts.join("."), 1000), Err("bad signature"));
    }

    #[test]
    fn static_tokens_are_matched_by_hash() {
        let config = AuthConfig {
            callers: BTreeMap::from([("token:console".to_owned(), vec!["risk-ops".to_owned()])]),
            tokens: vec![TokenEntry {
                identity: "console".into(),
                sha256: token_sha256("s3cret-token"),
            }],
            jwt: None,
        };
        let auth = Authenticator::new(config, Path::new("."), "test").expect("valid");
        let caller = auth
            .authenticate(None, Some(b"Bearer s3cret-token"))
            .expect("known token");
        assert_eq!(
            (caller.id.as_str(), caller.roles.as_slice()),
            ("token:console", &[Role::RiskOps][..])
        );
        assert!(!caller.personal_data);
        // The scheme in any case, and more than one space before the token (RFC 7235).
        for header in [
            &b"BEARER s3cret-token"[..],
            &b"bearer  s3cret-token"[..],
            &b"bEaReR s3cret-token "[..],
        ] {
            let caller = auth.authenticate(None, Some(header)).expect("any case");
            assert_eq!(caller.id, "token:console");
        }
        assert!(auth.authenticate(None, Some(b"Bearers3cret-token")).is_err());
        assert!(auth.authenticate(None, Some(b"Bearer wrong")).is_err());
        assert!(auth.authenticate(None, None).is_err());
        assert!(auth.authenticate(None, Some(b"Basic abc")).is_err());
    }

    #[test]
    fn config_problems_are_all_reported() {
        let config = AuthConfig {
            callers: BTreeMap::from([("cert:a".to_owned(), vec!["admin".to_owned()])]),
            tokens: vec![TokenEntry {
                identity: "b".into(),
                sha256: "xyz".into(),
            }],
            jwt: None,
        };
        let err = Authenticator::new(config, Path::new("."), "test").expect_err("invalid");
        assert!(err.contains("unknown role \"admin\""), "{err}");
        assert!(err.contains("tokens[0].sha256"), "{err}");
        assert!(err.contains("tokens[0].identity"), "{err}");
        // An identity that does not say how it is proved could be claimed by any method.
        let config = AuthConfig {
            callers: BTreeMap::from([("los.bank.internal".to_owned(), vec!["loan-origination".to_owned()])]),
            ..AuthConfig::default()
        };
        let err = Authenticator::new(config, Path::new("."), "test").expect_err("unprefixed");
        assert!(err.contains("must say how the caller proves it"), "{err}");
    }

    /// A JWT signed by `sign` over the signing input, with header `alg`.
    fn signed_jwt(alg: &str, claims: &serde_json::Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
        let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
        let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
        let sig = sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    fn verifier_from(algorithm: &str, public_pem: &str) -> JwtVerifier {
        let dir = std::env::temp_dir().join(format!("riskd-jwt-{algorithm}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("key.pem"), public_pem).expect("write key");
        let config = JwtConfig {
            algorithm: algorithm.into(),
            key_file: "key.pem".into(),
            issuer: None,
            audience: None,
            leeway_secs: 0,
        };
        let v = JwtVerifier::from_config(&config, &dir).expect("verifier");
        let _ = std::fs::remove_dir_all(&dir);
        v
    }

    #[test]
    fn es256_tokens_verify_with_the_public_key_only() {
        use rcgen::PublicKeyData as _;
        let rng = ring::rand::SystemRandom::new();
        let key = rcgen::KeyPair::generate().expect("P-256 key");
        let pem = crate::security::dev_certs::pem_text("PUBLIC KEY", &key.subject_public_key_info());
        let signer = signature::EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &key.serialize_der(),
            &rng,
        )
        .expect("signer");
        let v = verifier_from("ES256", &pem);
        let claims = json!({"sub": "los", "exp": 2000});
        let token = signed_jwt("ES256", &claims, |m| {
            signer.sign(&rng, m).expect("sign").as_ref().to_vec()
        });
        assert_eq!(v.verify(&token, 1000), Ok("los".to_owned()));
        // The same claims under HS256 with the public key as the secret (algorithm confusion).
        let confused = signed_jwt("HS256", &claims, |m| {
            hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, pem.as_bytes()), m)
                .as_ref()
                .to_vec()
        });
        assert_eq!(v.verify(&confused, 1000), Err("unexpected algorithm"));
        // An RSA key file for ES256 is refused at start-up.
        let dir = std::env::temp_dir().join(format!("riskd-jwt-mismatch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("key.pem"), RSA_PUBLIC).expect("write");
        let config = JwtConfig {
            algorithm: "ES256".into(),
            key_file: "key.pem".into(),
            issuer: None,
            audience: None,
            leeway_secs: 0,
        };
        assert!(JwtVerifier::from_config(&config, &dir).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn rs256_tokens_verify_with_the_public_key_only() {
        let der = rustls::pki_types::PrivatePkcs8KeyDer::from_pem_slice(RSA_PRIVATE.as_bytes()).expect("pkcs8");
        let signer = signature::RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).expect("rsa key");
        let rng = ring::rand::SystemRandom::new();
        let v = verifier_from("RS256", RSA_PUBLIC);
        let claims = json!({"sub": "risk-console", "exp": 2000});
        let token = signed_jwt("RS256", &claims, |m| {
            let mut sig = vec![0u8; signer.public().modulus_len()];
            signer
                .sign(&signature::RSA_PKCS1_SHA256, &rng, m, &mut sig)
                .expect("sign");
            sig
        });
        assert_eq!(v.verify(&token, 1000), Ok("risk-console".to_owned()));
        assert_eq!(v.verify(&token, 2001), Err("expired"));
        let mut tampered = token.clone();
        tampered.pop();
        tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(v.verify(&tampered, 1000), Err("bad signature"));
    }

    /// A throw-away 2048-bit RSA key made for this test (openssl genpkey), never used elsewhere.
    const RSA_PRIVATE: &str = r"-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCyJS7YXtNdGosO
0ZMAjkifMvESknMxzr6CzDPfwQT5umy+qOWHE54Zt6OpGNu/GNlcOFeXfpXr9QcP
65k5JcVVkpoTW9TiYB5p46JOLob8nptIg0SR2q3XspAhXAPludo0FNXKd8cdyfdq
qwsb6hE7FhNxkRo7puz8+2qM5G8j9ysrcGLGbmqRhqHAJmfcaFFJQ+mbAqGZSrb+
4IYiaRGHLucci23V3Y+gN69lqkiwl8+RbaEl61Kp9RmYa/SZU/2tBYCtjJhdghmy
OtCbaDPy12iFrZbx0qFEwgEWbJC5pqpizBQcXQHO2u6K/BEFJ21SOY+VYOKR0KIF
0McAGMTZAgMBAAECggEABdFnXAHCAX/cK935Op+q+TRywWWru72+vl4fN8iU2irc
bqA5kzJQ3vilI7p82yfoQC+HE5rHmGCIFd0R9wouTW4ZOGNVPfzTIw5Ge8SsiNDa
QLsOxBYVYhHCGZQCfMZxPQzmi/MvYaAgUGkpI5GyDqqyjfcyv63i/mkf0MQMg14u
LQU57zi0SNRxQSlztoAqoslVncsDwFKd5DPw858sg0/m0VZayxARKx8d6KdYG9YI
KBc0FJ/CqnloJdlKK0NhkSzWGz9UBt2kI/45k3qpD/JcKUodUSvCRrKWhH5g0nMr
403ErQrKugmzA6toYcgFf/NTduOQ6sbyLV1gvcjSrQKBgQDsIPlq3bG/DvUvC4Ws
afVBBE5K+j0NHuMy08murTZuMZ/7+RiHnMapnm3rMKUEvoM1lNKMm6AsTb6XTyOs
TUcOb65UqdHl/3K0Ha0cTzW0cBxgLGSo6ioO/K3fGHMVtlGZcBGNQAlQZFYhT2Uo
TuQfuygUOknUjcQZmJmPJkkT1QKBgQDBIwsql7qR9T5mrbnMfZ4BAdiDViO5GOMO
Zruu021D2RNx7jKBZH5TFWZABwN2vrLXiJqnMUucjSKiNu4h/iH+Xn0z+3jnfEVH
YCJTPgymTFlKBNJTvTfcSAj7z1QWLODgNiBO95zwF6VuG32L2D+rV1OrnYQTULD5
OfCSYSyi9QKBgQDN1NCWPzo5+afwonKboKGRU1eMNCYT0eDq5YLhKUxRMiDrXG/t
htQF93yJj5XJVOi7REdlGiO9euewrePCxnoyM1gbpQy7GLm8GEJWcxW1fCTAEPKN
69FNzyUhXAa13n+y6OXj4vY7hbsuvi7HvD1PC64cM9M33Xwbc9In3o/FIQKBgDCE
7Tk2BNjGE3cYDaUhqZ/3Jr1X1oGZjvD/PgcddkWlMw1cGbQH2vRkW9uZ53TdU3By
EOgPqj8Z9alqw0gm38NXWXzFoAoHXiAgNn9TBzp/066Up4IB9xaPwjIAU89+Vr/8
2QD9k599UUHoBhIrsVMKDSr/1z5C9zKlK5qabuxBAoGABg6KgmA45d37f+try/a3
QitslocPc3GgJgoKctQKetSIrqbjbls3Y4uIBDeOW20YaKgNV/4zIE8CorFnZsaK
Bq2WBQlumG2mmW76qEBCZa3BKf81LD+h+14Tp+GmU4b9vtt0cWnKVB28psV1PZtc
S9rW9PAmiSkYf1Ayk6wng7w=
-----END PRIVATE KEY-----
";
    const RSA_PUBLIC: &str = r"-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAsiUu2F7TXRqLDtGTAI5I
nzLxEpJzMc6+gswz38EE+bpsvqjlhxOeGbejqRjbvxjZXDhXl36V6/UHD+uZOSXF
VZKaE1vU4mAeaeOiTi6G/J6bSINEkdqt17KQIVwD5bnaNBTVynfHHcn3aqsLG+oR
OxYTcZEaO6bs/PtqjORvI/crK3Bixm5qkYahwCZn3GhRSUPpmwKhmUq2/uCGImkR
hy7nHItt1d2PoDevZapIsJfPkW2hJetSqfUZmGv0mVP9rQWArYyYXYIZsjrQm2gz
8tdoha2W8dKhRMIBFmyQuaaqYswUHF0BztruivwRBSdtUjmPlWDikdCiBdDHABjE
2QIDAQAB
-----END PUBLIC KEY-----
";
}
