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
//!   `TlbHit::frame`: a `PhysAddr`) and the engine's step between them;
//! - virtualization (`virt`): [`GuestPhysAddr`] for guest-physical addresses (the gPAs
//!   of `NestedFault`, the guest's frame in a nested walk, the nested TLB's key), so a
//!   gPA and an hPA cannot be mixed up.
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

/// A guest-physical address (virtualization, `virt`): what a guest's page table maps a
/// guest-virtual address to and where the guest's own table entries sit, and what the
/// host table (EPT/NPT) translates to a [`PhysAddr`]. A type of its own so that a gPA
/// cannot be passed where a host-physical address is meant (or the reverse); the
/// `Walkable` tables stay typed natively (`VirtAddr` in, `PhysAddr` out) and `virt`
/// converts at its boundary.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct GuestPhysAddr(pub u64);

impl GuestPhysAddr {
    /// The base of the page of `size` holding this address.
    #[inline(always)]
    pub const fn align_down(self, size: PageSize) -> GuestPhysAddr {
        GuestPhysAddr(self.0 & !(size.bytes() - 1))
    }
}

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
addr_arith!(GuestPhysAddr);

impl VirtAddr {
    /// The base of the page of `size` holding this address.
    #[inline(always)]
    pub const fn align_down(self, size: PageSize) -> VirtAddr {
        VirtAddr(self.0 & !(size.bytes() - 1))
    }
}

/// The page sizes x86-64 (and most radix designs) support. Written `"4K"`, `"2M"`,
/// `"1G"` (how configs and results print them) or `"4KiB"`, `"2MiB"`, `"1GiB"`.
/// The discriminants are the dense index and step the shift by 9 bits each, so both
/// are arithmetic on the walk and TLB paths, not a match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[repr(u8)]
pub enum PageSize {
    #[serde(rename = "4K")]
    Size4K = 0,
    #[serde(rename = "2M")]
    Size2M = 1,
    #[serde(rename = "1G")]
    Size1G = 2,
}

impl PageSize {
    pub const ALL: [PageSize; 3] = [PageSize::Size4K, PageSize::Size2M, PageSize::Size1G];

    /// log2 of the page size in bytes.
    #[inline(always)]
    pub const fn shift(self) -> u32 {
        12 + 9 * self as u32
    }
    #[inline(always)]
    pub const fn bytes(self) -> u64 {
        1u64 << self.shift()
    }
    /// Dense index 0, 1, 2: used to index per-size arrays and tag TLB entries.
    #[inline(always)]
    pub const fn index(self) -> usize {
        self as usize
    }
    #[inline(always)]
    pub const fn from_index(i: usize) -> PageSize {
        let i = if i < 2 { i } else { 2 };
        // SAFETY: `PageSize` is `repr(u8)` with the discriminants 0, 1 and 2.
        unsafe { std::mem::transmute::<u8, PageSize>(i as u8) }
    }
    pub const fn name(self) -> &'static str {
        match self {
            PageSize::Size4K => "4K",
            PageSize::Size2M => "2M",
            PageSize::Size1G => "1G",
        }
    }
    pub fn parse(s: &str) -> Option<PageSize> {
        PageSize::parse_or_explain(s).ok()
    }

    /// [`PageSize::parse`], or why `s` is not a page size (with a hint for decimal
    /// units: `"2MB"` is 2,000,000 bytes).
    pub fn parse_or_explain(s: &str) -> Result<PageSize, String> {
        match s.trim() {
            "4K" | "4k" | "4KiB" => Ok(PageSize::Size4K),
            "2M" | "2m" | "2MiB" => Ok(PageSize::Size2M),
            "1G" | "1g" | "1GiB" => Ok(PageSize::Size1G),
            t => {
                let hint = match ByteSize::parse(t) {
                    Ok(b) => match PageSize::ALL.iter().find(|p| p.bytes() == b.0) {
                        Some(p) => format!(" (write it {p} or {}iB)", p.name()),
                        None => b.decimal_hint(),
                    },
                    Err(_) => String::new(),
                };
                Err(format!(
                    "`{s}` is not a page size: 4K, 2M or 1G (also written 4KiB, 2MiB, 1GiB){hint}"
                ))
            }
        }
    }
}

