//! Reading a field of a JSON frame. `serde_json`'s map (ordered, for transcripts that read as
//! they crossed) hashes the key with SipHash on every lookup; a frame's objects hold a handful
//! of keys, where comparing them is several times cheaper. Every frame is looked up this way
//! many times (the wait for a reply, its checks, the monitors), so it shows in the round trip.

use serde_json::Value;

/// Objects up to this many keys are searched in order instead of by hash.
const SCAN_KEYS: usize = 8;

/// `v[key]` when `v` is an object that has `key`.
pub fn field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let map = v.as_object()?;
    if map.len() <= SCAN_KEYS {
        map.iter().find_map(|(k, v)| (k == key).then_some(v))
    } else {
        map.get(key)
    }
}

/// JSON trees for property tests: `leaf` values under `key`s, nested in arrays and objects.
#[cfg(test)]
pub(crate) fn arb_tree(
    leaf: impl proptest::strategy::Strategy<Value = Value> + 'static,
    key: impl proptest::strategy::Strategy<Value = String> + Clone + 'static,
) -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    leaf.prop_recursive(4, 32, 4, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(key.clone(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The same answer as the map's own lookup, small objects and large, for any key.
        #[test]
        fn finds_what_get_finds(keys in proptest::collection::vec("[a-c]{1,2}", 0..20), key in "[a-c]{1,2}") {
            let obj: serde_json::Map<String, Value> = keys.iter().enumerate().map(|(i, k)| (k.clone(), Value::from(i))).collect();
            let v = Value::Object(obj.clone());
            prop_assert_eq!(field(&v, &key), obj.get(&key));
        }
    }

    #[test]
    fn only_objects_have_fields() {
        assert_eq!(field(&serde_json::json!([1]), "0"), None);
        assert_eq!(field(&serde_json::json!("x"), "x"), None);
    }
}
