//! One module per partner source, each with the same shape: its attribute
//! type (the lake table's columns), the columns of its extract kinds
//! (`*_COLUMNS`) and the parser turning one checked row into an envelope
//! and attributes. The registry (`registry.rs`) lists them; the dispatch
//! below is generated from it, so there is no arm to forget.

mod common;
pub(crate) mod registry;

pub use common::{AGE_OF_CRIMINAL_RESPONSIBILITY, Context};

use crate::event::{Attributes, Event};
use crate::extract::{Column, FieldError, Row};
use crate::kinds::ExtractKind;

macro_rules! dispatch {
    (
        sources: [$($module:ident $source:ident $source_name:literal)+]
        tables: $tables:tt
        kinds: $kinds:tt
        extracts: [$($extract:ident $prefix:literal $emodule:ident $cols:ident $parse:ident $kind:ident $attr:ident)+]
    ) => {
        $(pub mod $module;)+

        impl ExtractKind {
            /// The columns a file of this kind may have.
            pub fn columns(&self) -> &'static [Column] {
                match self { $(ExtractKind::$extract => $emodule::$cols,)+ }
            }
        }

        /// Turns one row into one event, or names the first bad field.
        pub fn parse(ctx: &Context<'_>, row: &Row<'_>) -> Result<Event, FieldError> {
            let (envelope, attributes) = match row.kind {
                $(ExtractKind::$extract => {
                    let (envelope, a) = $emodule::$parse(ctx, row)?;
                    (envelope, Attributes::$attr(a))
                })+
            };
            Ok(Event { envelope, attributes }.seal())
        }
    };
}

registry::registry!(dispatch);

/// The envelope fields data-quality measures check, in the order they list
/// them.
pub const QUALITY_FIELDS: [&str; 5] = ["subject", "age", "sex", "home_lsoa", "event_lsoa"];

/// The extract kinds partners send a table's events in (none: receipts).
pub fn extract_kinds(table: crate::kinds::Table) -> impl Iterator<Item = ExtractKind> {
    ExtractKind::ALL.iter().copied().filter(move |k| k.kind().table() == table)
}

/// The [`QUALITY_FIELDS`] a table's sources fill, in that order, read from
/// the columns its extract kinds declare: a person pseudonym named `*_id`
/// fills `subject`; `age`, `sex` and `home_lsoa` fill themselves; any
/// LSOA-typed column fills `event_lsoa`. A table no partner sends
/// (receipts) fills none.
pub fn recorded_fields(table: crate::kinds::Table) -> Vec<&'static str> {
    use crate::extract::FieldType;
    let cols: Vec<&Column> = extract_kinds(table).flat_map(|k| k.columns()).collect();
    let fills = |field: &str| {
        cols.iter().any(|c| match field {
            "subject" => c.ty == FieldType::Pseudonym && c.name.ends_with("_id"),
            "event_lsoa" => c.ty == FieldType::Lsoa,
            _ => c.name == field,
        })
    };
    QUALITY_FIELDS.into_iter().filter(|f| fills(f)).collect()
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use crate::classification::Catalogue;
    use crate::extract::Header;
    use chrono::DateTime;
    use chrono::NaiveDate;

    pub fn catalogue() -> Catalogue {
        Catalogue::builtin()
    }

    /// Parses one row given as `column=value` pairs, all other columns blank.
    pub fn parse_pairs(kind: ExtractKind, pairs: &[(&str, &str)]) -> Result<Event, FieldError> {
        let names: Vec<&str> = kind.columns().iter().map(|c| c.name).collect();
        let header = Header::check(kind, &names).unwrap();
        let fields: Vec<&str> = names.iter().map(|n| pairs.iter().find(|(k, _)| k == n).map_or("", |(_, v)| *v)).collect();
        let today = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
        let row = Row { header: &header, fields: &fields, line: 7, today, extract_date: today, kind };
        let cat = catalogue();
        let ctx = Context::new("p", "x", DateTime::from_timestamp(1_735_689_600, 0).unwrap(), &cat);
        // As the reader does: screened for identifiers, then parsed.
        row.screen(&mut crate::identifiers::profile::FileProfile::default())?;
        parse(&ctx, &row)
    }

    pub const PSEUDO: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
}