impl<'de> Deserialize<'de> for PageSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = PageSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a page size: \"4K\", \"2M\" or \"1G\" (or \"4KiB\", \"2MiB\", \"1GiB\")",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PageSize, E> {
                PageSize::parse_or_explain(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
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

/// A quantity of bytes written in configs as an integer or with a unit: binary
/// `"64GiB"`, `"2MiB"`, `"32KiB"` (and the short `"4K"`, `"2M"`, `"1G"`, `"1T"`, binary
/// as they have always been in these configs: K = Ki = 1024), or decimal, as SI and
/// disk makers mean them: `"16GB"` = 16 x 10^9 bytes, `"64KB"` = 64,000. A decimal size
/// that breaks a constraint (a multiple of a page, a power of two) is reported with
/// [`ByteSize::decimal_hint`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// A round decimal quantity as written with its decimal unit and the binary unit
    /// of the same number: 16 x 10^9 is `(16, "GB", "GiB")`.
    fn decimal(self) -> Option<(u64, &'static str, &'static str)> {
        let b = self.0;
        [
            (4, "TB", "TiB"),
            (3, "GB", "GiB"),
            (2, "MB", "MiB"),
            (1, "KB", "KiB"),
        ]
        .into_iter()
        .find(|&(p, _, _)| b > 0 && b % 1000u64.pow(p) == 0)
        .map(|(p, dec, bin)| (b / 1000u64.pow(p), dec, bin))
    }

    /// For a size that is a round decimal quantity, what it is in bytes and the binary
    /// unit the writer probably meant: ` (16GB is 16,000,000,000 bytes; did you mean
    /// 16GiB?)`; empty otherwise. Appended to the messages of constraints it breaks.
    pub fn decimal_hint(self) -> String {
        self.decimal().map_or(String::new(), |(n, dec, bin)| {
            let bytes = crate::util::group(self.0);
            format!(" ({n}{dec} is {bytes} bytes; did you mean {n}{bin}?)")
        })
    }

    /// The size for a message: `16GB (16,000,000,000 bytes; did you mean 16GiB?)` for a
    /// round decimal quantity, as [`fmt::Display`] (`4GiB`, `1000B`) otherwise.
    pub fn describe(self) -> String {
        self.decimal().map_or(self.to_string(), |(n, dec, bin)| {
            let bytes = crate::util::group(self.0);
            format!("{n}{dec} ({bytes} bytes; did you mean {n}{bin}?)")
        })
    }

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
            "K" | "KiB" | "k" => 1 << 10,
            "M" | "MiB" => 1 << 20,
            "G" | "GiB" => 1 << 30,
            "T" | "TiB" => 1 << 40,
            "KB" | "kB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            "TB" => 1_000_000_000_000,
            u => {
                return Err(format!(
                    "`{s}`: unknown unit `{u}` (binary: KiB, MiB, GiB, TiB, or K, M, G, T; decimal: KB, MB, GB, TB; or B)"
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

    /// The arithmetic shift and index against the sizes written out.
    #[test]
    fn page_sizes_shift_and_index() {
        let want = [
            (PageSize::Size4K, 4096, 0),
            (PageSize::Size2M, 2 << 20, 1),
            (PageSize::Size1G, 1 << 30, 2),
        ];
        for (s, bytes, i) in want {
            assert_eq!(
                (s.bytes(), s.index(), PageSize::from_index(i)),
                (bytes, i, s)
            );
        }
    }

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
    fn decimal_units_are_powers_of_ten_binary_ones_powers_of_two() {
        let b = |s: &str| ByteSize::parse(s).unwrap().0;
        assert_eq!(b("16GB"), 16_000_000_000);
        assert_eq!(b("16GiB"), 16 * 1024 * 1024 * 1024);
        assert_eq!(b("64KB"), 64_000);
        assert_eq!(b("64kB"), 64_000);
        assert_eq!(b("64KiB"), 65_536);
        assert_eq!(b("2MB"), 2_000_000);
        assert_eq!(b("2MiB"), 2_097_152);
        assert_eq!(b("1TB"), 1_000_000_000_000);
        assert_eq!(b("1TiB"), 1_099_511_627_776);
        // The short forms stay binary, as the shipped configs have always meant them.
        assert_eq!(b("4K"), 4096);
        assert_eq!(b("4k"), 4096);
        assert_eq!(b("2M"), 2_097_152);
        assert_eq!(b("16G"), 17_179_869_184);
        assert_eq!(b("1T"), 1_099_511_627_776);
        let e = ByteSize::parse("3 furlongs").unwrap_err();
        assert!(e.contains("decimal: KB, MB, GB, TB"), "{e}");
        assert!(ByteSize::parse("20000000TB").is_err(), "overflows 64 bits");
    }

    #[test]
    fn a_round_decimal_size_gets_the_binary_hint() {
        assert_eq!(
            ByteSize(16_000_000_000).decimal_hint(),
            " (16GB is 16,000,000,000 bytes; did you mean 16GiB?)"
        );
        assert_eq!(
            ByteSize(32_000).describe(),
            "32KB (32,000 bytes; did you mean 32KiB?)"
        );
        assert_eq!(
            ByteSize(3_000_000_000_000).decimal_hint(),
            " (3TB is 3,000,000,000,000 bytes; did you mean 3TiB?)"
        );
        // Binary sizes, and sizes no decimal unit writes, have none.
        assert_eq!(ByteSize(16 << 30).decimal_hint(), "");
        assert_eq!(ByteSize(4097).decimal_hint(), "");
        assert_eq!(ByteSize(0).decimal_hint(), "");
        assert_eq!(ByteSize(16 << 30).describe(), "16GiB");
    }

    #[test]
    fn page_sizes_take_short_and_binary_names_and_explain_the_rest() {
        for (names, size) in [
            (["4K", "4KiB", "4k"], PageSize::Size4K),
            (["2M", "2MiB", "2m"], PageSize::Size2M),
            (["1G", "1GiB", "1g"], PageSize::Size1G),
        ] {
            for n in names {
                assert_eq!(PageSize::parse(n), Some(size), "{n}");
                let v: PageSize = toml::Value::String(n.into()).try_into().unwrap();
                assert_eq!(v, size, "{n} from TOML");
            }
            // Written back the short way, so configs hash as before.
            let printed = serde_json::to_string(&size).unwrap();
            assert_eq!(printed, format!("\"{}\"", names[0]));
        }
        let e = PageSize::parse_or_explain("2MB").unwrap_err();
        assert!(e.contains("also written 4KiB, 2MiB, 1GiB"), "{e}");
        assert!(
            e.ends_with("(2MB is 2,000,000 bytes; did you mean 2MiB?)"),
            "{e}"
        );
        let e = PageSize::parse_or_explain("4096").unwrap_err();
        assert!(e.ends_with("(write it 4K or 4KiB)"), "{e}");
        let e = PageSize::parse_or_explain("8K").unwrap_err();
        assert!(
            e.starts_with("`8K` is not a page size: 4K, 2M or 1G"),
            "{e}"
        );
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
