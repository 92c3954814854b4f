//! The steps of an explained access, typed, and the printout rendered from them.
//!
//! Each line `mmusim explain` prints is one [`Step`]: its section (the printout's
//! heading it is under, empty for the title and the closing lines), its [`Kind`], its
//! values as named fields (levels, indices, addresses, cycles, hit or miss), and the line
//! itself, made from those values where the step is built. [`render`] lays the steps out
//! as the command line prints them; the Python package hands over the steps themselves.

use serde::Serialize;
use serde_json::{Map, Value};

/// What a step is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The report's first line: the address, core, address space and config.
    Title,
    /// A warm-up access and what it did.
    Warm,
    /// An index the address gives the page table: a radix level's bit field, a
    /// flattened node's, or a hashed design's own (hash, group, bucket).
    Index,
    /// The page number and offset for one page size.
    PageSplit,
    /// A TLB level's probe (hit or miss), or a structure probed beside the walk (a
    /// POM-TLB set line, Victima's L2 blocks, SpecTLB).
    Tlb,
    /// The prefetch buffer's answer.
    PrefetchBuffer,
    /// A direct segment holds the address: no TLB lookup, no walk.
    DirectSegment,
    /// Waiting for a free page-table walker.
    Wait,
    /// A walk starts (radix, hashed, nested, or Utopia's RestSeg walk).
    Walk,
    /// A page-table entry read (a nested walk's host or guest reads too).
    PteRead,
    /// A walk ends: what it found and what its reads cost.
    WalkEnd,
    /// A page fault, or a nested machine's EPT violation.
    Fault,
    /// The physical (guest- and host-physical) address, or no translation.
    Address,
    /// The translation cycles by part.
    Cycles,
    /// The core's counters that the access changed.
    Counters,
}

/// One line of the report.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    /// The heading the line is under (`Access 0x1000 (a load)`); empty for none.
    pub section: String,
    pub kind: Kind,
    /// Spaces before the line in the printout.
    #[serde(skip)]
    pub indent: usize,
    /// The line as printed (without its indent).
    pub text: String,
    /// The step's values by name.
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

/// The steps of one report, in order, built section by section.
#[derive(Default)]
pub struct Steps {
    pub steps: Vec<Step>,
    section: String,
}

impl Steps {
    /// The steps from here on are under `heading` (empty: under none).
    pub fn section(&mut self, heading: String) {
        self.section = heading;
    }

    /// A step of `kind`, printed as `text` after `indent` spaces, with the values of
    /// `fields` (a JSON object; anything else adds none).
    pub fn push(&mut self, kind: Kind, indent: usize, text: String, fields: Value) {
        let fields = match fields {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        self.steps.push(Step {
            section: self.section.clone(),
            kind,
            indent,
            text,
            fields,
        });
    }
}

/// `steps` as a JSON list: each step's section, kind, text and values.
pub fn to_json(steps: &[Step]) -> String {
    serde_json::to_string(steps).unwrap_or_else(|_| "[]".into())
}

/// The printout of `steps`: each section's heading after a blank line, each step on a
/// line of its own, and a blank line where a section gives way to lines under none.
pub fn render(steps: &[Step]) -> String {
    let mut o = String::new();
    let mut section = "";
    for s in steps {
        if s.section != section {
            if s.section.is_empty() {
                o.push('\n');
            } else {
                o.push('\n');
                o.push_str(&s.section);
                o.push_str(":\n");
            }
            section = &s.section;
        }
        for _ in 0..s.indent {
            o.push(' ');
        }
        o.push_str(&s.text);
        o.push('\n');
    }
    o
}
