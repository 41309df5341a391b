//! What a source's attribute type says about its lake table: its columns
//! after the envelope, and the row it writes. The row is the type's own
//! serde form unless the table keeps another shape (ACE screenings store
//! counts beside each indicator), so a field added to a struct is a column
//! added to the table, and a test checks the two name the same fields.

use arrow_schema::{DataType, Field, TimeUnit};
use serde::Serialize;

pub trait TableAttributes: Serialize {
    /// The table's attribute columns, in order.
    fn fields() -> Vec<Field>;

    /// What one event writes to the table besides its envelope.
    fn row(&self) -> impl Serialize + '_ {
        self
    }
}

/// Text that every row has.
pub fn text(name: &str) -> Field {
    Field::new(name, DataType::Utf8, false)
}

/// Text that may be blank.
pub fn opt_text(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

/// A calendar date that may be blank.
pub fn opt_date(name: &str) -> Field {
    Field::new(name, DataType::Date32, true)
}

pub fn flag(name: &str) -> Field {
    Field::new(name, DataType::Boolean, false)
}

/// Event times are UK wall-clock times as partners record them (the A&E
/// hour-of-day profile must read 22:00 as 22:00 all year), so they carry no
/// time zone; `ingested_at` is an instant and carries UTC.
pub fn local_timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, None)
}
