//! The device signature: lowercase hex SHA-1 of the byte-wise ascending sort of the values,
//! concatenated without separators (DOC 91369, 91370, 91626).

use sha1::{Digest, Sha1};

/// Signs any list of values the way the protocol does.
pub fn sign(values: &[&str]) -> String {
    let mut sorted: Vec<&str> = values.to_vec();
    sorted.sort_unstable();
    let mut hasher = Sha1::new();
    for v in sorted {
        hasher.update(v.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// `register`: sha1(sort(sn, SecretNo, timestamp, nonce, "register")).
pub fn register(sn: &str, secret_no: &str, timestamp: &str, nonce: &str) -> String {
    sign(&[sn, secret_no, timestamp, nonce, "register"])
}

/// `get_secret_no`: sha1(sort(sn, seed SecretNo, timestamp, nonce, "secret_no")).
pub fn get_secret_no(sn: &str, seed_secret_no: &str, timestamp: &str, nonce: &str) -> String {
    sign(&[sn, seed_secret_no, timestamp, nonce, "secret_no"])
}

/// Dynamic login QR: sha1(sort(sn, SecretNo, timestamp, nonce, "dynamic_login", state)).
pub fn dynamic_login(
    sn: &str,
    secret_no: &str,
    timestamp: &str,
    nonce: &str,
    state: &str,
) -> String {
    sign(&[sn, secret_no, timestamp, nonce, "dynamic_login", state])
}

/// Renders a JSON scalar the way it enters a signature: numbers in decimal, strings as-is.
pub fn value_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Whether `signature` is 40 lowercase hex characters: the shape every signature has.
pub fn is_well_formed(signature: &str) -> bool {
    signature.len() == 40
        && signature
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The reference's test vectors, read from the catalog so the two cannot drift apart.
    #[test]
    fn catalog_test_vectors() {
        let catalog: serde_json::Value =
            serde_json::from_str(crate::profile::wecom::catalog::CATALOG_JSON).unwrap();
        let vectors = catalog["signature"]["test_vectors"].as_array().unwrap();
        assert_eq!(vectors.len(), 3);
        for v in vectors {
            let s = |k: &str| v[k].as_str().unwrap().to_string();
            let got = match s("purpose").as_str() {
                "register" => register(&s("sn"), &s("secret"), &s("timestamp"), &s("nonce")),
                "get_secret_no" => {
                    get_secret_no(&s("sn"), &s("secret"), &s("timestamp"), &s("nonce"))
                }
                "dynamic_login_qr" => dynamic_login(
                    &s("sn"),
                    &s("secret"),
                    &s("timestamp"),
                    &s("nonce"),
                    &s("state"),
                ),
                other => panic!("unknown vector {other}"),
            };
            assert_eq!(got, s("sha1"), "vector {}", s("purpose"));
        }
    }

    proptest! {
        /// The order the values come in never changes the signature.
        #[test]
        fn order_independent(mut values in proptest::collection::vec(".{0,12}", 1..7), seed in any::<u64>()) {
            let refs: Vec<&str> = values.iter().map(String::as_str).collect();
            let a = sign(&refs);
            let n = values.len();
            values.rotate_left((seed as usize) % n);
            values.reverse();
            let refs: Vec<&str> = values.iter().map(String::as_str).collect();
            prop_assert_eq!(a.clone(), sign(&refs));
            prop_assert!(is_well_formed(&a));
        }

        /// Changing any one input changes the signature (a device that signs the wrong value fails).
        #[test]
        fn any_change_is_detected(sn in "[A-Z0-9]{1,12}", secret in "[a-zA-Z0-9]{1,16}", ts in 0u32.., nonce in 0u64.., bump in 1u32..1000) {
            let a = register(&sn, &secret, &ts.to_string(), &nonce.to_string());
            let b = register(&sn, &secret, &(ts.wrapping_add(bump)).to_string(), &nonce.to_string());
            prop_assert_ne!(a.clone(), b);
            let c = register(&sn, &format!("{secret}x"), &ts.to_string(), &nonce.to_string());
            prop_assert_ne!(a, c);
        }
    }
}
