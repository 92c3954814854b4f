//! The one place that knows every page-table design: the config `[page_table]` decodes
//! into (`kind = "radix"`, `"inverted"`, ...), what each design's config tells the rest
//! of the model ([`DesignConfig`]: name, virtual-address width, levels, validation), and
//! the one match that builds the configured design and hands its constructor to code
//! generic over it ([`with_design`]: `run`, `explain`, and through `run` every study and
//! sweep).
//!
//! In: the decoded `[page_table]` table and `os` (hashed tables are sized by physical
//! memory). Out: names, widths and `(key.path, message)` problems for the config, its
//! loader and reports; a table constructor for the simulator, chosen once per run so the
//! walk path stays monomorphic.
//!
//! A new design is a file beside this one (its table implementing [`PageTable`], its
//! config implementing [`DesignConfig`]), one variant of [`PageTableConfig`], one arm in
//! [`PageTableConfig::design`] and one in [`with_design`] (`docs/ARCHITECTURE.md`,
//! "Adding a page-table design"). The compiler points at both arms: neither match has a
//! catch-all.

use super::clustered::ClusteredConfig;
use super::cuckoo::CuckooConfig;
use super::flattened::{Flattened, FlattenedConfig};
use super::htab::HtabConfig;
use super::inverted::InvertedConfig;
use super::radix::RadixConfig;
use super::{Clustered, Cuckoo, Htab, Inverted, PageTable, Radix};
use crate::addr::PageSize;
use crate::config::OsConfig;
use crate::os::frames::FrameAllocator;
use crate::SimError;
use serde::{Deserialize, Serialize};

/// What a design's config tells the rest of the model. Every design's config type
/// implements it in the design's own file; [`PageTableConfig`] hands out the configured
/// one. No method has a default: a new design states each of them.
pub trait DesignConfig {
    /// The design's name, as `kind` spells it in a config file and reports.
    fn kind(&self) -> &'static str;
    /// Its name for people, as `explain` prints it ("radix (4-level)", "elastic cuckoo").
    fn title(&self) -> String;
    /// Virtual-address bits the design can map: workloads and `explain` addresses must
    /// lie below `2^va_bits`.
    fn va_bits(&self) -> u32;
    /// Index bits per level, top level first, for designs whose levels the walker's
    /// walk caches skip (radix); empty for designs without levels.
    fn radix_bits(&self) -> Vec<u32>;
    /// The highest level a walk cache (`walker.psc[i].level`) may name.
    fn walk_cache_levels(&self) -> u32;
    /// Why the design cannot map pages of `size`, if it cannot (the message for
    /// `os.page_size` or `os.huge_pages.sizes[i]`).
    fn page_size_problem(&self, size: PageSize) -> Option<String>;
    /// Every problem of the design's config with `os`, as (full key path, message):
    /// `page_table.<key>` for the design's own keys.
    fn problems(&self, os: &OsConfig) -> Vec<(String, String)>;
}

/// A design's own problems, keyed relative to `[page_table]`, under their full path.
pub(crate) fn under_page_table(problems: Vec<(String, String)>) -> Vec<(String, String)> {
    problems
        .into_iter()
        .map(|(k, m)| (format!("page_table.{k}"), m))
        .collect()
}

/// The page-table design. Switching it (`--set 'page_table={kind="cuckoo"}'`) leaves
/// every TLB as it is; walk caches apply to radix tables only and other designs bypass
/// them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum PageTableConfig {
    /// A radix tree (x86-64: 4 levels of 9 bits, or 5 with LA57).
    Radix(RadixConfig),
    /// Inverted table with a hash anchor table (IBM System/38, RT PC).
    Inverted(InvertedConfig),
    /// PowerPC hashed page table (HTAB).
    Htab(HtabConfig),
    /// Clustered hashed table (Yaniv and Tsafrir 2016).
    Clustered(ClusteredConfig),
    /// Elastic cuckoo page table (Skarlatos et al. 2020).
    Cuckoo(CuckooConfig),
    /// Radix with level pairs merged into 2 MiB nodes (Park et al., ASPLOS 2022).
    Flattened(FlattenedConfig),
}

impl PageTableConfig {
    /// The configured design's config: the one match every question about the design
    /// goes through.
    pub fn design(&self) -> &dyn DesignConfig {
        match self {
            PageTableConfig::Radix(c) => c,
            PageTableConfig::Inverted(c) => c,
            PageTableConfig::Htab(c) => c,
            PageTableConfig::Clustered(c) => c,
            PageTableConfig::Cuckoo(c) => c,
            PageTableConfig::Flattened(c) => c,
        }
    }

