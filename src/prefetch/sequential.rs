//! The sequential prefetcher: on each miss of page p, the pages p+1 … p+degree (and,
//! with `backward`, p-1 … p-degree, interleaved: +1, -1, +2, -2, …). The classic
//! next-page scheme (Kandiraju and Sivasubramaniam, ISCA 2002, compare it as
//! "sequential") is `degree = 1, backward = false`; the default is Virtuoso's "stride"
//! prefetcher, which fetches ±1 and ±2 (CMU-SAFARI/Virtuoso@8188baf,
//! `tlb_prefetching/stride_prefetcher.cc` and `config/mmu_configs/mmu_base_prefetch.cfg`,
//! `length = 2`). No state, no training.

use super::{Candidates, Miss, Prefetcher};
use serde::{Deserialize, Serialize};

/// `[prefetch.sequential]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SequentialConfig {
    /// Pages fetched on each side.
    #[serde(default = "two")]
    pub degree: u32,
    /// Also the pages below the miss.
    #[serde(default = "yes")]
    pub backward: bool,
}

fn two() -> u32 {
    2
}
fn yes() -> bool {
    true
}

impl Default for SequentialConfig {
    fn default() -> Self {
        SequentialConfig {
            degree: two(),
            backward: yes(),
        }
    }
}

impl SequentialConfig {
    /// Problems of the table at key `path`.
    pub fn problems(&self, path: &str) -> Vec<(String, String)> {
        let most = super::MAX_CANDIDATES as u32 / 2;
        if self.degree == 0 || self.degree > most {
            vec![(
                format!("{path}.degree"),
                format!("{}: 1 to {most} pages on each side", self.degree),
            )]
        } else {
            Vec::new()
        }
    }
}

pub struct Sequential {
    degree: u64,
    backward: bool,
}

impl Sequential {
    pub fn new(c: &SequentialConfig) -> Sequential {
        Sequential {
            degree: c.degree as u64,
            backward: c.backward,
        }
    }
}

impl Prefetcher for Sequential {
    fn on_miss<M: Fn(u64) -> bool>(&mut self, m: &Miss, _mapped: &M, out: &mut Candidates) {
        for i in 1..=self.degree {
            out.push(m.vpn.wrapping_add(i));
            if self.backward && m.vpn >= i {
                out.push(m.vpn - i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(c: SequentialConfig, vpn: u64) -> Vec<u64> {
        super::super::ask(&mut Sequential::new(&c), (vpn, 0), &|_| true)
    }

    /// Virtuoso's default order (+1, -1, +2, -2), the classic next page, and no page
    /// below 0.
    #[test]
    fn sequential_candidates() {
        assert_eq!(ask(SequentialConfig::default(), 10), [11, 9, 12, 8]);
        let next = SequentialConfig {
            degree: 1,
            backward: false,
        };
        assert_eq!(ask(next, 10), [11]);
        assert_eq!(ask(SequentialConfig::default(), 1), [2, 0, 3]);
    }
}
