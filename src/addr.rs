//! Addresses, page sizes and byte quantities.
//!
//! Owns the values the other modules exchange: [`VirtAddr`] and [`PhysAddr`],
//! [`PageSize`] (4K, 2M, 1G), the set of page sizes a structure may hold
//! ([`PageSizeSet`]), the kind of an access ([`AccessKind`]) and [`ByteSize`], the
//! `"64GiB"`-style quantity configs use. Pure values and functions, no state.
//!
//! The two address types are distinct so that a virtual page cannot be passed where a
//! frame is meant (the lesson of ChampSim's `address`/`page_number` types). They are what
//! crosses the interfaces of the translation path:
//! - page tables (`pagetable`): `walk`, `map`, `unmap`, `translate`, `restore`,
//!   `leaf_lines`, `mappings` take a `VirtAddr`; `Translation::frame`,
//!   `WalkStep::pte_addr`, `IndexPart::paddr` and `node_paddr` are `PhysAddr`s,
//!   `Evicted::vaddr` a `VirtAddr`;
//! - the OS model: `Os::handle_fault`, `guard_fault`, `on_access` take the `VirtAddr`;
//! - the walker (`Walker::walk`: a `VirtAddr`) and the memory system (`read`,
//!   `read_from`, `prefetch`, `data_access`: a `PhysAddr`);
//! - the TLBs (`Tlbs::lookup`, `complete`, `invalidate_page`, `page_key`: a `VirtAddr`;
//!   `TlbHit::frame`: a `PhysAddr`) and the engine's step between them.
//!
//! Inside a module addresses stay plain `u64` arithmetic: each unwraps at its boundary
//! (`let va = vaddr.0;`). Both are `#[repr(transparent)]` over `u64`, so the types cost
//! nothing; they offer only what callers use: the page offset, `+ u64`, hex printing,
//! and for `VirtAddr` the page base (`align_down`).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A virtual address: what a program issues and what TLBs, the walker and the page tables
/// are asked to translate.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct VirtAddr(pub u64);

/// A physical address: a frame a translation names, or the address of a page-table entry
/// a walk reads.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PhysAddr(pub u64);

macro_rules! addr_arith {
    ($t:ident) => {
        impl $t {
            /// Offset of this address inside its page of `size`.
            #[inline(always)]
            pub const fn offset(self, size: PageSize) -> u64 {
                self.0 & (size.bytes() - 1)
            }
        }
        impl std::ops::Add<u64> for $t {
            type Output = $t;
            #[inline(always)]
            fn add(self, rhs: u64) -> $t {
                $t(self.0 + rhs)
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:#x}", self.0)
            }
        }
        impl fmt::LowerHex for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::LowerHex::fmt(&self.0, f)
            }
        }
    };
}
addr_arith!(VirtAddr);
addr_arith!(PhysAddr);

impl VirtAddr {
    /// The base of the page of `size` holding this address.
    #[inline(always)]
    pub const fn align_down(self, size: PageSize) -> VirtAddr {
        VirtAddr(self.0 & !(size.bytes() - 1))
    }
}

/// The page sizes x86-64 (and most radix designs) support.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PageSize {
    #[serde(rename = "4K")]
    Size4K,
    #[serde(rename = "2M")]
    Size2M,
    #[serde(rename = "1G")]
    Size1G,
}

impl PageSize {
    pub const ALL: [PageSize; 3] = [PageSize::Size4K, PageSize::Size2M, PageSize::Size1G];

    /// log2 of the page size in bytes.
    #[inline(always)]
    pub const fn shift(self) -> u32 {
        match self {
            PageSize::Size4K => 12,
            PageSize::Size2M => 21,
            PageSize::Size1G => 30,
        }
    }
    #[inline(always)]
    pub const fn bytes(self) -> u64 {
        1u64 << self.shift()
    }
    /// Dense index 0, 1, 2: used to index per-size arrays and tag TLB entries.
    #[inline(always)]
    pub const fn index(self) -> usize {
        match self {
            PageSize::Size4K => 0,
            PageSize::Size2M => 1,
            PageSize::Size1G => 2,
        }
    }
    #[inline(always)]
    pub const fn from_index(i: usize) -> PageSize {
        match i {
            0 => PageSize::Size4K,
            1 => PageSize::Size2M,
            _ => PageSize::Size1G,
        }
    }
    pub const fn name(self) -> &'static str {
        match self {
            PageSize::Size4K => "4K",
            PageSize::Size2M => "2M",
            PageSize::Size1G => "1G",
        }
    }
    pub fn parse(s: &str) -> Option<PageSize> {
        match s {
            "4K" | "4k" | "4KiB" => Some(PageSize::Size4K),
            "2M" | "2m" | "2MiB" => Some(PageSize::Size2M),
            "1G" | "1g" | "1GiB" => Some(PageSize::Size1G),
            _ => None,
        }
    }
}

