//! The one shape of a target's test-only knobs: an enum of named switches (the mock cloud's
//! [`MockRule`](super::mock::MockRule), the reference device's
//! [`SimFault`](super::sim::SimFault), [`SimVariant`](super::sim::SimVariant)), each with a
//! kebab-case name, a description and, where the knob breaks one obligation, that
//! obligation's id, or where it is a conformant choice, the protocol text allowing it.

/// What every knob enum offers (the inherent methods [`knobs!`] generates, as a trait).
pub trait Knob: Copy + Eq + std::fmt::Debug + 'static {
    const ALL: &'static [Self];
    fn name(self) -> &'static str;
    fn description(self) -> &'static str;
    fn parse(name: &str) -> Option<Self>;
}

/// Every knob of `K` has a unique name made of `allowed` bytes that parses back to it, and a
/// description; an unknown name parses to nothing.
#[cfg(test)]
pub(crate) fn assert_well_named<K: Knob>(allowed: impl Fn(u8) -> bool) {
    let mut names = std::collections::BTreeSet::new();
    for &k in K::ALL {
        assert_eq!(K::parse(k.name()), Some(k));
        assert!(names.insert(k.name()), "duplicate name {}", k.name());
        assert!(!k.description().is_empty(), "{}", k.name());
        assert!(k.name().bytes().all(&allowed), "{}", k.name());
    }
    assert_eq!(K::parse("no such knob"), None);
}

/// Declares a knob enum: `ALL`, `name`, `description`, `parse` (by name) and `Display` (the
/// name); with `Variant => "name", "obligation": "description",` entries also `obligation`
/// (a fault: the rule it breaks), with `Variant => "name", allowed_by "text": "description",`
/// entries also `allowed_by` (a conformant variant: the text that permits it).
macro_rules! knobs {
    ($(#[$meta:meta])* $vis:vis enum $ty:ident {
        $($variant:ident => $name:literal, $obligation:literal: $description:literal,)+
    }) => {
        $crate::targets::knobs::knobs! { $(#[$meta])* $vis enum $ty { $($variant => $name: $description,)+ } }

        impl $ty {
            /// The obligation the knob breaks.
            pub fn obligation(self) -> &'static str {
                match self { $($ty::$variant => $obligation,)+ }
            }
        }
    };
    ($(#[$meta:meta])* $vis:vis enum $ty:ident {
        $($variant:ident => $name:literal, allowed_by $allowed:literal: $description:literal,)+
    }) => {
        $crate::targets::knobs::knobs! { $(#[$meta])* $vis enum $ty { $($variant => $name: $description,)+ } }

        impl $ty {
            /// The protocol text that allows the choice (an obligation id, a section, the FAQ).
            pub fn allowed_by(self) -> &'static str {
                match self { $($ty::$variant => $allowed,)+ }
            }
        }
    };
    ($(#[$meta:meta])* $vis:vis enum $ty:ident {
        $($variant:ident => $name:literal: $description:literal,)+
    }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        $vis enum $ty {
            $(#[doc = $description] $variant,)+
        }

        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant,)+];

            /// The kebab-case name used on the command line, in scenarios and in reports.
            pub fn name(self) -> &'static str {
                match self { $($ty::$variant => $name,)+ }
            }

            /// What switching the knob on breaks.
            pub fn description(self) -> &'static str {
                match self { $($ty::$variant => $description,)+ }
            }

            /// The knob named `name` (as [`Self::name`]).
            pub fn parse(name: &str) -> Option<Self> {
                match name { $($name => Some($ty::$variant),)+ _ => None }
            }
        }

        impl $crate::targets::knobs::Knob for $ty {
            const ALL: &'static [$ty] = $ty::ALL;
            fn name(self) -> &'static str {
                $ty::name(self)
            }
            fn description(self) -> &'static str {
                $ty::description(self)
            }
            fn parse(name: &str) -> Option<Self> {
                $ty::parse(name)
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

pub(crate) use knobs;
