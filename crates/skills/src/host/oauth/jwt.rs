//! Client assertions (`private_key_jwt`, RFC 7523 §2.2): a short-lived JWT signed with the
//! client's PKCS#8 key, ES256 for a P-256 key, RS256 for an RSA key.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, EcdsaKeyPair, RsaKeyPair};
use serde_json::json;

/// How long an assertion is valid.
const LIFETIME_SECS: u64 = 300;

/// A signing key read from PEM.
pub(crate) enum SigningKey {
    /// P-256, ES256.
    Es256(EcdsaKeyPair),
    /// RSA, RS256.
    Rs256(RsaKeyPair),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SigningKey::Es256(_) => "SigningKey(ES256)",
            SigningKey::Rs256(_) => "SigningKey(RS256)",
        })
    }
}

impl SigningKey {
    /// Reads a `-----BEGIN PRIVATE KEY-----` (PKCS#8) PEM.
    pub fn from_pem(pem: &str) -> Result<SigningKey, String> {
        let body: String = pem
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with("-----"))
            .collect();
        if !pem.contains("BEGIN PRIVATE KEY") {
            return Err(
                "the private key must be a PKCS#8 PEM (-----BEGIN PRIVATE KEY-----)".into(),
            );
        }
        let der = STANDARD
            .decode(body.as_bytes())
            .map_err(|e| format!("the private key PEM is not base64: {e}"))?;
        let rng = SystemRandom::new();
        if let Ok(k) =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng)
        {
            return Ok(SigningKey::Es256(k));
        }
        RsaKeyPair::from_pkcs8(&der)
            .map(SigningKey::Rs256)
            .map_err(|_| "the private key is neither a P-256 nor an RSA PKCS#8 key".to_string())
    }

    fn alg(&self) -> &'static str {
        match self {
            SigningKey::Es256(_) => "ES256",
            SigningKey::Rs256(_) => "RS256",
        }
    }

    /// A signed assertion: `iss` = `sub` = `client_id`, `aud` = the authorization server.
    pub fn assertion(&self, client_id: &str, audience: &str, now: u64) -> Result<String, String> {
        let rng = SystemRandom::new();
        let mut jti = [0u8; 16];
        rng.fill(&mut jti)
            .map_err(|_| "no randomness for the assertion id".to_string())?;
        let header = json!({"alg": self.alg(), "typ": "JWT"});
        let claims = json!({
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "iat": now,
            "exp": now + LIFETIME_SECS,
            "jti": URL_SAFE_NO_PAD.encode(jti),
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = match self {
            SigningKey::Es256(k) => k
                .sign(&rng, input.as_bytes())
                .map_err(|_| "signing the assertion failed".to_string())?
                .as_ref()
                .to_vec(),
            SigningKey::Rs256(k) => {
                let mut sig = vec![0u8; k.public().modulus_len()];
                k.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &rng,
                    input.as_bytes(),
                    &mut sig,
                )
                .map_err(|_| "signing the assertion failed".to_string())?;
                sig
            }
        };
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use ring::signature::KeyPair;

    fn pem(der: &[u8]) -> String {
        format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(der)
        )
    }

    #[test]
    fn es256_assertion_verifies_with_the_public_key() {
        let rng = SystemRandom::new();
        let der = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .unwrap();
        let key = SigningKey::from_pem(&pem(der.as_ref())).unwrap();
        let SigningKey::Es256(pair) = &key else {
            panic!("not ES256: {key:?}")
        };
        let public = pair.public_key().as_ref().to_vec();
        let jwt = key
            .assertion("client-1", "https://as.example", 1000)
            .unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["iss"], "client-1");
        assert_eq!(claims["sub"], "client-1");
        assert_eq!(claims["aud"], "https://as.example");
        assert_eq!(claims["exp"], 1300);
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header, json!({"alg": "ES256", "typ": "JWT"}));
        let verifier =
            signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, public);
        let signed = format!("{}.{}", parts[0], parts[1]);
        verifier
            .verify(
                signed.as_bytes(),
                &URL_SAFE_NO_PAD.decode(parts[2]).unwrap(),
            )
            .unwrap();
        // A changed claim no longer verifies.
        let forged = format!("{}.{}x", parts[0], parts[1]);
        assert!(
            verifier
                .verify(
                    forged.as_bytes(),
                    &URL_SAFE_NO_PAD.decode(parts[2]).unwrap()
                )
                .is_err()
        );
    }

    #[test]
    fn bad_keys_are_refused_with_a_reason() {
        let err = SigningKey::from_pem(
            "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----",
        )
        .unwrap_err();
        assert!(err.contains("PKCS#8"), "{err}");
        let err = SigningKey::from_pem(&pem(b"not a key")).unwrap_err();
        assert!(err.contains("neither"), "{err}");
    }
}