impl fmt::Display for PageSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of page sizes as a 3-bit mask (bit i = `PageSize::from_index(i)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PageSizeSet(pub u8);

impl PageSizeSet {
    pub fn of(sizes: &[PageSize]) -> Self {
        PageSizeSet(sizes.iter().fold(0, |m, s| m | (1 << s.index())))
    }
    #[inline(always)]
    pub fn contains(self, s: PageSize) -> bool {
        self.0 & (1 << s.index()) != 0
    }
    pub fn iter(self) -> impl Iterator<Item = PageSize> {
        PageSize::ALL.into_iter().filter(move |s| self.contains(*s))
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// What an access does; selects instruction- or data-side TLBs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AccessKind {
    #[default]
    Load,
    Store,
    Fetch,
}

impl AccessKind {
    #[inline(always)]
    pub fn is_instruction(self) -> bool {
        matches!(self, AccessKind::Fetch)
    }
}

/// A quantity of bytes written in configs as an integer or as `"64GiB"`, `"2MiB"`,
/// `"4K"` (binary multiples throughout: K = Ki = 1024).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub fn parse(s: &str) -> Result<ByteSize, String> {
        let t = s.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '_'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let num: u64 = num.replace('_', "").parse().map_err(|_| {
            format!("`{s}` is not a byte size (expected e.g. 4096, \"64KiB\", \"2MiB\", \"16GiB\")")
        })?;
        let mult: u64 = match unit.trim() {
            "" | "B" => 1,
            "K" | "KB" | "KiB" | "k" => 1 << 10,
            "M" | "MB" | "MiB" => 1 << 20,
            "G" | "GB" | "GiB" => 1 << 30,
            "T" | "TB" | "TiB" => 1 << 40,
            u => {
                return Err(format!(
                    "`{s}`: unknown unit `{u}` (use B, KiB, MiB, GiB or TiB)"
                ))
            }
        };
        num.checked_mul(mult)
            .map(ByteSize)
            .ok_or_else(|| format!("`{s}` does not fit in 64 bits"))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        for (shift, unit) in [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")] {
            if b >= 1 << shift && b % (1 << shift) == 0 {
                return write!(f, "{}{}", b >> shift, unit);
            }
        }
        write!(f, "{b}B")
    }
}

impl Serialize for ByteSize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a byte size: an integer or a string such as \"64GiB\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format!("byte size {v} is negative")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ByteSize, E> {
                ByteSize::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes_parse_and_print() {
        assert_eq!(ByteSize::parse("64GiB").unwrap().0, 64 << 30);
        assert_eq!(ByteSize::parse("4K").unwrap().0, 4096);
        assert_eq!(ByteSize::parse("1_024").unwrap().0, 1024);
        assert!(ByteSize::parse("12 parsecs").is_err());
        assert!(ByteSize::parse("99999999999TiB").is_err());
        assert_eq!(ByteSize(2 << 20).to_string(), "2MiB");
        assert_eq!(ByteSize(1000).to_string(), "1000B");
    }

    #[test]
    fn page_base_and_offset_split_the_address() {
        let va = VirtAddr(0x7fff_1234_5678);
        assert_eq!(va.align_down(PageSize::Size4K), VirtAddr(0x7fff_1234_5000));
        assert_eq!(va.offset(PageSize::Size2M), 0x14_5678);
        for s in PageSize::ALL {
            assert_eq!(va.align_down(s) + va.offset(s), va);
        }
        assert_eq!(
            PageSizeSet::of(&[PageSize::Size4K, PageSize::Size1G]).0,
            0b101
        );
    }
}
