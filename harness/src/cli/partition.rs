//! `run --partition`: one shard of the selected scenarios, nextest-style, so CI can spread a
//! suite over N machines and `hwconform report merge` puts the runs back together.

use std::fmt;
use std::str::FromStr;

/// `count:K/N` (the K-th of every N scenarios in id order) or `hash:K/N` (by a stable hash
/// of the scenario id, so a shard keeps its scenarios when others are added). K is 1-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partition {
    pub by: PartitionBy,
    pub shard: u64,
    pub of: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionBy {
    Count,
    Hash,
}

impl FromStr for Partition {
    type Err = String;

    fn from_str(s: &str) -> Result<Partition, String> {
        let usage = || format!("`{s}`: expected count:K/N or hash:K/N with 1 <= K <= N");
        let (by, rest) = s.split_once(':').ok_or_else(usage)?;
        let by = match by {
            "count" => PartitionBy::Count,
            "hash" => PartitionBy::Hash,
            _ => return Err(usage()),
        };
        let (k, n) = rest.split_once('/').ok_or_else(usage)?;
        let (shard, of): (u64, u64) = (
            k.parse().map_err(|_| usage())?,
            n.parse().map_err(|_| usage())?,
        );
        if shard == 0 || of == 0 || shard > of {
            return Err(usage());
        }
        Ok(Partition { by, shard, of })
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let by = match self.by {
            PartitionBy::Count => "count",
            PartitionBy::Hash => "hash",
        };
        write!(f, "{by}:{}/{}", self.shard, self.of)
    }
}

impl Partition {
    /// The items of this shard, `id` naming each; the shards of one N are disjoint and
    /// together hold every item.
    pub fn select<T>(&self, mut items: Vec<T>, id: impl Fn(&T) -> &str) -> Vec<T> {
        items.sort_by(|a, b| id(a).cmp(id(b)));
        items
            .into_iter()
            .enumerate()
            .filter(|(i, item)| {
                let bucket = match self.by {
                    PartitionBy::Count => *i as u64 % self.of,
                    PartitionBy::Hash => stable_hash(id(item)) % self.of,
                };
                bucket == self.shard - 1
            })
            .map(|(_, item)| item)
            .collect()
    }
}

/// The first 8 bytes of the id's SHA-1: the same on every machine and release (std's hasher
/// promises neither).
fn stable_hash(id: &str) -> u64 {
    use sha1::Digest;
    let d = sha1::Sha1::digest(id.as_bytes());
    u64::from_be_bytes(d[..8].try_into().expect("a SHA-1 has 20 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("count:1/2")]
    #[case("hash:3/3")]
    fn parses_and_displays(#[case] text: &str) {
        assert_eq!(text.parse::<Partition>().unwrap().to_string(), text);
    }

    #[rstest]
    #[case("count:0/2")]
    #[case("count:3/2")]
    #[case("hash:1")]
    #[case("mod:1/2")]
    fn rejects(#[case] text: &str) {
        assert!(text.parse::<Partition>().is_err());
    }

    #[rstest]
    #[case("count")]
    #[case("hash")]
    fn shards_are_disjoint_and_complete(#[case] by: &str) {
        let ids: Vec<String> = (0..50).map(|i| format!("s.{i:02}")).collect();
        let mut all: Vec<String> = (1..=3)
            .flat_map(|k| {
                format!("{by}:{k}/3")
                    .parse::<Partition>()
                    .unwrap()
                    .select(ids.clone(), |s| s)
            })
            .collect();
        all.sort();
        assert_eq!(all, ids);
        let first = format!("{by}:1/3")
            .parse::<Partition>()
            .unwrap()
            .select(ids.clone(), |s| s);
        assert!(!first.is_empty() && first.len() < ids.len());
    }

    #[test]
    fn count_takes_every_nth_in_id_order() {
        let p: Partition = "count:2/3".parse().unwrap();
        assert_eq!(p.select(vec!["e", "a", "d", "b", "c"], |s| s), ["b", "e"]);
    }
}