    /// Index bits per level, top level first (radix only; empty for other designs).
    pub fn radix_bits(&self) -> Vec<u32> {
        self.design().radix_bits()
    }

    /// Virtual-address bits the design can map.
    pub fn va_bits(&self) -> u32 {
        self.design().va_bits()
    }

    /// The design's name, as `kind` spells it.
    pub fn kind(&self) -> &'static str {
        self.design().kind()
    }

    /// Whether ASAP is on (`page_table.asap`, radix tables only).
    pub fn asap(&self) -> bool {
        matches!(self, PageTableConfig::Radix(c) if c.asap)
    }

    /// Every problem of the design's config, as (full key path, message).
    pub fn validate(&self, os: &OsConfig) -> Vec<(String, String)> {
        self.design().problems(os)
    }
}

/// Code generic over the page-table design, run by [`with_design`] with the configured
/// one: `visit` gets the constructor of one address space's table (called once for a
/// shared table, once per address space otherwise) and is monomorphised per design.
pub trait DesignVisitor {
    type Out;
    fn visit<PT: PageTable>(
        self,
        make: impl FnMut(&mut FrameAllocator) -> Result<PT, SimError>,
    ) -> Self::Out;
}

/// Run `v` with the design `cfg` names (sized for `os`): the one match that builds
/// tables. Everything `v` does is monomorphic in the design.
pub fn with_design<V: DesignVisitor>(cfg: &PageTableConfig, os: &OsConfig, v: V) -> V::Out {
    match cfg {
        PageTableConfig::Radix(c) => {
            let (bits, asap) = (c.bits(), c.asap);
            v.visit(move |f| Radix::with_asap(&bits, asap, f))
        }
        PageTableConfig::Inverted(c) => v.visit(|f| Inverted::new(c, os, f)),
        PageTableConfig::Htab(c) => v.visit(|f| Htab::new(c, os, f)),
        PageTableConfig::Clustered(c) => v.visit(|f| Clustered::new(c, os, f)),
        PageTableConfig::Cuckoo(c) => v.visit(|f| Cuckoo::new(c, os, f)),
        PageTableConfig::Flattened(c) => v.visit(|f| Flattened::new(c, f)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::{PhysAddr, VirtAddr};
    use crate::config::FrameAlloc;

    /// One config of every design, decoded from `[page_table]` text as a config file
    /// gives it. The match below does not compile until a new variant is listed here.
    fn every_design() -> Vec<PageTableConfig> {
        let all: Vec<PageTableConfig> = [
            "kind = \"radix\"\nlevels = 4",
            "kind = \"inverted\"",
            "kind = \"htab\"",
            "kind = \"clustered\"",
            "kind = \"cuckoo\"",
            "kind = \"flattened\"",
        ]
        .iter()
        .map(|t| toml::from_str(t).unwrap())
        .collect();
        for (i, c) in all.iter().enumerate() {
            let listed = match c {
                PageTableConfig::Radix(_) => 0,
                PageTableConfig::Inverted(_) => 1,
                PageTableConfig::Htab(_) => 2,
                PageTableConfig::Clustered(_) => 3,
                PageTableConfig::Cuckoo(_) => 4,
                PageTableConfig::Flattened(_) => 5,
            };
            assert_eq!(listed, i, "every variant once, in order");
        }
        all
    }

    #[test]
    fn every_design_has_its_own_kind_and_title_and_a_va_width() {
        let all = every_design();
        for (i, c) in all.iter().enumerate() {
            let d = c.design();
            // The name round-trips through the config's own `kind`.
            let text = toml::to_string(c).unwrap();
            assert!(
                text.starts_with(&format!("kind = \"{}\"", d.kind())),
                "{text}"
            );
            assert!((32..=57).contains(&d.va_bits()), "{}", d.kind());
            for other in &all[..i] {
                assert_ne!(other.kind(), d.kind());
                assert_ne!(other.design().title(), d.title());
            }
        }
        // x86-64's 4 levels of 9 bits map 48 bits; the hashed designs key 57-bit addresses.
        let widths: Vec<u32> = all.iter().map(|c| c.va_bits()).collect();
        assert_eq!(widths, [48, 57, 57, 57, 57, 48]);
        assert_eq!(all[0].radix_bits(), [9, 9, 9, 9]);
        assert!(all[1..].iter().all(|c| c.radix_bits().is_empty()));
        // A flattened table's walk caches are a 4-level radix table's.
        assert_eq!(all[5].design().walk_cache_levels(), 4);
    }

    #[test]
    fn a_bad_design_key_names_its_path() {
        let os = OsConfig::with_memory(1 << 30);
        let bad = |t: &str| -> Vec<String> {
            let c: PageTableConfig = toml::from_str(t).unwrap();
            c.validate(&os).into_iter().map(|(k, _)| k).collect()
        };
        assert_eq!(bad("kind = \"radix\"\nlevels = 7"), ["page_table.levels"]);
        assert_eq!(
            bad("kind = \"radix\"\nlevels = 4\nbits_per_level = [9, 9, 12, 9]"),
            ["page_table.bits_per_level[2]"]
        );
        assert_eq!(
            bad("kind = \"radix\"\nlevels = 2\nbits_per_level = [9, 9, 9]"),
            ["page_table.bits_per_level"]
        );
        // Issue 17 (found by the randomized test): a huge `levels` allocated a vector of
        // that many widths (a hang), a huge width overflowed the sum of the widths.
        assert_eq!(
            bad("kind = \"radix\"\nlevels = 4294967295"),
            ["page_table.levels"]
        );
        assert_eq!(
            bad("kind = \"radix\"\nlevels = 4\nbits_per_level = [4294967295, 9, 9, 9]"),
            ["page_table.bits_per_level[0]", "page_table"]
        );
        assert_eq!(
            bad("kind = \"flattened\"\nlevels = 4294967295"),
            ["page_table.levels"]
        );
        assert_eq!(
            bad("kind = \"inverted\"\nanchor_ratio = 1000.0"),
            ["page_table.anchor_ratio"]
        );
        assert_eq!(
            bad("kind = \"cuckoo\"\nresize_threshold = 2.0"),
            ["page_table.resize_threshold"]
        );
        // A sound config of every design has none.
        for c in every_design() {
            assert_eq!(c.validate(&os), vec![], "{}", c.kind());
        }
    }

    #[test]
    fn page_sizes_a_design_cannot_map_are_named() {
        // A radix table maps a size only where a level's index starts at its shift:
        // 12 (4K), 12 + 9 = 21 (2M), 21 + 9 = 30 (1G); with 8 bits at the PD level the
        // levels start at 12, 21, 29, so 1G pages have no level.
        let radix = |t: &str| -> PageTableConfig { toml::from_str(t).unwrap() };
        let x86 = radix("kind = \"radix\"\nlevels = 4");
        let odd = radix("kind = \"radix\"\nlevels = 4\nbits_per_level = [9, 9, 8, 9]");
        for size in PageSize::ALL {
            assert_eq!(x86.design().page_size_problem(size), None);
        }
        assert_eq!(odd.design().page_size_problem(PageSize::Size2M), None);
        assert_eq!(
            odd.design().page_size_problem(PageSize::Size1G).as_deref(),
            Some("no level of this radix table maps 1G pages (bits per level [9, 9, 8, 9])")
        );
        // Hashed designs key every size; their walks bypass walk caches of any level.
        for c in &every_design()[1..5] {
            assert!(PageSize::ALL
                .into_iter()
                .all(|s| c.design().page_size_problem(s).is_none()));
            assert_eq!(c.design().walk_cache_levels(), 6);
        }
        assert_eq!(x86.design().walk_cache_levels(), 4);
        // A flattened table keeps 9-bit levels (4K, 2M and 1G leaves) and a radix
        // table's walk caches.
        let flat = &every_design()[5];
        assert!(PageSize::ALL
            .into_iter()
            .all(|s| flat.design().page_size_problem(s).is_none()));
        assert_eq!(flat.design().walk_cache_levels(), 4);
    }

    /// Records which table type the dispatch built, and that it maps a page.
    struct Built;

    impl DesignVisitor for Built {
        type Out = (&'static str, bool);
        fn visit<PT: PageTable>(
            self,
            mut make: impl FnMut(&mut FrameAllocator) -> Result<PT, SimError>,
        ) -> Self::Out {
            let mut f = FrameAllocator::new(1 << 30, FrameAlloc::Shuffled, 1);
            let mut t = make(&mut f).unwrap();
            let frame = f.alloc(PageSize::Size4K).unwrap();
            t.map(
                1,
                VirtAddr(0x7000),
                PageSize::Size4K,
                PhysAddr(frame),
                &mut f,
            )
            .unwrap();
            let mapped =
                t.translate(1, VirtAddr(0x7123)).map(|tr| tr.frame) == Some(PhysAddr(frame));
            let name = std::any::type_name::<PT>();
            (name.rsplit("::").next().unwrap(), mapped)
        }
    }

    #[test]
    fn the_dispatch_builds_the_design_the_config_names() {
        let os = OsConfig::with_memory(1 << 30);
        for c in every_design() {
            let (ty, mapped) = with_design(&c, &os, Built);
            assert_eq!(ty.to_lowercase(), c.kind());
            assert!(mapped, "{ty}");
        }
    }
}
