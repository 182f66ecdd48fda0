//! Anchoring the audit chain outside the workspace: the head of a job's event logs (hash and
//! event count) that `perstack run` prints last on stdout and `perstack log --verify --expect`
//! checks, and the optional key (`PERSTACK_AUDIT_KEY`) that turns every link of the chain
//! into an HMAC-SHA256, so that a log rewritten by someone without the key does not verify.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::message_log::hex;

/// The `mac` of a keyed line.
pub(crate) const MAC_NAME: &str = "hmac-sha256";

/// The environment variable holding the audit key (never passed to a child process).
pub const AUDIT_KEY_VAR: &str = "PERSTACK_AUDIT_KEY";

/// A secret key for the audit chain. Its bytes are never printed (`Debug` hides them).
#[derive(Clone, PartialEq, Eq)]
pub struct AuditKey(Arc<[u8]>);

impl fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuditKey(..)")
    }
}

impl AuditKey {
    /// A key from the value of `PERSTACK_AUDIT_KEY`; `None` when it is empty.
    pub fn new(secret: &[u8]) -> Option<Self> {
        (!secret.is_empty()).then(|| AuditKey(Arc::from(secret)))
    }

    /// HMAC-SHA256 of `msg` under this key (RFC 2104).
    pub(crate) fn mac(&self, msg: &[u8]) -> [u8; 32] {
        let mut block = [0u8; 64];
        if self.0.len() > 64 {
            block[..32].copy_from_slice(&Sha256::digest(&self.0));
        } else {
            block[..self.0.len()].copy_from_slice(&self.0);
        }
        let pad = |b: u8| block.map(|k| k ^ b);
        let inner = Sha256::new()
            .chain_update(pad(0x36))
            .chain_update(msg)
            .finalize();
        Sha256::new()
            .chain_update(pad(0x5c))
            .chain_update(inner)
            .finalize()
            .into()
    }
}

/// The link of a line: its SHA-256, or its HMAC-SHA256 when a key is in use.
pub(crate) fn link_hash(key: Option<&AuditKey>, bytes: &[u8]) -> String {
    match key {
        Some(k) => hex(&k.mac(bytes)),
        None => hex(&Sha256::digest(bytes)),
    }
}

/// The head of an audit chain: `sha256:<hex>@<count>`, or `hmac-sha256:<hex>@<count>` when
/// keyed. For a job, the hash covers the head of every run log (see [`AuditHead::of_runs`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditHead {
    /// Whether the hash is an HMAC under the audit key.
    pub keyed: bool,
    /// Lowercase hex.
    pub hash: String,
    /// Events covered.
    pub count: u64,
}

impl fmt::Display for AuditHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let alg = if self.keyed { MAC_NAME } else { "sha256" };
        write!(f, "{alg}:{}@{}", self.hash, self.count)
    }
}

impl FromStr for AuditHead {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "invalid audit head \"{s}\": copy the `head` of the `auditAnchor` event \
                 `perstack run` printed last, e.g. sha256:<64 hex digits>@<event count>"
            )
        };
        let (alg, rest) = s.trim().split_once(':').ok_or_else(bad)?;
        let keyed = match alg {
            "sha256" => false,
            MAC_NAME => true,
            _ => return Err(bad()),
        };
        let (hash, count) = rest.split_once('@').ok_or_else(bad)?;
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let count = count.parse().map_err(|_| bad())?;
        Ok(AuditHead {
            keyed,
            hash: hash.to_ascii_lowercase(),
            count,
        })
    }
}

impl AuditHead {
    /// The head of a job from the heads of its run logs: the link hash of the lines
    /// `<runId> <hash> <count>\n`, runs sorted by id; the count is the sum.
    pub fn of_runs<'a>(
        key: Option<&AuditKey>,
        runs: impl IntoIterator<Item = (&'a str, &'a AuditHead)>,
    ) -> AuditHead {
        let mut runs: Vec<_> = runs.into_iter().collect();
        runs.sort_by(|a, b| a.0.cmp(b.0));
        let mut text = String::new();
        let mut count = 0;
        for (run, head) in runs {
            text.push_str(&format!("{run} {} {}\n", head.hash, head.count));
            count += head.count;
        }
        AuditHead {
            keyed: key.is_some(),
            hash: link_hash(key, text.as_bytes()),
            count,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    /// RFC 4231 test cases 1 and 6 (a key longer than a block).
    #[test]
    fn hmac_matches_rfc_4231() {
        let key = AuditKey::new(&[0x0b; 20]).unwrap();
        assert_eq!(
            hex(&key.mac(b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        let long = AuditKey::new(&[0xaa; 131]).unwrap();
        assert_eq!(
            hex(&long.mac(b"Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn heads_round_trip_and_bad_ones_are_refused() {
        let head = AuditHead {
            keyed: true,
            hash: "ab".repeat(32),
            count: 7,
        };
        assert_eq!(head.to_string().parse::<AuditHead>().unwrap(), head);
        for bad in [
            "",
            "sha256:abc@1",
            "md5:00@1",
            &format!("sha256:{}", "0".repeat(64)),
        ] {
            assert!(bad.parse::<AuditHead>().is_err(), "{bad}");
        }
        assert_eq!(
            format!("{:?}", AuditKey::new(b"s3cret").unwrap()),
            "AuditKey(..)"
        );
    }
}
