//! `run --partition`: one shard of the selected scenarios, nextest-style, so CI can spread a
//! suite over N machines and `hwconform report merge` puts the runs back together.

use crate::report::RunMeta;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
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

/// The partition a shard's run.json records; for a file written before it was recorded, the
/// `--partition` of its command line. `None`: the run was not a shard.
pub fn recorded(meta: &RunMeta) -> Option<Result<Partition, String>> {
    if let Some(p) = &meta.partition {
        return Some(p.parse());
    }
    let argv = &meta.command_line;
    argv.iter().enumerate().find_map(|(i, a)| {
        let value = match a.strip_prefix("--partition") {
            Some("") => argv.get(i + 1)?,
            Some(v) => v.strip_prefix('=')?,
            None => return None,
        };
        Some(value.parse())
    })
}

/// Why a set of shards is not one whole partitioned run.
#[derive(Debug, thiserror::Error)]
pub enum ShardSetError {
    #[error("{} records no partition (it is not a shard of `run --partition`): whether the set is complete cannot be told; give --allow-partial to merge anyway", path.display())]
    NotAShard { path: PathBuf },
    #[error("{}: its recorded partition: {message}", path.display())]
    Unreadable { path: PathBuf, message: String },
    #[error("{} is shard {found} and {} is shard {first}: merge the shards of one partitioning", path.display(), first_path.display())]
    Mixed {
        path: PathBuf,
        found: Partition,
        first_path: PathBuf,
        first: Partition,
    },
    #[error("shard {shard} is given twice: {} and {}", first.display(), second.display())]
    Duplicate {
        shard: Partition,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("the shard set is incomplete: {} of {of} missing ({}); give every shard's run.json, or --allow-partial to merge what there is (the report then says partial)", missing.len(), missing.join(", "))]
    Incomplete { missing: Vec<String>, of: u64 },
}

/// The shards missing from a set of shards (`path` and what it records), in shard order:
/// `Err` when the set mixes partitionings, holds a shard twice, holds a run that is no shard
/// or (unless `allow_partial`) lacks a shard. With `allow_partial`, a run that is no shard is
/// accepted and what is missing cannot be told beyond the shards that were given.
pub fn missing_shards(
    shards: &[(PathBuf, Option<Result<Partition, String>>)],
    allow_partial: bool,
) -> Result<Vec<String>, ShardSetError> {
    let mut given: BTreeMap<u64, &PathBuf> = BTreeMap::new();
    let mut first: Option<(&PathBuf, Partition)> = None;
    let mut unknown = false;
    for (path, recorded) in shards {
        let p = match recorded {
            None if allow_partial => {
                unknown = true;
                continue;
            }
            None => return Err(ShardSetError::NotAShard { path: path.clone() }),
            Some(Err(message)) => {
                return Err(ShardSetError::Unreadable {
                    path: path.clone(),
                    message: message.clone(),
                })
            }
            Some(Ok(p)) => *p,
        };
        match first {
            None => first = Some((path, p)),
            Some((first_path, f)) if (f.by, f.of) != (p.by, p.of) => {
                return Err(ShardSetError::Mixed {
                    path: path.clone(),
                    found: p,
                    first_path: first_path.clone(),
                    first: f,
                })
            }
            Some(_) => {}
        }
        if let Some(earlier) = given.insert(p.shard, path) {
            return Err(ShardSetError::Duplicate {
                shard: p,
                first: earlier.clone(),
                second: path.clone(),
            });
        }
    }
    let Some((_, f)) = first else {
        return Ok(if unknown {
            vec!["unknown".into()]
        } else {
            vec![]
        });
    };
    // The count comes from a file: name the first missing shards, and count the rest.
    const NAMED: usize = 20;
    let absent = || (1..=f.of).filter(|k| !given.contains_key(k));
    let mut missing: Vec<String> = absent()
        .take(NAMED)
        .map(|shard| Partition { shard, ..f }.to_string())
        .collect();
    let more = (f.of as u128).saturating_sub(given.len() as u128 + missing.len() as u128);
    if more > 0 {
        missing.push(format!("{more} more"));
    }
    if !missing.is_empty() && !allow_partial {
        return Err(ShardSetError::Incomplete { missing, of: f.of });
    }
    Ok(missing)
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

    fn set(shards: &[&str]) -> Vec<(PathBuf, Option<Result<Partition, String>>)> {
        shards
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let p = (!s.is_empty()).then(|| s.parse::<Partition>());
                (PathBuf::from(format!("s{}.json", i + 1)), p)
            })
            .collect()
    }

    #[rstest]
    #[case(&["count:2/3", "count:1/3", "count:3/3"], false, Ok(vec![]))]
    #[case(&["hash:1/1"], false, Ok(vec![]))]
    #[case(&["count:1/3", "count:3/3"], true, Ok(vec!["count:2/3"]))]
    #[case(&["count:1/3", ""], true, Ok(vec!["count:2/3", "count:3/3"]))]
    #[case(&["", ""], true, Ok(vec!["unknown"]))]
    #[case(&["count:1/3", "count:3/3"], false, Err("incomplete: 1 of 3 missing (count:2/3)"))]
    #[case(&["count:1/3", "count:1/3"], true, Err("shard count:1/3 is given twice: s1.json and s2.json"))]
    #[case(&["count:1/2", "hash:2/2"], true, Err("s2.json is shard hash:2/2 and s1.json is shard count:1/2"))]
    #[case(&["count:1/2", "count:2/3"], true, Err("merge the shards of one partitioning"))]
    #[case(&["count:1/2", ""], false, Err("s2.json records no partition"))]
    fn a_shard_set_is_whole_or_says_what_it_lacks(
        #[case] shards: &[&str],
        #[case] allow_partial: bool,
        #[case] expected: Result<Vec<&str>, &str>,
    ) {
        let got = missing_shards(&set(shards), allow_partial).map_err(|e| e.to_string());
        match (got, expected) {
            (Ok(got), Ok(want)) => assert_eq!(got, want),
            (Err(got), Err(want)) => assert!(got.contains(want), "{got}"),
            (got, want) => panic!("{got:?} where {want:?} was expected"),
        }
    }

    #[rstest]
    #[case(Some("hash:2/3"), &["hwconform", "run"], Some("hash:2/3"))]
    #[case(None, &["hwconform", "run", "--partition", "count:1/2"], Some("count:1/2"))]
    #[case(None, &["hwconform", "run", "--partition=hash:3/4", "x"], Some("hash:3/4"))]
    #[case(None, &["hwconform", "run", "--partitions"], None)]
    #[case(None, &["hwconform", "run"], None)]
    fn the_partition_is_read_from_the_meta_or_the_command_line(
        #[case] field: Option<&str>,
        #[case] argv: &[&str],
        #[case] expected: Option<&str>,
    ) {
        let meta = RunMeta {
            partition: field.map(Into::into),
            command_line: argv.iter().map(|s| s.to_string()).collect(),
            ..RunMeta::default()
        };
        assert_eq!(
            recorded(&meta).map(|p| p.unwrap().to_string()).as_deref(),
            expected
        );
    }

    #[test]
    fn count_takes_every_nth_in_id_order() {
        let p: Partition = "count:2/3".parse().unwrap();
        assert_eq!(p.select(vec!["e", "a", "d", "b", "c"], |s| s), ["b", "e"]);
    }
}
