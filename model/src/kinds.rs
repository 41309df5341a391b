//! The names of things: sources, kinds of event, lake tables and the kinds
//! of extract partners send, all generated from the source registry
//! (`sources/registry.rs`) with every mapping between them. Nothing here
//! imports anything, so every other module can use these names.

/// A closed set of names with their text form (as on the wire and in SQL).
macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        pub enum $name { $(#[serde(rename = $text)] $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use string_enum;

macro_rules! kinds {
    (
        sources: [$($module:ident $source:ident $source_name:literal)+]
        tables: [$($table:ident $table_name:literal $attr:ident $tmodule:ident $ty:ident $tsource:ident)+]
        kinds: [$($kind:ident $kind_name:literal $ktable:ident)+]
        extracts: [$($extract:ident $prefix:literal $emodule:ident $cols:ident $parse:ident $ekind:ident $eattr:ident)+]
    ) => {
        string_enum!(
            /// Who sent it. Each source has its own Kafka topic.
            Source { $($source => $source_name,)+ }
        );

        string_enum!(
            /// What happened. Several kinds can share a lake table (the
            /// education events), which is why the table is derived from
            /// the kind, not the source.
            Kind { $($kind => $kind_name,)+ }
        );

        /// The lake's event tables, one per family of events.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Table { $($table,)+ }

        impl Table {
            pub const ALL: &'static [Table] = &[$(Table::$table,)+];

            /// The table's name in the lake directory and in SQL.
            pub fn name(&self) -> &'static str {
                match self { $(Table::$table => $table_name,)+ }
            }

            pub fn source(&self) -> Source {
                match self { $(Table::$table => Source::$tsource,)+ }
            }

            pub fn from_name(name: &str) -> Option<Table> {
                Table::ALL.iter().copied().find(|t| t.name() == name)
            }
        }

        impl Kind {
            pub fn table(&self) -> Table {
                match self { $(Kind::$kind => Table::$ktable,)+ }
            }
        }

        /// The kinds of extract partners drop, named by the start of the
        /// file name (`offences_2024-04-30.csv`). One kind per file keeps
        /// each file's columns fixed, so a header check catches a wrong file
        /// before any row is read. A source with one kind takes any name
        /// (data.police.uk downloads are named `2022-03-cleveland-street.csv`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ExtractKind { $($extract,)+ }

        impl ExtractKind {
            pub const ALL: &'static [ExtractKind] = &[$(ExtractKind::$extract,)+];

            pub fn prefix(&self) -> &'static str {
                match self { $(ExtractKind::$extract => $prefix,)+ }
            }

            pub fn kind(&self) -> Kind {
                match self { $(ExtractKind::$extract => Kind::$ekind,)+ }
            }

            pub fn source(&self) -> Source {
                self.kind().table().source()
            }
        }
    };
}

crate::sources::registry::registry!(kinds);
